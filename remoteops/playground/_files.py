"""What the playground leaves for clients and for its own later calls: known_hosts, the
Ansible-style inventory and the state file. All are rewritten whole, atomically.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._system import atomic_write

STATE_VERSION = 1


@dataclass
class HostRecord:
    """One host as the state file keeps it; the pid is None while the host is stopped."""

    name: str
    address: str
    port: int
    netns: str | None
    veth: str | None
    pid: int | None = None
    blackholed: bool = False


@dataclass
class StateRecord:
    """The state file: enough to check, change and tear down the playground from any process."""

    mode: str
    prefix: str
    user: str
    runtime_dir: str
    owner: list[int] | None
    sudo_user: str | None
    #: Hosts run in their own mount/UTS namespaces (root only): own hostname, own /root.
    private_home: bool
    blocks: list[int] = field(default_factory=list)
    hosts: list[HostRecord] = field(default_factory=list)

    def host(self, name: str) -> HostRecord | None:
        return next((h for h in self.hosts if h.name == name), None)

    def save(self, path: Path) -> None:
        data = {"version": STATE_VERSION, **asdict(self)}
        atomic_write(path, json.dumps(data, indent=1) + "\n", mode=0o600)

    @classmethod
    def load(cls, path: Path) -> StateRecord | None:
        """The recorded state, or None when there is none or it cannot be read."""
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            if data.pop("version", None) != STATE_VERSION:
                return None
            hosts = [HostRecord(**h) for h in data.pop("hosts", [])]
            return cls(hosts=hosts, **data)
        except (OSError, ValueError, TypeError):
            return None


def known_hosts_line(address: str, port: int, pubkey_text: str) -> str:
    """An OpenSSH known_hosts line: ``[addr]:port`` unless the port is 22."""
    key_type, key_data = pubkey_text.split()[:2]
    target = address if port == 22 else f"[{address}]:{port}"
    return f"{target} {key_type} {key_data}"


def render_inventory(
    hosts: Sequence[HostRecord], *, user: str, identity_file: Path, known_hosts_file: Path
) -> str:
    """The playground as an Ansible-style YAML inventory: one ``playground`` group."""
    group = {
        "vars": {
            "user": user,
            "identity_file": str(identity_file),
            "known_hosts_file": str(known_hosts_file),
            "protocol": "ssh",
            "connect_timeout": 5,
        },
        "hosts": {h.name: {"address": h.address, "port": h.port} for h in hosts},
    }
    body = yaml.safe_dump({"all": {"children": {"playground": group}}}, sort_keys=False)
    return "# Written by `remoteops playground up`; rewritten on every up.\n" + body
