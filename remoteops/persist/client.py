"""The caller's side of persistence, run before the CLI loads (only the standard library and
these small modules are imported), so a command handed to a running process costs little more
than Python's own start.

A command is handed over when it works on hosts (``run``, ``put``, ``get``, ``sync``,
``task``) and persistence is asked for: ``remoteops --persist 10m ...``,
``REMOTEOPS_PERSIST=10m``, or ``persist = "10m"`` in a config file (in that order). With
none of them (or ``--persist no``) nothing here happens. When the
process is busy with another command, cannot be started or refuses, the command runs directly
(with a warning for the last two): persistence changes how fast a command starts, never what
it does.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from remoteops.persist import config_files, wire
from remoteops.persist.paths import PersistError, socket_path

#: The commands handed to the persistent process (those that connect to hosts).
SERVED = frozenset({"run", "put", "get", "sync", "task"})
OPTION = "--persist"
#: The exit status of a command interrupted (:class:`~remoteops.results.ExitCode`, not
#: imported: this module loads before the CLI).
INTERRUPTED = 130
ENV = "REMOTEOPS_PERSIST"
#: How long a new process may take to listen.
START_TIMEOUT_S = 15.0
#: The environment a new process starts with: the caller's own environment (secrets
#: included) reaches it with each command, never in its /proc/PID/environ.
_START_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR",
              "PYTHONPATH", "VIRTUAL_ENV", "XDG_RUNTIME_DIR")  # fmt: skip
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_OFF = ("no", "off", "false", "0")
#: Options that read a password from the controlling terminal (``/dev/tty``), which the
#: persistent process does not have (a word of the remote command taken for one only costs
#: that command its speed-up). Other prompts read the caller's terminal as stdin, no echo.
_ASKS_AT_TERMINAL = frozenset({"-k", "--ask-pass"})


def parse_duration(value: str) -> float | None:
    """Seconds from ``90``, ``90s``, ``10m``, ``2h``, ``1d``; None for ``no``/``off``/``0``.
    ValueError for anything else."""
    text = value.strip().lower()
    if text in _OFF:
        return None
    found = _DURATION.fullmatch(text)
    if found is None or float(found.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a duration (like 90s, 10m, 2h) nor 'no'")
    return float(found.group(1)) * _UNITS[found.group(2)]


def option_value(argv: list[str]) -> str | None:
    """``--persist``'s value among the root options (the words before the command)."""
    words = iter(argv)
    for word in words:
        if word == OPTION:
            return next(words, None)
        if word.startswith(OPTION + "="):
            return word.split("=", 1)[1]
        if not word.startswith("-"):
            break
        if word == "--log-file":
            next(words, None)
    return None


def config_value() -> tuple[str | None, str]:
    """The top-level ``persist`` key of ``./remoteops.toml``, else of the user's config file
    (``remoteops config`` shows the same); a file without the word is not parsed."""
    for path in config_files():
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except (OSError, ValueError):
            continue
        if "persist" not in text or sys.version_info < (3, 11):  # tomllib is 3.11's
            continue
        import tomllib  # type: ignore[import-not-found, unused-ignore]  # (mypy checks as 3.10)

        try:
            value = tomllib.loads(text).get("persist")
        except ValueError:
            return None, path  # the CLI reports the file
        if value is not None:
            return str(value), path
    return None, ""


def warn(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"remoteops: --persist: {message}; running directly\n")


def forward_if_persisting(argv: list[str], command: str | None) -> int | None:
    """The exit code of ``argv`` run by the persistent process, or None: run it directly."""
    if command not in SERVED or any(word in _ASKS_AT_TERMINAL for word in argv):
        return None
    value, source = option_value(argv), OPTION
    if value is None:
        value, source = os.environ.get(ENV), ENV
    if value is None:
        value, source = config_value()
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        if source != OPTION:
            warn(f"{source}: {exc}")
        return None  # a bad --persist is the CLI's usage error, reported there
    if seconds is None:
        return None
    try:
        path = socket_path()
        sock = _connect(path) or _start(path, seconds)
        with sock:
            return _hand_over(sock, argv, seconds)
    except PersistError as exc:
        warn(str(exc))
        return None
    except KeyboardInterrupt:  # before the command started (or was refused): as a direct run
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("interrupted\n")
        return INTERRUPTED


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:  # none listening (missing, refused, a stale socket)
        sock.close()
        return None
    return sock


def _start(path: Path, seconds: float) -> socket.socket:
    """Start the persistent process and connect to it."""
    import subprocess

    log_path = path.with_suffix(".log")
    try:
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise PersistError(f"cannot write {log_path}: {exc.strerror or exc}") from None
    env = {name: os.environ[name] for name in _START_ENV if name in os.environ}
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "remoteops.cli.persist_daemon", str(path), repr(seconds)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            env=env,
            start_new_session=True,  # no terminal: the caller's Ctrl-C is sent, not broadcast
        )
    except OSError as exc:
        raise PersistError(f"cannot start the persistent process: {exc}") from None
    finally:
        os.close(log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        if process.poll() is not None and _connect(path) is None:
            raise PersistError(f"the persistent process exited at start (see {log_path})")
        time.sleep(0.01)
    raise PersistError(f"the persistent process did not listen within {START_TIMEOUT_S:.0f} s")


def _own_fds() -> list[int]:
    """This process's stdin, stdout and stderr to pass (/dev/null for a closed one)."""
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            fds.append(os.open(os.devnull, os.O_RDWR))
    return fds


def _encodings() -> dict[str, list[str | None]]:
    return {
        name: [getattr(stream, "encoding", None), getattr(stream, "errors", None)]
        for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout), ("stderr", sys.stderr))
    }


def _hand_over(sock: socket.socket, argv: list[str], seconds: float) -> int | None:
    try:
        cwd = os.getcwd()
    except OSError:
        return None  # a folder removed under us: the direct run says so
    mask = os.umask(0o022)
    os.umask(mask)
    request = {
        "argv": argv,
        "cwd": cwd,
        "env": dict(os.environ),
        "umask": mask,
        "persist": seconds,
        "encodings": _encodings(),
    }
    try:
        wire.send(sock, request, _own_fds())
        answer = wire.receive(sock)
    except (OSError, wire.WireError) as exc:
        warn(f"the persistent process did not answer ({exc})")
        return None
    if answer is None or answer.get("busy"):
        return None  # another command is being served: this one runs directly
    if "refused" in answer:
        warn(str(answer["refused"]))
        return None
    received: list[int] = []
    with _signals_sent_to(sock, received):
        try:
            ended = wire.receive(sock)
        except (OSError, wire.WireError):
            ended = None
    if ended is None or not isinstance(ended.get("exit"), int):
        sys.stderr.write("remoteops: the persistent process ended before the command did\n")
        return 1
    code: int = ended["exit"]
    ending = [signum for signum in received if signum in (signal.SIGTERM, signal.SIGHUP)]
    if code == 128 + signal.SIGTERM and ending:
        _end_by(ending[0])  # as a direct run does: its parent sees it killed by the signal
    return code


def _end_by(signum: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


@contextlib.contextmanager
def _signals_sent_to(sock: socket.socket, received: list[int]) -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP go to the command in the process (two Ctrl-C: the run's
    second stage, as in a direct run); each is added to ``received``."""

    def send(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        with contextlib.suppress(OSError):
            wire.send(sock, {"signal": signum})

    wanted = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, send) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def control(action: str) -> dict[str, object] | None:
    """Ask the running process for ``status`` or to ``stop``; None when none runs."""
    sock = _connect(socket_path())
    if sock is None:
        return None
    with sock:
        wire.send(sock, {"control": action})
        return wire.receive(sock)
