"""``remoteops playground up|down|status``: local SSH hosts to try remoteops on."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from remoteops.cli.common import fail
from remoteops.errors import ConfigurationError

if TYPE_CHECKING:
    from remoteops.playground import ContainerPlayground

app = typer.Typer(
    help="Start, inspect or remove local playground SSH hosts (sshd in network namespaces "
    "as root, on loopback ports otherwise; or SSH, FTP and Telnet containers with --engine).",
    no_args_is_help=True,
)

StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where the playground keeps its files. "
        "[default: $REMOTEOPS_PLAYGROUND_DIR or ~/.local/state/remoteops/playground]",
        show_default=False,
    ),
]


class Mode(str, enum.Enum):
    auto = "auto"
    netns = "netns"
    loopback = "loopback"


class EngineChoice(str, enum.Enum):
    auto = "auto"
    podman = "podman"
    docker = "docker"


#: Hosts ``up`` starts unless told; with ``--engine``, SSH hosts (as in compose.yaml).
DEFAULT_COUNT = 5
DEFAULT_CONTAINER_COUNT = 3


@app.command()
def up(
    count: Annotated[
        int | None,
        typer.Option(
            "--count",
            "-n",
            min=1,
            max=1000,
            metavar="N",
            help=f"How many hosts to start. Default: {DEFAULT_COUNT}.",
            show_default=False,
        ),
    ] = None,
    old_count: Annotated[
        int | None,
        typer.Option("--hosts", min=1, max=1000, metavar="N", hidden=True),  # before --count
    ] = None,
    mode: Annotated[
        Mode | None,
        typer.Option(help="netns needs root; auto picks it when it can. Default: auto."),
    ] = None,
    state_dir: StateDirOption = None,
    prefix: Annotated[
        str | None,
        typer.Option(help="Host name prefix; pick another to run two playgrounds. Default: pg."),
    ] = None,
    engine: Annotated[
        EngineChoice | None,
        typer.Option(
            help="Containers instead of processes (auto: podman, else docker): N SSH hosts "
            f"(default {DEFAULT_CONTAINER_COUNT}), an FTP host each for remoteops serve ftp "
            "and vsftpd, and a Telnet host, on a private network.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start N local SSH hosts and write an inventory for them."""
    from remoteops.playground import ContainerPlayground, Playground

    if old_count is not None:
        # Scripts written before --count say --hosts N, which every other command takes
        # as a PATTERN: kept working, with a nudge.
        if count is not None and count != old_count:
            fail(f"--count {count} and --hosts {old_count} disagree; give --count only")
        typer.echo("WARNING: playground up --hosts N is deprecated: use --count/-n N", err=True)
        count = old_count
    if engine is not None:
        if mode is not None or prefix is not None:
            fail("--engine starts containers: --mode and --prefix are for process hosts")
        _up_containers(state_dir, engine.value, count or DEFAULT_CONTAINER_COUNT)
        return
    with _failing_cleanly():
        if ContainerPlayground(state_dir).recorded():  # up starts from scratch, whatever was up
            ContainerPlayground(state_dir).down()
        state = Playground(state_dir).up(
            DEFAULT_COUNT if count is None else count,
            mode=(mode or Mode.auto).value,
            prefix=prefix or "pg",
        )
    typer.echo(f"{len(state.hosts)} playground hosts up ({state.mode})", err=True)
    typer.echo(f"inventory: {state.inventory_path}", err=True)
    typer.echo(f"try: remoteops run -i {state.inventory_path} --hosts all uptime", err=True)
    typer.echo(str(state.inventory_path))


def _up_containers(state_dir: Path | None, engine_name: str, count: int) -> None:
    from remoteops.engine import find_engine
    from remoteops.playground import ContainerPlayground

    with _failing_cleanly():
        playground = ContainerPlayground(state_dir, engine=find_engine(engine_name))
        state = playground.up(count, log=lambda line: typer.echo(line, err=True))
    typer.echo(f"{len(state.hosts)} playground containers up ({state.engine})", err=True)
    typer.echo(f"inventory: {state.inventory_path}", err=True)
    typer.echo(f'export {state.password_env}="$(cat {state.password_path})"', err=True)
    typer.echo(f"try: remoteops run -i {state.inventory_path} --hosts ssh uptime", err=True)
    typer.echo(str(state.inventory_path))


@contextlib.contextmanager
def _failing_cleanly() -> Iterator[None]:
    """A playground error (PlaygroundError, EngineError, ImageBuildError) or an OSError
    becomes the CLI's one-line failure instead of a traceback."""
    try:
        yield
    except ConfigurationError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(_os_error(exc))


def _os_error(exc: OSError) -> str:
    """An OSError as one line naming the file (a state dir that is not a directory, a
    permission), not a traceback."""
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


@app.command()
def down(state_dir: StateDirOption = None) -> None:
    """Stop the playground hosts and remove everything the playground made."""
    from remoteops.playground import ContainerPlayground, Playground

    with _failing_cleanly():
        ContainerPlayground(state_dir).down()
        Playground(state_dir).down()
    typer.echo("playground removed", err=True)


@app.command()
def inventory(
    compose: Annotated[
        bool,
        typer.Option(
            "--compose",
            help="Write one for the hosts of the repository's compose.yaml (running), with "
            "their addresses and pinned host keys.",
        ),
    ] = False,
    identity_file: Annotated[
        Path,
        typer.Option(help="With --compose: the private key of TESTHOST_AUTHORIZED_KEY."),
    ] = Path("~/.ssh/id_ed25519"),
    engine: Annotated[
        EngineChoice, typer.Option(help="With --compose: the engine compose runs on.")
    ] = EngineChoice.auto,
    state_dir: StateDirOption = None,
) -> None:
    """Print the playground's inventory path (exit 3 if none is up); --compose writes one."""
    from remoteops.engine import find_engine
    from remoteops.playground import COMPOSE_PASSWORD_ENV, ContainerPlayground, Playground

    with _failing_cleanly():
        if compose:
            found = ContainerPlayground(state_dir, engine=find_engine(engine.value))
            path = found.compose_inventory(identity_file.expanduser().absolute())
            typer.echo(f"export {COMPOSE_PASSWORD_ENV} before FTP, Telnet or sudo", err=True)
            typer.echo(str(path))
            return
        containers = ContainerPlayground(state_dir)
        if containers.recorded() or Playground(state_dir).status() is not None:
            typer.echo(str(containers.inventory_path))
            return
    typer.echo("no playground is up", err=True)
    raise typer.Exit(3)


@app.command()
def status(state_dir: StateDirOption = None) -> None:
    """Show the playground hosts and whether each is running (exit 3 if any is not)."""
    from remoteops.playground import ContainerPlayground, Playground

    if ContainerPlayground(state_dir).recorded():
        _container_status(ContainerPlayground(state_dir))
        return
    state = Playground(state_dir).status()
    if state is None:
        typer.echo("no playground is up", err=True)
        raise typer.Exit(3)
    typer.echo(f"mode: {state.mode}  inventory: {state.inventory_path}")
    for host in state.hosts:
        where = f"{host.address}:{host.port}"
        typer.echo(f"{host.name:8} {where:22} {'running' if host.running else 'STOPPED'}")
    if not all(host.running for host in state.hosts):
        raise typer.Exit(3)


def _container_status(playground: ContainerPlayground) -> None:
    with _failing_cleanly():
        state = playground.status()
    if state is None:
        typer.echo("no playground is up", err=True)
        raise typer.Exit(3)
    typer.echo(
        f"engine: {state.engine}  network: {state.network}  inventory: {state.inventory_path}"
    )
    for host in state.hosts:
        where = f"{host.address}:{host.port}"
        kind = f"{host.protocol} ({host.daemon})"
        typer.echo(
            f"{host.name:12} {where:22} {kind:18} {'running' if host.running else 'STOPPED'}"
        )
    if not all(host.running for host in state.hosts):
        raise typer.Exit(3)


@app.command()
def images(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[TARGET]...",
            help="Images to build: remoteops, testhost-ssh, testhost-ftp, testhost-telnet. "
            "Default: all.",
            show_default=False,
        ),
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build even the images that are up to date.")
    ] = False,
    engine: Annotated[
        EngineChoice, typer.Option(help="Container engine; auto: podman, else docker.")
    ] = EngineChoice.auto,
) -> None:
    """Build the container images (tool and test hosts) that are missing or out of date,
    from this source checkout's Dockerfile; prints their names."""
    from remoteops.engine import find_engine
    from remoteops.playground._images import TARGETS, check_targets, ensure_images, image_name

    with _failing_cleanly():
        chosen = check_targets(targets or TARGETS)  # a typo fails before any engine is looked for
        ensure_images(
            find_engine(engine.value),
            chosen,
            rebuild=rebuild,
            log=lambda line: typer.echo(line, err=True),
        )
        names = [image_name(target) for target in chosen]
    for name in names:
        typer.echo(name)
