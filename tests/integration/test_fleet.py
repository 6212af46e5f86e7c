"""The library's Fleet against real hosts: connections kept across calls, failures remembered,
capabilities refused before any packet, and the README's example as written."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remoteops import (
    Capability,
    CommandSpec,
    Fleet,
    HostResult,
    HostsFailedError,
    NullListener,
    PatternError,
    RunReport,
    Status,
    TransferStats,
    Transport,
    needing,
)
from remoteops.inventory.model import Host
from remoteops.playground import Playground, PlaygroundState

README = Path(__file__).parents[2] / "README.md"


class CountingListener:
    """A TCP port that accepts connections and counts them; it never says anything."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            self._open.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self._open:
            conn.close()


@pytest.fixture
def counting_port() -> Iterator[CountingListener]:
    listener = CountingListener()
    yield listener
    listener.close()


def _client_ports(report: RunReport) -> list[str]:
    """The client side of each host's connection, as the host saw it ($SSH_CONNECTION)."""
    return [r.stdout.decode().split()[1] for r in report.results]


def test_a_fleet_keeps_one_connection_per_host_across_calls(ssh_hosts: list[Host]) -> None:
    hosts = ssh_hosts[:2]
    with Fleet(hosts) as fleet:
        seen = [_client_ports(fleet.run("echo $SSH_CONNECTION")) for _ in range(3)]
        assert all(r.ok for r in fleet.run("true").results)
        ours = _connections_of_this_process(hosts[0])
    assert seen[0] == seen[1] == seen[2], seen  # the same client port every time
    assert len(set(seen[0])) == 2
    # One connection to the host from this process (counted here: the host's own count would
    # include connections other tests left closing).
    assert ours == [seen[0][0]], ours


def _connections_of_this_process(host: Host) -> list[str]:
    """The local ports of this process's established TCP connections to ``host``'s sshd."""
    address, port = str(host.vars.get("address", host.name)), host.vars.get("port", 22)
    listed = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( dst {address} and dport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    mine = f"pid={os.getpid()},"
    return [line.split()[2].rsplit(":", 1)[1] for line in listed.splitlines() if mine in line]


def test_a_one_off_fleet_connects_afresh_for_every_call(ssh_hosts: list[Host]) -> None:
    """keep_open=False is what the CLI uses: nothing outlives a call."""
    fleet = Fleet(ssh_hosts[:1], keep_open=False)
    first = _client_ports(fleet.run("echo $SSH_CONNECTION"))
    second = _client_ports(fleet.run("echo $SSH_CONNECTION"))
    fleet.close()
    assert first != second


def test_files_and_commands_share_the_kept_connection(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    source = tmp_path / "site"
    source.mkdir()
    (source / "index.html").write_text("hello")
    dest = tmp_path / "dest"
    with Fleet(ssh_hosts[:1]) as fleet:
        before = _client_ports(fleet.run("echo $SSH_CONNECTION"))
        synced = fleet.sync(source, str(dest), delete=True).raise_for_status()
        put = fleet.put(source / "index.html", str(tmp_path / "copy.html")).raise_for_status()
        got = fleet.get(str(dest / "index.html"), tmp_path / "got").raise_for_status()
        after = _client_ports(fleet.run("echo $SSH_CONNECTION"))
    assert before == after
    assert synced.results[0].transfer == TransferStats(files_created=1, bytes_sent=5)
    assert put.results[0].transfer is not None
    assert put.results[0].transfer.bytes_sent == 5
    assert got.results[0].transfer == TransferStats(files_created=1, bytes_received=5)
    assert (dest / "index.html").read_text() == "hello"


def test_a_host_that_failed_to_connect_stays_failed_without_trying_again(
    ssh_hosts: list[Host], counting_port: CountingListener
) -> None:
    """No retry storm: the second call is answered from memory, not by a new connection."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    down = Host("down1", {"address": "127.0.0.1", "port": port, "connect_timeout": 2})
    with Fleet([ssh_hosts[0], down]) as fleet:
        first = fleet.run("echo up")
        assert [r.status for r in first.results] == [Status.OK, Status.UNREACHABLE]
        listener_now = socket.create_server(("127.0.0.1", port))  # it would answer now
        try:
            second = fleet.run("echo up")
        finally:
            listener_now.settimeout(0)
            with pytest.raises(BlockingIOError):
                listener_now.accept()  # nobody knocked
            listener_now.close()
    assert [r.status for r in second.results] == [Status.OK, Status.UNREACHABLE]
    assert "remembered" in (second.results[1].error or "")


def test_a_connection_closed_under_a_timeout_is_opened_again(ssh_hosts: list[Host]) -> None:
    with Fleet(ssh_hosts[:1], host_timeout=1) as fleet:
        before = _client_ports(fleet.run("echo $SSH_CONNECTION"))
        stalled = fleet.run("sleep 5")
        assert stalled.results[0].status is Status.TIMEOUT
        after = fleet.run("echo $SSH_CONNECTION")
    assert after.results[0].ok, after.results[0].error
    assert _client_ports(after) != before  # a new connection, not the closed one


@pytest.mark.parametrize(
    ("protocol", "verb"),
    [("telnet", "put"), ("telnet", "sync"), ("ftp", "run"), ("ftps", "run")],
)
def test_work_the_protocol_cannot_do_is_unsupported_before_any_packet(
    counting_port: CountingListener, tmp_path: Path, protocol: str, verb: str
) -> None:
    """A Telnet put once logged in with a plaintext password before being refused, and one
    to a closed port ended unreachable; an FTP run logged in first."""
    (tmp_path / "file").write_text("x")
    host = Host(
        f"{protocol}1",
        {"protocol": protocol, "address": "127.0.0.1", "port": counting_port.port, "user": "u"},
    )
    with Fleet([host]) as fleet:
        if verb == "put":
            report = fleet.put(tmp_path / "file", "/tmp/file")
        elif verb == "sync":
            report = fleet.sync(tmp_path, "/tmp/somewhere")
        else:
            report = fleet.run("uptime")
    result = report.results[0]
    assert result.status is Status.UNSUPPORTED, result
    assert "nothing was sent" in (result.error or "")
    assert counting_port.accepted == 0


def test_unsupported_even_when_the_port_is_closed() -> None:
    host = Host("telnet-closed", {"protocol": "telnet", "address": "127.0.0.1", "port": 1})
    with Fleet([host]) as fleet:
        assert fleet.get("/etc/hostname", Path("/nonexistent")).results[0].status is (
            Status.UNSUPPORTED
        )


def test_custom_work_declares_what_it_needs(ssh_hosts: list[Host]) -> None:
    def two_steps(host: Host, transport: Transport, listener: object) -> HostResult:
        first = transport.run(CommandSpec("echo one"))
        second = transport.run(CommandSpec("echo two"))
        return HostResult(host.name, Status.OK, 0, first.stdout + second.stdout)

    ftp_like = Host("ftp-x", {"protocol": "ftp", "address": "127.0.0.1", "port": 1})
    with Fleet([ssh_hosts[0], ftp_like]) as fleet:
        report = fleet.execute(needing({Capability.COMMANDS}, two_steps))  # type: ignore[arg-type]
    assert report.results[0].stdout == b"one\ntwo\n"
    assert report.results[1].status is Status.UNSUPPORTED


def test_calls_from_several_threads_take_turns_on_each_host(ssh_hosts: list[Host]) -> None:
    hosts = ssh_hosts[:2]
    reports: list[RunReport] = []
    with Fleet(hosts) as fleet:
        threads = [
            threading.Thread(target=lambda i=i: reports.append(fleet.run(f"echo {i}")))
            for i in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        ports = _client_ports(fleet.run("echo $SSH_CONNECTION"))
        again = _client_ports(fleet.run("echo $SSH_CONNECTION"))
    assert len(reports) == 6
    assert all(r.ok for report in reports for r in report.results)
    assert sorted(report.results[0].stdout for report in reports) == [
        f"{i}\n".encode() for i in range(6)
    ]
    assert ports == again


def test_raise_for_status_names_the_failed_hosts(ssh_hosts: list[Host]) -> None:
    with Fleet(ssh_hosts[:2]) as fleet:
        report = fleet.run("exit 3", hosts=ssh_hosts[1].name)
        with pytest.raises(HostsFailedError) as raised:
            report.raise_for_status()
        assert fleet.run("true").raise_for_status().ok
    assert raised.value.report is report
    assert f"{ssh_hosts[1].name} (failed: exit code 3)" in str(raised.value)
    assert report.failed == [report.results[0]]
    assert int(report.exit_code) == 1


def test_a_sub_pattern_must_match_the_fleet(ssh_hosts: list[Host]) -> None:
    with Fleet(ssh_hosts[:1]) as fleet, pytest.raises(PatternError):
        fleet.run("true", hosts="no-such-host")


def test_a_closed_fleet_refuses_more_work(ssh_hosts: list[Host]) -> None:
    fleet = Fleet(ssh_hosts[:1])
    assert fleet.run("true").ok
    fleet.close()
    with pytest.raises(RuntimeError, match="closed"):
        fleet.run("true")


def test_the_readme_python_example_runs_as_written(
    playground: PlaygroundState,
    ssh_hosts: list[Host],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's "Python API" example, with the playground's inventory and hosts."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello")
    text = README.read_text()
    section = text[text.index("## Python API") :]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    code = block.group(1)
    assert 'Fleet.from_inventory("inventory/", hosts="web:!web03"' in code
    others = ",".join(h.name for h in ssh_hosts[1:])
    code = code.replace('"inventory/"', repr(str(playground.inventory_path))).replace(
        '"web:!web03"', repr(f"all:!{ssh_hosts[0].name}")
    )
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    report = namespace["report"]
    assert isinstance(report, RunReport)
    assert [r.host for r in report.results] == others.split(",")
    assert report.ok


def test_a_kept_connection_the_server_dropped_while_idle_is_opened_again(
    ssh_hosts: list[Host],
) -> None:
    """The host's sshd ends our session between two calls (as ClientAliveInterval or a
    restart would): the next call connects afresh instead of failing as unreachable."""
    with Fleet(ssh_hosts[:1]) as fleet:
        before = _client_ports(fleet.run("echo $SSH_CONNECTION"))
        shown = fleet.run("ps -o pid=,comm= -p $(ps -o ppid= -p $$)").results[0].stdout.split()
        assert shown[1] == b"sshd", shown  # our session's own sshd process, nothing else
        session = shown[0].decode()
        dropped = fleet.run(f"(sleep 0.5; kill -9 {session}) >/dev/null 2>&1 </dev/null &")
        assert dropped.results[0].ok, dropped.results[0]
        time.sleep(2)
        after = fleet.run("echo $SSH_CONNECTION")
    assert after.results[0].ok, after.results[0].error
    assert _client_ports(after) != before


@pytest.mark.timeout(60)
def test_closing_a_fleet_while_a_call_runs_cancels_it_and_returns(ssh_hosts: list[Host]) -> None:
    """close() from another thread once waited for ever (the call's host lock was never let
    go) and turned the call's result into an internal error."""
    fleet = Fleet(ssh_hosts[:2])
    assert fleet.run("true").ok
    reports: list[RunReport] = []
    call = threading.Thread(target=lambda: reports.append(fleet.run("sleep 30; echo done")))
    call.start()
    time.sleep(1.5)
    started = time.monotonic()
    fleet.close()
    closed_in = time.monotonic() - started
    call.join(10)
    assert not call.is_alive()
    assert closed_in < 8, closed_in
    assert [r.status for r in reports[0].results] == [Status.CANCELLED] * 2, reports[0]
    with Fleet(fleet.hosts[:1]) as checking:  # (3[0]: the pattern does not match itself)
        check = checking.run("pgrep -f 'sleep 3[0]; echo done' || true")
    assert check.results[0].stdout == b"", check.results[0]  # the commands were killed


def test_a_host_given_twice_is_refused_not_waited_for(ssh_hosts: list[Host]) -> None:
    """The run keeps results by host name: a name given twice once left it waiting for ever."""
    with pytest.raises(ValueError, match="more than once"):
        Fleet([ssh_hosts[0], ssh_hosts[0]])


def test_running_out_of_descriptors_is_ours_and_not_remembered(ssh_hosts: list[Host]) -> None:
    """With no file descriptor left, a connection cannot even start: that is this machine's
    trouble (failed), not the host's (unreachable), and the next call tries again."""
    import subprocess
    import sys

    script = f"""
import os, resource, paramiko
from remoteops import Fleet, Host
host = Host({ssh_hosts[0].name!r}, {dict(ssh_hosts[0].vars)!r})
fleet = Fleet([host])
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")), hard))
starved = fleet.run("true").results[0]
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
again = fleet.run("echo fine").results[0]
print(starved.status.value, "|", starved.error, "|", again.status.value, again.stdout)
"""
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert shown.returncode == 0, shown.stderr
    status, error, again = (part.strip() for part in shown.stdout.split("|"))
    assert status == "failed", shown.stdout
    assert "this machine ran out" in error
    assert again == "ok b'fine\\n'", shown.stdout


def test_a_kept_ftp_pool_outlives_a_server_restart_between_calls(tmp_path: Path) -> None:
    """The server restarted (or dropped idle connections) between two calls: the pool sees
    the hang-up without a round trip and opens new connections, instead of failing once."""
    from tests.integration.conftest import ftp_inventory_host, running, serve_ftp

    server, port = serve_ftp()
    host = ftp_inventory_host("ftp-restart", port)
    (tmp_path / "one").write_text("1")
    with Fleet([host]) as fleet:
        with running(server):
            first = fleet.put(tmp_path / "one", str(tmp_path / "copy1"))
        assert first.results[0].ok, first.results[0].error
        again, _ = serve_ftp("--port", str(port))
        with running(again):
            second = fleet.put(tmp_path / "one", str(tmp_path / "copy2"))
    assert second.results[0].ok, second.results[0].error
    assert (tmp_path / "copy2").read_text() == "1"


@pytest.mark.timeout(60)
def test_a_host_timeout_shorter_than_connect_timeout_ends_the_ssh_handshake_on_time(
    silent_port: int,
) -> None:
    """--timeout covers connecting: closing a connection still in its banner wait used to
    change nothing until connect_timeout ran out."""
    host = Host("frozen1", {"address": "127.0.0.1", "port": silent_port, "connect_timeout": 8})
    started = time.monotonic()
    with Fleet([host], host_timeout=1) as fleet:
        result = fleet.run("true").results[0]
    took = time.monotonic() - started
    assert result.status is Status.TIMEOUT, result
    assert took < 4, took


@pytest.mark.timeout(60)
def test_closing_a_fleet_ends_a_connect_in_progress_at_once(silent_port: int) -> None:
    host = Host("frozen2", {"address": "127.0.0.1", "port": silent_port, "connect_timeout": 30})
    fleet = Fleet([host])
    reports: list[RunReport] = []
    call = threading.Thread(target=lambda: reports.append(fleet.run("true")))
    call.start()
    time.sleep(1)
    started = time.monotonic()
    fleet.close()
    call.join(10)
    took = time.monotonic() - started
    assert not call.is_alive()
    assert took < 3, took
    assert reports[0].results[0].status is Status.CANCELLED


def test_a_cancel_that_comes_before_the_run_begins_is_honoured(ssh_hosts: list[Host]) -> None:
    """close() landing between a call's start and its run was wiped by the run's start: the
    hosts then said unreachable and the report was not interrupted."""
    from remoteops.executor import Executor, command_work

    executor = Executor()
    executor.cancel()
    report = executor.run(ssh_hosts[:2], command_work(CommandSpec("true")))
    assert report.interrupted
    assert [r.status for r in report.results] == [Status.CANCELLED] * 2


@pytest.mark.timeout(60)
def test_a_listener_may_close_the_fleet_from_a_hosts_own_thread(ssh_hosts: list[Host]) -> None:
    """host_output runs on the thread that holds the host: close() waited 5 s for itself."""

    class CloseOnOutput:
        def __init__(self) -> None:
            self.fleet: Fleet | None = None

        def host_started(self, host: str) -> None: ...

        def host_output(self, host: str, stream: str, data: bytes) -> None:
            if self.fleet is not None:
                self.fleet.close()

        def host_finished(self, result: HostResult) -> None: ...

        def interrupted(self, running: object) -> None: ...

    listener = CloseOnOutput()
    fleet = Fleet(ssh_hosts[:1], listener=listener)  # type: ignore[arg-type]
    listener.fleet = fleet
    started = time.monotonic()
    report = fleet.run("echo out; sleep 20")
    assert time.monotonic() - started < 4
    assert report.results[0].status is Status.CANCELLED


def test_failed_handshakes_leave_no_descriptor_open(ssh_hosts: list[Host], tmp_path: Path) -> None:
    """A known_hosts that cannot be read fails before paramiko starts: its close() then does
    nothing, and the socket stayed open (kept by the remembered failure in a Fleet)."""
    unreadable = tmp_path / "known_hosts"
    unreadable.mkdir()  # a folder: reading it fails
    hosts = [
        Host(f"kh{i}", {**ssh_hosts[0].vars, "known_hosts_file": str(unreadable)})
        for i in range(20)
    ]
    before = len(os.listdir("/proc/self/fd"))
    with Fleet(hosts) as fleet:
        report = fleet.run("true")
        during = len(os.listdir("/proc/self/fd"))
    assert {r.status for r in report.results} == {Status.HOSTKEY}
    assert during - before < 5, (before, during)


class StartedListener(NullListener):
    """Sets ``started`` once a host of the call has begun (it may then wait for its turn)."""

    def __init__(self) -> None:
        self.started = threading.Event()

    def host_started(self, host: str) -> None:
        self.started.set()


def _wait_for(path: Path, within_s: float = 20) -> None:
    deadline = time.monotonic() + within_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


@pytest.mark.timeout(90)
def test_cancel_ends_the_running_call_and_keeps_the_fleet_open(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    """Fleet.cancel() (an interactive shell's Ctrl-C): nothing to do when no call runs, even
    twice; a running call ends ``cancelled`` at once and the next call works on the same
    fleet; a cancel racing close() leaves a closed fleet that refuses more work."""
    fleet = Fleet(ssh_hosts[:2])
    fleet.cancel()
    fleet.cancel()
    assert fleet.run("true").ok
    reports: list[RunReport] = []
    call = threading.Thread(
        target=lambda: reports.append(fleet.run(f"touch {tmp_path}/$(hostname); sleep 30"))
    )
    call.start()
    for host in ssh_hosts[:2]:
        _wait_for(tmp_path / host.name)
    fleet.cancel()
    call.join(10)
    assert not call.is_alive()
    assert [r.status for r in reports[0].results] == [Status.CANCELLED] * 2
    assert reports[0].interrupted
    assert [r.stdout for r in fleet.run("echo again").results] == [b"again\n"] * 2

    racing = [threading.Thread(target=f) for f in (fleet.cancel, fleet.close, fleet.cancel)]
    for thread in racing:
        thread.start()
    for thread in racing:
        thread.join(10)
    fleet.cancel()
    with pytest.raises(RuntimeError, match="closed"):
        fleet.run("true")


@pytest.mark.timeout(90)
def test_cancel_also_ends_a_call_waiting_for_its_turn_on_a_host(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    """A second call waiting for the host the first one held was cancelled too, yet once the
    first let go it ran its command to the end (a cancelled `rm` still removed) and only then
    said ``cancelled``. Now it ends at once without starting anything on the host."""
    first_ran, second_ran = tmp_path / "first", tmp_path / "second"
    with Fleet(ssh_hosts[:1]) as fleet:
        assert fleet.run("true").ok  # connected: the second call waits on the host, not on it
        reports: dict[str, RunReport] = {}
        first = threading.Thread(
            target=lambda: reports.update(first=fleet.run(f"touch {first_ran}; sleep 30"))
        )
        first.start()
        _wait_for(first_ran)
        waiting = StartedListener()
        second = threading.Thread(
            target=lambda: reports.update(
                second=fleet.run(f"touch {second_ran}; sleep 30", listener=waiting)
            )
        )
        second.start()
        assert waiting.started.wait(10)
        fleet.cancel()
        first.join(10)
        second.join(10)
        assert not first.is_alive()
        assert not second.is_alive(), "the cancelled second call ran its command on"
        assert reports["first"].results[0].status is Status.CANCELLED
        assert reports["second"].results[0].status is Status.CANCELLED
        assert not second_ran.exists(), "the cancelled call's command ran"
        assert fleet.run("echo after").results[0].stdout == b"after\n"


def test_a_kept_connection_to_a_host_gone_silent_is_unreachable_at_connect_timeout(
    ssh_hosts: list[Host], playground_manager: Playground, requires_root: None
) -> None:
    """Packets to a host dropped between two calls (powered off, cable pulled): the next call
    on its kept connection is as unreachable as a new connect would be, after the host's
    connect_timeout, not a 'timeout' after the 60 s a command may take to start."""
    from tests.integration.conftest import with_vars

    # the last host: its dropped connection stays established on the server side for a while,
    # and another test counts the first host's connections
    target = with_vars(ssh_hosts[-1], connect_timeout=2)
    with Fleet([target]) as fleet:
        assert fleet.run("true").results[0].ok
        playground_manager.blackhole(target.name)
        try:
            started = time.monotonic()
            result = fleet.run("true").results[0]
            elapsed = time.monotonic() - started
        finally:
            playground_manager.unblackhole(target.name)
    assert result.status is Status.UNREACHABLE, result
    assert "stopped answering" in (result.error or "")
    assert elapsed < 2 + 2.0
