"""The playground against real OpenSSH: banners, logins, broken hosts on purpose, teardown."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from remoteops.errors import ConfigurationError
from remoteops.playground import (
    Playground,
    PlaygroundError,
    PlaygroundHost,
    PlaygroundState,
)

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client")


def ssh(
    state: PlaygroundState,
    host: PlaygroundHost,
    command: str,
    *,
    user: str | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with the OpenSSH client, trusting only the playground's known_hosts."""
    argv: Sequence[str] = [
        "ssh", "-F", "/dev/null", "-i", str(state.client_key_path),
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        "-o", f"UserKnownHostsFile={state.known_hosts_path}",
        "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
        "-o", "ConnectTimeout=5", "-o", "KexAlgorithms=curve25519-sha256",
        "-p", str(host.port), f"{user or state.user}@{host.address}", command,
    ]  # fmt: skip
    return subprocess.run(
        argv, input=stdin or "", capture_output=True, text=True, timeout=20, check=False
    )


def banner(host: PlaygroundHost, timeout: float = 2.0) -> bytes:
    with socket.create_connection((host.address, host.port), timeout=timeout) as sock:
        return sock.recv(256)


def test_every_host_sends_an_ssh_banner(playground: PlaygroundState) -> None:
    assert len(playground.hosts) == 4
    for host in playground.hosts:
        assert host.running
        assert banner(host).startswith(b"SSH-2.0-")


def test_hosts_have_distinct_addresses(playground: PlaygroundState) -> None:
    endpoints = {(h.address, h.port) for h in playground.hosts}
    assert len(endpoints) == len(playground.hosts)
    if playground.mode == "netns":
        assert len({h.address for h in playground.hosts}) == len(playground.hosts)
        assert all(h.address.startswith("10.203.") and h.port == 22 for h in playground.hosts)
        assert len({h.netns for h in playground.hosts}) == len(playground.hosts)


def test_ssh_logs_in_with_the_generated_key_and_known_hosts(playground: PlaygroundState) -> None:
    command = "hostname; ls -A ~"
    with ThreadPoolExecutor(len(playground.hosts)) as pool:
        results = list(pool.map(lambda h: ssh(playground, h, command), playground.hosts))
    for host, result in zip(playground.hosts, results, strict=True):
        assert result.returncode == 0, result.stderr
        if os.geteuid() == 0:
            # Own UTS and mount namespaces: the host's own name, and a private /root whose
            # only file is the minimal .bashrc (not root's real one, which runs pyenv init).
            assert result.stdout.split() == [host.name, ".bashrc"]


def test_inventory_and_client_files(playground: PlaygroundState) -> None:
    inventory = yaml.safe_load(playground.inventory_path.read_text())
    group = inventory["all"]["children"]["playground"]
    assert group["vars"] == {
        "user": playground.user,
        "identity_file": str(playground.client_key_path),
        "known_hosts_file": str(playground.known_hosts_path),
        "protocol": "ssh",
        "connect_timeout": 5,
    }
    expected = {h.name: {"address": h.address, "port": h.port} for h in playground.hosts}
    assert group["hosts"] == expected
    assert [h.name[-2:] for h in playground.hosts] == ["01", "02", "03", "04"]
    known = playground.known_hosts_path.read_text().splitlines()
    assert len(known) == len(playground.hosts)
    assert len({line.split()[2] for line in known}) == len(known), "host keys must differ"
    assert stat.S_IMODE(playground.client_key_path.stat().st_mode) == 0o600


def test_stop_and_start_keep_the_host_key(
    playground: PlaygroundState, playground_manager: Playground
) -> None:
    host = playground.hosts[2]
    playground_manager.stop_host(host.name)
    try:
        stopped = playground_manager.status()
        assert stopped is not None
        assert not stopped.host(host.name).running
        assert stopped.host(host.name).pid is None
        assert all(h.running for h in stopped.hosts if h.name != host.name)
        with pytest.raises(ConnectionRefusedError):
            banner(host)
    finally:
        playground_manager.start_host(host.name)
    restarted = playground_manager.status()
    assert restarted is not None
    assert restarted.host(host.name).running
    assert restarted.host(host.name).pid != host.pid
    assert ssh(playground, host, "true").returncode == 0


def test_pause_accepts_tcp_but_sends_no_banner(
    playground: PlaygroundState, playground_manager: Playground
) -> None:
    host = playground.hosts[1]
    playground_manager.pause(host.name)
    try:
        paused = playground_manager.status()
        assert paused is not None
        assert paused.host(host.name).paused
        with socket.create_connection((host.address, host.port), timeout=1.0) as waiting:
            with pytest.raises(TimeoutError):
                waiting.recv(256)
            playground_manager.resume(host.name)
            waiting.settimeout(5.0)
            assert waiting.recv(256).startswith(b"SSH-2.0-"), "queued connection is served"
    finally:
        playground_manager.resume(host.name)
    assert banner(host).startswith(b"SSH-2.0-")


def test_changed_host_key_is_refused_until_trusted(
    playground: PlaygroundState, playground_manager: Playground
) -> None:
    host = playground.hosts[0]
    before = playground.known_hosts_path.read_text()
    try:
        new_key = playground_manager.regenerate_host_key(host.name)
        assert new_key.split()[1] not in before
        refused = ssh(playground, host, "true")
        assert refused.returncode == 255
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr
    finally:
        playground_manager.refresh_known_hosts()
    assert ssh(playground, host, "true").returncode == 0


@pytest.mark.usefixtures("requires_root")
def test_blackhole_makes_connect_time_out(
    playground: PlaygroundState, playground_manager: Playground
) -> None:
    host = playground.hosts[3]
    playground_manager.blackhole(host.name)
    try:
        state = playground_manager.status()
        assert state is not None
        assert state.host(host.name).blackholed
        with pytest.raises(TimeoutError):
            socket.create_connection((host.address, host.port), timeout=0.5)
    finally:
        playground_manager.unblackhole(host.name)
    assert banner(host).startswith(b"SSH-2.0-")


@pytest.mark.usefixtures("requires_root")
def test_sudo_user_needs_the_right_password(playground: PlaygroundState) -> None:
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    assert stat.S_IMODE(playground.sudo_password_file.stat().st_mode) == 0o600
    password = playground.sudo_password_file.read_text()
    host, user = playground.hosts[0], playground.sudo_user
    command = "sudo -S -k -p '' true"
    with ThreadPoolExecutor(2) as pool:
        # A wrong password costs PAM's 2 s failure delay: run both attempts side by side.
        wrong = pool.submit(ssh, playground, host, command, user=user, stdin="not-it\n")
        right = pool.submit(ssh, playground, host, command, user=user, stdin=password)
        assert right.result().returncode == 0, right.result().stderr
        assert wrong.result().returncode != 0
    assert "incorrect password" in wrong.result().stderr


def test_up_rejects_bad_arguments(tmp_path: Path) -> None:
    playground = Playground(tmp_path / "never")
    with pytest.raises(PlaygroundError, match="1 to 1000"):
        playground.up(0)
    with pytest.raises(PlaygroundError, match="1 to 1000"):
        playground.up(1001)
    with pytest.raises(PlaygroundError, match="prefix"):
        playground.up(2, prefix="a-very-long-prefix")
    with pytest.raises(ConfigurationError, match="mode"):
        playground.up(2, mode="docker")  # type: ignore[arg-type]
    assert playground.status() is None
    assert not (tmp_path / "never").exists()


def test_up_explains_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    playground = Playground(tmp_path / "never")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PlaygroundError, match="needs root"):
        playground.up(2, mode="netns")
    real_which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name, **kw: None if name == "sshd" else real_which(name, **kw)
    )
    with pytest.raises(PlaygroundError, match="apt-get install openssh-server"):
        playground.up(2, mode="loopback")
    assert not (tmp_path / "never").exists()


def _alive(pid: int | None) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, TypeError):
        return False


def _namespaces() -> set[str]:
    if shutil.which("ip") is None:
        return set()
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return {line.split()[0] for line in listing.stdout.splitlines() if line.strip()}


def test_up_replaces_and_down_removes_everything(
    tmp_path: Path, playground: PlaygroundState
) -> None:
    state_dir = tmp_path / "own"
    own = Playground(state_dir)
    prefix = f"d{os.getpid():x}"
    first = own.up(1, prefix=prefix, owner_pid=os.getpid())
    second = own.up(2, prefix=prefix, owner_pid=os.getpid())
    assert not _alive(first.hosts[0].pid), "a second up replaces the first playground"
    assert [h.running for h in second.hosts] == [True, True]

    # Lose the state file, as if up had died half-way: down still finds everything.
    (state_dir / "state.json").unlink()
    own.down()
    own.down()
    assert all(not _alive(h.pid) for h in second.hosts)
    assert own.status() is None
    assert not state_dir.exists()
    if second.mode == "netns":
        assert not {h.netns for h in second.hosts} & _namespaces()
        assert Path("/sys/class/net/ropg0").exists(), "the session playground keeps the bridge"
    # The session's own playground is untouched by another playground's up and down.
    assert all(banner(h).startswith(b"SSH-2.0-") for h in playground.hosts)


def test_loopback_mode_hosts_run_commands_and_go_away(tmp_path: Path) -> None:
    """The mode a normal user gets: sshd processes on 127.0.0.1 ports, no namespaces."""
    from remoteops.executor import run_command
    from remoteops.inventory import load_inventory
    from remoteops.transports import CommandSpec

    playground = Playground(tmp_path / "loop")
    state = playground.up(2, mode="loopback", prefix=f"l{os.getpid():x}")
    try:
        assert state.mode == "loopback"
        assert {h.address for h in state.hosts} == {"127.0.0.1"}
        assert len({h.port for h in state.hosts}) == 2
        hosts = load_inventory([str(state.inventory_path)]).select("all")
        report = run_command(hosts, CommandSpec("echo $SSH_CONNECTION"))
        assert [r.status.value for r in report.results] == ["ok", "ok"]
        ports = {int(r.stdout.split()[3]) for r in report.results}
        assert ports == {h.port for h in state.hosts}
    finally:
        playground.down()
    assert not any(_alive(h.pid) for h in state.hosts)
