"""`run` over SSH against real OpenSSH sshd hosts from the playground."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remoteops.executor import Executor, NullListener, command_work, run_command
from remoteops.fleet import Fleet
from remoteops.inventory.model import Host
from remoteops.playground import Playground, PlaygroundState
from remoteops.results import HostResult, Status
from remoteops.transports import CommandSpec, TransportFactory
from tests.integration.conftest import Agent, assert_no_process_left, with_vars
from tests.integration.stalling_relay import StallingRelay


class Recorder:
    """A listener that keeps every event, to check what renderers would be told."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.output: dict[str, bytearray] = {}
        self.finished: list[HostResult] = []

    def host_started(self, host: str) -> None:
        self.started.append(host)

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        self.output.setdefault(f"{host}:{stream}", bytearray()).extend(data)

    def host_finished(self, result: HostResult) -> None:
        self.finished.append(result)

    def interrupted(self, running: object) -> None:
        return None


def test_every_host_runs_in_parallel_with_its_own_output(
    ssh_hosts: list[Host], playground: PlaygroundState
) -> None:
    recorder = Recorder()
    report = run_command(
        ssh_hosts, CommandSpec("sleep 1; hostname; echo to-stderr >&2"), listener=recorder
    )
    assert [r.status for r in report.results] == [Status.OK] * len(ssh_hosts)
    assert report.duration_s < 1 + 0.9 * len(ssh_hosts)  # not one after the other
    for host, result in zip(ssh_hosts, report.results, strict=True):
        assert result.exit_code == 0
        assert result.stderr == b"to-stderr\n"
        if playground.mode == "netns":
            assert result.stdout == f"{host.name}\n".encode()
        assert bytes(recorder.output[f"{host.name}:stdout"]) == result.stdout
    assert sorted(recorder.started) == sorted(h.name for h in ssh_hosts)
    assert report.exit_code == 0


def test_non_zero_exit_is_failed_with_its_code(ssh_hosts: list[Host]) -> None:
    report = run_command(ssh_hosts[:2], CommandSpec("echo partial; exit 7"))
    assert {(r.status, r.exit_code, r.stdout) for r in report.results} == {
        (Status.FAILED, 7, b"partial\n")
    }
    assert report.exit_code == 1


def test_closed_port_is_unreachable_and_does_not_hide_others(ssh_hosts: list[Host]) -> None:
    closed = with_vars(ssh_hosts[0], port=1)
    report = run_command([closed, ssh_hosts[1]], CommandSpec("true"))
    assert report.results[0].status is Status.UNREACHABLE
    assert "refused" in (report.results[0].error or "").lower()
    assert report.results[1].status is Status.OK
    assert report.exit_code == 3


@pytest.mark.usefixtures("requires_root")
def test_blackholed_host_is_unreachable_at_connect_timeout(
    ssh_hosts: list[Host], playground_manager: Playground
) -> None:
    target = ssh_hosts[0]
    playground_manager.blackhole(target.name)
    try:
        started = time.monotonic()
        report = run_command(
            [with_vars(target, connect_timeout=1.5), ssh_hosts[1]], CommandSpec("true")
        )
        elapsed = time.monotonic() - started
    finally:
        playground_manager.unblackhole(target.name)
    assert report.results[0].status is Status.UNREACHABLE
    assert "connect timed out after 1.5 s" in (report.results[0].error or "")
    assert report.results[1].status is Status.OK
    assert 1.4 < elapsed < 6


def test_host_that_accepts_but_never_answers_is_unreachable_at_connect_timeout(
    ssh_hosts: list[Host], playground_manager: Playground
) -> None:
    target = ssh_hosts[0]
    playground_manager.pause(target.name)
    try:
        report = run_command(
            [with_vars(target, connect_timeout=1), ssh_hosts[1]], CommandSpec("true")
        )
    finally:
        playground_manager.resume(target.name)
    assert report.results[0].status is Status.UNREACHABLE
    assert "connect timed out after 1 s" in (report.results[0].error or "")
    assert report.results[1].status is Status.OK


@contextlib.contextmanager
def stalling(host: Host, messages: int, tmp_path: Path) -> Iterator[Host]:
    """``host`` reached through a :class:`StallingRelay` that passes the server's version
    line and first ``messages`` packets, then nothing (its key trusted at the relay's port)."""
    address, port = str(host.vars["address"]), int(host.vars.get("port", 22))
    known = Path(str(host.vars["known_hosts_file"])).read_text().splitlines()
    key = next(line for line in known if line.split()[0] in (address, f"[{address}]:{port}"))
    with StallingRelay((address, port), messages) as relay:
        trusted = tmp_path / f"known_hosts_{relay.port}"
        trusted.write_text(f"[127.0.0.1]:{relay.port} {key.split(None, 1)[1]}\n")
        yield with_vars(host, address="127.0.0.1", port=relay.port,
                        known_hosts_file=str(trusted), connect_timeout=2)  # fmt: skip


@pytest.mark.parametrize("messages", [1, 3], ids=["in-key-exchange", "in-authentication"])
def test_a_server_that_stalls_during_login_is_unreachable_at_connect_timeout(
    ssh_hosts: list[Host], tmp_path: Path, messages: int
) -> None:
    """One deadline covers connect, banner, key exchange and every credential: a server
    that goes silent after its KEXINIT, or after NEWKEYS (every auth request unanswered), is
    ``unreachable`` "connect timed out" by connect_timeout, through run_command and Fleet alike
    (it was ``auth`` after one auth_timeout per key offered, as if each key were refused)."""
    with stalling(ssh_hosts[0], messages, tmp_path) as stalled:
        for label, run in {
            "run_command": lambda: run_command([stalled, ssh_hosts[1]], CommandSpec("true")),
            "Fleet": lambda: Fleet([stalled, ssh_hosts[1]]).run("true", timeout=60),
        }.items():
            started = time.monotonic()
            report = run()
            elapsed = time.monotonic() - started
            result = report.results[0]
            assert result.status is Status.UNREACHABLE, (label, result)
            assert "connect timed out after 2 s" in (result.error or ""), (label, result)
            assert report.results[1].status is Status.OK, label
            assert elapsed < 2 + 3, (label, elapsed)


def test_command_timeout_keeps_partial_output_and_spares_the_others(
    ssh_hosts: list[Host],
) -> None:
    slow, quick = ssh_hosts[0], ssh_hosts[1]
    executor = Executor()
    started = time.monotonic()
    report = executor.run(
        [slow, quick],
        lambda host, transport, listener: command_work(
            CommandSpec("echo begun; sleep 30" if host is slow else "echo quick", timeout=1.5)
        )(host, transport, listener),
    )
    assert time.monotonic() - started < 10
    assert report.results[0].status is Status.TIMEOUT
    assert report.results[0].stdout == b"begun\n"
    assert report.results[1].status is Status.OK


def test_twenty_megabytes_of_output_arrive_whole(ssh_hosts: list[Host]) -> None:
    command = (
        'f=$(mktemp); head -c 20000000 /dev/urandom | tee "$f" | sha256sum >&2; cat "$f"; rm "$f"'
    )
    report = run_command(ssh_hosts[:2], CommandSpec(command, timeout=120))
    for result in report.results:
        assert result.status is Status.OK
        assert len(result.stdout) == 20_000_000
        remote_digest = result.stderr.split()[0].decode()
        assert hashlib.sha256(result.stdout).hexdigest() == remote_digest


def test_non_utf8_output_is_kept_byte_for_byte(ssh_hosts: list[Host]) -> None:
    report = run_command(ssh_hosts[:1], CommandSpec(r"printf 'caf\351\377\000end'"))
    assert report.results[0].stdout == b"caf\xe9\xff\x00end"


def test_stdin_is_broadcast_to_every_host(ssh_hosts: list[Host]) -> None:
    payload = b"line one\n" + bytes(range(256)) * 4000
    report = run_command(ssh_hosts, CommandSpec("sha256sum", stdin=payload))
    digest = hashlib.sha256(payload).hexdigest().encode()
    assert all(r.stdout.startswith(digest) for r in report.results)


def test_env_reaches_the_command(ssh_hosts: list[Host]) -> None:
    report = run_command(ssh_hosts[:1], CommandSpec('echo "$GREETING"', env={"GREETING": "a b"}))
    assert report.results[0].stdout == b"a b\n"


def test_one_connection_serves_several_commands(ssh_hosts: list[Host]) -> None:
    def work(host: Host, transport: object, listener: object) -> HostResult:
        assert hasattr(transport, "run")
        first = transport.run(CommandSpec("echo $SSH_CONNECTION"))  # type: ignore[attr-defined]
        second = transport.run(CommandSpec("echo $SSH_CONNECTION"))  # type: ignore[attr-defined]
        same = first.stdout == second.stdout
        return HostResult(host.name, Status.OK if same else Status.FAILED, 0, first.stdout)

    report = Executor().run(ssh_hosts[:1], work)  # type: ignore[arg-type]
    assert report.results[0].status is Status.OK
    assert report.results[0].stdout.strip()  # the client port of the one connection


def test_wrong_key_is_an_auth_failure(ssh_hosts: list[Host], tmp_path: Path) -> None:
    import subprocess

    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    report = run_command(
        [with_vars(ssh_hosts[0], identity_file=str(key))],
        CommandSpec("true"),
        factory=TransportFactory(ssh_config_path=tmp_path / "none"),
    )
    assert report.results[0].status is Status.AUTH
    assert str(key) in (report.results[0].error or "")


def test_changed_host_key_is_refused_with_fingerprint(
    ssh_hosts: list[Host], playground_manager: Playground
) -> None:
    target = ssh_hosts[0]
    playground_manager.regenerate_host_key(target.name)
    try:
        report = run_command(
            [target], CommandSpec("true"), factory=TransportFactory(accept_new_host_keys=True)
        )
    finally:
        playground_manager.refresh_known_hosts()
    result = report.results[0]
    assert result.status is Status.HOSTKEY
    assert "HOST KEY CHANGED" in (result.error or "")
    assert "SHA256:" in (result.error or "")
    assert run_command([target], CommandSpec("true")).results[0].status is Status.OK


def test_accept_new_records_unknown_keys_and_strict_refuses_them(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    hosts = [with_vars(h, known_hosts_file=str(known)) for h in ssh_hosts[:2]]
    isolated = {"known_hosts_files": [tmp_path / "user_known_hosts"]}
    strict = run_command(hosts, CommandSpec("true"), factory=TransportFactory(**isolated))
    assert {r.status for r in strict.results} == {Status.HOSTKEY}
    assert all("unknown host key" in (r.error or "") for r in strict.results)

    accepted = run_command(
        hosts,
        CommandSpec("true"),
        factory=TransportFactory(accept_new_host_keys=True, **isolated),
    )
    assert {r.status for r in accepted.results} == {Status.OK}
    assert len(known.read_text().splitlines()) == 2
    again = run_command(hosts, CommandSpec("true"), factory=TransportFactory(**isolated))
    assert {r.status for r in again.results} == {Status.OK}


@pytest.mark.usefixtures("requires_root")
def test_sudo_with_password_runs_as_root_and_keeps_stdin(
    ssh_hosts: list[Host], playground: PlaygroundState
) -> None:
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    as_user = [with_vars(h, user=playground.sudo_user) for h in ssh_hosts[:2]]
    recorder = Recorder()
    report = run_command(
        as_user,
        CommandSpec(
            "echo to-stderr >&2; id -un; cat", sudo=True, sudo_password=password,
            stdin=b"from stdin\n",
        ),
        listener=recorder,
    )  # fmt: skip
    for result in report.results:
        assert result.status is Status.OK, result
        assert result.stdout == b"root\nfrom stdin\n"
        assert result.stderr == b"to-stderr\n"  # held while sudo ran, then released
        assert bytes(recorder.output[f"{result.host}:stderr"]) == b"to-stderr\n"
        assert password.encode() not in result.stdout + result.stderr

    wrong = run_command(as_user[:1], CommandSpec("id -un", sudo=True, sudo_password="wrong"))
    assert wrong.results[0].status is Status.FAILED
    assert wrong.results[0].error == "sudo refused the password"
    unprivileged = run_command(as_user[:1], CommandSpec("id -un"))
    assert unprivileged.results[0].stdout == f"{playground.sudo_user}\n".encode()


@pytest.mark.usefixtures("requires_root")
def test_password_auth_reads_the_password_from_the_named_env_var(
    ssh_hosts: list[Host],
    playground: PlaygroundState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    monkeypatch.setenv("PLAY_PASSWORD", playground.sudo_password_file.read_text().strip())
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no default key files to fall back on
    host = Host(
        ssh_hosts[0].name,
        {k: v for k, v in ssh_hosts[0].vars.items() if k != "identity_file"}
        | {"user": playground.sudo_user, "password_env": "PLAY_PASSWORD"},
    )
    factory = TransportFactory(known_hosts_files=[playground.known_hosts_path])
    assert run_command([host], CommandSpec("whoami"), factory=factory).results[0].stdout == (
        f"{playground.sudo_user}\n".encode()
    )
    monkeypatch.setenv("PLAY_PASSWORD", "not-it")
    failed = run_command([host], CommandSpec("whoami"), factory=factory).results[0]
    assert failed.status is Status.AUTH
    assert "not-it" not in (failed.error or "")


def test_local_transport_gives_the_same_results() -> None:
    local = Host("localhost", {"protocol": "local"})
    report = run_command([local], CommandSpec("echo out; echo err >&2; exit 4"))
    result = report.results[0]
    assert (result.status, result.exit_code, result.stdout, result.stderr) == (
        Status.FAILED,
        4,
        b"out\n",
        b"err\n",
    )
    assert shutil.which("sh")


def test_encrypted_key_asks_for_its_passphrase_once(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    import subprocess

    key = tmp_path / "encrypted_key"
    shutil.copy(playground.client_key_path, key)
    key.chmod(0o600)
    subprocess.run(
        ["ssh-keygen", "-q", "-p", "-N", "s3cret phrase", "-f", str(key)],
        check=True, capture_output=True,
    )  # fmt: skip
    asked: list[str] = []

    def passphrase(path: str) -> str:
        assert threading.current_thread() is threading.main_thread()  # never in a worker
        asked.append(path)
        return "s3cret phrase"

    hosts = [with_vars(h, identity_file=str(key)) for h in ssh_hosts]
    report = run_command(
        hosts, CommandSpec("true"), factory=TransportFactory(passphrase_callback=passphrase)
    )
    assert [r.status for r in report.results] == [Status.OK] * len(hosts)
    assert asked == [str(key)]

    refused = run_command(
        hosts[:1], CommandSpec("true"), factory=TransportFactory(passphrase_callback=lambda p: None)
    )
    assert refused.results[0].status is Status.AUTH
    assert "encrypted" in (refused.results[0].error or "")


def test_command_killed_by_a_signal_fails_with_255(ssh_hosts: list[Host]) -> None:
    result = run_command(ssh_hosts[:1], CommandSpec("echo before; kill -9 $$")).results[0]
    assert (result.status, result.exit_code, result.stdout) == (Status.FAILED, 255, b"before\n")


def test_sshd_killed_mid_command_is_unreachable_for_that_host_only(
    ssh_hosts: list[Host], playground_manager: Playground, playground: PlaygroundState
) -> None:
    import threading

    target = ssh_hosts[0]
    # Kill every sshd process of the target host (listener and session) once the command runs.
    pids = playground.host(target.name)
    assert pids.pid is not None

    started = threading.Event()

    class Started(NullListener):
        def host_output(self, host: str, stream: str, data: bytes) -> None:
            if host == target.name and b"started" in data:
                started.set()

    def kill_once_started() -> None:  # not on a timer: a loaded machine may start it late
        started.wait(15)
        playground_manager.stop_host(target.name)

    killer = threading.Thread(target=kill_once_started)
    killer.start()
    try:
        report = run_command(
            [target, ssh_hosts[1]],
            # exec: the host's processes are signalled one by one, so a shell that outlived
            # its sleep by a moment could still print a line after it
            CommandSpec("echo started; exec sleep 5", timeout=20),
            listener=Started(),
        )
    finally:
        killer.join()
        playground_manager.start_host(target.name)
    assert report.results[0].status is Status.UNREACHABLE, report.results[0]
    assert report.results[0].stdout == b"started\n"  # what arrived before the loss is kept
    assert report.results[1].status is Status.OK


def test_ssh_agent_keys_are_used_when_no_identity_file_is_set(
    ssh_hosts: list[Host],
    playground: PlaygroundState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ssh_agent: Agent,
) -> None:
    ssh_agent.add(playground.client_key_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # no default key files to fall back on
    hosts = [
        Host(h.name, {k: v for k, v in h.vars.items() if k != "identity_file"})
        for h in ssh_hosts[:2]
    ]
    factory = TransportFactory(ssh_config_path=tmp_path / "no")
    report = run_command(hosts, CommandSpec("true"), factory=factory)
    assert [r.status for r in report.results] == [Status.OK, Status.OK]
    monkeypatch.delenv("SSH_AUTH_SOCK")
    without = run_command(
        hosts[:1], CommandSpec("true"), factory=TransportFactory(ssh_config_path=tmp_path / "no")
    )
    assert without.results[0].status is Status.AUTH


def test_descriptors_above_1024_do_not_break_waiting(ssh_hosts: list[Host]) -> None:
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        report = run_command(ssh_hosts[:2], CommandSpec("echo fine"))
    finally:
        for fd in held:
            os.close(fd)
    assert [(r.status, r.stdout) for r in report.results] == [(Status.OK, b"fine\n")] * 2


def test_local_timeout_kills_background_children_too() -> None:
    marker = "37.4242"
    local = Host("localhost", {"protocol": "local"})
    report = run_command([local], CommandSpec(f"sleep {marker} & exit 0", timeout=1))
    assert report.results[0].status is Status.TIMEOUT
    assert_no_process_left(f"sleep {marker}")


def test_unparsable_ssh_config_is_a_configuration_error_before_any_host(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    from remoteops.errors import ConfigurationError

    config = tmp_path / "ssh_config"
    config.write_text("Host *\n    Match bogus\n")
    with pytest.raises(ConfigurationError, match="ssh_config"):
        Executor(TransportFactory(ssh_config_path=config)).run(
            ssh_hosts, command_work(CommandSpec("true"))
        )


def test_server_hanging_up_after_too_many_refused_keys_is_auth(
    ssh_hosts: list[Host], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ssh_agent: Agent
) -> None:
    for number in range(8):  # sshd's MaxAuthTries defaults to 6
        key = tmp_path / f"stranger{number}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        ssh_agent.add(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    host = Host(
        ssh_hosts[0].name, {k: v for k, v in ssh_hosts[0].vars.items() if k != "identity_file"}
    )
    result = run_command(
        [host], CommandSpec("true"), factory=TransportFactory(ssh_config_path=tmp_path / "no")
    ).results[0]
    assert result.status is Status.AUTH, result.error
    assert "closed the connection after 6 refused attempts" in (result.error or "")


def test_timeout_kills_the_remote_process_group(ssh_hosts: list[Host]) -> None:
    marker = "33.4343"
    report = run_command(
        ssh_hosts[:1], CommandSpec(f"echo started; sleep {marker} & sleep {marker}", timeout=1)
    )
    assert report.results[0].status is Status.TIMEOUT
    assert report.results[0].stdout == b"started\n"
    assert report.results[0].stderr == b""  # our PID line never shows
    assert_no_process_left(f"sleep {marker}")


def test_second_ctrl_c_kills_the_remote_commands(
    playground: PlaygroundState, ssh_hosts: list[Host]
) -> None:
    import signal
    import sys

    marker = "34.5454"
    names = ":".join(h.name for h in ssh_hosts[:2])
    proc = subprocess.Popen(
        [sys.executable, "-m", "remoteops", "run", "-i", str(playground.inventory_path),
         "-H", names, f"echo started; sleep {marker}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for _ in range(2):  # both hosts have started their command
            assert b"started" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 130
    finally:
        proc.kill()
        proc.wait()
    assert_no_process_left(f"sleep {marker}")


@pytest.mark.usefixtures("requires_root")
def test_hosts_behind_a_dead_jump_host_fail_together_not_in_turn(
    ssh_hosts: list[Host], playground_manager: Playground
) -> None:
    jump, targets = ssh_hosts[0], ssh_hosts[1:]
    through = [with_vars(t, jump_host=jump.name, connect_timeout=1) for t in targets]
    factory = TransportFactory(inventory={h.name: h for h in ssh_hosts})
    playground_manager.pause(jump.name)
    try:
        started = time.monotonic()
        report = run_command(through, CommandSpec("true"), factory=factory)
        elapsed = time.monotonic() - started
    finally:
        playground_manager.resume(jump.name)
    assert {r.status for r in report.results} == {Status.UNREACHABLE}
    assert all("jump host" in (r.error or "") for r in report.results)
    assert all("connect timed out after 1 s" in (r.error or "") for r in report.results)
    assert elapsed < len(targets) * 1.0  # one timeout for all, not one per host in turn


@pytest.mark.usefixtures("requires_root")
def test_ask_pass_password_is_typed_once_at_the_terminal(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    """``run --ask-pass`` on a real pseudo-terminal: one prompt, every host logs in with it."""
    import pty
    import sys

    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    inventory = tmp_path / "hosts.yml"
    lines = ["all:", "  hosts:"]
    for host in ssh_hosts[:2]:
        lines += [
            f"    {host.name}:",
            f"      address: {host.address}",
            f"      port: {host.port}",
            f"      user: {playground.sudo_user}",
            f"      known_hosts_file: {playground.known_hosts_path}",
        ]
    inventory.write_text("\n".join(lines) + "\n")
    pid, fd = pty.fork()
    if pid == 0:  # the child: a CLI run with no keys to fall back on
        os.environ.update(HOME=str(tmp_path), NO_COLOR="1")
        os.environ.pop("SSH_AUTH_SOCK", None)
        os.execv(  # noqa: S606 (the CLI as a user starts it, on the pty)
            sys.executable,
            [sys.executable, "-m", "remoteops", "run", "-i", str(inventory), "-o", "json",
             "--ask-pass", "whoami"],
        )  # fmt: skip
    seen = b""
    while b"SSH password:" not in seen:
        seen += os.read(fd, 1024)
    os.write(fd, password.encode() + b"\n")
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert seen.count(b"SSH password:") == 1
    assert seen.count(f'"stdout": "{playground.sudo_user}\\n"'.encode()) == 2
    assert password.encode() not in seen.split(b"SSH password:", 1)[1]  # never echoed


@pytest.mark.timeout(60)
def test_a_connection_whose_socket_died_under_it_still_closes_and_reports(
    ssh_hosts: list[Host],
) -> None:
    """Closing a command's channel sends a message: on a socket that is gone that raised
    EOFError out of close(), killed the worker thread, and the run waited forever (CI)."""
    import socket

    def work(host: Host, transport: object, listener: object) -> HostResult:
        done = transport.run(CommandSpec("echo started"))  # type: ignore[attr-defined]
        transport.start("sleep 5")  # type: ignore[attr-defined]  # never read: its pid unknown
        paramiko_transport = transport._transport  # type: ignore[attr-defined]
        paramiko_transport.sock.shutdown(socket.SHUT_RDWR)  # the connection dies under it
        return HostResult(host.name, Status.OK, 0, done.stdout)

    report = Executor().run(ssh_hosts[:2], work)  # type: ignore[arg-type]
    assert [r.stdout for r in report.results] == [b"started\n"] * 2


def _failures_in_parallel_on_one_connection(
    host: Host, specs: list[CommandSpec], *, threads: int = 6
) -> list[str]:
    """Run ``specs`` on each of ``threads`` threads, all on one connection; return what failed
    (a command's outcome, the exception of a thread whose connection dropped, or the lost
    connection itself)."""
    transport = TransportFactory().create(host)
    transport.connect()
    failures: list[str] = []

    def commands() -> None:
        try:
            for spec in specs:
                outcome = transport.run(spec)  # type: ignore[attr-defined]
                if outcome.exit_code != 0:
                    failures.append(repr(outcome))
        except Exception as exc:  # the connection dropped under the command
            failures.append(repr(exc))

    try:
        workers = [threading.Thread(target=commands) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if transport.connection_lost():
            failures.append("the connection was lost")
    finally:
        transport.close()
    return failures


def test_quick_commands_in_parallel_on_one_connection_never_lose_it(
    ssh_hosts: list[Host],
) -> None:
    """Each command's stdin is closed as it starts; a quick command's channel may be closed
    by then. paramiko sends its EOF after releasing the channel's lock, so the server could
    get it after the close: OpenSSH then drops the whole connection ("ieof packet referred to
    nonexistent channel"), which lost a task's SFTP session in CI."""
    assert (
        _failures_in_parallel_on_one_connection(ssh_hosts[0], [CommandSpec(":")] * 150, threads=12)
        == []
    )


def test_commands_that_leave_stdin_unread_in_parallel_on_one_connection_never_lose_it(
    ssh_hosts: list[Host],
) -> None:
    """Each command reads one byte of its 256 KiB of stdin, or none, and ends while the rest
    is still being sent. paramiko's sendall sends each data packet after releasing the
    channel's lock, so the server could get it after the close: OpenSSH then drops the whole
    connection ("data packet referred to nonexistent channel"). Before the fix, 3 runs in 5
    of this test lost it (the commands that read nothing: every run)."""
    stdin = bytes(256 * 1024)
    specs = [CommandSpec("head -c 1 >/dev/null", stdin=stdin), CommandSpec("true", stdin=stdin)]
    assert _failures_in_parallel_on_one_connection(ssh_hosts[0], specs * 25) == []
