"""The resolved inventory: hosts with their merged variables, and the groups they belong to.

Loaders (YAML, INI, comma lists) build this; nothing here does I/O. Variable names are
canonical (``address``, ``port``, ...) once loaded: Ansible aliases are translated on the way in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from remoteops.errors import InventoryError

#: Canonical connection variables and the Ansible names accepted for each.
CONNECTION_VARS: Mapping[str, tuple[str, ...]] = {
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
    "protocol": ("ansible_connection",),
    "identity_file": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
    "password_env": (),
    "connect_timeout": ("ansible_timeout",),
    "jump_host": (),
    "known_hosts_file": (),
    "sudo": ("ansible_become", "ansible_sudo"),
    "sudo_user": ("ansible_become_user", "ansible_sudo_user"),
    "sudo_password_env": ("ansible_become_password_env",),
}

#: Protocols a host may declare; later issues add transports for the others.
PROTOCOLS = ("ssh", "local", "ftp", "ftps", "telnet", "podman", "docker")

#: Names that stand for the machine remoteops runs on, even when the inventory lacks them
#: (Ansible's implicit localhost): such a host runs with ``protocol: local``.
LOCALHOST_NAMES = ("localhost", "127.0.0.1", "::1")

#: At most this many hosts in one inventory, all sources together. The largest fleets driven
#: from one inventory are tens of thousands of hosts; a range like ``x[1:1000000]`` is a typo,
#: and a million hosts would take seconds and gigabytes before anything ran.
MAX_HOSTS = 100_000

#: At most this many levels of nesting: of mappings and lists in a YAML/JSON file, inside one
#: variable's value, and of child groups below ``all``. Real inventories use about ten; Ruby's
#: JSON parser stops at 100 too. Deeper documents are refused before they exhaust the stack.
MAX_NESTING = 100

#: YAML aliases may add at most this many nodes to what a file holds, or ten times the file's
#: own nodes when that is more (merge keys on every host of a big file). A "billion laughs"
#: file of a few lines would otherwise expand to hundreds of millions of values on display.
MAX_ALIAS_NODES = 1_000_000
ALIAS_FACTOR = 10

#: Variable names that would hold a secret in the inventory itself: refused, use password_env.
SECRET_VARS = (
    "password",
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_become_pass",
    "ansible_become_password",
    "ansible_sudo_pass",
)


@dataclass(frozen=True)
class Location:
    """Where a declaration was read, so an error can point at it."""

    source: str
    line: int | None = None
    key_path: str | None = None

    def error(self, message: str) -> InventoryError:
        return InventoryError(message, source=self.source, line=self.line, key_path=self.key_path)

    @property
    def place(self) -> str:
        """``file:line``, or the source alone (a comma list of hosts has no lines)."""
        return self.source if self.line is None else f"{self.source}:{self.line}"


@dataclass(frozen=True)
class Host:
    """One inventory host with its variables already merged (host > child > parent > all).

    ``origins`` says where each variable's winning value was written (loaded inventories
    only), so a value found wrong later (a setting checked for the host's protocol) is
    reported at its file and line.
    """

    name: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    origins: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)

    @property
    def address(self) -> str:
        return str(self.vars.get("address") or self.name)

    @property
    def port(self) -> int | None:
        port = self.vars.get("port")
        return None if port is None else int(port)

    @property
    def user(self) -> str | None:
        user = self.vars.get("user")
        return None if user is None else str(user)

    @property
    def protocol(self) -> str:
        return str(self.vars.get("protocol") or "ssh")

    @property
    def identity_file(self) -> str | None:
        value = self.vars.get("identity_file")
        return None if value is None else str(value)

    @property
    def password_env(self) -> str | None:
        value = self.vars.get("password_env")
        return None if value is None else str(value)

    @property
    def connect_timeout(self) -> float | None:
        value = self.vars.get("connect_timeout")
        return None if value is None else float(value)

    @property
    def jump_host(self) -> str | None:
        value = self.vars.get("jump_host")
        return None if value is None else str(value)

    @property
    def known_hosts_file(self) -> str | None:
        value = self.vars.get("known_hosts_file")
        return None if value is None else str(value)


@dataclass(frozen=True)
class Group:
    """A group as declared: its direct hosts, direct children and its own variables.

    ``priority`` is Ansible's ``ansible_group_priority``: it orders groups of the same depth
    when their variables are merged (higher wins); the default is 1, as in Ansible.
    """

    name: str
    hosts: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    priority: int = 1
