"""Telnet hosts against a real telnet daemon (BusyBox telnetd) and the system telnet client.

Two kinds of host: a shell host (a login program, then a real /bin/sh) and a device-like
CLI (tests/integration/telnet_device.py: Username/Password, ``>``/``#`` prompts, enable,
``--More--`` paging, ``% Invalid input``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from remoteops import Fleet
from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.results import Status
from remoteops.transports import CommandSpec, TransportFactory
from remoteops.transports.telnet import TelnetTransport
from tests.integration.conftest import running, with_vars

HERE = Path(__file__).parent
PASSWORD_ENV = "REMOTEOPS_TEST_TELNET_PASSWORD"
ENABLE_ENV = "REMOTEOPS_TEST_TELNET_ENABLE"

pytestmark = pytest.mark.skipif(
    shutil.which("busybox") is None or shutil.which("telnet") is None,
    reason="needs busybox (telnetd) and a telnet client: scripts/test installs them",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _telnetd(login_program: Path, **extra: str) -> tuple[subprocess.Popen[bytes], int]:
    """``busybox telnetd -F`` on a free loopback port, running ``login_program`` per session."""
    _make_passwords()
    port = _free_port()
    environment = {
        **os.environ,
        "TELNET_TEST_PASSWORD": os.environ[PASSWORD_ENV],
        "TELNET_TEST_ENABLE": os.environ[ENABLE_ENV],
        **extra,
    }
    launcher = Path(os.environ.get("TMPDIR", "/tmp")) / f"remoteops-telnet-{port}.sh"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} {login_program} "$@"\n')
    launcher.chmod(0o755)
    daemon = subprocess.Popen(
        ["busybox", "telnetd", "-F", "-b", f"127.0.0.1:{port}", "-l", str(launcher)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
    except RuntimeError:
        daemon.kill()
        raise
    return daemon, port


def _make_passwords() -> None:
    os.environ.setdefault(PASSWORD_ENV, secrets.token_hex(8))
    os.environ.setdefault(ENABLE_ENV, secrets.token_hex(8))


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("telnetd did not start")


def _host(name: str, port: int, user: str, **extra: object) -> Host:
    return Host(
        name,
        {"protocol": "telnet", "address": "127.0.0.1", "port": port, "user": user,
         "password_env": PASSWORD_ENV, "telnet_plaintext_ok": True, **extra},
    )  # fmt: skip


@pytest.fixture(scope="module")
def shell_host() -> Iterator[Host]:
    daemon, port = _telnetd(HERE / "telnet_login.py")
    with running(daemon):
        yield _host("shell1", port, "tester")


@pytest.fixture(scope="module")
def quirky_shell_host() -> Iterator[Host]:
    """A shell whose banner says "access denied" before the login, and whose message of
    the day ends in % and then pauses: neither may pass for an answer or a prompt."""
    daemon, port = _telnetd(
        HERE / "telnet_login.py",
        TELNET_TEST_BANNER="Access denied to unauthorized users!\r\n",
        TELNET_TEST_MOTD="Swap usage:   0%",
        TELNET_TEST_PAUSE="0.5",
    )
    with running(daemon):
        yield _host("quirky1", port, "tester")


@pytest.fixture(scope="module")
def linux_login_host() -> Iterator[Host]:
    """The real thing, as root: /bin/login (PAM) for a system user made for the test, and
    that user's bash as a login shell (readline, history, ! expansion, a PS1 of its own)."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root to make a login user")
    user = "rotelnet"
    _make_passwords()
    subprocess.run(["userdel", "-r", user], capture_output=True, check=False)
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", user], check=True)
    subprocess.run(["chpasswd"], input=f"{user}:{os.environ[PASSWORD_ENV]}".encode(), check=True)
    port = _free_port()
    daemon = subprocess.Popen(
        ["busybox", "telnetd", "-F", "-b", f"127.0.0.1:{port}", "-l", "/bin/login"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with running(daemon):
            _wait_for_port(port)
            yield _host("linux1", port, user)
    finally:
        subprocess.run(["userdel", "-r", user], capture_output=True, check=False)


@pytest.fixture(scope="module")
def device_host() -> Iterator[Host]:
    daemon, port = _telnetd(HERE / "telnet_device.py")
    with running(daemon):
        yield _host("switch1", port, "admin")


@pytest.fixture(scope="module")
def paging_device_host() -> Iterator[Host]:
    """A device whose ``--More--`` stays whatever ``terminal length 0`` says: remoteops
    answers every page."""
    daemon, port = _telnetd(
        HERE / "telnet_device.py", TELNET_TEST_PAGER_STAYS="1", TELNET_TEST_PAGE="2000"
    )
    with running(daemon):
        yield _host("switch1", port, "admin")


def _run(host: Host, command: str, **spec: object) -> tuple[Status, int | None, str, str]:
    report = run_command([host], CommandSpec(command, **spec))  # type: ignore[arg-type]
    result = report.results[0]
    return result.status, result.exit_code, result.stdout.decode(), result.error or ""


def test_a_shell_host_runs_commands_with_their_output_and_exit_codes(shell_host: Host) -> None:
    status, code, out, _ = _run(shell_host, "echo hello; echo there")
    assert (status, code, out) == (Status.OK, 0, "hello\nthere\n")
    status, code, out, _ = _run(
        shell_host, "echo partial >&2; exit_with() { return $1; }; exit_with 3"
    )
    assert (status, code) == (Status.FAILED, 3)
    assert "partial" in out  # a terminal has one stream: stderr arrives as output
    status, code, out, _ = _run(shell_host, "cd /tmp && pwd # a comment cannot eat the marker")
    assert (status, code, out) == (Status.OK, 0, "/tmp\n")


def test_commands_in_one_session_are_as_separate_as_over_ssh(shell_host: Host) -> None:
    """Each command runs in a subshell of the one session: a cd, an export or an exit of
    one does not reach the next, as each SSH command gets a shell of its own."""
    transport = TransportFactory().create(shell_host)
    transport.connect()
    try:
        first = transport.run(CommandSpec("cd /tmp; printf 'no newline'"))
        second = transport.run(CommandSpec('pwd; echo "$GREETING"', env={"GREETING": "hi"}))
        third = transport.run(CommandSpec('echo "[$GREETING]"; exit 4'))
        fourth = transport.run(CommandSpec("echo still here"))
    finally:
        transport.close()
    assert (first.exit_code, first.stdout) == (0, b"no newline")
    assert second.exit_code == 0
    assert second.stdout.splitlines()[1] == b"hi"
    assert second.stdout.splitlines()[0] != b"/tmp"
    assert (third.exit_code, third.stdout) == (4, b"[]\n")
    assert (fourth.exit_code, fourth.stdout) == (0, b"still here\n")


def test_shell_output_is_the_commands_own_whatever_it_holds(shell_host: Host) -> None:
    """Text like a pager or our prompt, input read from stdin, syntax errors, history
    expansion characters and long output all come back as they would over SSH."""
    transport = TransportFactory().create(shell_host)
    transport.connect()
    try:
        assert isinstance(transport, TelnetTransport)
        prompt = transport.prompt.decode()
        outcomes = [
            transport.run(CommandSpec(command))
            for command in (
                "echo 'see --more-- below'; echo 'Press any key to continue'",
                f"printf '%s\\n' '{prompt}'; sleep 0.3; echo after",
                "cat",  # reads nothing: stdin is empty, as over SSH
                "echo a)",
                'echo "wow!x"',
                "seq 1 100000",
                "printf '\\n\\nx'",
            )
        ]
    finally:
        transport.close()
    pager, own_prompt, cat, syntax, bang, long, blank = outcomes
    assert pager.stdout == b"see --more-- below\nPress any key to continue\n"
    assert own_prompt.stdout == f"{prompt}\nafter\n".encode()
    assert (cat.exit_code, cat.stdout) == (0, b"")
    assert syntax.exit_code == 2
    assert bang.stdout == b"wow!x\n"
    assert long.stdout.splitlines() == [str(n).encode() for n in range(1, 100001)]
    assert blank.stdout == b"\n\nx"


def test_linux_login_and_a_bash_login_shell_work_without_any_setting(
    linux_login_host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = TransportFactory().create(linux_login_host)
    transport.connect()
    try:
        outcomes = [
            transport.run(CommandSpec(command, env=env))
            for command, env in (
                ("echo hi; exit 3", {}),
                ('echo "wow!x"; id -un', {}),
                ('echo "$TOKEN"', {"TOKEN": "not-for-history"}),
                ("printf '\\n\\nx'", {}),
            )
        ]
    finally:
        transport.close()  # bash writes its history when hung up, if it keeps one
    exits, outputs = [o.exit_code for o in outcomes], [o.stdout for o in outcomes]
    assert exits == [3, 0, 0, 0]
    assert outputs == [b"hi\n", b"wow!x\nrotelnet\n", b"not-for-history\n", b"\n\nx"]
    time.sleep(0.5)
    history = Path("/home/rotelnet/.bash_history")
    assert not history.exists() or b"not-for-history" not in history.read_bytes()
    monkeypatch.setenv("REMOTEOPS_TEST_WRONG", "not-the-password")
    wrong = with_vars(linux_login_host, password_env="REMOTEOPS_TEST_WRONG")
    status, _, _, error = _run(wrong, "true")
    assert status is Status.AUTH, error


def test_a_line_longer_than_a_terminal_keeps_is_refused_not_cut(shell_host: Host) -> None:
    status, _, _, error = _run(shell_host, "echo " + "a" * 4200 + " | wc -c")
    assert status is Status.UNSUPPORTED
    assert "at most ~4 KB of one line" in error


def test_banners_that_look_like_answers_or_prompts_are_not_taken_for_them(
    quirky_shell_host: Host,
) -> None:
    status, code, out, error = _run(quirky_shell_host, "echo fine; exit 3")
    assert (status, code, out) == (Status.FAILED, 3, "fine\n"), error


def test_an_account_without_a_password_logs_straight_in(shell_host: Host) -> None:
    status, code, out, error = _run(with_vars(shell_host, user="guest"), "echo in")
    assert (status, code, out) == (Status.OK, 0, "in\n"), error


def test_a_device_runs_commands_without_echo_prompt_or_pager(device_host: Host) -> None:
    status, code, out, error = _run(device_host, "show version")
    assert (status, code, error) == (Status.OK, None, "")
    lines = out.splitlines()
    assert lines == [f"Line {n:02d} of the version report" for n in range(1, 31)]


def test_a_device_pager_is_answered_when_paging_cannot_be_switched_off(
    device_host: Host,
) -> None:
    paging = with_vars(device_host, telnet_paging_command="")
    status, _, out, _ = _run(paging, "show version")
    assert status is Status.OK
    assert out.splitlines() == [f"Line {n:02d} of the version report" for n in range(1, 31)]
    assert "More" not in out
    assert "\b" not in out


def test_a_device_error_fails_the_host_and_says_why(device_host: Host) -> None:
    status, code, out, error = _run(device_host, "show bogus")
    assert (status, code) == (Status.FAILED, None)
    assert "% Invalid input detected" in error
    assert "% Invalid input detected" in out


def test_enable_mode_is_entered_with_its_own_password(device_host: Host) -> None:
    status, _, out, error = _run(device_host, "show running-config")
    assert status is Status.FAILED, "needs enable"
    enabled = with_vars(device_host, enable_password_env=ENABLE_ENV)
    status, _, out, error = _run(enabled, "show running-config")
    assert (status, error) == (Status.OK, "")
    assert out.splitlines()[0] == "hostname switch1"
    wrong = with_vars(device_host, enable_password_env=PASSWORD_ENV)
    status, _, _, error = _run(wrong, "show clock")
    assert status is Status.AUTH
    assert "enable" in error


def test_a_device_runs_each_line_of_a_snippet_through_its_modes(device_host: Host) -> None:
    enabled = with_vars(device_host, enable_password_env=ENABLE_ENV)
    snippet = "configure terminal\ninterface Gi0/1\n description uplink\nend\nshow clock"
    status, code, out, error = _run(enabled, snippet)
    assert (status, code, error) == (Status.OK, None, "")
    assert out == "12:00:00.000 UTC Fri Nov 27 2026\n"
    status, _, out, error = _run(device_host, "show clock\nshow bogus\nshow users")
    assert status is Status.FAILED
    assert "the device refused 'show bogus'" in error
    assert "12:00:00" in out
    assert "admin vty" not in out  # what follows a refused line is not sent


@pytest.mark.parametrize("fixture", ["shell_host", "device_host"])
def test_a_wrong_password_is_an_auth_failure(
    fixture: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    host: Host = request.getfixturevalue(fixture)
    monkeypatch.setenv("REMOTEOPS_TEST_WRONG", "not-the-password")
    status, _, _, error = _run(with_vars(host, password_env="REMOTEOPS_TEST_WRONG"), "true")
    assert status is Status.AUTH, error
    assert "not-the-password" not in error


def test_a_wrong_prompt_setting_is_a_connect_timeout_naming_what_was_expected(
    device_host: Host,
) -> None:
    wrong = with_vars(device_host, telnet_login_prompt="Login please:", connect_timeout=2)
    status, _, _, error = _run(wrong, "show clock")
    assert status is Status.UNREACHABLE
    assert "connect timed out after 2 s" in error
    assert "waiting for a login or password prompt" in error
    assert "Username:" in error  # the last bytes seen


def test_a_device_that_goes_quiet_hits_the_idle_timeout(device_host: Host) -> None:
    slow = with_vars(device_host, telnet_idle_timeout=1)
    started = time.monotonic()
    status, _, _, error = _run(slow, "show tech-support")
    assert status is Status.TIMEOUT
    assert "no output for 1 s" in error
    assert "Collecting..." in error  # the last bytes seen
    assert time.monotonic() - started < 15


def test_the_overall_timeout_fires_while_output_keeps_coming(shell_host: Host) -> None:
    """The command's timeout is the one every transport has (said the same way), and the
    output so far is kept, as over SSH."""
    status, _, out, error = _run(shell_host, "while :; do echo tick; sleep 0.2; done", timeout=3)
    assert (status, error) == (Status.TIMEOUT, "command timed out after 3 s")
    assert out.startswith("tick\ntick\n"), out


def test_a_missing_telnet_client_names_the_package(
    device_host: Host, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither telnet nor busybox on it
    status, _, _, error = _run(device_host, "show clock")
    assert status is Status.UNSUPPORTED
    assert "apt install telnet" in error


def test_a_closed_port_is_unreachable() -> None:
    status, _, _, error = _run(_host("nowhere", _free_port(), "tester"), "true")
    assert status is Status.UNREACHABLE, error
    assert error == "telnet: Unable to connect to remote host: Connection refused"


def test_a_banner_that_speaks_of_refused_connections_is_only_a_banner() -> None:
    """The client's own complaint ends a host; the same words in the host's banner do not."""
    daemon, port = _telnetd(
        HERE / "telnet_login.py",
        TELNET_TEST_BANNER="Unable to connect to the license server: connection refused\r\n",
    )
    with running(daemon):
        status, _, stdout, error = _run(_host("banner1", port, "tester"), "echo in")
    assert status is Status.OK, error
    assert stdout == "in\n"


def test_passwords_never_reach_argv_or_output(shell_host: Host) -> None:
    transport = TelnetTransport(shell_host)
    transport.connect()
    try:
        child = transport._child  # the client process and its command line
        argv = Path(f"/proc/{child.pid}/cmdline").read_bytes()  # type: ignore[attr-defined]
        outcome = transport.run(CommandSpec("echo done"))
    finally:
        transport.close()
    password = os.environ[PASSWORD_ENV].encode()
    assert password not in argv
    assert password not in outcome.stdout


def test_telnet_shell_and_device_hosts_run_in_parallel_with_ssh_hosts_from_the_cli(
    shell_host: Host, device_host: Host, ssh_hosts: list[Host], tmp_path: Path
) -> None:
    hosts = {h.name: dict(h.vars) for h in (shell_host, device_host, ssh_hosts[0])}
    hosts[shell_host.name].pop("telnet_plaintext_ok")
    inventory = tmp_path / "mixed.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    run = subprocess.run(
        [sys.executable, "-m", "remoteops", "run", "-i", str(inventory), "-H", "all",
         "-o", "json", "show clock"],
        capture_output=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
    )  # fmt: skip
    results = {r["host"]: r for r in map(json.loads, run.stdout.decode().splitlines())}
    assert results[device_host.name]["status"] == "ok"
    assert results[device_host.name]["exit_code"] is None
    assert results[shell_host.name]["exit_code"] == 127  # no such command on a shell
    assert results[ssh_hosts[0].name]["exit_code"] == 127
    assert run.returncode == 1  # some host failed
    warnings = [ln for ln in run.stderr.decode().splitlines() if "plaintext" in ln]
    assert len(warnings) == 1
    assert shell_host.name in warnings[0]
    assert device_host.name not in warnings[0]


def test_env_values_reach_a_shell_host_without_entering_any_command_line(
    shell_host: Host,
) -> None:
    """Exported by the login shell in a subshell around ``sh -c``: before, the exports were
    inside the ``sh -c`` argument, which every user of the host could read."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.integration.process_table import command_lines_showing

    token = "tok-" + secrets.token_hex(12)
    spec = CommandSpec('sleep 2; printf "%s" "$TOKEN"', env={"TOKEN": token}, timeout=30)
    shown: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        running_run = pool.submit(run_command, [shell_host], spec)
        while not running_run.done():
            shown += command_lines_showing(token.encode())
            time.sleep(0.05)
    result = running_run.result().results[0]
    assert shown == []
    assert (result.status, result.stdout) == (Status.OK, token.encode())


def test_endless_output_is_streamed_in_pieces_and_only_the_capture_limit_kept(
    shell_host: Host,
) -> None:
    """pexpect holds everything it read until a pattern matches: an endless command filled
    memory until its timeout. Now the output leaves in pieces as it comes."""
    pieces: list[int] = []

    class Counter:
        def host_started(self, host: str) -> None: ...

        def host_output(self, host: str, stream: str, data: bytes) -> None:
            pieces.append(len(data))

        def host_finished(self, result: object) -> None: ...

        def interrupted(self, running: object) -> None: ...

    limit = 256 * 1024
    report = run_command(
        [shell_host], CommandSpec("yes", timeout=4, capture_limit=limit), listener=Counter()
    )
    result = report.results[0]
    assert result.status is Status.TIMEOUT
    assert len(pieces) >= 4  # streamed, not handed over once at the end
    assert max(pieces) <= 256 * 1024  # what one read brings, never the whole output
    assert len(result.stdout) == limit
    assert result.stdout_bytes == sum(pieces)
    assert set(result.stdout.split(b"\n")[:-1]) == {b"y"}


@pytest.mark.parametrize(
    ("device", "command"),
    [
        ("device_host", "show logging"),
        ("paging_device_host", "show logging"),
        ("device_host", "show core-dump"),
    ],
    ids=["lines-for-ever", "pages-for-ever", "a-line-that-never-ends"],
)
def test_a_device_flood_streams_keeps_only_the_capture_limit_and_ends_at_its_timeout(
    device: str, command: str, request: pytest.FixtureRequest
) -> None:
    """A device command's output was all held until its prompt came back (the capture
    limit applied only to what went on), and a line without an end went nowhere at all:
    a device that prints or pages for ever took the controller's memory. Now it streams
    as it comes, its result keeps the cap and counts the rest, and memory stays flat."""
    host: Host = request.getfixturevalue(device)
    limit = 256 * 1024
    arrivals: list[tuple[float, int]] = []

    class Recorder:
        def host_started(self, host: str) -> None: ...

        def host_output(self, host: str, stream: str, data: bytes) -> None:
            arrivals.append((time.monotonic(), len(data)))

        def host_finished(self, result: object) -> None: ...

        def interrupted(self, running: object) -> None: ...

    with Fleet([host]) as fleet:
        assert fleet.run("show clock").results[0].ok  # logged in before the clock starts
        tracemalloc.start()
        try:
            spec = CommandSpec(command, timeout=5, capture_limit=limit)
            result = fleet.run(spec, listener=Recorder()).results[0]
            ended = time.monotonic()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert (result.status, result.error) == (Status.TIMEOUT, "command timed out after 5 s")
    assert 5 <= result.duration_s < 5 + 1.5, result.duration_s
    as_json = result.to_json()
    assert (as_json["truncated"], len(result.stdout)) == (True, limit)
    assert as_json["stdout_bytes"] == sum(size for _, size in arrivals) > 4 * limit
    first_line = result.stdout.partition(b"\n")[0]
    assert first_line.startswith(
        b"00000000 %SYS-5" if "logging" in command else b"0123456789abcdef"
    )
    live = [at for at, _ in arrivals if at < ended - 2]  # while 2 s of the timeout were left
    assert len(live) >= 3, arrivals[:5]
    # what stays in memory is a line and the cap, not what the device sent
    assert peak < min(3 * 1024 * 1024, as_json["stdout_bytes"]), (peak, as_json["stdout_bytes"])


def test_colour_codes_are_cleaned_wherever_the_output_is_cut_into_pieces(
    shell_host: Host,
) -> None:
    """Streamed pieces were cleaned one by one: an escape sequence cut between two of them
    stayed in the output."""
    script = (
        'i=0; while [ $i -lt 3000 ]; do printf "\\033[31mred%05d\\033[0m\\n" $i; i=$((i+1)); done'
    )
    status, code, out, _ = _run(shell_host, script, timeout=60)
    assert (status, code) == (Status.OK, 0)
    assert out == "".join(f"red{i:05d}\n" for i in range(3000))
