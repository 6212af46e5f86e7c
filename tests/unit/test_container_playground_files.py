"""The container playground's files without containers: topology, inventory, known_hosts, state."""

from __future__ import annotations

from pathlib import Path

import pytest

from remoteops.inventory import load_inventory
from remoteops.playground import PASSWORD_ENV
from remoteops.playground._container_files import (
    ContainerRecord,
    ContainerState,
    plan_hosts,
    render_inventory,
    render_known_hosts,
)
from remoteops.playground._containers import _address, _labels
from remoteops.transports import exposure_warnings, settings_for

_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummyKeyDataForTheTestsOnly0000000000000 root@ssh01"


def _hosts(count: int = 3) -> list[ContainerRecord]:
    hosts = plan_hosts("abcd1234", count)
    for i, host in enumerate(hosts, start=2):
        host.address = f"10.89.0.{i}"
    return hosts


def test_the_topology_is_n_ssh_hosts_two_ftp_daemons_and_one_telnet_host() -> None:
    hosts = plan_hosts("abcd1234", 3)
    assert [(h.name, h.command) for h in hosts] == [
        ("ssh01", "sshd"), ("ssh02", "sshd"), ("ssh03", "sshd"),
        ("ftp-serve", "serve-ftp"), ("ftp-vsftpd", "vsftpd"), ("telnet01", "telnetd"),
    ]  # fmt: skip
    assert all(h.container == f"ropg-abcd1234-{h.name}" for h in hosts)
    assert [h.name for h in plan_hosts("x", 100)][:2] == ["ssh001", "ssh002"]


def test_inventory_groups_hosts_by_protocol_and_names_the_password_without_holding_it(
    tmp_path: Path,
) -> None:
    text = render_inventory(
        _hosts(),
        identity_file=tmp_path / "client_key",
        known_hosts_file=tmp_path / "known_hosts",
        password_file=tmp_path / "password",
    )
    (tmp_path / "inventory.yml").write_text(text)
    inventory = load_inventory([str(tmp_path / "inventory.yml")], environ={}, cwd=tmp_path)
    assert inventory.group_hosts("ssh") == ["ssh01", "ssh02", "ssh03"]
    assert inventory.group_hosts("ftp") == ["ftp-serve", "ftp-vsftpd"]
    assert inventory.group_hosts("telnet") == ["telnet01"]
    ssh = settings_for(inventory.hosts["ssh02"])
    assert (ssh.address, ssh.port, ssh.user, ssh.protocol) == ("10.89.0.3", 22, "tester", "ssh")
    assert inventory.hosts["ssh02"].vars["known_hosts_file"] == str(tmp_path / "known_hosts")
    assert inventory.hosts["ssh02"].vars["sudo_password_env"] == PASSWORD_ENV
    assert inventory.hosts["ftp-vsftpd"].vars["password_env"] == PASSWORD_ENV
    assert (
        inventory.hosts["telnet01"].protocol,
        settings_for(inventory.hosts["telnet01"]).port,
    ) == (
        "telnet",
        23,
    )
    assert f'export {PASSWORD_ENV}="$(cat {tmp_path / "password"})"' in text
    # Plaintext on a private bridge of this machine, said once in the inventory.
    assert exposure_warnings(list(inventory)) == []


def test_known_hosts_pins_each_ssh_host_at_its_address_and_nothing_else() -> None:
    hosts = _hosts(2)
    keys = {"ssh01": _KEY + "\n", "ssh02": _KEY.replace("Dummy", "Other")}
    lines = render_known_hosts(keys, hosts).splitlines()
    assert lines == [
        "10.89.0.2 " + " ".join(_KEY.split()[:2]),
        "10.89.0.3 " + " ".join(keys["ssh02"].split()[:2]),
    ]


def test_state_round_trips_and_a_foreign_file_says_what_is_wrong_with_it() -> None:
    state = ContainerState("abcd1234", "podman", "ropg-abcd1234", _hosts(1))
    state.hosts[0].container_id = "f00"
    assert ContainerState.loads(state.dumps()) == state
    for text, why in [
        ('{"version": 99}', "version 99, not 1"),
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"version": 1, "hosts": [{"nope": 1}]}', "unexpected fields"),
    ]:
        with pytest.raises(ValueError, match=why):
            ContainerState.loads(text)


def test_labels_and_addresses_are_read_from_either_engines_inspect_output() -> None:
    container = {
        "Config": {"Labels": {"remoteops.playground": "abcd1234"}},
        "NetworkSettings": {
            "Networks": {"other": {"IPAddress": ""}, "ropg-x": {"IPAddress": "10.89.0.7"}}
        },
    }
    assert _labels(container) == {"remoteops.playground": "abcd1234"}
    assert _labels({"labels": {"a": "b"}}) == {"a": "b"}  # podman's network inspect
    assert _labels({"Labels": None}) == {}  # docker's, unlabelled
    assert _address(container, "ropg-x") == "10.89.0.7"
    assert _address(container, None) == "10.89.0.7"  # compose: the first network with one
    assert _address(container, "missing") == ""
