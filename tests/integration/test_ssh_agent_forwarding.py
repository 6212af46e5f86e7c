"""Agent forwarding (``ssh -A``) through a real ``ssh-agent`` to real playground sshd hosts:
``ssh-add -l`` run on the host lists the local agent's key only when forwarding is on."""

from __future__ import annotations

import subprocess
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
