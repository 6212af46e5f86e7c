"""`run` under pressure, against real sshd hosts: output floods, endless or huge stdin, stalled
sessions, and environment values that must stay out of every command line."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remoteops.executor import NullListener, run_command
from remoteops.inventory.model import Host
from remoteops.playground import Playground, PlaygroundState
from remoteops.results import HostResult, Status
from remoteops.transports import CommandSpec
from remoteops.transports.stdin_sources import BroadcastStdin, FileStdin
from tests.integration.conftest import with_vars
from tests.integration.process_table import command_lines_showing
from tests.streams import endless_pipe


class _SeesOutput(NullListener):
    """Sets ``seen`` once any host printed ``marker``."""

    def __init__(self, marker: bytes) -> None:
        self.marker = marker
        self.seen = threading.Event()

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        if self.marker in data:
            self.seen.set()


def _in_background(target: object) -> tuple[threading.Thread, list[object]]:
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(target()))  # type: ignore[operator]
    thread.start()
    return thread, box


class _Pipe:
    """A pipe whose write end a test may close early: the teardown closes only what is still
    open (closing a number twice can close whatever reused it, e.g. a live SSH socket)."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        self._write_open = True

    def close_write(self) -> None:
        if self._write_open:
            self._write_open = False
            os.close(self.write_end)

    def close(self) -> None:
        self.close_write()
        os.close(self.read_end)


@pytest.fixture
def pipe() -> Iterator[_Pipe]:
    opened = _Pipe()
    yield opened
    opened.close()


# -- output ---------------------------------------------------------------------------------


def test_a_flood_keeps_only_the_capture_limit_and_still_times_out_on_time(
    ssh_hosts: list[Host],
) -> None:
    limit = 1024 * 1024
    report = run_command([ssh_hosts[0]], CommandSpec("yes", timeout=2, capture_limit=limit))
    result = report.results[0]
    assert result.status is Status.TIMEOUT
    assert len(result.stdout) == limit
    assert result.stdout_bytes is not None
    assert result.stdout_bytes > 4 * limit  # it kept writing; we kept counting
    assert result.truncated
    assert result.duration_s < 2 + 1.0


def test_output_within_the_limit_is_kept_whole_and_not_marked(ssh_hosts: list[Host]) -> None:
    report = run_command(
        [ssh_hosts[0]], CommandSpec("head -c 100000 /dev/zero", capture_limit=100000)
    )
    result = report.results[0]
    assert (result.status, len(result.stdout), result.truncated) == (Status.OK, 100000, False)
    assert result.to_json()["stdout_bytes"] == 100000


# -- stdin ----------------------------------------------------------------------------------


def test_piped_stdin_reaches_the_hosts_as_it_arrives(ssh_hosts: list[Host], pipe: _Pipe) -> None:
    """The pipe stays open: a host that needs one line answers without waiting for its end."""
    read_end, write_end = pipe.read_end, pipe.write_end
    os.write(write_end, b"first line\n")
    source = BroadcastStdin(read_end, readers=2)
    report = run_command(ssh_hosts[:2], CommandSpec("head -n 1", stdin=source, timeout=20))
    assert [(r.status, r.stdout) for r in report.results] == [(Status.OK, b"first line\n")] * 2


def test_a_command_that_reads_no_input_ends_while_the_pipe_stays_open(
    ssh_hosts: list[Host], pipe: _Pipe
) -> None:
    read_end = pipe.read_end
    started = time.monotonic()
    report = run_command(
        ssh_hosts[:2], CommandSpec("echo done", stdin=BroadcastStdin(read_end, 2), timeout=20)
    )
    assert [(r.status, r.stdout) for r in report.results] == [(Status.OK, b"done\n")] * 2
    assert time.monotonic() - started < 10


def test_endless_stdin_is_streamed_in_a_bounded_window_and_timeouts_hold(
    ssh_hosts: list[Host],
) -> None:
    """`yes | remoteops run -t 2 'wc -c'`: the hosts read for two seconds, then time out; the
    input is never held whole (the window bounds it), and once every host ended it is read
    no further."""
    window = 4 * 1024 * 1024
    with endless_pipe() as stdin:
        source = BroadcastStdin(stdin, readers=2, window=window)
        report = run_command(ssh_hosts[:2], CommandSpec("wc -c", stdin=source, timeout=2))
        reader = source._reader
        assert reader is not None
        reader.join(5)
        assert not reader.is_alive()  # every host ended: the input is read no further
    assert [r.status for r in report.results] == [Status.TIMEOUT] * 2
    assert all(r.duration_s < 2 + 1.0 for r in report.results)
    assert source._held <= window + 64 * 1024  # the window, never the whole input


def test_hosts_started_after_a_large_input_moved_on_fail_with_a_clear_reason(
    ssh_hosts: list[Host], pipe: _Pipe
) -> None:
    """With fewer forks than hosts, the input's start is kept for the hosts still to come, up
    to the window; past it, those hosts fail saying why instead of reading from the middle."""
    read_end, write_end = pipe.read_end, pipe.write_end
    data = os.urandom(1024 * 1024)

    def write_all() -> None:
        os.write(write_end, data)
        pipe.close_write()

    writer = threading.Thread(target=write_all)
    writer.start()
    source = BroadcastStdin(read_end, readers=2, window=256 * 1024)
    report = run_command(ssh_hosts[:2], CommandSpec("sha256sum", stdin=source), forks=1)
    writer.join()
    first, second = report.results
    assert first.status is Status.OK, first
    assert first.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    assert second.status is Status.FAILED
    assert "--forks" in (second.error or "")


def test_small_input_is_kept_for_every_host_whatever_the_forks(
    ssh_hosts: list[Host], pipe: _Pipe
) -> None:
    read_end, write_end = pipe.read_end, pipe.write_end
    os.write(write_end, b"hello hosts\n")
    pipe.close_write()
    source = BroadcastStdin(read_end, readers=3)
    report = run_command(ssh_hosts[:3], CommandSpec("cat", stdin=source), forks=1)
    assert [(r.status, r.stdout) for r in report.results] == [(Status.OK, b"hello hosts\n")] * 3


def test_a_file_given_as_stdin_is_read_whole_by_every_host(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    with path.open("rb") as redirected:
        os.lseek(redirected.fileno(), 17, os.SEEK_SET)  # read from where it stands, as ssh does
        source = FileStdin(fd=redirected.fileno())
        report = run_command(ssh_hosts[:3], CommandSpec("sha256sum", stdin=source), forks=2)
    expected = hashlib.sha256(data[17:]).hexdigest()
    assert [r.stdout.split()[0].decode() for r in report.results] == [expected] * 3


# -- stalled sessions -----------------------------------------------------------------------


@pytest.mark.usefixtures("requires_root")
def test_a_session_that_stalls_mid_command_ends_at_its_timeout(
    ssh_hosts: list[Host], playground_manager: Playground
) -> None:
    """Packets to the host dropped while its command runs: the kill cannot get through, and
    waiting for it must not come out of the timeout (it added 2 s)."""
    target = ssh_hosts[0]
    listener = _SeesOutput(b"running")

    def run() -> object:
        return run_command(
            [target], CommandSpec("echo running; sleep 60", timeout=3), listener=listener
        )

    started = time.monotonic()
    thread, box = _in_background(run)
    try:
        assert listener.seen.wait(20), "the command never started"
        playground_manager.blackhole(target.name)
        thread.join(30)
    finally:
        playground_manager.unblackhole(target.name)
    elapsed = time.monotonic() - started
    (report,) = box
    result: HostResult = report.results[0]  # type: ignore[attr-defined]
    assert result.status is Status.TIMEOUT
    assert result.duration_s < 3 + 1.0
    assert elapsed < 3 + 3.0  # connect, plus at most half a second for the kill


# -- environment ----------------------------------------------------------------------------


def _env_run(host: Host, token: str, **spec: object) -> tuple[HostResult, list[str]]:
    """Run a command with TOKEN in its environment; what the process list showed meanwhile."""
    listener = _SeesOutput(b"ready")

    def run() -> object:
        command = 'echo ready; sleep 2; printf "%s" "$TOKEN"'
        return run_command(
            [host],
            CommandSpec(command, env={"TOKEN": token}, timeout=30, **spec),  # type: ignore[arg-type]
            listener=listener,
        )

    thread, box = _in_background(run)
    assert listener.seen.wait(20), "the command never started"
    shown = command_lines_showing(token.encode())
    thread.join(30)
    (report,) = box
    return report.results[0], shown  # type: ignore[attr-defined]


def test_env_values_never_appear_in_a_command_line_on_the_host(ssh_hosts: list[Host]) -> None:
    token = "tok-" + secrets.token_hex(12) + " and\na line break"
    result, shown = _env_run(ssh_hosts[0], token)
    assert shown == []
    assert result.status is Status.OK
    assert result.stdout == b"ready\n" + token.encode()


@pytest.mark.usefixtures("requires_root")
def test_env_values_stay_out_of_command_lines_under_sudo_too(
    ssh_hosts: list[Host], playground: PlaygroundState
) -> None:
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    token = "tok-" + secrets.token_hex(12)
    host = with_vars(ssh_hosts[0], user=playground.sudo_user)
    result, shown = _env_run(host, token, sudo=True, sudo_password=password)
    assert shown == []
    assert result.status is Status.OK, result.error
    assert result.stdout == b"ready\n" + token.encode()
