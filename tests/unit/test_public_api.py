"""The names `remoteops` exports, and what a Fleet refuses before it connects anything."""

from __future__ import annotations

import subprocess
import sys

import pytest

import remoteops
from remoteops import Fleet, Host, InventoryError


def test_every_exported_name_resolves_and_is_listed() -> None:
    assert sorted(remoteops.__all__) == sorted(remoteops._HOMES)
    for name in remoteops.__all__:
        assert getattr(remoteops, name) is not None


def test_importing_the_package_loads_nothing_heavy() -> None:
    """`import remoteops` is on every CLI start: paramiko, pexpect, fabric (and its invoke)
    and the sync engine wait."""
    code = (
        "import sys, remoteops; print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('paramiko', 'pexpect', 'fabric', 'invoke') or m.startswith('remoteops.')))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"


def test_a_fleet_with_a_bad_setting_is_refused_when_made() -> None:
    with pytest.raises(InventoryError, match="ftp_connections"):
        Fleet([Host("ftp1", {"protocol": "ftp", "ftp_connections": "lots"})])


def test_forks_must_be_positive() -> None:
    with pytest.raises(ValueError, match="forks"):
        Fleet([], forks=0)


def test_what_each_protocol_can_do_is_known_before_its_module_is_imported() -> None:
    """The table the executor reads before connecting matches the transport classes."""
    from remoteops.transports import PROTOCOL_CAPABILITIES, Capability, CommandTransport
    from remoteops.transports.container import ContainerTransport
    from remoteops.transports.ftp import FTPTransport
    from remoteops.transports.local import LocalTransport
    from remoteops.transports.ssh import SSHTransport
    from remoteops.transports.telnet import TelnetTransport

    classes = {
        "local": LocalTransport,
        "ssh": SSHTransport,
        "ftp": FTPTransport,
        "ftps": FTPTransport,
        "telnet": TelnetTransport,
        "podman": ContainerTransport,
        "docker": ContainerTransport,
    }
    assert {p: c.capabilities for p, c in classes.items()} == dict(PROTOCOL_CAPABILITIES)
    assert TelnetTransport.capabilities == {Capability.COMMANDS, Capability.DIALOGUES}
    assert not issubclass(FTPTransport, CommandTransport)
