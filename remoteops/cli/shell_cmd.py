"""``remoteops shell``: a prompt whose every line runs on the selected hosts (clush's
interactive mode), over connections kept open between lines; see :mod:`remoteops.shell`."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from remoteops.cli.common import (
    AcceptNewOption,
    AskPassOption,
    CommandTimeoutOption,
    ConnectTimeoutOption,
    ForksOption,
    ForwardAgentOption,
    HostsOption,
    InventoryOption,
    PortOption,
    SSHConfigOption,
    SSHOptionOption,
    UserOption,
    connection_overrides,
    fail,
    load_and_select,
    make_factory,
)
from remoteops.errors import ConfigurationError
from remoteops.executor import DEFAULT_FORKS, Listener
from remoteops.inventory.ranges import fold_hosts
from remoteops.output import GroupedOutput, LiveLines
from remoteops.output.notices import write
from remoteops.results import Status
from remoteops.shell import DIRECTIVES, LineKind, ShellLine, ShellSession, parse_line
from remoteops.transports import CommandSpec
from remoteops.transports.base import DEFAULT_CAPTURE_LIMIT

#: Lines kept in the history file.
_HISTORY_LINES = 1000


def history_path() -> Path:
    """``$XDG_STATE_HOME/remoteops/shell_history`` (``~/.local/state`` by default)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "remoteops" / "shell_history"


@contextlib.contextmanager
def _line_history() -> Iterator[None]:
    """Line editing and a history kept across sessions (readline), on a terminal only;
    the file is private (0600): typed commands can hold secrets."""
    try:
        import readline
    except ImportError:  # Python built without it: plain input()
        yield
        return
    path = history_path()
    if not path.is_symlink():  # a planted link must not feed another file into the history
        with contextlib.suppress(OSError):
            readline.read_history_file(path)
    readline.set_history_length(_HISTORY_LINES)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            _save_history(readline.write_history_file, path)


def _save_history(write_to: Callable[[str], None], path: Path) -> None:
    """Written to a new private file, then renamed over ``path``: never opened through a
    symlink there, which as root (``sudo -E`` keeps the user's state folder) would truncate
    and overwrite whatever file the link named."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    os.close(fd)
    try:
        write_to(temp)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _say(text: str) -> None:
    write(sys.stderr, text + "\n")


def _help() -> str:
    lines = ["Each line runs on the selected hosts (Ctrl-C stops it and returns here)."]
    lines += [text for _, text in DIRECTIVES.values() if text]
    return "\n".join(lines)


def _run_line(session: ShellSession, command: str, live: bool, timeout: float | None) -> None:
    hosts = session.hosts
    if not hosts:
        _say("no host to run on (none could be reached): :hosts PATTERN selects again")
        return
    spec = CommandSpec(command, timeout=timeout, capture_limit=0 if live else DEFAULT_CAPTURE_LIMIT)
    grouped = None if live else GroupedOutput()
    listener: Listener = grouped or LiveLines([h.name for h in hosts])
    report = session.run(spec, listener)
    left_out = session.leave_out_unreachable(report.results)  # before printing: Ctrl-C may cut it
    if grouped is not None:
        grouped.render(report.results)
    if report.interrupted:
        cancelled = [r.host for r in report.results if r.status is Status.CANCELLED]
        _say(f"interrupted: cancelled on {fold_hosts(cancelled) or 'no host'}")
    for result in left_out:
        _say(f"{result.host}: left out of the next lines ({result.status.value}: {result.error})")


def _change_hosts(session: ShellSession, pattern: str) -> None:
    if not pattern:
        names = [h.name for h in session.hosts]
        _say(f"{session.pattern}: {fold_hosts(names) or 'none'} ({len(names)})")
        for name, result in session.left_out.items():
            _say(f"  left out: {name} ({result.status.value})")
        return
    try:
        session.select(pattern)
    except ConfigurationError as exc:
        _say(f"error: {exc}")
        return
    count = len(session.hosts)
    _say(f"{count} host{'' if count == 1 else 's'}: {fold_hosts(h.name for h in session.hosts)}")


def _loop(session: ShellSession, live: bool, timeout: float | None) -> None:
    """Read and run lines until :quit or end of input."""
    interactive = sys.stdin.isatty()
    while True:
        prompt = f"remoteops {session.pattern} ({len(session.hosts)})> " if interactive else ""
        try:
            line = input(prompt)
        except EOFError:
            if interactive:
                write(sys.stdout, "\n")
            return
        except KeyboardInterrupt:  # at the prompt: a fresh line, as shells do
            write(sys.stdout, "\n")
            continue
        parsed = parse_line(line)
        if parsed.kind is LineKind.QUIT:
            return
        try:
            _do_line(session, parsed, live, timeout)
        except KeyboardInterrupt:  # outside the hosts' work (printing its grouped output, say)
            write(sys.stdout, "\n")  # what was cut may have stopped mid-line
            _say("interrupted")


def _do_line(session: ShellSession, parsed: ShellLine, live: bool, timeout: float | None) -> None:
    if parsed.kind is LineKind.COMMAND:
        _run_line(session, parsed.argument, live, timeout)
    elif parsed.kind is LineKind.HOSTS:
        _change_hosts(session, parsed.argument)
    elif parsed.kind is LineKind.HELP:
        _say(_help())
    elif parsed.kind is LineKind.UNKNOWN:
        _say(f"unknown directive {parsed.argument}; :help lists them")


def shell(
    hosts: HostsOption = "all",
    inventory: InventoryOption = None,
    forks: ForksOption = DEFAULT_FORKS,
    connect_timeout: ConnectTimeoutOption = None,
    timeout: CommandTimeoutOption = None,
    user: UserOption = None,
    port: PortOption = None,
    ask_pass: AskPassOption = False,
    accept_new_host_keys: AcceptNewOption = False,
    forward_agent: ForwardAgentOption = False,
    ssh_config: SSHConfigOption = None,
    ssh_option: SSHOptionOption = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            "-L",
            help="Show each host's lines as they come (host | line) instead of grouping "
            "identical outputs once the line is done (clush -b, the default).",
        ),
    ] = False,
) -> None:
    """Read commands at a prompt and run each on every host matching --hosts, over
    connections kept open (clush's interactive mode). :help lists the directives
    (:hosts PATTERN, :quit); Ctrl-C stops the running line only; Ctrl-D leaves (exit 0).
    Lines are read from stdin without a prompt when it is not a terminal."""
    loaded, _ = load_and_select(inventory, hosts)
    factory = make_factory(
        loaded,
        connection_overrides(user, port, connect_timeout, ssh_option, forward_agent=forward_agent),
        accept_new_host_keys,
        ask_pass,
        ssh_config,
    )
    try:
        session = ShellSession(loaded, hosts, factory=factory, forks=forks)
    except ConfigurationError as exc:
        fail(str(exc))
    try:
        history: contextlib.AbstractContextManager[None] = (
            _line_history() if sys.stdin.isatty() else contextlib.nullcontext()
        )
        with history:
            _loop(session, live, timeout)
    finally:
        session.close()
