"""The command contract every exec transport keeps, checked against each real one alike:
local (a subprocess), SSH (the playground's sshd), Telnet (BusyBox telnetd, a real
``/bin/sh`` behind a terminal) and podman (a real container, through ``podman exec``; with
``--containers``).

They all run through one :func:`~remoteops.transports.base.drive`, so timeouts, input,
environment and the capture limit behave the same. Where a transport genuinely differs the
test says so with the reason (``STDERR_MERGED``, ``KILLED_EXIT``), rather than skipping it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remoteops.executor import Executor, run_command
from remoteops.inventory.model import Host
from remoteops.results import HostResult, Status
from remoteops.sync.fetch import fetch_work
from remoteops.transports import CommandSpec, TransportFactory
from remoteops.transports.stdin_sources import FileStdin
from tests.integration.conftest import running
from tests.integration.test_telnet import HERE, _host, _telnetd

PROTOCOLS = ["local", "ssh", "telnet", pytest.param("podman", marks=pytest.mark.containers)]

#: A terminal has one output stream: what a command writes to stderr arrives in stdout.
STDERR_MERGED = {"telnet"}
#: A command killed by a signal: a shell (local, and Telnet's login shell, which runs it)
#: says 128 + the signal, and so does ``podman exec``; SSH has no exit status then, only the
#: signal, and says 255 as OpenSSH's client does.
KILLED_EXIT = {"local": 128 + 9, "ssh": 255, "telnet": 128 + 9, "podman": 128 + 9}


@pytest.fixture(scope="module")
def telnet_host() -> Iterator[Host]:
    if shutil.which("busybox") is None or shutil.which("telnet") is None:
        pytest.skip("needs busybox (telnetd) and a telnet client: scripts/test installs them")
    daemon, port = _telnetd(HERE / "telnet_login.py")
    with running(daemon):
        yield _host("shell1", port, "tester")


@pytest.fixture(params=PROTOCOLS)
def host(request: pytest.FixtureRequest) -> Host:
    if request.param == "local":
        return Host("localhost", {"protocol": "local"})
    if request.param == "ssh":
        hosts: list[Host] = request.getfixturevalue("ssh_hosts")
        return hosts[0]
    if request.param == "podman":
        container: Host = request.getfixturevalue("container_host")
        return container
    telnet: Host = request.getfixturevalue("telnet_host")
    return telnet


def _run(host: Host, command: str, **spec: object) -> HostResult:
    return run_command([host], CommandSpec(command, **spec)).results[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("command", "expected"),
    [("true", 0), ("exit 1", 1), ("exit 42", 42), ("kill -KILL $$", "killed")],
)
def test_exit_codes_come_back_as_the_command_left(
    host: Host, command: str, expected: int | str
) -> None:
    code = KILLED_EXIT[host.protocol] if expected == "killed" else expected
    result = _run(host, command)
    assert (result.exit_code, result.status) == (code, Status.OK if code == 0 else Status.FAILED)


def test_output_reaches_the_listener_as_it_comes_not_at_the_end(host: Host) -> None:
    """Telnet handed its output over once the command had ended: live text mode showed
    nothing until then."""
    arrivals: list[tuple[float, bytes]] = []

    class Recorder:
        def host_started(self, host: str) -> None: ...

        def host_output(self, host: str, stream: str, data: bytes) -> None:
            arrivals.append((time.monotonic(), data))

        def host_finished(self, result: object) -> None: ...

        def interrupted(self, running: object) -> None: ...

    spec = CommandSpec("echo first; sleep 2; echo second", timeout=30)
    result = run_command([host], spec, listener=Recorder()).results[0]
    assert (result.status, result.stdout) == (Status.OK, b"first\nsecond\n"), result
    first = next(at for at, data in arrivals if b"first" in data)
    second = next(at for at, data in arrivals if b"second" in data)
    assert second - first > 1.0, arrivals  # "first" came two seconds before the end


def test_a_timeout_keeps_the_partial_output_and_says_timeout(host: Host) -> None:
    result = _run(host, "echo first; printf 'no line end'; sleep 30", timeout=3)
    assert (result.status, result.error) == (Status.TIMEOUT, "command timed out after 3 s")
    assert result.stdout == b"first\nno line end", result


def test_stdin_bytes_reach_the_command_exactly(host: Host) -> None:
    """Every byte value, line ends and NULs included (a terminal would take many of them
    for keys: Telnet types them encoded)."""
    data = bytes(range(256)) * 4 + b"\nlast line without end"
    result = _run(host, "od -An -tx1 -v | tr -d ' \\n'", stdin=data, timeout=60)
    assert (result.status, result.stdout.decode()) == (Status.OK, data.hex()), result


def test_a_streamed_stdin_source_reaches_the_command_whole(host: Host, tmp_path: Path) -> None:
    source = tmp_path / "input"
    source.write_bytes(os.urandom(300 * 1024))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    result = _run(host, "sha256sum | cut -c1-64", stdin=FileStdin(source), timeout=120)
    assert (result.status, result.stdout) == (Status.OK, digest.encode() + b"\n"), result


def test_input_a_command_never_reads_is_dropped_not_run(host: Host, tmp_path: Path) -> None:
    """The next command in the same session sees none of it; on Telnet, where the input is
    typed into the session's terminal, none of it reaches the login shell as a command."""
    planted = tmp_path / "planted"
    transport = TransportFactory().create(host)
    transport.connect()
    try:
        unread = transport.run(
            CommandSpec("echo done", stdin=f" ;touch {planted};\n".encode() * 8000, timeout=60)
        )
        after = transport.run(CommandSpec("cat; echo next", timeout=30))
    finally:
        transport.close()
    assert (unread.exit_code, unread.stdout) == (0, b"done\n")
    assert (after.exit_code, after.stdout) == (0, b"next\n")
    assert not planted.exists()


def test_env_values_reach_the_command_whatever_they_hold(host: Host) -> None:
    value = "two words, 'single' \"double\" $HOME `date` \\ back\nsecond line\n"
    result = _run(host, 'printf "%s|" "$GREETING" "$OTHER"', env={"GREETING": value, "OTHER": ""})
    assert (result.status, result.stdout) == (Status.OK, value.encode() + b"||"), result


def test_the_capture_limit_keeps_the_head_and_counts_the_rest(host: Host) -> None:
    everything = "".join(f"{n}\n" for n in range(1, 50001)).encode()
    result = _run(host, "seq 1 50000", capture_limit=1000, timeout=60)
    assert result.status is Status.OK, result
    assert result.stdout == everything[:1000]
    assert result.stdout_bytes == len(everything)


def test_bytes_that_are_not_utf8_are_kept(host: Host) -> None:
    result = _run(host, "printf 'caf\\351 \\377\\376 end\\n'")
    assert (result.status, result.stdout) == (Status.OK, b"caf\xe9 \xff\xfe end\n"), result


def test_stderr_is_its_own_stream_where_the_transport_has_one(host: Host) -> None:
    result = _run(host, "echo out; sleep 0.2; echo err >&2")
    if host.protocol in STDERR_MERGED:
        assert (result.stdout, result.stderr) == (b"out\nerr\n", b""), result
    else:
        assert (result.stdout, result.stderr) == (b"out\n", b"err\n"), result


def test_a_file_operation_is_unsupported_where_the_transport_has_no_files(
    host: Host, tmp_path: Path
) -> None:
    (tmp_path / "remote.txt").write_text("data\n")
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    result = Executor().run([host], fetch_work(str(tmp_path / "remote.txt"), fetched)).results[0]
    if "files" in _capabilities(host):
        assert result.status is Status.OK, result
        assert (fetched / host.name / "remote.txt").read_text() == "data\n"
    else:
        assert result.status is Status.UNSUPPORTED, result
        assert "TELNET hosts cannot transfer files" in (result.error or "")
        assert list(fetched.iterdir()) == []


def _capabilities(host: Host) -> frozenset[str]:
    return TransportFactory().create(host).capabilities


#: The session id of the command's shell: the pid of the login shell that leads the session.
_SESSION = "awk '{print $6}' /proc/$$/stat"


def test_a_fleet_keeps_one_telnet_session_across_calls(telnet_host: Host) -> None:
    """One login per host for the fleet's life: every command runs in the same login
    session; a one-off fleet logs in each time."""
    from remoteops import Fleet

    with Fleet([telnet_host]) as fleet:
        kept = [fleet.run(_SESSION).results[0] for _ in range(3)]
    assert all(r.ok for r in kept), kept
    assert len({r.stdout for r in kept}) == 1
    one_off = Fleet([telnet_host], keep_open=False)
    fresh = [one_off.run(_SESSION).results[0].stdout for _ in range(2)]
    one_off.close()
    assert len(set(fresh)) == 2
