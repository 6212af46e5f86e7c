"""Helpers for command-line tests: ``python -m remoteops`` run for real, as a user runs it.

Imported as ``cli_support`` (pytest puts this folder on ``sys.path``), not as a package.

Every run is a subprocess with stdin closed unless a test gives input, ``NO_COLOR`` set unless a
test is about colour, and only loopback or playground addresses in its inventory. Hosts of the
session playground are real OpenSSH ``sshd``; ``protocol: local`` hosts need no server at all.
"""

from __future__ import annotations

import json
import os
import pty
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

#: Set in the environment of every CLI run: ``local`` hosts inherit it, ``ssh`` hosts never see
#: it (sshd gets no environment from us), so one command can behave differently on each kind.
LOCAL_MARK = "ROPTEST_LOCAL"

#: Exactly the keys of a JSON result line when both outputs are valid UTF-8 (README).
JSON_KEYS = frozenset(
    {"host", "ok", "status", "exit_code", "stdout", "stderr", "stdout_bytes", "stderr_bytes",
     "truncated", "error", "duration_s"}
)  # fmt: skip
STATUSES = frozenset(
    {"ok", "failed", "unreachable", "auth", "hostkey", "timeout", "unsupported", "cancelled"}
)

#: Variables that would change colour decisions or the inventory behind a test's back.
_AMBIENT = ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "REMOTEOPS_INVENTORY")


def cli_env(env: Mapping[str, str] | None = None, *, colour: bool = False) -> dict[str, str]:
    """The environment of a CLI run: ours, without ambient colour or inventory settings."""
    base = {k: v for k, v in os.environ.items() if k not in _AMBIENT}
    base[LOCAL_MARK] = "1"
    if not colour:
        base["NO_COLOR"] = "1"
    return {**base, **(env or {})}


def remoteops(
    *args: str,
    input_bytes: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """``python -m remoteops ARGS``; stdin is closed (``/dev/null``) unless input is given."""
    return subprocess.run(
        [sys.executable, "-m", "remoteops", *args],
        input=input_bytes,
        stdin=subprocess.DEVNULL if input_bytes is None else None,
        capture_output=True,
        env=cli_env(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def json_lines(stdout: bytes) -> list[dict[str, Any]]:
    """Every stdout line parsed as one JSON object; anything else on stdout fails the test."""
    lines = stdout.decode("utf-8").splitlines()
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(obj, dict) for obj in parsed), lines
    return parsed


def by_host(stdout: bytes) -> dict[str, dict[str, Any]]:
    """JSON results keyed by host, checking that no host was reported twice."""
    results = json_lines(stdout)
    hosts = [r["host"] for r in results]
    assert len(hosts) == len(set(hosts)), f"a host reported twice: {hosts}"
    return {r["host"]: r for r in results}


def write_inventory(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False))
    return path


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll ``condition`` until it holds; the timeout is generous, only a hang should hit it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


class LiveRun:
    """A ``remoteops`` process read as it runs, so a test can signal it at the right moment.

    Both streams are drained by threads into buffers; :meth:`wait_for` blocks until a text
    shows up. Used as a context manager: the process is killed (by pid) if the test fails.
    """

    def __init__(self, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "remoteops", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(env),
        )
        self._buffers = {"stdout": bytearray(), "stderr": bytearray()}
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._drain, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _drain(self, name: str, stream: Any) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while True:
                selector.select()
                chunk = os.read(stream.fileno(), 65536)
                with self._changed:
                    if chunk:
                        self._buffers[name] += chunk
                    self._changed.notify_all()
                if not chunk:
                    return

    def text(self, stream: str) -> str:
        with self._changed:
            return self._buffers[stream].decode("utf-8", errors="replace")

    def wait_for(self, stream: str, needle: str, timeout: float = 30) -> str:
        """Block until ``needle`` appears on the stream; return everything read so far."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while needle not in self._buffers[stream].decode("utf-8", errors="replace"):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._alive_readers()):
                    raise AssertionError(
                        f"{needle!r} never appeared on {stream}: {bytes(self._buffers[stream])!r}"
                    )
                self._changed.wait(min(left, 0.2))
            return self._buffers[stream].decode("utf-8", errors="replace")

    def _alive_readers(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    def interrupt(self) -> None:
        """What a terminal's Ctrl-C does to the foreground process: SIGINT."""
        self.proc.send_signal(signal.SIGINT)

    def finish(self, timeout: float) -> tuple[int, bytes, bytes]:
        """Wait for the exit; return the exit code and everything written."""
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        with self._changed:
            return code, bytes(self._buffers["stdout"]), bytes(self._buffers["stderr"])

    def __enter__(self) -> LiveRun:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def gated_command(gate: Path) -> str:
    """Record a start in the gate, print ``started``, wait for the release, print ``released``."""
    return (
        f"mktemp {gate}/started.XXXXXX >/dev/null && echo started && "
        f"while [ ! -e {gate}/release ]; do sleep 0.05; done; echo released"
    )


def started_count(gate: Path) -> int:
    return len(list(gate.glob("started.*")))


def local_inventory(path: Path, hosts: Sequence[str]) -> Path:
    """An inventory of ``protocol: local`` hosts: they run on this machine, no sshd needed."""
    return write_inventory(path, {"all": {"hosts": {h: {"protocol": "local"} for h in hosts}}})


def run_on_terminal(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, bytes]:
    """Run with stdout and stderr on a pseudo-terminal; return the exit code and what it showed."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            argv, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, env=env,
            check=False, timeout=60,
        )  # fmt: skip
    finally:
        os.close(follower)
    chunks: list[bytes] = []
    try:
        while chunk := os.read(leader, 65536):
            chunks.append(chunk)
    except OSError:  # EIO: the other side is closed and everything was read
        pass
    finally:
        os.close(leader)
    return proc.returncode, b"".join(chunks)


def assert_password_only_in_a_file(podman: Any, containers: list[str], password: str) -> None:
    """The password is in no container's recorded command line or environment, and an ``exec``
    session (as the login user) does not inherit it: the hosts read it from a mounted file."""
    for container in containers:
        found = json.loads(podman.run(["container", "inspect", container]).stdout)[0]
        assert password not in " ".join(found["Config"]["CreateCommand"]), container
        assert password not in " ".join(found["Config"]["Env"] or []), container
        session = podman.run(["exec", "--user", "tester", container, "env"]).stdout.decode()
        assert password not in session, container
