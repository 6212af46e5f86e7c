"""The playground's public values: its error, its hosts and its state, plus fixed names.

Kept free of I/O so the CLI can import and render these without touching the system.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from remoteops.errors import ConfigurationError

#: Where hosts live: one network namespace each, or one port each on 127.0.0.1.
Mode = Literal["netns", "loopback"]
#: What ``up`` accepts: ``auto`` picks netns when root and namespaces work, else loopback.
ModeChoice = Literal["auto", "netns", "loopback"]

BRIDGE = "ropg0"
SUBNET = ipaddress.IPv4Network("10.203.0.0/16")
BRIDGE_ADDRESS = "10.203.0.1"
NETNS_PREFIX = "ropg-"
VETH_PREFIX = "rp-"
NFT_TABLE = "remoteops_playground"
SUDO_USER = "roplay"
SUDO_HOME_ROOT = Path("/var/lib/remoteops-playground")
SUDOERS_FILE = Path("/etc/sudoers.d/remoteops-playground")
#: Root-only runtime area: sshd files (outside /root, which each host hides) and leases.
RUN_ROOT = Path("/run/remoteops-playground")
MAX_HOSTS = 1000
#: Interface names are limited to 15 characters; ``rp-`` + the host name must fit.
MAX_NAME_LENGTH = 12


class PlaygroundError(ConfigurationError):
    """The playground cannot be brought up, changed or torn down as asked."""


@dataclass(frozen=True)
class PlaygroundHost:
    """One playground host as last recorded, with liveness checked against its sshd pid."""

    name: str
    address: str
    port: int
    pid: int | None
    netns: str | None
    running: bool
    paused: bool = False
    blackholed: bool = False


@dataclass(frozen=True)
class PlaygroundState:
    """Everything a client needs to reach the playground: hosts, inventory and credentials."""

    mode: Mode
    hosts: tuple[PlaygroundHost, ...]
    inventory_path: Path
    known_hosts_path: Path
    client_key_path: Path
    state_dir: Path
    sudo_user: str | None
    sudo_password_file: Path | None
    #: The login user on every host: root in netns mode, the invoking user in loopback mode.
    user: str

    def host(self, name: str) -> PlaygroundHost:
        """Return the host called ``name``; PlaygroundError names the known ones otherwise."""
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts) or "none"
        raise PlaygroundError(f"no playground host named {name!r} (hosts: {known})")
