"""The loaded inventory, and :func:`load_inventory`, which finds, reads and resolves its sources.

Variable precedence, lowest to highest (Ansible's rule, so values land where Ansible users
expect them):

1. the group ``all``;
2. every other group the host is in, directly or through a child group, by depth: a child
   beats its parent (depth is the longest chain of parents up to ``all``); at the same depth
   groups merge by ``ansible_group_priority`` (default 1, higher wins), then by name, the name
   that sorts last winning;
3. the host's own variables.

At one level, a later source overrides an earlier one. As in Ansible, variables from
``group_vars`` files rank above every group variable written in inventory files (so
``group_vars/all`` beats ``[web:vars]``), in the same depth order among themselves, and a
``host_vars`` file beats the host's inventory line. Merging is per variable name, with no
deep merge of dicts (Ansible's default ``hash_behaviour = replace``).
"""

from __future__ import annotations

import logging
import os
from collections import ChainMap, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from remoteops.errors import InventoryError
from remoteops.inventory.ansible_vars import ssh_args_of, ssh_args_settings, unread_ansible_vars
from remoteops.inventory.ini_loader import load_ini_inventory
from remoteops.inventory.loaders import (
    InventoryBuilder,
    VarDecl,
    address_problem,
    check_connection_value,
    split_host_entry,
)
from remoteops.inventory.model import LOCALHOST_NAMES, MAX_NESTING, Group, Host, Location
from remoteops.inventory.patterns import select_hosts
from remoteops.inventory.ranges import split_hosts
from remoteops.inventory.yaml_loader import (
    load_vars_file,
    load_yaml_inventory,
    looks_like_yaml_inventory,
)

log = logging.getLogger(__name__)

#: Ignored parts of an inventory: what is ignored -> where it was written (in order, once).
Notes = dict[str, dict[str, None]]

#: Environment variable naming the inventory sources, separated by ``os.pathsep``.
INVENTORY_ENV = "REMOTEOPS_INVENTORY"

#: The folder, relative to the working directory, used when no source is given.
DEFAULT_INVENTORY = "inventory"

_YAML_SUFFIXES = (".yml", ".yaml", ".json")
_SKIPPED_NAMES = ("group_vars", "host_vars", "vars_plugins")
_SKIPPED_SUFFIXES = (
    ".retry", ".md", ".txt", ".cfg", ".j2", "~",
    ".orig", ".bak", ".swp", ".pyc", ".pyo", ".rst", ".rpm",
)  # fmt: skip


class Inventory:
    """Hosts with their resolved variables, the groups they came from, and the sources read.

    Read-only once built. :meth:`select` takes an Ansible host pattern; a host named like
    ``localhost`` works even when absent, as Ansible's implicit localhost (protocol local).
    """

    __slots__ = ("_groups", "_hosts", "_sources")

    def __init__(
        self, hosts: Iterable[Host], groups: Iterable[Group] = (), sources: Iterable[str] = ()
    ) -> None:
        self._hosts: Mapping[str, Host] = MappingProxyType({host.name: host for host in hosts})
        known = {group.name: group for group in groups}
        for name in ["all", *(name for host in self._hosts.values() for name in host.groups)]:
            known.setdefault(name, Group(name))
        self._groups: Mapping[str, Group] = MappingProxyType(dict(sorted(known.items())))
        self._sources = tuple(sources)

    @property
    def hosts(self) -> Mapping[str, Host]:
        """Hosts by name, in the order sources first named them."""
        return self._hosts

    @property
    def groups(self) -> Mapping[str, Group]:
        """Groups by name, sorted, including ``all`` and ``ungrouped``."""
        return self._groups

    @property
    def sources(self) -> tuple[str, ...]:
        """The files, directories and host lists read; empty for the built-in fallback."""
        return self._sources

    def select(self, pattern: str, named: Mapping[str, Sequence[str]] | None = None) -> list[Host]:
        """Hosts an Ansible pattern selects, in inventory order; ``named`` gives ``@name``
        terms their hosts (``@failed``, ``@last``); see :mod:`.patterns`."""
        return select_hosts(self, pattern, named)

    def group_hosts(self, name: str) -> list[str]:
        """Names of the hosts in group ``name`` or any group below it, in inventory order."""
        if name not in self._groups:
            raise KeyError(name)
        if name == "all":
            return list(self._hosts)
        return [host.name for host in self._hosts.values() if name in host.groups]

    def localhost(self, name: str = "localhost") -> Host:
        """The inventory's host ``name`` or, when absent, the implicit local one.

        Like Ansible's implicit localhost it is in no group yet takes the variables of ``all``,
        with ``protocol: local`` on top.
        """
        host = self._hosts.get(name)
        if host is not None:
            return host
        if name not in LOCALHOST_NAMES:
            raise KeyError(name)
        all_vars = self._groups["all"].vars
        return Host(name, MappingProxyType({**all_vars, "protocol": "local"}), ())

    def __len__(self) -> int:
        return len(self._hosts)

    def __iter__(self) -> Iterator[Host]:
        return iter(self._hosts.values())

    def __contains__(self, name: object) -> bool:
        return name in self._hosts

    def __repr__(self) -> str:
        return f"<Inventory {len(self._hosts)} hosts, {len(self._groups)} groups>"


def load_inventory(
    sources: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Inventory:
    """Read and merge inventory sources: files, directories or comma lists of host names.

    With no sources, ``$REMOTEOPS_INVENTORY`` (``os.pathsep``-separated) is used, else the
    ``inventory`` folder of ``cwd``, else an inventory holding only ``localhost`` (protocol
    local), so a fresh machine works. Relative paths are taken from ``cwd``.
    """
    env = os.environ if environ is None else environ
    base = Path.cwd() if cwd is None else cwd
    if isinstance(sources, str):
        sources = [sources]
    chosen = [source for source in sources or () if source.strip()]
    if not chosen:
        chosen = [item for item in env.get(INVENTORY_ENV, "").split(os.pathsep) if item.strip()]
    if not chosen and (base / DEFAULT_INVENTORY).exists():
        chosen = [str(base / DEFAULT_INVENTORY)]
    builder = InventoryBuilder()
    if not chosen:
        builder.add_host("localhost")
        builder.set_host_vars("localhost", [VarDecl("protocol", "local", Location("<builtin>"))])
        return _resolve(builder, ())
    labels: list[str] = []
    vars_dirs: dict[Path, None] = {}
    for source in chosen:
        label, vars_dir = _load_source(builder, source, base)
        labels.append(label)
        if vars_dir is not None:
            vars_dirs[vars_dir] = None
    for directory in vars_dirs:
        _apply_vars_dir(builder, directory)
    notes: Notes = dict(builder.notes)
    inventory = _resolve(builder, labels, notes)
    for what, places in notes.items():
        shown = list(places)
        more = f" (and {len(shown) - 3} more places)" if len(shown) > 3 else ""
        log.warning("%s: %s%s", ", ".join(shown[:3]), what, more)
    return inventory


def _resolve(
    builder: InventoryBuilder, sources: Iterable[str], notes: Notes | None = None
) -> Inventory:
    """Turn what the loaders declared into an :class:`Inventory`, merging variables by depth."""
    decls = builder.groups
    parents = {name: list(group.parents) or ["all"] for name, group in decls.items()}
    parents["all"] = []
    depth: dict[str, int] = {}
    lineage: dict[str, frozenset[str]] = {}
    for name in _parents_first(builder, parents):
        depth[name] = max((depth[parent] + 1 for parent in parents[name]), default=0)
        if depth[name] > MAX_NESTING:
            parent = max(parents[name], key=depth.__getitem__)
            where = builder.links.get((parent, name), Location("<inventory>"))
            raise where.error(
                f"group {name!r} is nested more than {MAX_NESTING} levels below 'all' "
                f"(here as a child of {parent!r})"
            )
        lineage[name] = frozenset(parents[name]).union(*(lineage[p] for p in parents[name]))
    direct: dict[str, set[str]] = {name: set() for name in builder.hosts}
    for group in decls.values():
        for host in group.hosts:
            direct[host].add(group.name)
    # Like Ansible: a host in no group but all is ungrouped, and a grouped one is not.
    ungrouped = [name for name in builder.hosts if not direct[name] - {"all", "ungrouped"}]
    for name in builder.hosts:
        direct[name].discard("ungrouped")
    for name in ungrouped:
        direct[name].add("ungrouped")
    merged: dict[frozenset[str], tuple[dict[str, Any], dict[str, Location]]] = {}
    hosts: list[Host] = []
    for name, own_vars in builder.hosts.items():
        member = direct[name]
        every = frozenset({"all"}).union(member, *(lineage[group] for group in member))
        if every not in merged:
            ordered = sorted(every, key=lambda group: (depth[group], decls[group].priority, group))
            layers = [  # every group_vars file beats inventory files
                *((decls[group].vars, decls[group].origins) for group in ordered),
                *((decls[group].file_vars, decls[group].file_origins) for group in ordered),
            ]
            merged[every] = (
                {key: value for values, _ in layers for key, value in values.items()},
                {key: where for _, origins in layers for key, where in origins.items()},
            )
        group_vars, group_origins = merged[every]
        # Shared with the other hosts of the same groups, not copied: one lookup in two maps.
        origins = ChainMap(builder.host_origins.get(name, {}), group_origins)
        own = {**group_vars, **own_vars}
        if notes is not None:
            _note_ansible_vars(own, origins, notes)
        variables = MappingProxyType(_with_ssh_args(own, origins))
        _check_reachable_name(builder, name, variables)
        hosts.append(Host(name, variables, tuple(sorted(every)), origins))
    top_level = [name for name, group in decls.items() if name != "all" and not group.parents]
    groups = [
        Group(
            name,
            tuple(ungrouped) if name == "ungrouped" else tuple(group.hosts),
            tuple(dict.fromkeys([*group.children, *(top_level if name == "all" else ())])),
            MappingProxyType({**group.vars, **group.file_vars}),
            group.priority,
        )
        for name, group in decls.items()
    ]
    return Inventory(hosts, groups, sources)


def _with_ssh_args(variables: dict[str, Any], origins: ChainMap[str, Location]) -> dict[str, Any]:
    """The settings the host's ssh arguments give (``-o ProxyJump=``...) where its variables
    leave them unset; see :mod:`.ansible_vars`. ``origins`` learns where each came from."""
    derived: dict[str, Location] = {}
    for var, text in ssh_args_of(variables):
        where = origins.get(var, Location("<inventory>"))
        for setting, written, value in ssh_args_settings(text)[0]:
            if setting in variables:
                continue
            decl = VarDecl(f"{var} {written}", value, where)
            variables[setting] = check_connection_value(setting, decl)
            derived[setting] = where
    if derived:
        origins.maps.insert(0, derived)
    return variables


def _note_ansible_vars(
    variables: Mapping[str, Any], origins: Mapping[str, Location], notes: Notes
) -> None:
    """Note the ``ansible_*`` variables remoteops does not read and the ignored parts of ssh
    arguments, with where each was written."""
    for var in unread_ansible_vars(variables):
        place = _place(origins.get(var))
        notes.setdefault(f"{var} is not read by remoteops (ignored)", {})[place] = None
    for var, text in ssh_args_of(variables):
        found, ignored = ssh_args_settings(text)
        place = _place(origins.get(var))
        for part in ignored:
            notes.setdefault(f"{var}: {part}", {})[place] = None
        for setting, written, _ in found:
            if setting in variables:
                what = f"{var}: {written} is ignored: {setting} is set as itself"
                notes.setdefault(what, {})[place] = None


def _place(where: Location | None) -> str:
    return "<inventory>" if where is None else where.place


def _parents_first(builder: InventoryBuilder, parents: Mapping[str, list[str]]) -> list[str]:
    """Every group after all of its parents (Kahn's algorithm: linear in groups and links).

    Groups left over sit on or below a cycle: the link that closed it, in reading order, is
    reported where it was written, with the whole loop.
    """
    children: dict[str, list[str]] = {name: [] for name in parents}
    waiting = {name: len(names) for name, names in parents.items()}
    for name, names in parents.items():
        for parent in names:
            children[parent].append(name)
    ready = deque(name for name, count in waiting.items() if count == 0)
    order: list[str] = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) < len(parents):
        _report_cycle(builder, {name for name, count in waiting.items() if count > 0}, parents)
    return order


def _report_cycle(
    builder: InventoryBuilder, stuck: set[str], parents: Mapping[str, list[str]]
) -> NoReturn:
    """Raise for one cycle among ``stuck`` groups (each has a parent that is stuck too)."""
    walk: dict[str, int] = {}
    name = next(iter(sorted(stuck)))
    while name not in walk:  # climb through stuck parents until a group repeats
        walk[name] = len(walk)
        name = next(parent for parent in parents[name] if parent in stuck)
    upward = [group for group, index in walk.items() if index >= walk[name]]
    # upward[i + 1] is a parent of upward[i]; the link declared last closed the loop
    links = [(upward[(i + 1) % len(upward)], upward[i]) for i in range(len(upward))]
    order = {link: index for index, link in enumerate(builder.links)}
    parent, child = max(links, key=lambda link: order.get(link, -1))
    start = upward.index(child)
    downward = [upward[(start - i) % len(upward)] for i in range(len(upward))]
    loop = " -> ".join([parent, *downward])  # downward ends where it started: at parent
    where = builder.links.get((parent, child), Location("<inventory>"))
    raise where.error(f"group {child!r} cannot be a child of {parent!r}: cycle {loop}")


def _check_reachable_name(
    builder: InventoryBuilder, name: str, variables: Mapping[str, Any]
) -> None:
    """A host reached by its name needs a name the resolver can look up (``..`` is not)."""
    if variables.get("protocol") == "local" or "address" in variables:
        return
    problem = address_problem(name)
    if problem is not None:
        where = builder.declared.get(name, Location("<inventory>"))
        raise where.error(
            f"host {name!r} cannot be connected to by its name: {problem}; fix the name or "
            "give the host an address (ansible_host)"
        )


def _load_source(builder: InventoryBuilder, source: str, base: Path) -> tuple[str, Path | None]:
    """Load one source; return its label and the folder its group_vars/host_vars live in."""
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = base / path
    if "," in source and not path.exists():
        _load_host_list(builder, source)
        return source, None
    if path.is_dir():
        for file in _inventory_files(path):
            _load_file(builder, file)
        return str(path), path
    if path.is_file():
        _load_file(builder, path)
        return str(path), path.parent
    raise InventoryError("no such inventory file or directory", source=str(path))


def _load_host_list(builder: InventoryBuilder, source: str) -> None:
    """``host1,web[01:03]:2222,root@db1,`` as with ``ansible -i`` (and ``user@`` as with pssh
    ``-H``): ungrouped hosts, ranges allowed."""
    for item in split_hosts(source):
        if not item.strip():
            continue
        where = Location(source, None, item.strip())
        builder.add_entry(split_host_entry(item, where), None, where)


def _inventory_files(directory: Path) -> list[Path]:
    """Inventory files in a folder, sorted and recursively, skipping what Ansible skips."""
    found: list[Path] = []
    for entry in sorted(directory.iterdir(), key=lambda item: item.name):
        name = entry.name
        if name.startswith(".") or name in _SKIPPED_NAMES or name.endswith(_SKIPPED_SUFFIXES):
            continue
        if entry.is_dir():
            found.extend(_inventory_files(entry))
        elif entry.is_file():
            found.append(entry)
    return found


def _load_file(builder: InventoryBuilder, path: Path) -> None:
    text = _read(path)
    suffix = path.suffix.lower()
    if suffix in _YAML_SUFFIXES or (not suffix and looks_like_yaml_inventory(text)):
        load_yaml_inventory(builder, text, str(path))
    else:
        load_ini_inventory(builder, text, str(path))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InventoryError("not UTF-8 text", source=str(path)) from None
    except OSError as exc:
        raise InventoryError(f"cannot read: {exc.strerror}", source=str(path)) from None


def _apply_vars_dir(builder: InventoryBuilder, directory: Path) -> None:
    """Apply ``group_vars/<group>`` and ``host_vars/<host>`` found in ``directory``."""
    group_dir, host_dir = directory / "group_vars", directory / "host_vars"
    group_entries = _entries(group_dir)
    for group in list(builder.groups):
        for file in _vars_files(group_dir, group_entries, group):
            builder.set_group_vars(
                group, load_vars_file(_read(file), str(file)), from_vars_file=True
            )
    host_entries = _entries(host_dir)
    for host in list(builder.hosts):
        for file in _vars_files(host_dir, host_entries, host):
            builder.set_host_vars(host, load_vars_file(_read(file), str(file)))


def _entries(directory: Path) -> set[str]:
    return {entry.name for entry in directory.iterdir()} if directory.is_dir() else set()


def _vars_files(directory: Path, entries: set[str], name: str) -> list[Path]:
    """Ansible's lookup: ``name`` (file or folder), then ``name.yml``, ``.yaml``, ``.json``."""
    for candidate in (name, *(name + suffix for suffix in _YAML_SUFFIXES)):
        if candidate in entries:
            path = directory / candidate
            return _vars_folder(path) if path.is_dir() else [path]
    return []


def _vars_folder(directory: Path) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(directory.iterdir(), key=lambda item: item.name):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.suffix:
            found.extend(_vars_folder(entry))
        elif entry.is_file() and entry.suffix in ("", *_YAML_SUFFIXES):
            found.append(entry)
    return found
