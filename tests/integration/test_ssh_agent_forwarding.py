"""Agent forwarding (``ssh -A``) through a real ``ssh-agent`` to real playground sshd hosts:
``ssh-add -l`` run on the host lists the local agent's key only when forwarding is on."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.results import HostResult, Status
from remoteops.transports import CommandSpec, ConnectionOverrides, TransportFactory
from remoteops.transports.base import commands_of
from tests.integration.conftest import Agent, with_vars


@pytest.fixture
def agent_key(tmp_path: Path, ssh_agent: Agent) -> str:
    """A key only the test's agent holds (not the one hosts log in with): its fingerprint."""
    key = tmp_path / "forwarded"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "forwarded", "-f", str(key)],
        check=True,
    )
    ssh_agent.add(key)
    shown = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(key)], check=True, capture_output=True, text=True
    )
    return shown.stdout.split()[1]


def list_agent_keys(
    host: Host, tmp_path: Path, config: str = "", overrides: ConnectionOverrides | None = None
) -> HostResult:
    (tmp_path / "ssh_config").write_text(config)
    factory = TransportFactory(ssh_config_path=tmp_path / "ssh_config", overrides=overrides)
    return run_command([host], CommandSpec("ssh-add -l"), factory=factory).results[0]


def assert_not_forwarded(result: HostResult, key: str) -> None:
    assert result.status is Status.FAILED  # ssh-add -l: 2 when no agent can be reached
    assert key not in result.stdout.decode()


@pytest.mark.parametrize("way", ["option -A", "inventory forward_agent", "ssh_config ForwardAgent"])
def test_forwarded_agent_lists_its_keys_on_the_host_and_only_when_asked(
    ssh_hosts: list[Host], tmp_path: Path, agent_key: str, way: str
) -> None:
    host = ssh_hosts[0]
    assert_not_forwarded(list_agent_keys(host, tmp_path), agent_key)  # off by default
    forwards = f"Host {host.name}\n  ForwardAgent yes\n"
    if way == "option -A":
        result = list_agent_keys(host, tmp_path, overrides=ConnectionOverrides(forward_agent=True))
    elif way == "inventory forward_agent":
        result = list_agent_keys(with_vars(host, forward_agent=True), tmp_path)
    else:
        result = list_agent_keys(host, tmp_path, forwards)
        off = with_vars(host, forward_agent=False)  # the inventory wins, field by field
        assert_not_forwarded(list_agent_keys(off, tmp_path, forwards), agent_key)
    assert (result.status, result.error) == (Status.OK, None)
    assert agent_key in result.stdout.decode()


def test_each_command_of_a_connection_gets_the_agent(
    ssh_hosts: list[Host], tmp_path: Path, agent_key: str
) -> None:
    """Forwarding is asked for on every session channel, not once per connection."""
    factory = TransportFactory(
        ssh_config_path=tmp_path / "none", overrides=ConnectionOverrides(forward_agent=True)
    )
    transport = factory.create(ssh_hosts[1])
    try:
        transport.connect()
        for _ in range(3):
            output = commands_of(transport).run(CommandSpec("ssh-add -l"))
            assert agent_key in output.stdout.decode()
    finally:
        transport.close()


#: On the host: one connection to the forwarded agent, a first question answered, then a
#: wait for whatever comes next (the local agent dies meanwhile): the end of the stream.
_WAITS_ON_THE_AGENT = b"""
import os, socket, struct, time
agent = socket.socket(socket.AF_UNIX)
agent.connect(os.environ["SSH_AUTH_SOCK"])
agent.sendall(struct.pack(">IB", 1, 11))  # SSH_AGENTC_REQUEST_IDENTITIES
(size,) = struct.unpack(">I", agent.recv(4))
answer = b""
while len(answer) < size:
    answer += agent.recv(size - len(answer))
print("answered", answer[0], flush=True)
agent.settimeout(10)
began = time.monotonic()
try:
    print("then", agent.recv(4) or "end of stream", round(time.monotonic() - began), flush=True)
except OSError as exc:
    print("then", exc, flush=True)
"""


def test_an_agent_that_dies_hangs_up_on_the_programs_waiting_for_it(
    ssh_hosts: list[Host], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ssh closes the forwarded connection when the local agent's socket closes; a program
    on the host waiting for an answer (a signature the agent never gives: killed, or a
    token's touch given up on) then sees the end of its stream. It waited for ever instead,
    and the command with it."""
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        while not socket_path.exists():
            time.sleep(0.02)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        factory = TransportFactory(
            ssh_config_path=tmp_path / "none", overrides=ConnectionOverrides(forward_agent=True)
        )
        transport = factory.create(ssh_hosts[0])
        transport.connect()

        def kill_the_agent_once_answered(stream: str, data: bytes) -> None:
            if b"answered 12" in data:  # SSH_AGENT_IDENTITIES_ANSWER
                agent.kill()

        try:
            spec = CommandSpec("python3 -", stdin=_WAITS_ON_THE_AGENT, timeout=30)
            output = commands_of(transport).run(spec, kill_the_agent_once_answered)
        finally:
            transport.close()
    finally:
        agent.kill()
        agent.wait()
    assert output.stdout.decode().splitlines() == ["answered 12", "then end of stream 0"]
