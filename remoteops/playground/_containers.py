"""The container playground: testhost containers (sshd, two FTP daemons, telnetd) on a private
network of podman or docker, described by files in a state dir like the process playground.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remoteops.engine import Engine, EngineError, find_engine

from ._container_files import (
    LABEL,
    PASSWORD_ENV,
    ContainerRecord,
    ContainerState,
    plan_hosts,
    render_inventory,
    render_known_hosts,
)
from ._core import Playground, default_state_dir
from ._images import TARGETS, ensure_images, image_name
from ._model import PlaygroundError
from ._sshd import keygen
from ._system import acquire_lock, atomic_write

#: Files ``up`` creates in the state dir, and so the only ones ``down`` deletes there.
_STATE_FILES = (
    "containers.json",
    "inventory.yml",
    "known_hosts",
    "client_key",
    "client_key.pub",
    "password",
)
#: What a testhost prints on stdout once its daemon listens.
_READY = "testhost ready: "
#: The most SSH hosts ``up`` starts: each is a container (about 10 MB of memory, a process
#: tree and a bridge port); beyond this, use the process playground or several state dirs.
MAX_SSH_HOSTS = 100
#: Banner probes at once while waiting for the hosts.
_PROBES = 16
#: compose.yaml's hosts: its SSH host count and the variable its password comes from.
COMPOSE_SSH_HOSTS = 3
COMPOSE_PASSWORD_ENV = "TESTHOST_PASSWORD"  # noqa: S105 (a variable's name)
#: Where the testhost images read the password from (containers/testhost-init).
SECRET_PATH = "/run/secrets/testhost_password"  # noqa: S105 (a path)
#: The host key ``up`` pins for each SSH host (the images make every type at first start).
_HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"

Log = Callable[[str], None]


@dataclass(frozen=True)
class ContainerHost:
    """One container host as recorded, with whether its container is running now."""

    name: str
    protocol: str
    daemon: str
    address: str
    port: int
    container: str
    running: bool


@dataclass(frozen=True)
class ContainerPlaygroundState:
    """Everything a client needs to reach the container playground."""

    engine: str
    network: str
    playground_id: str
    hosts: tuple[ContainerHost, ...]
    inventory_path: Path
    known_hosts_path: Path
    client_key_path: Path
    #: Holds the login, FTP, Telnet and sudo password; export it as ``PASSWORD_ENV``.
    password_path: Path
    state_dir: Path
    password_env: str = PASSWORD_ENV


def _inspect(engine: Engine, kind: str, name: str) -> dict[str, Any] | None:
    """``engine <kind> inspect NAME`` as a mapping, or None when there is no such object."""
    done = engine.run([kind, "inspect", name], check=False, timeout=30)
    if done.returncode != 0:
        return None
    try:
        found = json.loads(done.stdout)
    except ValueError:
        return None
    return found[0] if isinstance(found, list) and found and isinstance(found[0], dict) else None


def _inspect_all(engine: Engine, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``engine container inspect`` of many containers in one command, by id; when one of them
    is gone the engine fails the whole command, so each is then asked alone."""
    done = engine.run(["container", "inspect", *ids], check=False, timeout=60)
    try:
        found = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        found = None
    listed = found if isinstance(found, list) else []
    by_id = {str(f.get("Id")): f for f in listed if isinstance(f, dict)}
    if any(i not in by_id for i in ids):
        return {i: info for i in ids if (info := _inspect(engine, "container", i)) is not None}
    return by_id


def _refuse_rootless(engine: Engine) -> None:
    """Fail at once on a rootless engine: its containers' addresses are in a network namespace
    of the user's, not routed from this machine, so no host would ever answer."""
    if engine.name == "podman":
        done = engine.run(["info", "--format", "{{.Host.Security.Rootless}}"], check=False)
        rootless = done.stdout.decode().strip() == "true"
    else:
        done = engine.run(["info", "--format", "{{json .SecurityOptions}}"], check=False)
        rootless = "rootless" in done.stdout.decode()
    if rootless:
        raise PlaygroundError(
            f"{engine.name} runs rootless here: its containers' addresses cannot be reached "
            f"from this machine. Run the container playground as root (rootful "
            f"{engine.name}), or use the process playground (playground up without --engine)"
        )


def _labels(found: dict[str, Any]) -> dict[str, str]:
    """An inspected object's labels: containers keep them in Config, networks and volumes at
    the top (podman's network inspect spells it ``labels``)."""
    config = found.get("Config") or {}
    labels = config.get("Labels") or found.get("Labels") or found.get("labels") or {}
    return labels if isinstance(labels, dict) else {}


def _address(found: dict[str, Any], network: str | None) -> str:
    """The container's address on ``network``, or on its first network with one (compose
    names its network after the project, differently in each tool)."""
    networks = (found.get("NetworkSettings") or {}).get("Networks") or {}
    names = [network] if network is not None else list(networks)
    addresses = [str((networks.get(n) or {}).get("IPAddress") or "") for n in names]
    return next((a for a in addresses if a), "")


def _answers(address: str, port: int, banner: bytes, timeout: float) -> bool:
    """Whether the daemon at ``address:port`` sends its banner (any byte when it is b"")."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            data = b""
            while len(data) < len(banner) or not data:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return False
    return bool(data) and data.startswith(banner)


class ContainerPlayground:
    """Testhost containers on a private network, to run remoteops against over every protocol.

    Lifecycle: constructing one does no I/O. ``up`` starts from scratch: it removes what this
    state dir held (a container playground, or a process playground), then starts ``N`` SSH
    hosts, a ``remoteops serve ftp`` host, a vsftpd host and a telnetd host, and returns once
    each has printed its ready line and sent its banner. Everything made is labelled
    ``remoteops.playground=<id>`` and recorded in ``containers.json`` before and as it is
    made; ``down`` removes only what is both recorded and labelled, so a name reused by
    someone else's container is never touched. ``down`` is idempotent. ``up``, ``down`` and
    ``compose_inventory`` hold ``state_dir/.lock``: two at once on one state dir would leave
    containers that no state file records.
    """

    def __init__(self, state_dir: Path | None = None, *, engine: Engine | None = None) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self.inventory_path = self.state_dir / "inventory.yml"
        self.known_hosts_path = self.state_dir / "known_hosts"
        self.client_key_path = self.state_dir / "client_key"
        self.password_path = self.state_dir / "password"
        self._state_file = self.state_dir / "containers.json"
        self._lock_path = self.state_dir / ".lock"
        self._engine = engine

    def __repr__(self) -> str:
        return f"ContainerPlayground({str(self.state_dir)!r})"

    def recorded(self) -> bool:
        """Whether this state dir holds a container playground (up, or half made)."""
        return self._state_file.exists()

    # -- lifecycle -------------------------------------------------------------------------

    def up(
        self,
        ssh_count: int = 3,
        *,
        ready_timeout: float = 90.0,
        log: Log | None = None,
        hosts: Sequence[ContainerRecord] | None = None,
    ) -> ContainerPlaygroundState:
        """Start the hosts and write inventory, known_hosts, client key and password.

        ``hosts`` replaces the standard topology (:func:`plan_hosts`), for tests of a host
        that never comes up; on any failure everything started is removed again.
        """
        if not 1 <= ssh_count <= MAX_SSH_HOSTS:
            raise PlaygroundError(
                f"a container playground has 1 to {MAX_SSH_HOSTS} SSH hosts, not {ssh_count}"
            )
        if any(c in str(self.password_path) for c in ":,"):
            raise PlaygroundError(f"the state dir {self.state_dir} must not contain ':' or ','")
        with self._locked():
            self._load()  # a record it cannot read fails here, before any build
            engine = self._engine or find_engine()
            _refuse_rootless(engine)
            ensure_images(engine, [t for t in TARGETS if t != "remoteops"], log=log)
            return self._up(engine, ssh_count, ready_timeout, log, hosts)

    def _up(
        self,
        engine: Engine,
        ssh_count: int,
        ready_timeout: float,
        log: Log | None,
        hosts: Sequence[ContainerRecord] | None,
    ) -> ContainerPlaygroundState:
        self._down(release=False)  # still ours to hold: another `up` must wait for this one
        if (self.state_dir / "state.json").exists():
            Playground(self.state_dir).down()
        self._make_state_dir()  # the process playground's down may have removed it
        playground_id = secrets.token_hex(4)
        state = ContainerState(
            playground_id=playground_id,
            engine=engine.name,
            network=f"ropg-{playground_id}",
            hosts=list(hosts) if hosts is not None else plan_hosts(playground_id, ssh_count),
        )
        self._save(state)  # before anything exists: a crash from here on leaves down() a map
        try:
            self._build(engine, state, ready_timeout, log or (lambda _: None))
        except BaseException:
            with contextlib.suppress(EngineError, OSError):
                self._teardown(engine, state)
            raise
        return self._state_of(engine, state)

    def down(self) -> None:
        """Remove the recorded containers, network and volumes that carry our label, and
        the state files; idempotent."""
        if not self.recorded():
            return  # nothing to lock for: an `up` still to save its record comes after us
        with self._locked():
            if not self._down():  # another `down` came first, and we made the dir again
                self._lock_path.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    self.state_dir.rmdir()

    def _down(self, *, release: bool = True) -> bool:
        """Tear down what is recorded, holding the lock; False when nothing is. With
        ``release``, the lock file goes too (the caller is about to let go of it)."""
        state = self._load()
        if state is None:
            return False
        self._teardown(self._engine or find_engine(state.engine), state, release=release)
        return True

    def status(self) -> ContainerPlaygroundState | None:
        """The recorded playground with each container's state checked, or None if none."""
        state = self._load()
        if state is None:
            return None
        return self._state_of(self._engine or find_engine(state.engine), state)

    def compose_inventory(
        self,
        identity_file: Path,
        *,
        password_env: str = COMPOSE_PASSWORD_ENV,
        timeout: float = 90.0,
    ) -> Path:
        """Write inventory and known_hosts for the hosts of the repository's compose.yaml
        (containers ``ropg-compose-*``, started by docker compose or podman-compose): their
        addresses and host keys are read from the running containers once each is ready.
        Returns the inventory's path.
        """
        if self.recorded() or (self.state_dir / "state.json").exists():
            raise PlaygroundError(
                f"a playground is up in {self.state_dir}: pick another --state-dir for compose's"
            )
        with self._locked():
            return self._compose_inventory(identity_file, password_env, timeout)

    def _compose_inventory(self, identity_file: Path, password_env: str, timeout: float) -> Path:
        engine = self._engine or find_engine()
        _refuse_rootless(engine)
        hosts = plan_hosts("compose", COMPOSE_SSH_HOSTS)
        for rec in hosts:
            found = _inspect(engine, "container", rec.container)
            if not found or not (found.get("State") or {}).get("Running"):
                raise PlaygroundError(
                    f"compose host {rec.container} is not running: start compose.yaml first "
                    "(podman-compose up -d, or docker compose up -d)"
                )
            rec.container_id = str(found.get("Id") or rec.container)
        self._wait_all(engine, hosts, None, timeout)
        self._write_client_files(engine, hosts, identity_file, None, password_env)
        return self.inventory_path

    # -- internals -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold ``state_dir/.lock``, making the state dir if needed (again, when a ``down``
        removed it while we waited)."""
        while True:
            self._make_state_dir()
            try:
                fd = acquire_lock(self._lock_path)
            except FileNotFoundError:
                continue
            break
        try:
            yield
        finally:
            os.close(fd)

    def _make_state_dir(self) -> None:
        try:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise PlaygroundError(
                f"cannot use {self.state_dir} as the playground's state dir: "
                f"{exc.strerror or exc}; pick another with --state-dir"
            ) from exc

    def _load(self) -> ContainerState | None:
        """The recorded state, None when nothing is recorded; a record that cannot be read is
        an error: ``down`` and ``status`` must not take it for "no playground"."""
        try:
            text = self._state_file.read_text()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise PlaygroundError(f"cannot read {self._state_file}: {exc.strerror}") from exc
        try:
            return ContainerState.loads(text)
        except ValueError as exc:
            raise PlaygroundError(
                f"{self._state_file} is not a container playground record ({exc}), so its "
                f"containers cannot be found from it: remove those labelled {LABEL} by hand "
                f"(podman ps --all --filter label={LABEL}; podman rm --force ...; the same for "
                f"podman network ls), then delete that file"
            ) from exc

    def _save(self, state: ContainerState) -> None:
        atomic_write(self._state_file, state.dumps(), mode=0o600)

    def _build(self, engine: Engine, state: ContainerState, timeout: float, log: Log) -> None:
        keygen(self.client_key_path, "remoteops-playground-client")
        atomic_write(self.password_path, secrets.token_urlsafe(18) + "\n", mode=0o600)
        # The password is a file mounted read-only (root's inside), never the container's
        # environment: every `exec` process, of any user, inherits that.
        secret_mount = f"{self.password_path}:{SECRET_PATH}:ro"
        key = {
            "TESTHOST_AUTHORIZED_KEY": self.client_key_path.with_suffix(".pub").read_text().strip()
        }
        label = f"{LABEL}={state.playground_id}"
        engine.run(["network", "create", "--label", label, state.network])
        log(f"network {state.network} created; starting {len(state.hosts)} hosts")
        for rec in state.hosts:
            argv = [
                "run", "--detach", "--name", rec.container, "--hostname", rec.name,
                "--network", state.network, "--label", label, "--label", f"{LABEL}.host={rec.name}",
                "--volume", secret_mount, "--env", "TESTHOST_AUTHORIZED_KEY",
                image_name(rec.spec.target), rec.command,
            ]  # fmt: skip
            try:
                done = engine.run(argv, env=key)
            except EngineError as exc:
                raise PlaygroundError(f"playground host {rec.name} did not start: {exc}") from exc
            rec.container_id = done.stdout.decode().strip()
            self._save(state)
        self._wait_all(engine, state.hosts, state.network, timeout)
        log(f"{len(state.hosts)} hosts answer")
        self._save(state)
        self._write_client_files(
            engine, state.hosts, self.client_key_path, self.password_path, PASSWORD_ENV
        )

    def _write_client_files(
        self,
        engine: Engine,
        hosts: Sequence[ContainerRecord],
        identity_file: Path,
        password_file: Path | None,
        password_env: str,
    ) -> None:
        """known_hosts from each SSH host's key as the container has it, then the inventory."""
        host_keys = {
            rec.name: engine.run(["exec", rec.container_id, "cat", _HOST_KEY]).stdout.decode()
            for rec in hosts
            if rec.spec.protocol == "ssh"
        }
        atomic_write(self.known_hosts_path, render_known_hosts(host_keys, hosts))
        inventory = render_inventory(
            hosts,
            identity_file=identity_file,
            known_hosts_file=self.known_hosts_path,
            password_file=password_file,
            password_env=password_env,
        )
        atomic_write(self.inventory_path, inventory)

    def _wait_all(
        self,
        engine: Engine,
        hosts: Sequence[ContainerRecord],
        network: str | None,
        timeout: float,
    ) -> None:
        """Wait until every host's port sends its banner; one error names each host whose
        container exited or that stayed silent past ``timeout``.

        One ``inspect`` of all the hosts still waited for per tick, and the banner probes in
        a few threads: a thread per host each calling the engine twice every 0.5 s made 100
        hosts thrash the engine.
        """
        deadline = time.monotonic() + timeout
        pending = {rec.container_id: rec for rec in hosts}
        failures: list[str] = []
        delay = 0.05
        with ThreadPoolExecutor(max_workers=min(_PROBES, len(hosts))) as pool:
            while pending:
                found = _inspect_all(engine, list(pending))
                for key, rec in list(pending.items()):
                    state = found.get(key) or {}
                    rec.address = rec.address or _address(state, network)
                    if not (state.get("State") or {}).get("Running"):
                        code = (state.get("State") or {}).get("ExitCode", "?")
                        failures.append(
                            f"playground host {rec.name} ({rec.command}) exited with status "
                            f"{code}: {self._last_output(engine, rec)}"
                        )
                        del pending[key]
                probes = {
                    key: pool.submit(_answers, r.address, r.spec.port, r.spec.banner, 2)
                    for key, r in pending.items()
                    if r.address
                }
                for key, probe in probes.items():
                    if probe.result():
                        del pending[key]
                if pending and time.monotonic() > deadline:
                    failures += [self._silent(engine, rec) for rec in pending.values()]
                    break
                if pending:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
        if failures:
            raise PlaygroundError("; ".join(failures))

    def _silent(self, engine: Engine, rec: ContainerRecord) -> str:
        """Why ``rec`` did not come up: its daemon never said it listens, or its port stayed
        silent although it did."""
        logs = engine.run(["logs", rec.container_id], check=False).stdout
        ready = f"{_READY}{rec.command}".encode() in logs
        what = "sent no banner" if ready else f"printed no '{_READY}{rec.command}'"
        return (
            f"playground host {rec.name} ({rec.command}) did not come up: it {what} "
            f"on {rec.address or '?'}:{rec.spec.port} in time; last output: "
            f"{self._last_output(engine, rec)}"
        )

    @staticmethod
    def _last_output(engine: Engine, rec: ContainerRecord) -> str:
        done = engine.run(["logs", "--tail", "5", rec.container_id], check=False)
        text = (done.stdout + done.stderr).decode(errors="replace").strip()
        return " | ".join(text.splitlines()[-5:]) or "(none)"

    def _ours(self, engine: Engine, kind: str, name: str, state: ContainerState) -> str | None:
        """The engine's id for ``name`` when it exists and carries this playground's label."""
        found = _inspect(engine, kind, name)
        if found is None or _labels(found).get(LABEL) != state.playground_id:
            return None
        return str(found.get("Id") or found.get("id") or found.get("Name") or name)

    def _teardown(self, engine: Engine, state: ContainerState, *, release: bool = True) -> None:
        containers = [
            found
            for rec in state.hosts
            if (found := self._ours(engine, "container", rec.container_id or rec.container, state))
        ]
        if containers:
            engine.run(["rm", "--force", "--volumes", *containers])
        volumes = [v for name in state.volumes if (v := self._ours(engine, "volume", name, state))]
        if volumes:
            engine.run(["volume", "rm", *volumes])
        if self._ours(engine, "network", state.network, state):
            engine.run(["network", "rm", state.network])
        self._remove_state_files(release=release)

    def _remove_state_files(self, *, release: bool) -> None:
        """Remove the files ``up`` made, and the state dir once empty. The lock file only with
        ``release``, by its holder: a process still waiting on it then sees it was removed
        and locks the new one (see :func:`acquire_lock`)."""
        for name in (*_STATE_FILES, ".lock") if release else _STATE_FILES:
            (self.state_dir / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            for entry in self.state_dir.iterdir():
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    entry.unlink(missing_ok=True)
            self.state_dir.rmdir()

    def _state_of(self, engine: Engine, state: ContainerState) -> ContainerPlaygroundState:
        hosts = []
        for rec in state.hosts:
            found = _inspect(engine, "container", rec.container_id or rec.container)
            mine = found is not None and _labels(found).get(LABEL) == state.playground_id
            running = bool(mine and found and (found.get("State") or {}).get("Running"))
            hosts.append(
                ContainerHost(
                    name=rec.name,
                    protocol=rec.spec.protocol,
                    daemon=rec.command,
                    address=rec.address,
                    port=rec.spec.port,
                    container=rec.container,
                    running=running,
                )
            )
        return ContainerPlaygroundState(
            engine=state.engine,
            network=state.network,
            playground_id=state.playground_id,
            hosts=tuple(hosts),
            inventory_path=self.inventory_path,
            known_hosts_path=self.known_hosts_path,
            client_key_path=self.client_key_path,
            password_path=self.password_path,
            state_dir=self.state_dir,
        )
