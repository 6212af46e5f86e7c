"""~/.ssh/config is honoured, the inventory wins over it, and jump hosts work."""

from __future__ import annotations

from pathlib import Path

import pytest

from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.playground import PlaygroundState
from remoteops.results import Status
from remoteops.transports import CommandSpec, TransportFactory
from tests.integration.conftest import with_vars


def _ssh_config(tmp_path: Path, playground: PlaygroundState, host: Host) -> Path:
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host alias-one\n"
        f"    HostName {host.address}\n"
        f"    Port {host.port}\n"
        f"    User {playground.user}\n"
        f"    IdentityFile {playground.client_key_path}\n"
        f"Host *\n"
        f"    ConnectTimeout 3\n"
    )
    return config


def test_ssh_config_supplies_hostname_user_port_and_identity(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    config = _ssh_config(tmp_path, playground, ssh_hosts[0])
    alias = Host("alias-one", {"known_hosts_file": str(playground.known_hosts_path)})
    factory = TransportFactory(ssh_config_path=config)
    target = factory.ssh_context().resolve(alias)
    assert (target.address, target.port, target.user) == (
        ssh_hosts[0].address,
        ssh_hosts[0].port,
        playground.user,
    )
    assert target.identity_files == (str(playground.client_key_path),)
    assert target.connect_timeout == 3
    assert run_command([alias], CommandSpec("true"), factory=factory).results[0].ok


def test_inventory_wins_over_ssh_config(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    config = _ssh_config(tmp_path, playground, ssh_hosts[0])
    alias = Host("alias-one", {"known_hosts_file": str(playground.known_hosts_path), "port": 1})
    factory = TransportFactory(ssh_config_path=config)
    assert factory.ssh_context().resolve(alias).port == 1
    result = run_command([alias], CommandSpec("true"), factory=factory).results[0]
    assert result.status is Status.UNREACHABLE


@pytest.mark.usefixtures("requires_root")
def test_jump_host_named_by_inventory_carries_the_connection(ssh_hosts: list[Host]) -> None:
    jump, target = ssh_hosts[0], ssh_hosts[1]
    through = with_vars(target, jump_host=jump.name)
    factory = TransportFactory(inventory={h.name: h for h in ssh_hosts})
    direct = run_command([target], CommandSpec("echo $SSH_CONNECTION")).results[0]
    hopped = run_command([through], CommandSpec("echo $SSH_CONNECTION"), factory=factory).results[0]
    assert hopped.status is Status.OK, hopped.error
    # The target sees the jump host's address as the client, not the bridge's.
    assert hopped.stdout.split()[0].decode() == jump.address
    assert direct.stdout.split()[0].decode() != jump.address


def test_unknown_jump_host_fails_only_that_host(ssh_hosts: list[Host], tmp_path: Path) -> None:
    through = with_vars(ssh_hosts[1], jump_host=f"{ssh_hosts[0].address}:1")
    report = run_command(
        [through, ssh_hosts[2]],
        CommandSpec("true"),
        factory=TransportFactory(ssh_config_path=tmp_path / "none"),
    )
    assert report.results[0].status is Status.UNREACHABLE
    assert "jump host" in (report.results[0].error or "")
    assert report.results[1].ok


@pytest.mark.usefixtures("requires_root")
def test_jump_chain_goes_through_every_hop_in_order(ssh_hosts: list[Host]) -> None:
    first, second, target = ssh_hosts[0], ssh_hosts[1], ssh_hosts[2]
    through = with_vars(target, jump_host=f"{first.name},{second.name}")
    factory = TransportFactory(inventory={h.name: h for h in ssh_hosts})
    result = run_command([through], CommandSpec("echo $SSH_CONNECTION"), factory=factory)
    assert result.results[0].status is Status.OK, result.results[0].error
    assert result.results[0].stdout.split()[0].decode() == second.address


def _proxy_config(tmp_path: Path, playground: PlaygroundState, alias: str, jump: Host) -> Path:
    """An ssh_config sending ``alias`` through ``ssh -W %h:%p`` on the jump host."""
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host {alias}\n"
        f"    ProxyCommand ssh -i {playground.client_key_path} -o BatchMode=yes"
        f" -o UserKnownHostsFile={playground.known_hosts_path} -W %h:%p"
        f" {playground.user}@{jump.address}\n"
    )
    return config


@pytest.mark.usefixtures("requires_root")
def test_proxy_command_from_ssh_config_is_used(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    jump, target = ssh_hosts[0], ssh_hosts[1]
    config = _proxy_config(tmp_path, playground, target.name, jump)
    factory = TransportFactory(ssh_config_path=config)
    result = run_command([target], CommandSpec("echo $SSH_CONNECTION"), factory=factory)
    assert result.results[0].status is Status.OK, result.results[0].error
    assert result.results[0].stdout.split()[0].decode() == jump.address


def test_malformed_jump_host_is_a_clear_error_for_that_host(ssh_hosts: list[Host]) -> None:
    bad = with_vars(ssh_hosts[0], jump_host="root@jump:notaport")
    result = run_command([bad, ssh_hosts[1]], CommandSpec("true"))
    assert result.results[0].status is Status.UNREACHABLE
    assert "cannot parse jump host" in (result.results[0].error or "")
    assert result.results[1].ok


@pytest.mark.usefixtures("requires_root")
def test_proxy_command_tokens_use_the_inventory_address_and_port(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    """``%h:%p`` must be where we connect: the inventory's address, not the ssh_config alias."""
    jump, target = ssh_hosts[0], ssh_hosts[1]
    config = _proxy_config(tmp_path, playground, "behind-proxy", jump)
    alias = Host("behind-proxy", dict(target.vars))  # inventory: address and port of target
    factory = TransportFactory(ssh_config_path=config)
    target_line = factory.ssh_context().resolve(alias).proxy_command or ""
    assert f"-W {target.address}:{target.port} " in target_line
    result = run_command([alias], CommandSpec("hostname"), factory=factory).results[0]
    assert result.status is Status.OK, result.error
    assert result.stdout == f"{target.name}\n".encode()
