"""The persistent process (``remoteops --persist``): keeps host connections between commands
and runs the commands handed to it (see :mod:`remoteops.persist`).

One command at a time, on the main thread, exactly as ``remoteops`` would run it: the caller's
arguments, environment, folder and umask are put in place, its stdin, stdout and stderr become
this process's descriptors 0, 1 and 2, and the CLI runs. Signals the caller receives are raised
here, so Ctrl-C has the same two stages. A caller that goes away mid-command is a Ctrl-C. Every
change is undone after the command; what stays is the pool of connections.

Started by the first caller as ``python -m remoteops.cli.persist_daemon SOCKET SECONDS``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO, cast

from typer.core import TyperGroup

from remoteops.executor import _termination
from remoteops.persist import wire
from remoteops.persist.pool import KeptConnections
from remoteops.results import ExitCode
from remoteops.sessions import make_sessions_with

#: The process's own lines, outside the "remoteops" loggers a command's -v shows.
log = logging.getLogger("remoteops-persist-process")

#: How long a caller has to send its command once connected.
_REQUEST_TIMEOUT_S = 10.0
_LOGGERS = ("", "remoteops", "paramiko")


@dataclass
class _Command:
    conn: socket.socket
    request: dict[str, Any]
    fds: list[int]
    gone: threading.Event = field(default_factory=threading.Event)
    #: A SIGTERM was forwarded (or the caller went away): the command ends as if terminated.
    terminated: bool = False


def _refuse(conn: socket.socket, reason: str) -> None:
    """Say no and hang up, reading what the caller sent meanwhile: a Unix socket closed with
    unread data resets the connection, and the caller would never read the reason."""
    with conn:
        wire.send(conn, {"refused": reason})
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(2.0)
        with contextlib.suppress(OSError):
            for _ in range(64):  # a caller that keeps sending is not waited for
                if not conn.recv(65536):
                    break


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class PersistServer:
    """Listens on ``path``, runs commands one at a time, exits after ``idle_s`` unused."""

    def __init__(self, path: Path, idle_s: float) -> None:
        self.path = path
        self.idle_s = idle_s
        self.pool = KeptConnections()
        self._commands: queue.Queue[_Command] = queue.Queue()
        self._busy = False
        self._busy_lock = threading.Lock()
        self._stopping = False
        self._running: _Command | None = None
        self._served = 0
        #: Held while a forwarded signal is raised, and while a command is marked over, so no
        #: signal meant for one command reaches the code after it (or the next command).
        self._signal_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._inode: int | None = None

    # -- listening ----------------------------------------------------------------------------

    def bind(self) -> bool:
        """Listen on the socket; False when another process of ours already does."""
        lock_fd = os.open(
            self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600
        )
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            with probe:
                try:
                    probe.connect(str(self.path))
                    return False  # alive: the caller connects to that one
                except OSError:
                    pass
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # a stale socket: its process is gone
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old_mask = os.umask(0o177)
            try:
                listener.bind(str(self.path))
            finally:
                os.umask(old_mask)
            listener.listen(64)
            self._listener = listener
            self._inode = os.stat(self.path).st_ino
            return True
        finally:
            os.close(lock_fd)

    def _accept_forever(self) -> None:
        listener = self._listener
        while listener is not None and not self._stopping:
            try:
                conn, _ = listener.accept()
            except OSError:
                if self._stopping:
                    return
                time.sleep(0.05)
                continue
            threading.Thread(target=self._greet, args=(conn,), daemon=True).start()

    def _greet(self, conn: socket.socket) -> None:
        """Check who calls and take its command (or control message)."""
        fds: list[int] = []
        try:
            uid = _peer_uid(conn)
            if uid != os.getuid():
                log.warning("refused a connection from uid %d", uid)
                _refuse(conn, f"this process serves uid {os.getuid()} only")
                return
            conn.settimeout(_REQUEST_TIMEOUT_S)
            request, fds = wire.receive_with_fds(conn, 3)
            conn.settimeout(None)
            if request is None:
                raise wire.WireError("no request")
            if "control" in request:
                self._control(conn, str(request["control"]))
                return
            if len(fds) != 3 or not isinstance(request.get("argv"), list):
                raise wire.WireError("a command needs its argv and three descriptors")
            with self._busy_lock:
                busy, self._busy = self._busy or self._stopping, True
            if busy:
                wire.send(conn, {"busy": True})
                raise wire.WireError("busy")  # close what came
            self._commands.put(_Command(conn, request, fds))
        except (OSError, wire.WireError) as exc:
            if str(exc) != "busy":
                log.warning("a caller's request was dropped: %s", exc)
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            conn.close()

    def _control(self, conn: socket.socket, action: str) -> None:
        with conn:
            if action == "stop":
                log.warning("asked to stop")
                self._stopping = True
                wire.send(conn, {"stopping": True, "pid": os.getpid()})
                return
            wire.send(
                conn,
                {
                    "pid": os.getpid(),
                    "socket": str(self.path),
                    "idle_exit_s": self.idle_s,
                    "idle_for_s": round(time.monotonic() - self.pool.last_used, 1),
                    "busy": self._busy,
                    "commands_served": self._served,
                    "hosts_kept": self.pool.hosts(),
                },
            )

    # -- serving ------------------------------------------------------------------------------

    def serve(self) -> None:
        make_sessions_with(self.pool.sessions)
        threading.Thread(target=self._accept_forever, name="persist-accept", daemon=True).start()
        log.warning("persistent process %d listening on %s", os.getpid(), self.path)
        try:
            while not self._stopping:
                try:
                    command = self._commands.get(timeout=0.5)
                except queue.Empty:
                    idle = time.monotonic() - self.pool.last_used
                    if idle > self.idle_s and not self._busy:
                        log.warning("idle for %.0f s: exiting", idle)
                        break
                    continue
                except KeyboardInterrupt:  # a caller's late Ctrl-C, after its command
                    continue
                self._run(command)
        finally:
            self._stopping = True
            self._close()

    def _close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self._inode:  # still ours, not a successor's
                    self.path.unlink()
            self._listener.close()
        self.pool.close()

    def _run(self, command: _Command) -> None:
        code = int(ExitCode.COMMAND_FAILED)
        try:
            wire.send(command.conn, {"started": True})
            self.idle_s = float(command.request.get("persist") or self.idle_s)
            self._running = command
            signal.signal(signal.SIGINT, signal.default_int_handler)
            threading.Thread(target=self._watch, args=(command,), daemon=True).start()
            code = _run_in_place(command)
        except KeyboardInterrupt:
            code = int(ExitCode.INTERRUPTED)
        except Exception:  # the caller learns the command ended; we keep serving
            log.exception("a command failed inside the persistent process")
        finally:
            with self._signal_lock:
                self._running = None
            # a Ctrl-C forwarded as the command ended is for that command: none lands here
            signal.signal(signal.SIGINT, _between_commands)
            _termination.pending = False
            if command.terminated and code == int(ExitCode.INTERRUPTED):
                code = _TERMINATED  # stopped before any run held the SIGTERM
            self._served += 1
            self.pool.last_used = time.monotonic()
            for fd in command.fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            with contextlib.suppress(OSError):
                wire.send(command.conn, {"exit": code})
            command.conn.close()
            with self._busy_lock:
                self._busy = False

    def _watch(self, command: _Command) -> None:
        """Raise here the signals the caller forwards; a caller gone is a SIGTERM: no one is
        left to see the first Ctrl-C's wait, nor to press Ctrl-C again."""
        while True:
            try:
                message = wire.receive(command.conn)
            except (OSError, wire.WireError):
                message = None
            with self._signal_lock:
                if self._running is not command:
                    return
                if message is None:
                    command.gone.set()
                    _raise(command, signal.SIGTERM)
                    return
                signum = message.get("signal")
                if isinstance(signum, int):
                    _raise(command, signum)


#: The exit status of a command a SIGTERM ended (the caller then ends by SIGTERM itself).
_TERMINATED = 128 + signal.SIGTERM


def _raise(command: _Command, signum: int) -> None:
    """A forwarded signal, for the command on the main thread. SIGTERM is never sent to this
    process: under its default action it would end it with every kept connection. A run that
    holds SIGTERM (:func:`~remoteops.executor.sigterm_deferred`) is told as its own handler
    would tell it; before or outside one, the command is interrupted (and exits 143)."""
    if signum in (signal.SIGTERM, signal.SIGHUP):  # a hang-up ends a direct run at once
        command.terminated = True
        if _termination.deferring:
            _termination.pending = True
            return
    os.kill(os.getpid(), signal.SIGINT)


def _between_commands(signum: int, frame: FrameType | None) -> None:
    """SIGINT's handler between commands: a late Ctrl-C of the last command's is dropped."""


_raise_signal = signal.raise_signal


def _sigterm_ends_the_command(signum: int) -> None:
    """``signal.raise_signal`` in this process: a run held a SIGTERM and re-raises it to end
    the process (status 143); here it ends the command with that status instead."""
    if signum == signal.SIGTERM and threading.current_thread() is threading.main_thread():
        raise SystemExit(_TERMINATED)
    _raise_signal(signum)


def _stream(fd: int, mode: str, encoding: list[Any] | None, *, line: bool) -> TextIO:
    """A text stream on ``fd`` as Python makes its own: the caller's encoding and errors,
    line-buffered on a terminal (stdout) or always (stderr)."""
    enc, errors = [*(encoding or []), None, None][:2]
    stream = open(  # noqa: SIM115  # the command's stream, on the caller's descriptor
        fd,
        mode,
        buffering=1 if line else -1,
        encoding=enc or "utf-8",
        errors=errors or "strict",
        closefd=False,
    )
    return cast(TextIO, stream)


def _run_in_place(command: _Command) -> int:
    """Run the caller's command as a direct run would, in this process, then undo it all."""
    request = command.request
    encodings = request.get("encodings") or {}
    saved_streams = (sys.stdin, sys.stdout, sys.stderr, sys.argv)
    saved_env = dict(os.environ)
    saved_loggers = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).level)
        for name in _LOGGERS
    }
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for target, fd in enumerate(command.fds):
            os.dup2(fd, target)
        sys.stdin = _stream(0, "r", encodings.get("stdin"), line=False)
        sys.stdout = _stream(1, "w", encodings.get("stdout"), line=os.isatty(1))
        sys.stderr = _stream(2, "w", encodings.get("stderr"), line=True)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request.get("env") or {}).items()})
        os.umask(int(request.get("umask", 0o022)))
        argv = [str(word) for word in request["argv"]]
        sys.argv = ["remoteops", *argv]
        try:
            os.chdir(str(request.get("cwd")))
        except OSError as exc:
            sys.stderr.write(f"remoteops: cannot enter {request.get('cwd')}: {exc.strerror}\n")
            return int(ExitCode.USAGE)
        return _invoke(argv)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdin, sys.stdout, sys.stderr, sys.argv = saved_streams
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.close(null)
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir("/")
        os.umask(0o077)
        for name, (handlers, level) in saved_loggers.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
        _forget_command_state()


#: The click command built for each sub-command's name: typer derives it from the functions'
#: signatures, about 18 ms a command; what a run changes on it is undone after the run.
_built: dict[str | None, TyperGroup] = {}


def _command_for(argv: list[str]) -> TyperGroup:
    from remoteops.cli import named_command

    name = named_command(argv)
    group = _built.get(name)
    if group is None:
        import typer.main

        from remoteops.cli.app import create_app

        built = typer.main.get_command(create_app(argv))
        if not isinstance(built, TyperGroup):  # the app always has its sub-commands
            raise TypeError("the remoteops application is not a command group")
        group = _built[name] = built
    return group


def _undo_command_changes(group: TyperGroup) -> None:
    """A bad config file makes the run refuse by replacing its command's ``invoke`` (see
    ``config_cmd._fail_when_run``): the next run must not inherit that."""
    for command in group.commands.values():
        command.__dict__.pop("invoke", None)


def _invoke(argv: list[str]) -> int:
    group = _command_for(argv)
    try:
        group.main(args=argv, prog_name="remoteops", standalone_mode=True)
        return 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        sys.stderr.write(f"{exc.code}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        _undo_command_changes(group)


def _forget_command_state() -> None:
    """What a command leaves in the CLI's modules, reset for the next one: its secrets too
    (a later command's journal and logs blanked them, and this process kept them), and the
    files' contents a sync or put kept for its hosts."""
    from remoteops import diagnostics

    with diagnostics._lock:
        diagnostics._secrets.clear()
    tar_stream = sys.modules.get("remoteops.transports.tar_stream")
    if tar_stream is not None:  # up to 64 MiB of the synced files' bytes, for nothing now
        tar_stream.SHARED_CONTENTS.clear()
    common = sys.modules.get("remoteops.cli.common")
    if common is not None:
        common._verbose = False  # type: ignore[attr-defined]
    config_cmd = sys.modules.get("remoteops.cli.config_cmd")
    if config_cmd is not None:
        config_cmd._loaded = None  # type: ignore[attr-defined]
        config_cmd._inventory_sources = None  # type: ignore[attr-defined]


def _log_to_own_file() -> None:
    """The process's own lines (start, refusals, idle exit) go to the log it was started with,
    on a descriptor of their own: descriptor 2 is each command's stderr while it runs. Only
    this module's logger writes there; what a command logs (``-v``) goes to that command's
    stderr through the command's own handlers, as in a direct run."""
    stream = os.fdopen(os.dup(2), "a", buffering=1, encoding="utf-8", errors="backslashreplace")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def main(argv: list[str]) -> int:
    from remoteops.cli import _raise_open_files_limit

    _log_to_own_file()
    if len(argv) != 2:
        sys.stderr.write("usage: python -m remoteops.cli.persist_daemon SOCKET SECONDS\n")
        return 2
    _raise_open_files_limit()
    os.umask(0o077)
    server = PersistServer(Path(argv[0]), float(argv[1]))
    if not server.bind():
        return 0
    signal.signal(signal.SIGINT, _between_commands)
    signal.raise_signal = _sigterm_ends_the_command
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
