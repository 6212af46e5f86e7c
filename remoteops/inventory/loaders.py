"""What every inventory loader shares: the builder it fills and the checks on variables.

Each format (YAML, INI, a comma list of names) only parses. :class:`InventoryBuilder` merges what
every source declares, in order: later sources add hosts and groups and override variables of the
same level. Ansible variable names are translated to canonical ones here and connection variables
checked here, so every format reports the same mistakes in the same words, naming the file, the
line and the key path.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from remoteops.inventory.model import (
    CONNECTION_VARS,
    MAX_HOSTS,
    MAX_NESTING,
    PROTOCOLS,
    Location,
)
from remoteops.inventory.ranges import expand_range
from remoteops.inventory.secrets import looks_like_password
from remoteops.inventory.values import PORT, Choice, EnvName, Flag, Kind, Seconds, Text

#: Ansible's per-group ordering knob: at the same depth, a higher priority group wins.
GROUP_PRIORITY_VAR = "ansible_group_priority"

_CANONICAL: dict[str, str] = {name: name for name in CONNECTION_VARS}
_CANONICAL.update({alias: name for name, aliases in CONNECTION_VARS.items() for alias in aliases})

#: Ansible connection plugins and the protocol that plays their part here.
_ANSIBLE_CONNECTIONS = {
    "ssh": "ssh",
    "paramiko": "ssh",
    "paramiko_ssh": "ssh",
    "smart": "ssh",
    "local": "local",
    "ansible.builtin.ssh": "ssh",
    "ansible.builtin.paramiko_ssh": "ssh",
    "ansible.builtin.local": "local",
}

#: How each connection variable is checked when read (``protocol`` maps Ansible's plugins).
_CONNECTION_KINDS: dict[str, Kind] = {
    "port": PORT,
    "connect_timeout": Seconds(),
    "password_env": EnvName(),
    **{name: Text() for name in ("address", "user", "identity_file", "jump_host")},
    "known_hosts_file": Text(),
    "sudo": Flag(),
    "sudo_user": Text(),
    "sudo_password_env": EnvName(),
    "ansible_become_method": Choice(("sudo",)),  # remoteops becomes through sudo only
}
_NOT_STORED_HERE = (
    "passwords are never stored in the inventory; set password_env: VAR_NAME and export VAR_NAME"
)
_SUDO_NOT_STORED_HERE = (
    "passwords are never stored in the inventory; set sudo_password_env (or "
    "ansible_become_password_env): VAR_NAME and export VAR_NAME"
)


def _not_stored_here(name: object) -> str:
    """Which ``*_env`` variable to use instead of a password: sudo's or the login's."""
    lowered = str(name).lower()
    sudo = "become" in lowered or lowered.startswith("ansible_sudo")
    return _SUDO_NOT_STORED_HERE if sudo else _NOT_STORED_HERE


@dataclass(frozen=True)
class VarDecl:
    """One ``name: value`` as written in a source, before alias translation."""

    name: str
    value: Any
    where: Location


@dataclass
class GroupDecl:
    """A group as declared so far: dicts keep first-seen order and drop duplicates."""

    name: str
    hosts: dict[str, None] = field(default_factory=dict)
    children: dict[str, None] = field(default_factory=dict)
    parents: dict[str, None] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    #: From group_vars files: Ansible ranks these above every group var of inventory files.
    file_vars: dict[str, Any] = field(default_factory=dict)
    #: Where each of ``vars`` and of ``file_vars`` was written.
    origins: dict[str, Location] = field(default_factory=dict)
    file_origins: dict[str, Location] = field(default_factory=dict)
    priority: int = 1


class InventoryBuilder:
    """The mutable inventory that loaders fill, source after source, before it is resolved."""

    def __init__(self) -> None:
        self.hosts: dict[str, dict[str, Any]] = {}
        #: Where each host variable was written, by host.
        self.host_origins: dict[str, dict[str, Location]] = {}
        #: Where each host was first declared, for errors found once everything is merged.
        self.declared: dict[str, Location] = {}
        #: Where each parent -> child link was first declared, in declaration order.
        self.links: dict[tuple[str, str], Location] = {}
        self.groups: dict[str, GroupDecl] = {}
        #: The login (user, port) each host's entries wrote, and where first.
        self.logins: dict[str, tuple[str | None, int | None, Location]] = {}
        #: What loading noticed without failing: warning -> where (in order, once each).
        self.notes: dict[str, dict[str, None]] = {}
        self.add_group("all")
        self.add_group("ungrouped")

    def add_group(self, name: str) -> GroupDecl:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = GroupDecl(name)
        return group

    def add_host(self, name: str, group: str | None = None, where: Location | None = None) -> None:
        if name not in self.hosts:
            if len(self.hosts) >= MAX_HOSTS:
                raise (where or Location("<inventory>")).error(
                    f"more than {MAX_HOSTS:,} hosts: remoteops refuses bigger inventories "
                    "(a range such as x[1:1000000] is usually a typo)"
                )
            self.hosts[name] = {}
        if where is not None:
            self.declared.setdefault(name, where)
        self.add_group(group or "ungrouped").hosts[name] = None

    def add_entry(
        self,
        entry: HostEntry,
        group: str | None,
        where: Location,
        decls: Iterable[VarDecl] = (),
    ) -> None:
        """Add every host an entry names, with what the entry sets and then ``decls``."""
        decls = list(decls)
        for host in entry.names:
            self._note_other_login(host, entry, where)
            self.add_host(host, group, where)
            self.set_host_vars(host, entry.declared(where))
            self.set_host_vars(host, decls)

    def _note_other_login(self, host: str, entry: HostEntry, where: Location) -> None:
        """Warn when two entries give one host different logins (``user@``, ``:port``): in a
        pssh host file ``web1:22`` and ``web1:2222`` (or ``root@web1``) are two targets, here
        they are one host whose logins merge, the later winning. A bare name beside
        ``root@web1`` is Ansible's usual listing of a host in a second group: no warning."""
        if entry.user is None and entry.port is None:
            return
        previous = self.logins.get(host)
        if previous is None:
            self.logins[host] = (entry.user, entry.port, where)
            return
        user, port, first = previous
        if (user, port) != (entry.user, entry.port):
            before, now = _login(host, user, port), _login(host, entry.user, entry.port)
            what = (
                f"{host} is listed as {before} ({first.place}) and as {now}: "
                "one host, whose later login wins; to reach both, give each its own name "
                "with ansible_host"
            )
            self.notes.setdefault(what, {})[where.place] = None
        self.logins[host] = (entry.user, entry.port, where)

    def add_child(self, parent: str, child: str, where: Location) -> None:
        """Make ``child`` a child of ``parent``; cycles are found once all sources are read.

        Looking for a cycle at each new child would walk the tree below it every time:
        quadratic in the depth (a chain of 5,000 nested groups took over a minute).
        """
        if child == "all":
            raise where.error(f"group 'all' cannot be a child of group {parent!r}")
        if child == parent:
            raise where.error(f"group {child!r} cannot be a child of itself")
        self.add_group(parent).children[child] = None
        self.add_group(child).parents[parent] = None
        self.links.setdefault((parent, child), where)

    def set_host_vars(self, name: str, decls: Iterable[VarDecl]) -> None:
        origins = self.host_origins.setdefault(name, {})
        self.hosts.setdefault(name, {}).update(normalize_vars(decls, origins))

    def set_group_vars(
        self, name: str, decls: Iterable[VarDecl], *, from_vars_file: bool = False
    ) -> None:
        group = self.add_group(name)
        plain: list[VarDecl] = []
        for decl in decls:
            if decl.name == GROUP_PRIORITY_VAR and not from_vars_file:  # Ansible ignores it there
                group.priority = _check_priority(decl)
            elif decl.name != GROUP_PRIORITY_VAR:
                plain.append(decl)
        if from_vars_file:
            group.file_vars.update(normalize_vars(plain, group.file_origins))
        else:
            group.vars.update(normalize_vars(plain, group.origins))


def normalize_vars(
    decls: Iterable[VarDecl], origins: dict[str, Location] | None = None
) -> dict[str, Any]:
    """Translate Ansible names to canonical ones and check connection variables.

    Unknown names are user variables and pass unchanged. Two spellings of one canonical name
    in the same mapping (``ansible_host`` and ``address``) are an error, not a silent pick.
    ``origins``, when given, gets where each canonical name was written.
    """
    result: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for decl in decls:
        _check_value_tree(decl)
        name = _CANONICAL.get(decl.name, decl.name)
        previous = spelled.setdefault(name, decl.name)
        if previous != decl.name:
            raise decl.where.error(f"{previous!r} and {decl.name!r} both set {name!r}; keep one")
        result[name] = check_connection_value(name, decl)
        if origins is not None:
            origins[name] = decl.where
    return result


def _check_value_tree(decl: VarDecl) -> None:
    """Refuse a password-named variable, a password-named key anywhere inside its value, and a
    value nested deeper than :data:`MAX_NESTING` (``ast.literal_eval`` of an INI value nests up
    to 200). Shared containers (YAML aliases) are looked into once.
    """
    if looks_like_password(decl.name, decl.value):
        raise decl.where.error(f"{decl.name!r}: {_not_stored_here(decl.name)}")
    base = decl.where.key_path or decl.name
    pending: list[tuple[Any, str, int]] = [(decl.value, base, 1)]
    seen: set[int] = set()
    while pending:
        value, path, depth = pending.pop()
        if not isinstance(value, (Mapping, list, tuple)) or id(value) in seen:
            continue
        seen.add(id(value))
        if depth > MAX_NESTING:
            where = Location(decl.where.source, decl.where.line, base)
            raise where.error(f"value nested more than {MAX_NESTING} levels deep")
        if isinstance(value, Mapping):
            items = [(f"{path}.{key}", key, item) for key, item in value.items()]
        else:
            items = [(f"{path}[{index}]", None, item) for index, item in enumerate(value)]
        for inner_path, key, item in items:
            if key is not None and looks_like_password(key, item):
                where = Location(decl.where.source, decl.where.line, inner_path)
                raise where.error(f"{str(key)!r}: {_not_stored_here(key)}")
        pending.extend((item, inner_path, depth + 1) for inner_path, _, item in reversed(items))


@dataclass(frozen=True)
class HostEntry:
    """A host as a line or key names it: ``[user@]name[:port]``, the name maybe a range."""

    names: list[str]
    port: int | None = None
    user: str | None = None

    def declared(self, where: Location) -> list[VarDecl]:
        """The variables the entry itself sets (``port``, ``user``), as written at ``where``.

        Set before the variables written after the name on the same line, which therefore
        win: ``root@web1:2222 ansible_user=deploy`` logs in as deploy (as ``ansible_port``
        already beat ``:port``).
        """
        decls = [] if self.port is None else [VarDecl("port", self.port, where)]
        return decls if self.user is None else [*decls, VarDecl("user", self.user, where)]


def _login(host: str, user: str | None, port: int | None) -> str:
    shown = f"[{host}]" if port is not None and ":" in host else host
    return f"{user + '@' if user else ''}{shown}{'' if port is None else f':{port}'}"


def split_host_entry(entry: str, where: Location) -> HostEntry:
    """Split ``[user@]name[:port]`` (or ``[ipv6]:port``) and expand ranges in the name.

    The port and the ranges are Ansible's; ``user@`` is ssh's and pssh's (the last ``@``
    ends the user, as in ssh). A bare IPv6 address has several colons and no port; a colon
    inside brackets belongs to a range (``web[01:20]``), not to a port.
    """
    text = entry.strip()
    if any(char.isspace() for char in text):
        raise where.error(f"{text!r}: a host entry holds no spaces (write user@host:port)")
    user: str | None = None
    if "@" in text:
        user, _, text = text.rpartition("@")
        if not user:
            raise where.error(f"{entry.strip()!r}: no user before '@' (write user@host)")
        if user.startswith("-"):  # read as an option by whatever tool it is handed to
            raise where.error(f"{entry.strip()!r}: a user name cannot start with '-'")
    if not text:
        raise where.error("empty host name")
    if text.startswith("-"):
        raise where.error(f"{entry.strip()!r}: a host name cannot start with '-'")
    names, port = _split_name_port(text, where)
    return HostEntry(names, port, user)


def _split_name_port(text: str, where: Location) -> tuple[list[str], int | None]:
    if text.startswith("["):
        inner, _, rest = text[1:].partition("]")
        if is_ip(inner) and (not rest or rest.startswith(":")):
            return [inner], _port(rest[1:], where) if rest else None
    colons = _colons_outside_brackets(text)
    name, port = text, None
    if len(colons) == 1:  # ``web1:abc`` is a bad port, not a host named so (Ansible agrees)
        name, port = text[: colons[0]], _port(text[colons[0] + 1 :], where)
    if len(colons) > 1 and "[" not in text:
        return [name], port
    try:
        return expand_range(name), port
    except ValueError as exc:
        raise where.error(str(exc)) from None


def _colons_outside_brackets(text: str) -> list[int]:
    depth = 0
    found: list[int] = []
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == ":" and depth == 0:
            found.append(index)
    return found


def is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (not a name)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _port(text: str, where: Location) -> int:
    if not _is_port(text) or not 1 <= int(text) <= 65535:
        raise where.error(f"port {text!r} must be an integer from 1 to 65535")
    return int(text)


def _check_priority(decl: VarDecl) -> int:
    value = decl.value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise decl.where.error(f"{GROUP_PRIORITY_VAR} must be an integer, not {value!r}")
    return value


def check_connection_value(name: str, decl: VarDecl) -> Any:
    """Check one canonical connection variable; return it in its canonical type."""
    value = decl.value
    kind = _CONNECTION_KINDS.get(name)
    if name == "protocol":
        protocol = value
        if decl.name != "protocol" and isinstance(value, str):
            protocol = _ANSIBLE_CONNECTIONS.get(value, value)
        if protocol not in PROTOCOLS:
            raise decl.where.error(
                f"{decl.name} {value!r} is not supported; use one of {', '.join(PROTOCOLS)}"
            )
        return protocol
    if kind is not None:
        try:
            value = kind.parse(value)
        except ValueError as exc:
            raise decl.where.error(f"{_shown_name(name, decl)} {exc}, not {value!r}") from None
    if name == "address" and (problem := address_problem(value)) is not None:
        raise decl.where.error(f"{decl.name} {value!r} cannot be connected to: {problem}")
    return value


def _shown_name(name: str, decl: VarDecl) -> str:
    """The name as written, except where the canonical one has always been said."""
    said = ("port", "connect_timeout", "password_env", "sudo_password_env")
    if " " in decl.name:  # a part of ssh arguments: ``ansible_ssh_extra_args -p 0``
        return f"{decl.name}: {name}"
    return name if name in said else decl.name


def address_problem(address: str) -> str | None:
    """Why ``address`` can never be looked up, or None.

    The resolver turns a name into an address through the IDNA codec, which fails with a bare
    ``UnicodeError`` on an empty or over-long label (``..``, ``web..example``): said here, in
    the inventory's words, rather than as an internal error of the host at connect time.
    """
    if is_ip(address):
        return None
    name = address[:-1] if address.endswith(".") else address
    labels = name.split(".")
    if any(not label for label in labels):
        return "a host name has no empty part between dots (nor a leading dot)"
    if any(len(label) > 63 for label in labels):
        return "each dot-separated part of a host name is at most 63 characters"
    try:
        address.encode("idna")
    except UnicodeError as exc:
        return f"not a valid host name ({exc})"
    return None
