"""The local transport: commands run on this machine through ``/bin/sh -c``.

It lets an inventory entry such as ``localhost`` (``protocol: local``) work on a fresh machine
with no sshd, with the same results, statuses and output handling as SSH.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

from remoteops.errors import UnsupportedError
from remoteops.transports.base import (
    STDERR,
    STDOUT,
    CommandTransport,
    ElevatingFiles,
    FileTransport,
    Privilege,
    RunningCommand,
    StdinGate,
)
from remoteops.transports.local_files import LocalFiles, translate

_READ_SIZE = 64 * 1024
#: Seconds between the TERM and the KILL that stop a command: the same as over SSH.
KILL_GRACE_S = 2.0


class LocalCommand:
    """A subprocess seen through the :class:`RunningCommand` primitives: ``/bin/sh -c
    command``, or ``argv`` (a client that runs the command elsewhere: ``podman exec``)."""

    def __init__(self, command: str, argv: Sequence[str] | None = None) -> None:
        # stdin is a pipe of our own, written unbuffered under our lock: a buffered writer's
        # close waits for a write blocked on a command that reads nothing (until the KILL)
        stdin_read, self._stdin_fd = os.pipe()
        try:
            self._proc = subprocess.Popen(
                ["/bin/sh", "-c", command] if argv is None else list(argv),
                stdin=stdin_read,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: a timeout kills the whole tree
            )
        except BaseException:
            os.close(self._stdin_fd)
            raise
        finally:
            os.close(stdin_read)
        self._stdin = StdinGate(self._write_all, self._close_descriptor)
        stdout, stderr = self._proc.stdout, self._proc.stderr
        if stdout is None or stderr is None:  # cannot happen with PIPE; keeps mypy honest
            raise RuntimeError("subprocess pipes were not created")
        self._selector = selectors.DefaultSelector()
        self._selector.register(stdout, selectors.EVENT_READ, STDOUT)
        self._selector.register(stderr, selectors.EVENT_READ, STDERR)
        self._open_streams = 2
        self._lock = threading.Lock()
        self._stopping = False  # TERM sent: the KILL thread reaps the command
        self._reaped = False  # ... and has done so
        self._released = False  # the caller is done with the pipes (kill was called)

    def poll(self, timeout: float) -> list[tuple[str, bytes]]:
        if self._open_streams == 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=timeout)
            return []
        chunks: list[tuple[str, bytes]] = []
        for key, _ in self._selector.select(timeout):
            data = os.read(key.fd, _READ_SIZE)
            if data:
                chunks.append((str(key.data), data))
            else:
                self._selector.unregister(key.fileobj)
                self._open_streams -= 1
        return chunks

    def secrets_withheld(self) -> None:
        return None

    def done(self) -> bool:
        return self._open_streams == 0 and self._proc.poll() is not None

    def exit_code(self) -> int:
        code = self._proc.returncode
        return 128 - code if code < 0 else code  # killed by a signal: report like a shell

    def refusal(self) -> None:
        return None  # the exit code says it all

    def write_stdin(self, data: bytes | memoryview) -> None:
        self._stdin.write(data)

    def close_stdin(self) -> None:
        """Close now, or, while a write is blocked (from another thread), as soon as it
        returns: the descriptor is only ever closed under the writers' lock, so its number
        can never be reused under a write."""
        self._stdin.close()

    def _write_all(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._stdin_fd, view) :]

    def _close_descriptor(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._stdin_fd)

    def terminate(self) -> None:
        """Stop the whole process group unless the command ended on its own: TERM now, KILL
        :data:`KILL_GRACE_S` later to whatever is left (as over SSH). Returns at once; a
        helper thread sends the KILL, reaps the command and closes its pipes.

        Background children count too (``sleep 60 & exit``): they hold the output pipes, so the
        command is not done until they go. After a normal end, anything left in the group was
        detached on purpose and is not ours to kill. Safe from another thread.
        """
        with self._lock:
            if self._stopping or self.done():
                return
            self._stopping = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGTERM)
        # Not a daemon (a worker thread's children would inherit that): the KILL must still be
        # sent when the program ends within the grace.
        threading.Thread(
            target=self._kill_after_grace, name="remoteops-local-kill", daemon=False
        ).start()

    def _kill_after_grace(self) -> None:
        """Wait until the group is empty or the grace is over, then KILL what is left.

        The leader is reaped as soon as it exits: a zombie leader would keep the group
        looking alive. Its pid cannot be reused while other members of its group live, and
        an empty group gets no KILL, so the KILL never reaches a stranger's group.
        """
        deadline = time.monotonic() + KILL_GRACE_S
        alive = self._group_alive()
        while alive and time.monotonic() < deadline:
            time.sleep(0.02)
            alive = self._group_alive()
        if alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        with self._lock:
            self._reaped = True
            released = self._released
        if released:  # else the caller still reads them, and kill() closes them
            self._close_pipes()

    def _group_alive(self) -> bool:
        self._proc.poll()
        try:
            os.killpg(self._proc.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # members we may not signal (sudo): only KILL can tell
            return True
        return True

    def _close_pipes(self) -> None:
        for pipe in (self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def kill(self) -> None:
        """Stop the command (see :meth:`terminate`) and release what the caller holds. Does
        not wait out a command that ignores TERM: its pipes stay open (a TERM handler may
        still print) until the KILL thread has reaped it."""
        self.terminate()
        self._selector.close()
        self.close_stdin()
        with self._lock:
            self._released = True
            close_now = not self._stopping or self._reaped
        if close_now:
            self._proc.wait()  # at once: it ended on its own, or was reaped
            self._close_pipes()


class LocalTransport(LocalFiles, ElevatingFiles, CommandTransport):
    """Runs commands and syncs files on this machine; there is no connection to open."""

    protocol = "local"

    def __init__(self) -> None:
        self._closed = False
        self._running: list[LocalCommand] = []

    def connect(self) -> None:
        self._closed = False

    def start(self, command: str, timeout: float | None = None) -> RunningCommand:
        try:
            running = LocalCommand(command)
        except OSError as exc:  # no /bin/sh, no processes or descriptors left
            raise translate(exc, "cannot start the command") from exc
        self._running.append(running)
        return running

    def elevated(self, privilege: Privilege) -> FileTransport:
        """This transport itself when remoteops already runs as the user asked for (root,
        or ``privilege.user``); otherwise ``unsupported``: this process cannot become
        another user, and a local sudo would need a terminal of its own to ask on."""
        wanted = privilege.user or "root"
        try:
            running_as = pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:
            running_as = str(os.geteuid())
        if running_as != wanted:
            raise UnsupportedError(
                f"sudo on local file operations: remoteops runs as {running_as}, not "
                f"{wanted}; run it as {wanted} (e.g. `sudo remoteops ...`) for local hosts"
            )
        return self

    def cut_off(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop running commands; their own ``drive`` loop then releases pipes and selector."""
        self._closed = True
        for running in self._running:
            running.terminate()
