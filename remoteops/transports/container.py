"""Container hosts: ``protocol: podman`` / ``protocol: docker``, a container on this machine
reached through its engine's ``exec`` (as Ansible's docker connection and pyinfra's
``@docker``). The host's address is the container's name or id.

A command is the local transport's subprocess with ``ENGINE exec -i [--user U] NAME`` in
front: the same streaming, output cap, stdin and environment (on stdin, never on an argv:
see :func:`~remoteops.transports.base.wrap_command`). Files go through tar streams and shell
commands (:class:`~remoteops.transports.exec_files.ExecFiles`). Differences that matter:

- Killing the ``exec`` client leaves the command running in the container (measured:
  ``sleep 300`` outlived a TERMed ``podman exec``). So the command reports its shell's PID
  (:func:`~remoteops.transports.pid_line.marked`; runc makes that shell a session leader),
  and a timeout TERMs, then KILLs, that process group from a second ``exec`` as root. Before
  that PID is known (a timeout or Ctrl-C right after the start), the second ``exec`` finds
  the command's processes by the tag in their environment (:data:`TAG_NAME`).
- ``--sudo`` (and an inventory's ``sudo``) is ``exec --user root`` (or ``sudo_user``): no
  sudo binary or password is needed in the container.
- podman 4.3 loses a command's output now and then when stdin it was sent is still unread
  at its end (measured: 5 of 40 runs, 200 unread bytes): each command drains its stdin
  before it ends. So that an endless input (``yes | remoteops run ... 'head -1'``) cannot
  keep it waiting, the shell first says on stderr that the command ended
  (:func:`in_container`), and the controller then closes the input: the drain reads what
  was sent, up to that close.
- A ``user`` the container does not have is ``auth`` (a ``sudo_user`` it lacks: ``failed``,
  as sudo's unknown user), said with the user's name rather than the engine's exit code.
- A container that does not exist or is not running is ``unreachable``, decided once per
  host by ``ENGINE container inspect``; an ``exec`` ending with the engine's own exit code
  (125) or a signal's (a stopped container's command ends with 137) is looked at the same
  way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from remoteops.engine import Engine, EngineError, find_engine
from remoteops.errors import AuthenticationError, HostError, PrivilegeError, UnreachableError
from remoteops.inventory.model import Host
from remoteops.transports.base import (
    STDERR,
    CommandOutcome,
    CommandSpec,
    CommandTransport,
    ElevatingFiles,
    FileTransport,
    OutputCallback,
    Privilege,
    RunningCommand,
)
from remoteops.transports.exec_files import ExecFiles
from remoteops.transports.local import KILL_GRACE_S, LocalCommand
from remoteops.transports.local_files import translate
from remoteops.transports.pid_line import PidLine, marked
from remoteops.transports.settings import ContainerSettings

#: The engine's own failure (no such container, not running), as podman and docker exit;
#: from here up also a command killed by a signal (128 + N), as when its container stops.
ENGINE_FAILED = 125
#: How podman and docker refuse an ``exec --user`` the container's passwd/group lacks.
_NO_SUCH_USER = re.compile(r"unable to find (user|group) [^\n]*")
#: Seconds ``container inspect`` may take: podman answers in a fraction of one, but slowly
#: on a loaded machine.
_INSPECT_TIMEOUT_S = 30.0


#: The variable each command carries in its environment (set by the engine, before it runs),
#: valued with the command's own token: how a kill finds its processes before the PID line.
TAG_NAME = "REMOTEOPS_COMMAND_ID"


def exec_argv(
    engine: Engine, container: str, command: str, user: str | None = None, token: str = ""
) -> list[str]:
    """The engine's command line that runs ``command`` in ``container``: stdin kept open
    (``-i``), no terminal, no environment value but the command's tag (:data:`TAG_NAME`,
    no secret): the values go on stdin."""
    as_user = ["--user", user] if user else []
    tag = ["--env", f"{TAG_NAME}={token}"] if token else []
    return engine.argv("exec", "-i", *as_user, *tag, "--", container, "sh", "-c", command)


def end_line(token: str) -> bytes:
    """The stderr line by which the container's shell says the command has ended."""
    return f"REMOTEOPS-END={token}\n".encode()


def in_container(command: str, token: str) -> str:
    """``command`` as the container's shell runs it: its PID reported first, started in the
    user's home (as over SSH), in a subshell so an ``exit`` in it still lets its unread
    stdin be drained (see the module docstring) before the exit code is passed on. Its end
    is announced (:func:`end_line`) before the drain, which lasts until stdin is closed."""
    said = end_line(token).decode().strip()
    return marked(
        f"cd 2>/dev/null; (\n{command}\n); rc=$?; echo {said} >&2; cat >/dev/null 2>&1; exit $rc"
    )


#: Stops the processes tagged with ``{tag}`` (see :data:`TAG_NAME`): TERM to each as it
#: appears (it may start after the kill does) for ``{rounds}`` tenths of a second, or until
#: all are gone; then KILL to what is left. Needs nothing but sh, grep and sleep.
_KILL_TAGGED = """t={tag}; seen=' '
tagged() {{ for p in /proc/[0-9]*; do grep -qsF "$t" "$p/environ" && echo "${{p#/proc/}}"; done; }}
n=0
while [ $n -lt {rounds} ]; do
  for p in $(tagged); do
    case "$seen" in *" $p "*) ;; *) kill -TERM "$p"; seen="$seen$p " ;; esac
  done
  [ "$seen" != ' ' ] && [ -z "$(tagged)" ] && exit 0
  sleep 0.1; n=$((n + 1))
done
kill -KILL $(tagged) 2>/dev/null; :"""


def kill_argv(engine: Engine, container: str, pid: int | None, token: str) -> list[str]:
    """A second ``exec`` that stops the command inside the container: TERM, then KILL after
    the same grace as the local transport, as root (the command may run as root under
    ``--sudo``). To the process group ``pid`` when the PID line came; else (a timeout or a
    close right after the start) to the processes tagged with ``token``."""
    if not token:  # an empty tag would match every command's processes
        raise ValueError("a command's kill needs its token")
    if pid is not None:
        group = f"-{pid} 2>/dev/null"  # dash's kill takes no ``--``
        script = f"kill -TERM {group}; sleep {KILL_GRACE_S:g}; kill -KILL {group}"
    else:
        script = _KILL_TAGGED.format(tag=f"{TAG_NAME}={token}", rounds=round(KILL_GRACE_S * 10))
    return engine.argv("exec", "--user", "0", "--", container, "sh", "-c", script)


class _EndLine:
    """Takes :func:`end_line` out of stderr, wherever it comes (background children may
    write after it): a chunk's tail that could be its start is held until the next one."""

    def __init__(self, line: bytes) -> None:
        self._line = line
        self.held = b""
        self.seen = False

    def take(self, data: bytes) -> bytes:
        if self.seen:
            return data
        data = self.held + data
        at = data.find(self._line)
        if at >= 0:
            self.held, self.seen = b"", True
            return data[:at] + data[at + len(self._line) :]
        keep = next(
            (
                n
                for n in range(min(len(data), len(self._line) - 1), 0, -1)
                if data.endswith(self._line[:n])
            ),
            0,
        )
        self.held = data[len(data) - keep :]
        return data[: len(data) - keep]

    def release(self) -> bytes:
        held, self.held = self.held, b""
        return held


class ContainerCommand(LocalCommand):
    """``ENGINE exec`` seen through the :class:`RunningCommand` primitives: the PID and end
    lines are taken out of stderr, the end closes stdin, and a kill reaches the command
    inside the container."""

    def __init__(
        self,
        argv: list[str],
        token: str,
        kill: Callable[[int | None], list[str]],
        gone: Callable[[], str | None],
        no_user: Callable[[str], HostError],
    ) -> None:
        super().__init__("", argv)
        self._no_user = no_user
        self._engine_said = b""  # stderr of an exec whose shell never started
        self._inside_stopped = False  # the kill exec was started (once: close() then kill())
        self._pid_line = PidLine()
        self._end = _EndLine(end_line(token))
        self._kill_argv = kill
        self._gone = gone

    def poll(self, timeout: float) -> list[tuple[str, bytes]]:
        chunks = []
        for stream, data in super().poll(timeout):
            kept = self._stderr(self._pid_line.take(data)) if stream == STDERR else data
            if kept:
                chunks.append((stream, kept))
        if self._open_streams == 0 and (self._pid_line.head or self._end.held):
            if self._pid_line.pending:
                self._engine_said = self._pid_line.head
            held = self._stderr(self._pid_line.release()) + self._end.release()
            if held:  # it ended before its PID line, or a tail looked like the end line
                chunks.append((STDERR, held))
        return chunks

    def _stderr(self, data: bytes) -> bytes:
        """``data`` without the end line; once that is seen, nothing more is fed to stdin
        (the drain then ends)."""
        if self._end.seen:
            return data
        kept = self._end.take(data)
        if self._end.seen:
            self.close_stdin()
        return kept

    def done(self) -> bool:
        return super().done() and not self._pid_line.head and not self._end.held

    def exit_code(self) -> int:
        code = super().exit_code()
        if code >= ENGINE_FAILED:  # the engine failed, or the container stopped under it?
            gone = self._gone()
            if gone is not None:
                raise UnreachableError(gone)
            missing = _NO_SUCH_USER.search(self._engine_said.decode(errors="replace"))
            if missing:
                raise self._no_user(missing.group(0))
        return code

    def terminate(self) -> None:
        """Stop the command inside the container (one kill ``exec``, however often asked),
        and the ``exec`` client here."""
        with self._lock:
            first = not self._inside_stopped and not self.done()
            self._inside_stopped = True
        if first:
            with contextlib.suppress(OSError):
                killer = subprocess.Popen(
                    self._kill_argv(self._pid_line.pid),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                threading.Thread(target=killer.wait, name="remoteops-exec-kill").start()
        super().terminate()


class Stoppable(Protocol):
    """What :class:`Commands` needs of a running command."""

    def done(self) -> bool: ...

    def terminate(self) -> None: ...


class Commands:
    """The commands running on one container host, from every thread that starts them
    (``parallel_transfers`` of them): one lock, or a start racing another would drop a
    command that :meth:`close` then never stops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: list[Stoppable] = []
        self.closed = False

    def track(self, command: Stoppable) -> bool:
        """Keep ``command`` to stop on :meth:`close` (and forget the ended ones); False when
        closed already: the caller stops it."""
        with self._lock:
            self._running = [c for c in self._running if not c.done()]
            self._running.append(command)
            return not self.closed

    def reopen(self) -> None:
        with self._lock:
            self.closed = False

    def close(self) -> None:
        """Stop every command still running; any later :meth:`track` says closed."""
        with self._lock:
            self.closed = True
            running = list(self._running)
        for command in running:
            command.terminate()


@dataclass
class _Container:
    """What every view of one container host shares (see :meth:`ContainerTransport.as_user`)."""

    name: str
    protocol: str
    engine: Engine | None = None
    commands: Commands = field(default_factory=Commands)


class ContainerTransport(ExecFiles, ElevatingFiles, CommandTransport):
    """Runs commands and moves files in one container. Lifecycle: constructing one looks
    for nothing; :meth:`connect` finds the engine and asks it whether the container runs."""

    parallel_transfers = 4

    def __init__(
        self,
        host: Host,
        settings: ContainerSettings,
        *,
        user: str | None = None,
        shared: _Container | None = None,
    ) -> None:
        self._shared = shared or _Container(settings.address or host.name, host.protocol)
        self.protocol = self._shared.protocol
        self._host = host
        self._settings = settings
        self.user = user if user is not None else settings.user

    @property
    def container(self) -> str:
        return self._shared.name

    def _engine(self) -> Engine:
        engine = self._shared.engine
        if engine is None:
            raise UnreachableError("not connected")
        return engine

    def connect(self) -> None:
        shared = self._shared
        shared.commands.reopen()
        try:
            shared.engine = find_engine(shared.protocol)
        except EngineError as exc:
            raise UnreachableError(str(exc)) from exc
        gone = self._not_running()
        if gone is not None:
            raise UnreachableError(gone)

    def _not_running(self) -> str | None:
        """Why the container cannot run commands (missing, stopped), or None: it runs.
        Asked when connecting, and when a command ends with an exit code of 125 or more:
        a container stopped during a command ends it with 137 (measured), and that is the
        host's loss, not the command's failure."""
        engine, name = self._engine(), self.container
        try:
            said = engine.run(
                ["container", "inspect", "--format", "{{.State.Status}}", "--", name],
                timeout=_INSPECT_TIMEOUT_S,
                check=False,
            )
        except EngineError as exc:
            return f"container {name}: {exc}"
        if said.returncode != 0:
            why = said.stderr.decode(errors="replace").strip().splitlines()
            return f"container {name} does not exist ({engine.name}: {why[-1] if why else '?'})"
        status = said.stdout.decode(errors="replace").strip()
        if status != "running":
            return f"container {name} is not running ({status})"
        return None

    def start(self, command: str, timeout: float | None = None) -> RunningCommand:
        engine, name = self._engine(), self.container
        token = secrets.token_hex(8)
        argv = exec_argv(engine, name, in_container(command, token), self.user, token)
        try:
            running = ContainerCommand(
                argv,
                token,
                lambda pid: kill_argv(engine, name, pid, token),
                self._not_running,
                self._no_such_user,
            )
        except OSError as exc:  # the engine binary vanished, no processes left
            raise translate(exc, "cannot start the command") from exc
        if not self._shared.commands.track(running):
            running.terminate()
        return running

    def _no_such_user(self, said: str) -> HostError:
        """The exec's user is not in the container: the host's ``user`` setting is wrong
        (``auth``, as a login SSH refuses), or the ``sudo_user`` asked for (``failed``, as
        sudo's "unknown user")."""
        engine, name = self._engine().name, self.container
        if self.user != self._settings.user:
            return PrivilegeError(f"container {name} has no user {self.user!r} ({engine}: {said})")
        return AuthenticationError(
            f"container {name} has no user {self.user!r} ({engine}: {said}): "
            "check the host's `user` setting"
        )

    def run(self, spec: CommandSpec, on_output: OutputCallback | None = None) -> CommandOutcome:
        """With sudo, as root (or ``sudo_user``) through ``exec --user``: no sudo needed in
        the container, no password asked."""
        if not spec.sudo:
            return super().run(spec, on_output)
        plain = dataclasses.replace(
            spec, sudo=False, sudo_user=None, sudo_password=None, sudo_password_env=None
        )
        return self.as_user(spec.sudo_user or "root").run(plain, on_output)

    def as_user(self, user: str) -> ContainerTransport:
        """This container host as ``user`` sees it: same engine, same commands to stop."""
        return ContainerTransport(self._host, self._settings, user=user, shared=self._shared)

    def elevated(self, privilege: Privilege) -> FileTransport:
        return self.as_user(privilege.user or "root")

    def acting_home(self) -> str | None:
        return self.home_dir() if self.user != self._settings.user else None

    def cut_off(self) -> bool:
        return self._shared.commands.closed

    def close(self) -> None:
        """Stop running commands (inside the container too); idempotent, any thread."""
        self._shared.commands.close()


__all__ = [
    "ENGINE_FAILED",
    "TAG_NAME",
    "Commands",
    "ContainerCommand",
    "ContainerTransport",
    "end_line",
    "exec_argv",
    "in_container",
    "kill_argv",
]
