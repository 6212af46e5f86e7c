"""INI inventories exactly as Ansible reads them, so existing ``hosts`` files work unchanged.

``[group]`` sections list hosts (``name key=value key2="quoted value"``, split with shlex),
``[group:children]`` lists child groups and ``[group:vars]`` holds ``key=value`` lines. Hosts
before any section are ungrouped; ``#`` and ``;`` start comments. Values go through
``ast.literal_eval`` like Ansible's: ``22`` is an int and ``True`` a bool, but ``yes`` and
``true`` stay strings. A ``[g:vars]`` or ``[g:children]`` entry must name a group declared
somewhere (here or in an earlier source), as Ansible requires.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

from remoteops.inventory.loaders import InventoryBuilder, VarDecl, is_ip, split_host_entry
from remoteops.inventory.model import Location

_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?")
_GROUP_NAME = re.compile(r"([^:\]\s]+)\s*(?:[#;].*)?")
_SECTION_KINDS = ("hosts", "children", "vars")


def parse_value(text: str) -> Any:
    """Turn an INI value into a Python literal when it is one, else keep the string."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text


def load_ini_inventory(builder: InventoryBuilder, text: str, source: str) -> None:
    """Add the groups, hosts and variables of one INI inventory to ``builder``."""
    group, kind = "ungrouped", "hosts"
    # Groups referred to before being declared: name -> (where, message if never declared).
    pending: dict[str, tuple[Location, str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        here = Location(source, number)
        section = _SECTION.fullmatch(line)
        if section:
            group, kind = section.group(1), section.group(2) or "hosts"
            if kind not in _SECTION_KINDS:
                raise here.error(
                    f"section [{group}:{kind}] has unknown type {kind!r}; use [{group}], "
                    f"[{group}:children] or [{group}:vars]"
                )
            if kind == "vars" and group not in builder.groups and group not in pending:
                pending[group] = (here, f"section [{group}:vars] is for a group never declared")
            elif kind != "vars":
                pending.pop(group, None)
            builder.add_group(group)
            continue
        if _looks_like_header(line):
            raise here.error(
                f"invalid section header {line!r}: write [group], [group:children] or "
                "[group:vars] with no spaces inside the brackets"
            )
        if kind == "hosts":
            _host_line(builder, group, line, here)
        elif kind == "vars":
            _vars_line(builder, group, line, here)
        else:
            name = _GROUP_NAME.fullmatch(line)
            if name is None:
                raise here.error(f"{line!r} is not a valid group name")
            child = name.group(1)
            where = Location(source, number, f"{group}.children.{child}")
            if child not in builder.groups and child not in pending:
                message = f"section [{group}:children] includes undeclared group {child!r}"
                pending[child] = (where, message)
            builder.add_child(group, child, where)
    for where, message in pending.values():
        raise where.error(message)


def _looks_like_header(line: str) -> bool:
    """A bracketed line that is no valid section header; ``[2001:db8::1]`` is a host."""
    head = re.split(r"\s[#;]", line)[0].rstrip()
    return head.startswith("[") and head.endswith("]") and not is_ip(head[1:-1])


def _host_line(builder: InventoryBuilder, group: str, line: str, here: Location) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise here.error(f"cannot parse host line {line!r}: {exc}") from None
    if not tokens:
        return
    entry = tokens[0]
    path = f"{group}.hosts.{entry}"
    host_entry = split_host_entry(entry, Location(here.source, here.line, path))
    decls: list[VarDecl] = []
    for token in tokens[1:]:
        key, equals, value = token.partition("=")
        if not equals or not key:
            hint = ""
            if not equals and len(tokens) == 2 and "@" not in entry + token:  # pssh: host user
                hint = f" (for a login user write {token}@{entry}, as in ssh and pssh)"
            raise Location(here.source, here.line, path).error(
                f"expected key=value after the host name, got {token!r}{hint}"
            )
        where = Location(here.source, here.line, f"{path}.{key}")
        decls.append(VarDecl(key, parse_value(value), where))
    builder.add_entry(host_entry, group, Location(here.source, here.line, path), decls)


def _vars_line(builder: InventoryBuilder, group: str, line: str, here: Location) -> None:
    key, equals, value = (part.strip() for part in line.partition("="))
    if not equals or not key:
        raise here.error(f"expected key=value in [{group}:vars], got {line!r}")
    where = Location(here.source, here.line, f"{group}.vars.{key}")
    builder.set_group_vars(group, [VarDecl(key, parse_value(value), where)])
