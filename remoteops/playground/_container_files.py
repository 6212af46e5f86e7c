"""The container playground's plan and files, without I/O: which hosts run which daemon, the
state record ``down`` trusts, and the inventory and known_hosts written for clients.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._files import known_hosts_line

STATE_VERSION = 1
#: The label every container, network and volume of a container playground carries; its value
#: is the playground's id. ``down`` removes only what is both recorded and labelled so.
LABEL = "remoteops.playground"
#: The environment variable the inventory names for the login and sudo password.
PASSWORD_ENV = "REMOTEOPS_PLAYGROUND_PASSWORD"  # noqa: S105 (a variable's name)
#: The login user of the testhost images (it has sudo, with the password).
USER = "tester"


@dataclass(frozen=True)
class Role:
    """What one kind of host runs: the image target, the daemon, its port and protocol."""

    target: str
    daemon: str
    port: int
    protocol: str
    #: What the daemon sends first: its banner's start, or b"" for "any byte" (telnet's
    #: option negotiation comes before any text).
    banner: bytes


ROLES: Mapping[str, Role] = {
    "sshd": Role("testhost-ssh", "sshd", 22, "ssh", b"SSH-2.0"),
    "serve-ftp": Role("testhost-ftp", "serve-ftp", 21, "ftp", b"220"),
    "vsftpd": Role("testhost-ftp", "vsftpd", 21, "ftp", b"220"),
    "telnetd": Role("testhost-telnet", "telnetd", 23, "telnet", b""),
}


@dataclass
class ContainerRecord:
    """One host's container as the state file keeps it: planned first, then its id and address
    once the engine made it (so an ``up`` that dies half-way leaves ``down`` a map)."""

    name: str
    role: str
    container: str
    command: str
    container_id: str = ""
    address: str = ""

    @property
    def spec(self) -> Role:
        return ROLES[self.role]


@dataclass
class ContainerState:
    """The state file of a container playground: its id, engine, network and hosts."""

    playground_id: str
    engine: str
    network: str
    hosts: list[ContainerRecord] = field(default_factory=list)
    #: Named volumes made for the playground (none today; ``down`` honours the list).
    volumes: list[str] = field(default_factory=list)

    def dumps(self) -> str:
        return json.dumps({"version": STATE_VERSION, **asdict(self)}, indent=1) + "\n"

    @classmethod
    def loads(cls, text: str) -> ContainerState:
        """The recorded state; a ValueError saying what is wrong when the text is not a state
        file of this version."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"version {data.get('version')!r}, not {STATE_VERSION}")
        try:
            fields: dict[str, Any] = {k: v for k, v in data.items() if k != "version"}
            hosts = [ContainerRecord(**h) for h in fields.pop("hosts", [])]
            return cls(hosts=hosts, **fields)
        except TypeError as exc:
            raise ValueError(f"unexpected fields: {exc}") from exc


def plan_hosts(playground_id: str, ssh_count: int) -> list[ContainerRecord]:
    """The topology: ``ssh_count`` SSH hosts, one FTP host per FTP daemon, one Telnet host.

    Inventory names are fixed (each playground has a network of its own); container names
    carry the id, so two playgrounds on one engine never clash.
    """
    width = max(2, len(str(ssh_count)))
    named = [(f"ssh{i:0{width}d}", "sshd") for i in range(1, ssh_count + 1)]
    named += [("ftp-serve", "serve-ftp"), ("ftp-vsftpd", "vsftpd"), ("telnet01", "telnetd")]
    return [
        ContainerRecord(name, role, f"ropg-{playground_id}-{name}", ROLES[role].daemon)
        for name, role in named
    ]


def render_known_hosts(host_keys: Mapping[str, str], hosts: Sequence[ContainerRecord]) -> str:
    """known_hosts pinning each SSH host's key at its address (``host_keys``: name -> key)."""
    lines = [
        known_hosts_line(h.address, h.spec.port, host_keys[h.name])
        for h in hosts
        if h.spec.protocol == "ssh"
    ]
    return "\n".join(lines) + "\n"


def render_inventory(
    hosts: Sequence[ContainerRecord],
    *,
    identity_file: Path,
    known_hosts_file: Path,
    password_file: Path | None,
    password_env: str = PASSWORD_ENV,
) -> str:
    """The playground as a YAML inventory with the groups ``ssh``, ``ftp`` and ``telnet``.

    The password is named (``password_env``), never written; ``password_file``, where the
    playground keeps it, goes in the header's hint. Plain FTP and Telnet are marked as known
    to be plaintext: their traffic stays on a private bridge of this machine.
    """
    group_vars: dict[str, dict[str, Any]] = {
        "ssh": {
            "protocol": "ssh",
            "identity_file": str(identity_file),
            "known_hosts_file": str(known_hosts_file),
            "sudo_password_env": password_env,
        },
        "ftp": {"protocol": "ftp", "password_env": password_env, "ftp_plaintext_ok": True},
        "telnet": {"protocol": "telnet", "password_env": password_env, "telnet_plaintext_ok": True},
    }
    children: dict[str, Any] = {}
    for group, variables in group_vars.items():
        members = {
            h.name: {"address": h.address, "port": h.spec.port}
            for h in hosts
            if h.spec.protocol == group
        }
        if members:
            children[group] = {"vars": variables, "hosts": members}
    document = {"all": {"vars": {"user": USER, "connect_timeout": 5}, "children": children}}
    source = f'"$(cat {password_file})"' if password_file else "THE-PASSWORD"
    header = (
        "# Written by `remoteops playground`; rewritten every time.\n"
        f"# FTP and Telnet logins and sudo need the password: export {password_env}={source}\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False)
