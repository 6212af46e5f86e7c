"""Process and file helpers: running tools, reading /proc, stopping process trees, atomic writes,
lock files.

Liveness is read from /proc rather than trusted from a pid: a killed sshd may linger as a zombie
(pid 1 of a container does not always reap) and a pid may be reused, so a process only counts as
ours while it is not a zombie and its command line still names our sshd config.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._model import PlaygroundError

#: sshd and ip live in sbin, which a normal user's PATH often lacks.
_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")

#: Popen objects of the sshds this process started, so they can be reaped once killed.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def find_tool(name: str, package: str) -> str:
    """Locate a system tool or fail with the apt package that provides it."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    found = shutil.which(name, path=search)
    if found is None:
        raise PlaygroundError(f"{name} not found: install it with `apt-get install {package}`")
    return found


def run(
    argv: Sequence[str], *, stdin: str | None = None, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a setup command; a failure becomes a PlaygroundError quoting the command's stderr."""
    try:
        proc = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PlaygroundError(f"`{' '.join(argv)}` failed: {exc}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        tail = "; ".join(detail[-5:]) or f"exit status {proc.returncode}"
        raise PlaygroundError(f"`{' '.join(argv[:4])} ...` failed: {tail}")
    return proc


def spawn(argv: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a long-lived daemon in its own session, output appended to ``log_path``."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def proc_state(pid: int) -> str | None:
    """The one-letter scheduler state of ``pid`` (``R``, ``S``, ``T``, ``Z``...), None if gone."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return fields[0].decode() if fields else None


def proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot: with the pid, identifies a process."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else None


def owner_alive(owner: Sequence[int] | None) -> bool:
    """Whether the (pid, start time) pair recorded by ``up`` still names a running process."""
    if not owner:
        return True
    pid, started = owner[0], owner[1]
    return proc_state(pid) not in (None, "Z", "X") and proc_start_time(pid) == started


def pid_alive(pid: int | None, marker: str) -> bool:
    """Whether ``pid`` is running (not a zombie) and its command line contains ``marker``."""
    if pid is None or proc_state(pid) in (None, "Z", "X"):
        return False
    cmdline = _read(f"/proc/{pid}/cmdline")
    return cmdline is not None and marker.encode() in cmdline


@dataclass(frozen=True)
class ProcessInfo:
    """What teardown needs to know about one process."""

    pid: int
    ppid: int
    cmdline: bytes
    netns: tuple[int, int] | None


def processes() -> list[ProcessInfo]:
    """One pass over /proc: every process with its parent, command line and network namespace."""
    found: list[ProcessInfo] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        raw = _read(f"/proc/{entry}/stat")
        if raw is None:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
            netns: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except OSError:
            netns = None
        found.append(
            ProcessInfo(int(entry), int(fields[1]), _read(f"/proc/{entry}/cmdline") or b"", netns)
        )
    return found


def descendants(roots: Iterable[int], table: Sequence[ProcessInfo]) -> set[int]:
    """``roots`` plus every process below them (sshd session children of a listener)."""
    children: dict[int, list[int]] = {}
    for info in table:
        children.setdefault(info.ppid, []).append(info.pid)
    result: set[int] = set()
    pending = list(roots)
    while pending:
        pid = pending.pop()
        if pid in result:
            continue
        result.add(pid)
        pending.extend(children.get(pid, ()))
    return result


def reap(pid: int) -> None:
    """Collect the exit status of a child we started, so it does not stay a zombie."""
    proc = _CHILDREN.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _wait_gone(pending: set[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            reap(pid)
            if proc_state(pid) in (None, "Z", "X"):
                pending.discard(pid)
        if pending:
            time.sleep(0.01)


def terminate(pids: Iterable[int], *, grace: float = 3.0) -> None:
    """SIGTERM ``pids`` (waking stopped ones), SIGKILL whatever is left after ``grace`` seconds."""
    pending = {pid for pid in pids if pid != os.getpid()}
    for pid in pending:
        _signal(pid, signal.SIGTERM)
        _signal(pid, signal.SIGCONT)
    _wait_gone(pending, grace)
    for pid in pending:
        _signal(pid, signal.SIGKILL)
    _wait_gone(pending, 2.0)
    if pending:
        raise PlaygroundError(f"processes would not exit: {sorted(pending)}")


def wait_state(pid: int, letter: str, *, present: bool, timeout: float = 2.0) -> None:
    """Wait until ``pid``'s state letter is (or is no longer) ``letter``: SIGSTOP is async."""
    deadline = time.monotonic() + timeout
    while (proc_state(pid) == letter) != present:
        if time.monotonic() > deadline:
            raise PlaygroundError(f"process {pid} did not reach the expected state in {timeout}s")
        time.sleep(0.002)


def atomic_write(path: Path, data: str | bytes, *, mode: int = 0o644) -> None:
    """Write through a temporary file and a rename, so readers never see half a file."""
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def tail(path: Path, lines: int = 5) -> str:
    """The last lines of a daemon log, for error messages."""
    raw = _read(str(path))
    if not raw:
        return "(no output)"
    return " | ".join(raw.decode(errors="replace").strip().splitlines()[-lines:])


def private_dir() -> Path:
    """This user's directory for lock files, ``~/.cache/remoteops`` (0700).

    The home comes from the password database, not ``$HOME`` or ``$XDG_*``: two processes of
    one user must find one lock even when a test or a script changed their environment. A
    link in its place, or a directory of another user, is refused.
    """
    path = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "remoteops"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise PlaygroundError(f"{path} is not a directory of this user: remove it")
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(path, 0o700)
    except OSError as exc:
        raise PlaygroundError(f"cannot use {path} for lock files: {exc}") from exc
    return path


@contextlib.contextmanager
def locked(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the ``with`` block (see :func:`acquire_lock`)."""
    fd = acquire_lock(path, on_wait)
    try:
        yield
    finally:
        os.close(fd)


def acquire_lock(path: Path, on_wait: Callable[[], None] | None = None) -> int:
    """An open descriptor holding an exclusive ``flock`` on ``path``, a regular file made 0600
    when missing; closing it releases the lock.

    A symbolic link in its place is refused, never followed (as root, following a planted
    link would create or truncate any file). Whoever removes the lock file does so holding it,
    so after waiting we check the path still names the file we locked, and lock again if not.
    ``on_wait`` is called once when another process holds the lock.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    waited = False
    while True:
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PlaygroundError(f"{path} is a symbolic link: refusing it as a lock") from exc
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise PlaygroundError(f"{path} is not a regular file: refusing it as a lock")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None and not waited:
                    on_wait()
                waited = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)
