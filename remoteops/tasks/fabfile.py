"""Fabric tasks: a user's unchanged fabfile run on a :class:`~remoteops.fleet.Fleet`'s hosts.

Each task call gets a real ``fabric.Connection``, bound to the connection remoteops already
opened to the host (host key checked against known_hosts, authenticated as remoteops does):
``c.run``, ``c.sudo``, ``c.put``, ``c.get``, ``c.sftp()``, ``c.cd()`` and ``c.prefix()``
all go through Fabric's own code, on that one paramiko ``Transport``. No second TCP
connection is made and no host key is ever added (Fabric's default is ``AutoAddPolicy``):

- the Connection's ``client`` is an ``SSHClient`` holding the Fleet's transport, so Fabric's
  ``open()`` finds it connected and does nothing; if the connection is gone, ``open()``
  fails the host as unreachable instead of connecting again;
- ``c.close()`` (or ``with Connection``) closes the call's SFTP session only: the Fleet
  owns the connection, and the next task on the host reuses it.

What Invoke would print goes to the run's :class:`~remoteops.executor.Listener` instead, per
host (``run.out_stream`` / ``run.err_stream``, and ``echo``); so does what the task prints
itself: each task runs on a thread of its own, and while tasks run ``sys.stdout`` and
``sys.stderr`` send a task thread's writes to its host (:class:`_ThreadRoutedStream`). Invoke
never reads this process's stdin (``run.in_stream`` is off: many hosts cannot share one
terminal). Commands Fabric starts on the bound connection are marked with their PID and
tracked by the :class:`~remoteops.transports.ssh.SSHTransport`, so the host's timeout or a
second Ctrl-C kills them as it kills ``remoteops run``'s; a task stuck in Python is left
behind on its thread, and the host ends then all the same. A ``Connection`` the task makes
itself checks host keys against remoteops' known_hosts (:class:`_KnownHostsPolicy`).

The tasks named on the command line (``deploy --tag v2 restart``) are parsed by Invoke's own
parser against the fabfile's collection, and run as steps of a task file are (``linear``):
every host of a batch finishes one task before any starts the next, and a host whose task
failed takes no further one. Pre- and post-tasks run on each host, around their task.
Results are the task files' :class:`~remoteops.tasks.runner.TaskReport`, so the recap, JSON
and exit codes are theirs.

Fabric and Invoke are imported by this module only, and this module only by ``remoteops
fab`` (and library users): the other commands do not pay for them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib.util
import io
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from fabric import Config, Connection
from fabric import connection as fabric_connection
from fabric.runners import Remote
from invoke.collection import Collection
from invoke.exceptions import CommandTimedOut, Failure, ParseError, UnexpectedExit, WatcherError
from invoke.executor import Executor
from invoke.parser.context import ParserContext
from invoke.parser.parser import Parser
from invoke.runners import Local, normalize_hide
from invoke.tasks import Call
from invoke.util import ExceptionHandlingThread
from invoke.watchers import StreamWatcher

from remoteops.errors import ConfigurationError, HostError, UnreachableError
from remoteops.executor import Listener, NullListener, sigterm_pending
from remoteops.fleet import Fleet
from remoteops.inventory import Host
from remoteops.results import HostResult, Status
from remoteops.tasks.batches import run_batches
from remoteops.tasks.model import BatchSize
from remoteops.tasks.runner import HostRecap, StepResult, TaskReport
from remoteops.transports import Transport
from remoteops.transports.base import DEFAULT_CAPTURE_LIMIT
from remoteops.transports.known_hosts import KnownHosts
from remoteops.transports.settings import SSHSettings
from remoteops.transports.ssh import SSHCommand, SSHTransport, marked
from remoteops.transports.ssh_channel_order import send_data, send_eof

#: How often a host's worker looks whether its task's connection was closed under it.
_TASK_POLL_S = 0.1

#: Told of each task as it starts: its index, its name, the hosts it runs on.
TaskStarted = Callable[[int, str, Sequence[Host]], None]


@dataclass(frozen=True)
class Fabfile:
    """A loaded fabfile: its tasks (Invoke's ``Collection``) and where it was read from."""

    path: Path
    collection: Collection

    @property
    def task_names(self) -> list[str]:
        return sorted(self.collection.task_names)

    def calls(self, argv: Sequence[str]) -> list[Call]:
        """The task calls ``argv`` names (``deploy --tag v2 restart``), parsed as ``fab``
        parses them, with their pre- and post-tasks; ConfigurationError names what is wrong."""
        parser = Parser(contexts=self.collection.to_contexts(), initial=ParserContext())
        try:
            parsed = parser.parse_argv(list(argv))
        except ParseError as exc:
            raise ConfigurationError(f"{self.path}: {exc}{self._suggestion(argv)}") from None
        if parsed.remainder:
            raise ConfigurationError(f"{self.path}: no command after '--' (name a task instead)")
        named = [context for context in parsed if context.name]
        executor = Executor(self.collection)
        calls = executor.normalize(tuple(named))
        if not calls:
            raise ConfigurationError(
                f"{self.path}: name a task to run (tasks: {', '.join(self.task_names)})"
            )
        return executor.dedupe(executor.expand_calls(calls))

    def _suggestion(self, argv: Sequence[str]) -> str:
        words = [word for word in argv if not word.startswith("-")]
        named = words[0] if words and words[0] not in self.collection.task_names else None
        close = difflib.get_close_matches(named, self.task_names, n=1) if named else []
        known = f" (tasks: {', '.join(self.task_names)})"
        return f"; did you mean {close[0]!r}?{known}" if close else known


def load_fabfile(path: Path) -> Fabfile:
    """Import the fabfile at ``path`` (a ``.py`` file or a package folder) as ``fab`` does:
    its folder goes first on ``sys.path`` so it can import its neighbours."""
    source = path / "__init__.py" if path.is_dir() else path
    if not source.is_file():
        raise ConfigurationError(f"no fabfile at {path} (give one with -f FABFILE)")
    folder = source.parent.parent if path.is_dir() else source.parent
    name = path.name if path.is_dir() else source.stem
    spec = importlib.util.spec_from_file_location(
        name, source, submodule_search_locations=[str(path)] if path.is_dir() else None
    )
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    sys.modules[name] = module
    try:
        with contextlib.redirect_stdout(sys.stderr):  # a print at import: not our results
            spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any error is theirs to fix, said as such
        sys.modules.pop(name, None)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise ConfigurationError(
            f"cannot load {path}: {type(exc).__name__}: {exc} ({where.filename}:{where.lineno})"
        ) from None
    collection = Collection.from_module(module, loaded_from=str(source.parent))
    if not collection.task_names:
        raise ConfigurationError(f"{path} defines no tasks (decorate them with @task)")
    return Fabfile(path, collection)


# -- binding a Connection to the Fleet's connection ----------------------------------------


class _BorrowedClient(paramiko.SSHClient):
    """An ``SSHClient`` over a connection the Fleet owns: connected from the start, never
    connecting again, and left open when Fabric closes it."""

    def __init__(self, transport: paramiko.Transport, address: str) -> None:
        super().__init__()
        self.set_missing_host_key_policy(paramiko.RejectPolicy())
        self._transport = transport
        self._address = address

    def connect(self, hostname: str, *args: Any, **kwargs: Any) -> None:
        """Already connected: to the same host a no-op (Fabric's ``open()`` and a task's own
        ``c.client.connect()`` alike); elsewhere refused, as the connection is the Fleet's."""
        if not self._transport.is_active():
            raise UnreachableError("the connection to the host was lost during the task")
        if hostname != self._address:
            raise _ReconnectRefusedError(
                f"a fabfile may not reconnect c.client (to {hostname}); make a Connection"
            )

    def close(self) -> None:
        """The Fleet closes the connection when the run ends, not the task."""


class _ReconnectRefusedError(RuntimeError):
    """A task asked the borrowed connection for something only its owner may do."""


class _KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """For a ``Connection`` a task makes itself: the host key is checked against remoteops'
    known_hosts (and ``--accept-new-host-keys``) instead of Fabric's ``AutoAddPolicy``."""

    def __init__(self, known_hosts: KnownHosts, files: Sequence[Path]) -> None:
        self.known_hosts, self.files = known_hosts, files

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        """Known in the default files or in one the inventory names (``known_hosts_file``)."""
        refused: HostError | None = None
        for extra in [None, *self.files]:
            try:
                self.known_hosts.verify(hostname, key.get_name(), key.get_base64(), extra)
            except HostError as exc:
                refused = refused or exc
            else:
                return
        if refused is not None:  # the task's failure (its host's own key is fine): not HOSTKEY
            raise paramiko.SSHException(str(refused)) from None


class _SudoPasswordMissingError(WatcherError):
    """Said as the task's failure, instead of Invoke's generic "watcher error"."""


_NONE_GIVEN = "sudo asked for a password and none was given (see --sudo-password-env)"
_WITHHELD = (
    "sudo asked for a password, not sent: the host key changed "
    "(let through by StrictHostKeyChecking no)"
)


class _NoSudoPassword(StreamWatcher):
    """Put before Invoke's own sudo responder when no password was given: that one would
    answer sudo's prompt with the text ``None`` (a failed attempt in the host's log, and
    pam_faillock counts them); this one ends the command first, sending nothing. Also when
    the password must not be sent (the host key changed: ``why`` says so)."""

    def __init__(self, prompt: str, why: str = _NONE_GIVEN) -> None:
        super().__init__()
        self.prompt = prompt
        self.why = why

    def submit(self, stream: str) -> list[str]:
        if self.prompt in stream:
            raise _SudoPasswordMissingError(self.why)
        return []


class _EchoToStream:
    """Invoke's ``echo`` prints the command with ``print``; here it goes where the command's
    output goes (the host's lines), not to this process's stdout, and without colours. And
    ``hide=True`` hides: Invoke ignores ``hide`` for a stream given in the config
    (``run.out_stream``), as the host's streams are, so ``fab`` would hide what we showed."""

    opts: dict[str, Any]
    streams: dict[str, Any]
    context: Any
    _asynchronous: bool

    def _unify_kwargs_with_config(self, kwargs: dict[str, Any]) -> None:
        asked = kwargs.get("hide")
        if asked is None:
            asked = self.context.config.run.hide
        super()._unify_kwargs_with_config(kwargs)  # type: ignore[misc]  # a mixin of Runner
        hidden = normalize_hide(True if self._asynchronous else asked)
        ours = {"stdout": self.streams["out"], "stderr": self.streams["err"]}
        self.opts["hide"] = tuple(
            name
            for name in ("stdout", "stderr")
            if (name in hidden if _is_host(ours[name]) else name in self.opts["hide"])
        )

    def echo(self, command: str) -> None:
        self.streams["out"].write(self.opts["echo_format"].format(command=command) + "\n")


#: Invoke reads 1000 bytes at a time; a command printing megabytes wants bigger reads.
_READ_CHUNK = 64 * 1024


class _RemoteRunner(_EchoToStream, Remote):  # type: ignore[misc]  # fabric has no types
    """Fabric's runner on the Fleet's connection, with what ``remoteops run`` gives its own
    commands: the remote process group is killed on the host's timeout or Ctrl-C (the
    command is started marked with its PID and tracked by the transport), the output is
    read in big chunks and kept up to the capture limit, and Invoke's watchers scan it only
    when there are any (their scan joins the whole output on every read: quadratic)."""

    read_chunk_size = _READ_CHUNK
    tracked: SSHCommand | None = None

    def send_start_message(self, command: str) -> None:
        transport = getattr(self.context, "remoteops_transport", None)
        if not isinstance(transport, SSHTransport):  # a Connection the task made itself
            super().send_start_message(command)
            return
        self.channel.exec_command(marked(command))
        self.tracked = transport.track(SSHCommand(self.channel))

    def _write_proc_stdin(self, data: bytes) -> None:
        send_data(self.channel, data)  # Fabric's sendall can follow the channel's close

    def close_proc_stdin(self) -> None:
        send_eof(self.channel)  # Fabric's shutdown_write can follow the channel's close

    def read_proc_stdout(self, num_bytes: int) -> bytes:
        return self._read(self.channel.recv, num_bytes, marked_here=self.using_pty)

    def read_proc_stderr(self, num_bytes: int) -> bytes:
        return self._read(self.channel.recv_stderr, num_bytes, marked_here=not self.using_pty)

    def _read(self, recv: Callable[[int], bytes], num_bytes: int, *, marked_here: bool) -> bytes:
        tracked = self.tracked
        while True:
            data: bytes = recv(num_bytes)
            if tracked is None or not marked_here:
                return data
            kept = tracked.without_pid(data)
            if kept or not data:  # b"" is the end of the stream to Invoke: only at the end
                return kept

    def kill(self) -> None:
        """Invoke's own ``timeout=``: the remote process group too, not only the channel."""
        if self.tracked is not None:
            self.tracked.kill()
        else:
            super().kill()

    def _handle_output(
        self, buffer_: list[str], hide: bool, output: Any, reader: Callable[[int], bytes]
    ) -> None:
        kept = 0
        for data in self.read_proc_output(reader):
            if not hide:
                self.write_our_output(stream=output, string=data)
            if kept < DEFAULT_CAPTURE_LIMIT:  # the Result's text, bounded as remoteops run's
                buffer_.append(data[: DEFAULT_CAPTURE_LIMIT - kept])
                kept += len(data)
            if self.watchers:
                self.respond(buffer_)


def _is_host(stream: Any) -> bool:
    return isinstance(stream, _HostStream)


class _LocalRunner(_EchoToStream, Local):
    pass


#: Set on a thread while a :class:`_HostStream` hands output to the listener: what the
#: listener prints then is remoteops' own output, for the real stdout (not the host's again).
_forwarding = threading.local()


class _HostStream(io.TextIOBase):
    """A text stream Invoke writes one host's output to: forwarded to the listener as it
    comes, and the first ``limit`` bytes kept for the host's result. Once the host's time
    ran out (its task abandoned), it drops what a still-running task writes."""

    def __init__(self, host: str, stream: str, listener: Listener, limit: int) -> None:
        super().__init__()
        self.host, self.stream, self.listener, self.limit = host, stream, listener, limit
        self.kept = bytearray()
        self.total = 0
        self.muted = False

    def write(self, text: str) -> int:
        if self.muted:
            return len(text)
        data = text.encode("utf-8", errors="replace")
        _forwarding.active = True
        try:
            self.listener.host_output(self.host, self.stream, data)
        finally:
            _forwarding.active = False
        self.total += len(data)
        if len(self.kept) < self.limit:
            self.kept += data[: self.limit - len(self.kept)]
        return len(text)

    def isatty(self) -> bool:
        return False

    def __deepcopy__(self, memo: dict[int, Any]) -> _HostStream:
        return self  # a task cloning its config must not copy the listener


class _ThreadRoutedStream(io.TextIOBase):
    """``sys.stdout``, ``sys.stderr`` or ``sys.stdin`` while tasks run: a task thread's writes
    (a plain ``print``, a Connection the task made itself) go to its host's stream, every
    other thread's (remoteops' own output) to the real stream; a task reads an empty stdin
    (many hosts cannot share one terminal). Invoke's reader threads write for
    the thread that started their command (see :func:`_routed_output`)."""

    def __init__(self, real: Any, routes: dict[int, Mapping[str, io.TextIOBase]], name: str):
        super().__init__()
        self.real, self.routes, self.name = real, routes, name

    def _target(self) -> Any:
        if getattr(_forwarding, "active", False):
            return self.real  # the listener printing the host's line: remoteops' own output
        thread = threading.current_thread()
        route = self.routes.get(getattr(thread, "remoteops_route", thread.ident) or 0)
        return self.real if route is None else route[self.name]

    def write(self, text: str) -> int:
        return int(self._target().write(text))

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return bool(self._target().isatty())

    def read(self, size: int | None = -1) -> str:
        return str(self._target().read(size))

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return str(self._target().readline(size))

    def fileno(self) -> int:
        return int(self._target().fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.real, "encoding", None) or "utf-8")


@contextlib.contextmanager
def _routed_output(
    policy: _KnownHostsPolicy, routes: dict[int, Mapping[str, io.TextIOBase]]
) -> Iterator[None]:
    """While tasks run: ``sys.stdout``/``sys.stderr`` routed per task thread, Invoke's reader
    threads routed as the thread that made them, and a Connection a task makes itself
    checking host keys with ``policy``. All restored at the end; the streams stay
    routed while a task abandoned at its host's timeout is still running (its writes are
    dropped, and must not land in our JSON)."""
    real_out, real_err, real_in = sys.stdout, sys.stderr, sys.stdin
    sys.stdout = _ThreadRoutedStream(real_out, routes, "stdout")
    sys.stderr = _ThreadRoutedStream(real_err, routes, "stderr")
    sys.stdin = _ThreadRoutedStream(real_in, routes, "stdin")
    original_init = ExceptionHandlingThread.__init__
    original_policy = fabric_connection.AutoAddPolicy

    def init_routed(thread: ExceptionHandlingThread, **kwargs: Any) -> None:
        original_init(thread, **kwargs)
        setattr(thread, "remoteops_route", threading.get_ident())  # noqa: B010

    ExceptionHandlingThread.__init__ = init_routed  # type: ignore[method-assign,assignment]
    fabric_connection.AutoAddPolicy = lambda: policy
    try:
        yield
    finally:
        ExceptionHandlingThread.__init__ = original_init  # type: ignore[method-assign]
        fabric_connection.AutoAddPolicy = original_policy
        if not routes:
            sys.stdout, sys.stderr, sys.stdin = real_out, real_err, real_in


def fabric_config(fabfile: Fabfile, *, sudo_password: str | None = None) -> Config:
    """The configuration every Connection starts from, loaded as ``fab`` loads it (system,
    user and project files, ``FABRIC_*`` variables, the collection's own), but no SSH config
    files: remoteops made the connection already. ``sudo_password`` becomes
    ``sudo.password``, which ``c.sudo`` answers sudo's prompt with (on stdin only)."""
    overrides: dict[str, Any] = {
        # no colours: the echoed command is a line of the host's output (and of its JSON)
        "run": {"in_stream": False, "echo_format": "{command}"},
        "runners": {"remote": _RemoteRunner, "local": _LocalRunner},
    }
    if sudo_password is not None:
        overrides["sudo"] = {"password": sudo_password}
    config = Config(ssh_config=paramiko.SSHConfig(), overrides=overrides)
    config.set_project_location(str(fabfile.path.parent))
    config.load_project()
    config.load_collection(fabfile.collection.configuration())
    config.load_shell_env()
    return config


def bound_connection(
    name: str, transport: SSHTransport, config: Config, streams: Mapping[str, io.TextIOBase]
) -> Connection:
    """A ``fabric.Connection`` on ``transport``'s open connection (see the module docs).

    ``c.host``, ``c.user`` and ``c.port`` are where remoteops connected (the inventory's
    address, not its name), ``c.original_host`` the inventory name (as with an alias in
    ``~/.ssh/config`` under ``fab``); Invoke writes the output to ``streams``.
    """
    opened = transport.paramiko_transport()
    target = transport.target
    if target is None:  # connected, so resolved: only a transport never connected lacks it
        raise UnreachableError("connection is not open")
    config = config.clone()
    config.run.out_stream = streams["stdout"]
    config.run.err_stream = streams["stderr"]
    connection = _BoundConnection(target.address, user=target.user, port=target.port, config=config)
    connection.original_host = name
    connection.client = _BorrowedClient(opened, target.address)
    connection.transport = opened
    connection.remoteops_transport = transport
    return connection


class _BoundConnection(Connection):  # type: ignore[misc]  # fabric has no types
    """A Connection on the Fleet's connection (see :func:`bound_connection`)."""

    #: A real class attribute: Invoke's DataProxy stores an attribute it does not find on
    #: the class in the config, which is deep-copied (the transport with it) on every clone.
    remoteops_transport: SSHTransport | None = None

    def sudo(self, command: str, **kwargs: Any) -> Any:
        """Fabric's ``sudo``, except that with no password given sudo's prompt fails the
        command instead of being answered ``None`` (see :class:`_NoSudoPassword`), and that
        no password is sent to a host whose changed key StrictHostKeyChecking no let through."""
        given = kwargs.get("watchers", self.config.run.watchers)
        prompt = self.config.sudo.prompt
        transport = self.remoteops_transport
        if transport is not None and transport.distrusted():
            kwargs["watchers"] = [_NoSudoPassword(prompt, _WITHHELD), *given]
        elif kwargs.get("password", self.config.sudo.password) is None:
            kwargs["watchers"] = [_NoSudoPassword(prompt), *given]
        return super().sudo(command, **kwargs)


# -- running the calls on the fleet --------------------------------------------------------


def run_fabfile(
    fleet: Fleet,
    fabfile: Fabfile,
    calls: Sequence[Call],
    *,
    config: Config | None = None,
    serial: Sequence[BatchSize] = (),
    max_fail: int | None = None,
    max_fail_percentage: float | None = None,
    listener: Listener | None = None,
    on_task: TaskStarted = lambda index, name, hosts: None,
    tracebacks: bool = False,
) -> TaskReport:
    """Run ``calls`` (from :meth:`Fabfile.calls`) on the fleet's hosts, batch by batch, as a
    task file's steps (see the module docs). A task that raises fails its host with the
    exception's message (``tracebacks``: with its traceback); an ``UnexpectedExit`` with the
    command's exit code. Hosts that do not speak SSH end ``unsupported`` untouched."""
    started = time.monotonic()
    run = _FabRun(
        fleet,
        calls=calls,
        config=config or fabric_config(fabfile),
        listener=listener,
        on_task=on_task,
        tracebacks=tracebacks,
    )

    def run_batch(batch: list[Host]) -> bool:
        run.run_batch(batch)
        return run.interrupted

    hosts = list(fleet.hosts)
    settings = (fleet.factory.settings(h) for h in hosts)
    files = {
        s.known_hosts_file for s in settings if isinstance(s, SSHSettings) and s.known_hosts_file
    }
    policy = _KnownHostsPolicy(
        fleet.factory.ssh_context().known_hosts,
        [Path(str(f)).expanduser() for f in sorted(files, key=str)],
    )
    with _routed_output(policy, run.routes):
        stopped = run_batches(
            hosts,
            serial,
            run_batch,
            lambda host: host.name in run.stopped_on,
            max_fail=max_fail,
            max_fail_percentage=max_fail_percentage,
        )
    recaps = tuple(run.recap(host.name, stopped) for host in hosts)
    interrupted = run.interrupted or stopped == "interrupted"
    return TaskReport(recaps, time.monotonic() - started, interrupted, stopped)


def call_name(call: Call) -> str:
    """``deploy`` or ``deploy(tag='v2')``: the task as the recap and JSON name it."""
    name = call.called_as or call.task.name
    given = ", ".join(f"{key}={value!r}" for key, value in call.kwargs.items())
    return f"{name}({given})" if given else str(name)


class _FabRun:
    """The state of one run: each host's task results and whether it goes on."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        calls: Sequence[Call],
        config: Config,
        listener: Listener | None,
        on_task: TaskStarted,
        tracebacks: bool,
    ) -> None:
        self.fleet = fleet
        self.calls = list(calls)
        self.config = config
        self.listener = listener or NullListener()
        self.on_task = on_task
        self.tracebacks = tracebacks
        self.steps: dict[str, list[StepResult]] = {h.name: [] for h in fleet.hosts}
        self.stopped_on: dict[str, HostResult] = {}
        self.started: set[str] = set()
        self.interrupted = False
        #: Each task thread's streams, for ``print`` (see :func:`_routed_output`).
        self.routes: dict[int, Mapping[str, io.TextIOBase]] = {}

    def run_batch(self, batch: Sequence[Host]) -> None:
        self.started.update(h.name for h in batch)
        for host in batch:
            if host.protocol != "ssh":
                self.stopped_on[host.name] = HostResult(
                    host.name,
                    Status.UNSUPPORTED,
                    error=f"Fabric tasks run over SSH; this host speaks {host.protocol} "
                    "(nothing was sent to it)",
                )
        for index, call in enumerate(self.calls):
            if sigterm_pending():  # a SIGTERM between two tasks (the CLI held it): no next one
                self.interrupted = True
                return
            going = [h for h in batch if h.name not in self.stopped_on]
            if not going:
                return
            name = call_name(call)
            self.on_task(index, name, going)
            report = self.fleet.execute(self._work(call), hosts=going, listener=self.listener)
            for result in report.results:
                self._record(index, name, result)
            if report.interrupted:
                self.interrupted = True
                return

    def _record(self, index: int, name: str, result: HostResult) -> None:
        self.steps[result.host].append(StepResult(index, name, result, changed=result.ok))
        if result.status is Status.CANCELLED:
            self.interrupted = True
        if not result.ok:
            why = result.error or f"exit code {result.exit_code}"
            self.stopped_on[result.host] = dataclasses.replace(result, error=f"task {name}: {why}")

    def recap(self, name: str, stopped: str | None) -> HostRecap:
        steps = tuple(self.steps[name])
        if name in self.stopped_on:
            end = self.stopped_on[name]
            return HostRecap(name, end.status, steps, end.error)
        if name not in self.started:
            reason = f"not started: {stopped}" if stopped else "not started"
            return HostRecap(name, Status.CANCELLED, steps, reason)
        if self.interrupted and len(steps) < len(self.calls):
            return HostRecap(name, Status.CANCELLED, steps, f"interrupted after task {len(steps)}")
        return HostRecap(name, Status.OK, steps)

    def _work(self, call: Call) -> Callable[[Host, Transport, Listener], HostResult]:
        def work(host: Host, transport: Transport, listener: Listener) -> HostResult:
            if not isinstance(transport, SSHTransport):
                return HostResult(host.name, Status.UNSUPPORTED, error="not an SSH host")
            started = time.monotonic()
            streams = {
                stream: _HostStream(host.name, stream, listener, DEFAULT_CAPTURE_LIMIT)
                for stream in ("stdout", "stderr")
            }
            connection = bound_connection(host.name, transport, self.config, streams)
            status, exit_code, error = Status.OK, None, None
            try:
                raised = self._in_task_thread(call, connection, streams, transport)
                if raised is not None:
                    raise raised
            except HostError:
                raise  # the connection's own failure: the executor names its kind
            except UnexpectedExit as exc:
                status, exit_code = Status.FAILED, exc.result.exited
                error = f"`{exc.result.command}` exited with {exit_code}"
            except (CommandTimedOut, Failure, Exception) as exc:
                if transport.connection_lost():
                    raise UnreachableError(f"connection lost during the task: {exc}") from exc
                status, error = Status.FAILED, _described(exc, self.tracebacks)
            except SystemExit as exc:
                status, error = Status.FAILED, f"the task called sys.exit({exc.code!r})"
            except KeyboardInterrupt:
                status, error = Status.CANCELLED, "interrupted (the task raised KeyboardInterrupt)"
            except BaseException as exc:  # the user's own BaseException: still only this host
                status, error = Status.FAILED, _described(exc, self.tracebacks)
            finally:
                connection.close()  # its SFTP session only (see _BorrowedClient)
            out, err = streams["stdout"], streams["stderr"]
            return HostResult(
                host.name,
                status,
                exit_code=exit_code,
                stdout=bytes(out.kept),
                stderr=bytes(err.kept),
                error=error,
                duration_s=time.monotonic() - started,
                stdout_bytes=out.total,
                stderr_bytes=err.total,
            )

        return work

    def _in_task_thread(
        self,
        call: Call,
        connection: Connection,
        streams: Mapping[str, _HostStream],
        transport: SSHTransport,
    ) -> BaseException | None:
        """Run the task on a thread of its own, its ``print`` routed to the host's streams;
        return what it raised. If the connection is closed under it (the host's time ran
        out, a second Ctrl-C) its remote commands were killed with it; a task stuck in
        Python cannot be, so it is left behind (a daemon thread, its output dropped) and the
        host ends now, as the executor then says (timeout, cancelled)."""
        outcome: list[BaseException | None] = []

        def task() -> None:
            self.routes[threading.get_ident()] = {**streams, "stdin": io.StringIO()}
            try:
                call.task(connection, *call.args, **call.kwargs)
                outcome.append(None)
            except BaseException as exc:  # judged by the host's worker
                outcome.append(exc)
            finally:
                self.routes.pop(threading.get_ident(), None)

        thread = threading.Thread(target=task, name="remoteops-fab-task", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(_TASK_POLL_S)
            if thread.is_alive() and transport.gone():
                for stream in streams.values():
                    stream.muted = True
                raise UnreachableError("the task was left running: its connection was closed")
        return outcome[0] if outcome else None


def _described(exc: BaseException, tracebacks: bool) -> str:
    said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, Failure) and exc.result is not None:  # e.g. sudo's password refused
        said = str(exc).strip() or said
    if isinstance(getattr(exc, "reason", None), _SudoPasswordMissingError):
        said = str(getattr(exc, "reason", said))
    if tracebacks:
        said += "\n" + "".join(traceback.format_exception(exc)).rstrip()
    return said


__all__ = [
    "Fabfile",
    "TaskStarted",
    "bound_connection",
    "call_name",
    "fabric_config",
    "load_fabfile",
    "run_fabfile",
]
