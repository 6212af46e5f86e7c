"""Options and helpers shared by the commands: inventory loading, errors, prompts."""

from __future__ import annotations

import enum
import getpass
import logging
import os
import signal
import stat
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from remoteops.cli.completion import complete_hosts
from remoteops.diagnostics import register_secret
from remoteops.errors import ConfigurationError
from remoteops.executor import Listener, sigterm_deferred
from remoteops.inventory import Inventory, load_inventory
from remoteops.inventory.model import Host
from remoteops.output.style import stderr_console
from remoteops.results import ExitCode, RunReport
from remoteops.transports import (
    ConnectionOverrides,
    Privilege,
    TransportFactory,
    check_sudo_password,
)
from remoteops.tree import ProgressSink

if TYPE_CHECKING:
    from remoteops.cluster import DaskSettings
    from remoteops.fleet import Fleet
    from remoteops.tasks.runner import TaskReport
    from remoteops.transports.stdin_sources import StdinSource

InventoryOption = Annotated[
    list[str] | None,
    typer.Option(
        "--inventory",
        "-i",
        metavar="FILE|DIR|LIST",
        help="Inventory file, folder or comma list such as 'web1,root@web2:2222,' (repeatable). "
        "Default: $REMOTEOPS_INVENTORY, else ./inventory/, else localhost.",
        show_default=False,
    ),
]


class OutputMode(str, enum.Enum):
    text = "text"
    json = "json"


def fail(message: str, code: int = ExitCode.USAGE) -> NoReturn:
    """Print an error on stderr and exit (2 = usage, inventory or configuration error)."""
    from rich.markup import escape  # rich only when there is something to say: start-up time

    stderr_console().print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def load_and_select(inventory: list[str] | None, pattern: str) -> tuple[Inventory, list[Host]]:
    """Load the inventory and apply the pattern, turning configuration errors into exit 2.

    The selected hosts' settings are read here (for the exposure warnings), so a bad one
    stops the run before any prompt; the run's :meth:`TransportFactory.prepare` checks them
    again, for library callers, and warns about likely typos.
    """
    from remoteops.cli.config_cmd import note_inventory

    show_library_warnings()  # what the inventory ignores (Ansible variables) is said on load
    try:
        loaded = load_inventory(inventory)
        note_inventory(loaded.sources)  # journalled with the run, for a later @failed
        selected = loaded.select(pattern, _journal_sets(pattern, loaded.sources))
        _warn_about_plaintext(selected)
    except ConfigurationError as exc:
        fail(str(exc))
    return loaded, selected


def _journal_sets(pattern: str, sources: tuple[str, ...]) -> dict[str, list[str]] | None:
    """``@failed`` and ``@last`` from the journal, read only when the pattern uses one, and
    only from a run of the same inventory ``sources``."""
    if "@" not in pattern:
        return None
    from remoteops.cli.config_cmd import journal

    return journal().host_sets(sources)


def _warn_about_plaintext(selected: list[Host]) -> None:
    from remoteops.transports import exposure_warnings

    for warning in exposure_warnings(selected):
        typer.echo(f"WARNING: {warning}", err=True)


def read_secret_from(env_var: str | None, prompt: str) -> str | None:
    """A secret from the named environment variable, else a no-echo prompt on a terminal.

    One trailing line end is dropped (CI secret variables and ``$(cat file)`` often carry
    one); a line break left inside is refused before anything is sent (exit 2): sudo would
    read only the first line and pass the rest to the command's input."""
    if env_var:
        value = os.environ.get(env_var)
        if value is None:
            fail(f"environment variable {env_var} is not set")
        value = value.removesuffix("\r\n") if value.endswith("\r\n") else value.removesuffix("\n")
        register_secret(value)
        try:
            check_sudo_password(value)
        except ConfigurationError as exc:
            fail(f"{env_var}: {exc}")
        return value
    if sys.stdin.isatty():
        return _secret(getpass.getpass(prompt))
    return None


def _secret(value: str) -> str:
    """A secret just read: never shown in a log or the journal from now on."""
    register_secret(value)
    return value


def ask_terminal(prompt: str, option: str) -> str:
    """A secret typed at the controlling terminal (never stdin, which may carry a payload)."""
    try:
        with open("/dev/tty"):
            pass
    except OSError:
        fail(f"{option} needs a terminal to ask on; use password_env in the inventory instead")
    return _secret(getpass.getpass(prompt))


class PassphrasePrompt:
    """Asks once per key file for its passphrase, one prompt at a time across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, path: str) -> str | None:
        if not sys.stdin.isatty():
            return None
        from remoteops.output.status_line import hidden

        with self._lock, hidden():  # asked while run's status line is drawn
            return _secret(getpass.getpass(f"Passphrase for {path}: "))


def stdin_source(stdin_file: Path | None, readers: int) -> StdinSource | None:
    """The input to send to every host: ``--stdin FILE`` (``-`` for stdin), else piped or
    redirected stdin if any (a terminal is never read unless asked for with ``--stdin -``).

    A regular file is read by each host on its own; a pipe is read once, as it arrives, and
    streamed to the ``readers`` hosts (see :mod:`remoteops.transports.stdin_sources`).
    """
    from remoteops.transports.stdin_sources import BroadcastStdin, FileStdin

    try:
        if stdin_file is not None and str(stdin_file) != "-":
            fd = os.open(stdin_file, os.O_RDONLY)
        else:
            fd = sys.stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError) as exc:  # `<&-`: sys.stdin is None
        if stdin_file is None:
            return None
        if str(stdin_file) == "-":
            fail("--stdin -: there is no standard input (it is closed)")
        fail(f"cannot read {stdin_file}: {getattr(exc, 'strerror', None) or exc}")
    if stat.S_ISDIR(mode) and stdin_file is not None:
        fail(f"cannot read {stdin_file}: it is a folder")
    if stat.S_ISREG(mode):  # each host reads it on its own
        return FileStdin(fd=fd)
    if stdin_file is not None or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return BroadcastStdin(fd, readers)  # read once, streamed
    return None


#: The most standard input ``--executor dask`` sends (read whole here, then to each worker).
CLUSTER_STDIN_LIMIT = 64 * 1024 * 1024


def whole_stdin(source: StdinSource) -> bytes:
    """The input read through to its end: a pipe streamed to hosts here cannot be streamed
    to Dask workers, so it is sent to them whole (up to :data:`CLUSTER_STDIN_LIMIT`)."""
    stream = source.open()
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := stream.read():
            size += len(chunk)
            if size > CLUSTER_STDIN_LIMIT:
                fail(
                    f"standard input is over {CLUSTER_STDIN_LIMIT >> 20} MiB: --executor dask "
                    "sends it whole to the workers; put it in a file the hosts can read"
                )
            chunks.append(chunk)
    finally:
        stream.close()
    return b"".join(chunks)


def positive_seconds(value: float | None) -> float | None:
    """Option callback: a timeout must be a positive number of seconds."""
    if value is not None and not value > 0:
        raise typer.BadParameter(f"must be a positive number of seconds, not {value:g}")
    return value


def non_empty(value: str | None) -> str | None:
    """Option callback: an explicit value may not be blank."""
    if value is not None and not value.strip():
        raise typer.BadParameter("must not be empty")
    return value


# -- options shared by every command that connects to hosts ----------------------------------

HostsOption = Annotated[
    str,
    typer.Option(
        "--hosts",
        "-H",
        metavar="PATTERN",
        help="Host pattern (Ansible syntax: web, 'web:&prod:!web03', db*, @failed). "
        "Hosts not in the inventory: -i 'host1,host2,'.",
        autocompletion=complete_hosts,
    ),
]
ForksOption = Annotated[
    int,
    typer.Option(
        "--forks",
        "-f",
        min=1,
        metavar="N",
        help="Hosts worked on at once (pdsh -f, Ansible -f; pssh calls it -p).",
    ),
]
ConnectTimeoutOption = Annotated[
    float | None,
    typer.Option(
        metavar="SECONDS",
        # no "[default: 10]": rich would read the brackets as markup and drop them
        help="Seconds to connect and log in (TCP, SSH negotiation, auth: one deadline). "
        "Default: 10.",
        callback=positive_seconds,
    ),
]
ForwardAgentOption = Annotated[
    bool,
    typer.Option(
        "--forward-agent",
        "-A",
        help="Forward your ssh-agent to the commands on SSH hosts (ssh -A), e.g. for git "
        "pull there. Off by default: root on a host can use your keys while a command runs.",
    ),
]
HostTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        "-t",
        metavar="SECONDS",
        help="Seconds each host may take in all (connect, listing, transfer); then it ends "
        "with status timeout and the others go on.",
        callback=positive_seconds,
    ),
]
CommandTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        "-t",
        metavar="SECONDS",
        help="Seconds the command may run (in shell: each line's); then the host ends timeout.",
        callback=positive_seconds,
    ),
]
UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        "-u",
        metavar="NAME",
        help="Remote login user, over the inventory (ssh -l; pssh -l).",
        callback=non_empty,
    ),
]
PortOption = Annotated[
    int | None,
    typer.Option(
        "--port",
        "-p",
        min=1,
        max=65535,
        metavar="PORT",
        help="Remote port, over the inventory (pssh's -p is parallelism: here -f).",
    ),
]
AskPassOption = Annotated[
    bool,
    typer.Option(
        "--ask-pass",
        "-k",
        help="Ask once for an SSH login password (hosts without password_env); Ansible -k, "
        "pssh -A (our -A forwards the agent, as ssh -A).",
    ),
]


class ExecutorChoice(str, enum.Enum):
    local = "local"
    dask = "dask"


ExecutorOption = Annotated[
    ExecutorChoice,
    typer.Option(
        "--executor",
        envvar="REMOTEOPS_EXECUTOR",
        help="Where the hosts' work runs: here (local), or on the workers of a Dask "
        "distributed cluster (dask, with --scheduler; pip install 'remoteops\\[dask]').",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="tcp://HOST:8786",
        envvar="REMOTEOPS_DASK_SCHEDULER",
        help="The Dask scheduler of --executor dask.",
    ),
]


def dask_from(
    executor: ExecutorChoice, scheduler: str | None, *, ask_pass: bool = False
) -> DaskSettings | None:
    """The cluster ``--executor dask`` runs on (None: run here); exit 2 when it cannot be."""
    if executor is ExecutorChoice.local:
        return None
    if not scheduler:
        fail("--executor dask needs --scheduler tcp://HOST:8786 (or REMOTEOPS_DASK_SCHEDULER)")
    if ask_pass:
        fail(
            "--ask-pass cannot be used with --executor dask: the password would travel to the "
            "workers; give the hosts password_env, read on each worker"
        )
    from remoteops.cluster import DaskSettings

    try:
        return DaskSettings(scheduler)
    except ValueError as exc:
        fail(str(exc))


AcceptNewOption = Annotated[
    bool,
    typer.Option(
        "--accept-new-host-keys",
        help="Add unknown host keys (OpenSSH accept-new); changed keys still fail.",
    ),
]
SSHConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--ssh-config",
        "-F",
        metavar="FILE",
        help="Read this ssh_config instead of ~/.ssh/config and /etc/ssh/ssh_config (ssh -F).",
        show_default=False,
    ),
]
SSHOptionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--ssh-option",
        "-O",
        metavar="KEY=VALUE",
        help="An ssh_config option for every SSH host, over the inventory and the config files "
        "(repeatable; ssh spells it -o, which is --output here; pssh -O).",
        show_default=False,
    ),
]


def connection_overrides(
    user: str | None,
    port: int | None,
    connect_timeout: float | None,
    ssh_options: list[str] | None,
    *,
    forward_agent: bool = False,
) -> ConnectionOverrides:
    """The command line's connection settings; a bad ``-O`` is exit 2, naming it."""
    from remoteops.transports.ssh_config import parse_ssh_option

    show_library_warnings()  # an -O key remoteops does not use is warned about
    options: dict[str, str] = {}
    try:
        for text in ssh_options or []:
            key, value = parse_ssh_option(text)
            if key.lower() not in {k.lower() for k in options}:  # ssh: the first one wins
                options[key] = value
        return ConnectionOverrides(user, port, connect_timeout, options, forward_agent)
    except ConfigurationError as exc:
        fail(f"-O {exc}")


SudoOption = Annotated[
    bool, typer.Option("--sudo", help="Work as root through sudo on the hosts (SSH; --sudo-user).")
]
SudoUserOption = Annotated[
    str | None,
    typer.Option(
        "--sudo-user",
        metavar="NAME",
        help="Work as this user through sudo (implies --sudo).",
        callback=non_empty,
    ),
]
SudoPasswordEnvOption = Annotated[
    str | None,
    typer.Option(
        "--sudo-password-env",
        metavar="VAR",
        help="Env var holding the sudo password (else prompted on a terminal); sent only "
        "when sudo asks.",
    ),
]


def privilege_from(
    sudo: bool,
    sudo_user: str | None,
    sudo_password_env: str | None,
    *,
    read_where_used: bool = False,
) -> Privilege | None:
    """The sudo options of a command as the library takes them; the password is read here
    (from the environment, or asked on a terminal), never from the command line.

    ``read_where_used``: for work run by other processes (cluster workers), to which a
    secret must not travel. The variable's name is checked and kept
    (:attr:`Privilege.password_env`), its value read by whichever process works on the
    host (unset there: that host's ``auth``); nothing is asked on a terminal, since a typed
    password would have to travel (without the variable, sudo gets only what the
    inventory's ``sudo_password_env`` gives, or none)."""
    if not (sudo or sudo_user):
        if sudo_password_env:
            fail("--sudo-password-env needs --sudo")
        return None
    if read_where_used:
        try:
            return Privilege(sudo_user, password_env=sudo_password_env or None)
        except ValueError as exc:  # not a variable's name
            fail(f"--sudo-password-env: {exc}")
    return Privilege(sudo_user, read_secret_from(sudo_password_env, "sudo password: "))


def transfer_privilege(
    selected: list[Host],
    command: str,
    sudo: bool,
    sudo_user: str | None,
    sudo_password_env: str | None,
    *,
    read_where_used: bool = False,
) -> Privilege | None:
    """:func:`privilege_from` for put/get/sync, which the inventory's become (``sudo: true``,
    ``ansible_become``) does not put under sudo: said once, naming the hosts, rather than
    leaving a write refused for lack of root to explain itself."""
    privilege = privilege_from(sudo, sudo_user, sudo_password_env, read_where_used=read_where_used)
    from remoteops.transports.settings import settings_for

    becoming = [host.name for host in selected if settings_for(host).sudo]
    if privilege is None and becoming:
        from remoteops.inventory.ranges import fold_hosts

        typer.echo(
            f"WARNING: {fold_hosts(becoming)}: the inventory's sudo (ansible_become) applies to "
            f"run and task only; {command} works as the login user (add --sudo for root)",
            err=True,
        )
    return privilege


OutputOption = Annotated[
    OutputMode,
    typer.Option(
        "--output",
        "-o",
        help="text (live lines) or json (JSON Lines). Not ssh's -o: that is -O here.",
    ),
]


#: Set by the root ``--verbose``: library errors are shown with their tracebacks.
_verbose = False


def is_verbose() -> bool:
    """Whether the root ``--verbose`` was given."""
    return _verbose


def be_verbose(level: int = 1, log_file: Path | None = None) -> None:
    """``-v``: the library's connection steps on stderr, and the traceback of every error
    it logs; ``-vv``: paramiko's log too; ``--log-file``: all of it, at debug level."""
    import logging

    from remoteops.diagnostics import log_to

    global _verbose
    _verbose = _verbose or level > 0
    if level > 0:
        handler = log_to(sys.stderr, logging.INFO if level == 1 else logging.DEBUG,
                         paramiko=level > 1, formatter="%(message)s")  # fmt: skip
        handler.addFilter(lambda record: record.levelno < logging.WARNING)  # those: below
    if log_file is not None:
        try:
            log_to(log_file, logging.DEBUG, paramiko=True)
        except OSError as exc:
            fail(f"--log-file {log_file}: {exc.strerror or exc}")


class _LibraryWarnings(logging.Handler):
    """What the library logs as a warning or error (a known_hosts line skipped, a host's
    internal error), as a line on stderr; with ``--verbose``, with its traceback.

    ``sys.stderr`` is looked up at each line, so progress bars that redirect it keep them above.
    """

    def emit(self, record: logging.LogRecord) -> None:
        from remoteops.output.notices import write

        line = f"{record.levelname}: {record.getMessage()}\n"
        if _verbose and record.exc_info:
            line += "".join(traceback.format_exception(*record.exc_info))
        write(sys.stderr, line)


def show_library_warnings() -> None:
    """Print the library's warnings on stderr for the rest of this process (once set up)."""
    logger = logging.getLogger("remoteops")
    if not any(isinstance(handler, _LibraryWarnings) for handler in logger.handlers):
        logger.addHandler(_LibraryWarnings(logging.WARNING))
        if logger.level == logging.NOTSET or logger.level > logging.WARNING:  # -v lowers it
            logger.setLevel(logging.WARNING)


def make_factory(
    inventory: Inventory,
    overrides: ConnectionOverrides,
    accept_new_host_keys: bool,
    ask_pass: bool,
    ssh_config: Path | None = None,
) -> TransportFactory:
    """The run's transports: inventory for jump hosts, prompts on this terminal."""
    show_library_warnings()
    password = ask_terminal("SSH password: ", "--ask-pass") if ask_pass else None
    return TransportFactory(
        accept_new_host_keys=accept_new_host_keys,
        overrides=overrides,
        passphrase_callback=PassphrasePrompt(),
        password=password,
        inventory=inventory.hosts,
        ssh_config_path=ssh_config,
    )


#: Descriptors a host in flight holds (its socket, a channel's event pipe, an SFTP session's).
FDS_PER_HOST = 4
#: Descriptors the process holds whatever the hosts (stdio, logs, journal, imports).
_FDS_SPARE = 64


def open_files_room(at_once: int) -> tuple[int, int] | None:
    """(soft limit, hosts it allows at once) when the open-files limit is too low for
    ``at_once`` hosts; None when it is enough (the CLI raised it to the hard limit at start)."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):
        return None
    if soft == resource.RLIM_INFINITY or soft >= at_once * FDS_PER_HOST + _FDS_SPARE:
        return None
    return soft, max(1, (soft - _FDS_SPARE) // FDS_PER_HOST)


def warn_if_few_open_files(at_once: int, *, keep_open: bool, hosts: int) -> None:
    """Say so before a run that the open-files limit cannot carry: hosts past it would fail
    with "Too many open files" (a kept fleet holds every host's connection at once)."""
    room = open_files_room(hosts if keep_open else at_once)
    if room is not None:
        soft, allowed = room
        typer.echo(
            f"WARNING: the open-files limit ({soft}, the hard limit: raise it with ulimit -n "
            f"as root or in limits.conf) allows about {allowed} hosts at once; "
            f"{hosts if keep_open else at_once} are asked for: lower --forks or raise the limit",
            err=True,
        )


def make_fleet(
    inventory: Inventory,
    hosts: list[Host],
    *,
    overrides: ConnectionOverrides,
    accept_new_host_keys: bool,
    ask_pass: bool,
    forks: int,
    host_timeout: float | None = None,
    keep_open: bool = False,
    ssh_config: Path | None = None,
    dask: DaskSettings | None = None,
) -> Fleet:
    """The selected hosts as a fleet: one-off (each connection closes when its host is
    done) unless ``keep_open`` (a task's steps share each host's connection)."""
    from remoteops.fleet import Fleet

    if ssh_config is not None and not ssh_config.is_file():
        fail(f"--ssh-config {ssh_config}: no such file")
    factory = make_factory(inventory, overrides, accept_new_host_keys, ask_pass, ssh_config)
    warn_if_few_open_files(min(len(hosts), forks), keep_open=keep_open, hosts=len(hosts))
    return Fleet(
        hosts,
        inventory=inventory,
        forks=forks,
        host_timeout=host_timeout,
        factory=factory,
        keep_open=keep_open,
        dask=dask,
    )


def run_transfer(
    fleet: Fleet,
    call: Callable[[Fleet, Listener, ProgressSink | None], RunReport],
    *,
    output: OutputMode,
    progress: bool = False,
    dry_run: bool = False,
) -> NoReturn:
    """Make a file-transfer call and exit: live lines ending with one line of what each host
    changed (:mod:`remoteops.output.transfers`), or JSON in the transfer schema (with every
    host's ``plan`` for a ``dry_run``).

    ``call`` is given where to report progress: progress bars on stderr when asked for, in
    text mode, and only on a terminal.
    """
    from remoteops.output import JsonLines
    from remoteops.output.transfers import TransferLines

    names = [h.name for h in fleet.hosts]
    with sigterm_deferred():  # a SIGTERM ends the process once the run is shown and journalled
        if output is OutputMode.json:
            listener: Listener = JsonLines(transfer=True, dry_run=dry_run)
        elif not (progress and sys.stderr.isatty()) or fleet.dask is not None:
            # (bars follow bytes as the work reports them: not relayed from Dask workers yet)
            listener = TransferLines(names)
        else:
            from remoteops.output.progress import TransferBars

            with TransferBars() as bars:  # live lines made inside: they print above the bars
                bars.inner = TransferLines(names)
                report = execute(lambda: call(fleet, bars, bars))
            finish(report, output)
        finish(execute(lambda: call(fleet, listener, None)), output)


def execute(call: Callable[[], RunReport]) -> RunReport:
    """Make the call; a configuration error found before any host started is exit 2."""
    try:
        return call()
    except ConfigurationError as exc:  # e.g. an unparsable ~/.ssh/config: nothing ran
        fail(str(exc))


def finish_task(report: TaskReport, output: OutputMode, *, steps_shown: bool) -> NoReturn:
    """A task file's or fabfile's end: the recap (text) or each host's JSON line (with its
    steps unless ``steps_shown`` as they ended), the journal, and the exit code. Called
    inside :func:`sigterm_deferred`: a SIGTERM ends the process after all this (143)."""
    from remoteops.cli.config_cmd import journal_task
    from remoteops.executor import sigterm_pending
    from remoteops.output.recap import print_json, print_recap

    code = int(report.exit_code)
    if output is OutputMode.text:
        sys.stdout.flush()
        print_recap(report)
    else:
        print_json(report, steps=not steps_shown)
    journal_task(report, 128 + signal.SIGTERM if sigterm_pending() else code)
    raise typer.Exit(code)


def finish(report: RunReport, output: OutputMode, *, max_exit_code: bool = False) -> NoReturn:
    """The summary (text mode) and the documented exit code; with ``max_exit_code`` (``run
    -S``) the largest remote exit code instead. The journal records the status the process
    ends with: that code, or 143 when a SIGTERM ends it (:func:`sigterm_deferred`)."""
    from remoteops.cli.config_cmd import journal_run
    from remoteops.executor import sigterm_pending

    code = report.max_exit_code() if max_exit_code else int(report.exit_code)
    journal_run(report, 128 + signal.SIGTERM if sigterm_pending() else code)
    if output is OutputMode.text:
        sys.stdout.flush()
        from remoteops.output.summary import print_summary

        print_summary(report)
    raise typer.Exit(code)
