"""The variables a host's templates see, and ``-e`` extra variables from the command line.

Precedence, lowest first: the inventory's host and group variables (already merged on
:attr:`Host.vars <remoteops.inventory.Host.vars>`), the task file's ``vars:``, then extra
variables (``-e``). ``inventory_hostname`` and ``groups`` (group name -> host names) describe
the inventory and are set last: no variable can hide them (an inventory's variable of that
name is unseen; the task file's ``vars:`` and ``register:`` and ``-e`` are refused).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from yaml.nodes import MappingNode

from remoteops.errors import ConfigurationError
from remoteops.inventory import Host, Inventory
from remoteops.inventory.yaml_loader import SafeLineLoader, compose, repeated_key

#: The names the run sets itself, over any variable's.
BUILT_IN_NAMES = ("inventory_hostname", "groups")


def refuse_built_in(name: str, where: str) -> None:
    """ConfigurationError when ``name`` (given at ``where``) would hide a built-in."""
    if name in BUILT_IN_NAMES:
        raise ConfigurationError(
            f"{where}: {name!r} is set by remoteops for each host and cannot be given "
            "another value; choose another name"
        )


def host_variables(
    host: Host,
    inventory: Inventory,
    file_vars: Mapping[str, Any] = MappingProxyType({}),
    extra_vars: Mapping[str, Any] = MappingProxyType({}),
) -> dict[str, Any]:
    """Everything ``host``'s templates and ``when:`` expressions may use, by precedence."""
    return {
        **host.vars,
        **file_vars,
        **extra_vars,
        "inventory_hostname": host.name,
        "groups": group_members(inventory),
    }


@functools.lru_cache(maxsize=4)
def group_members(inventory: Inventory) -> Mapping[str, tuple[str, ...]]:
    """Host names of each group (``groups['web']``), computed once per inventory and shared
    read-only by every host's variables."""
    return MappingProxyType({name: tuple(inventory.group_hosts(name)) for name in inventory.groups})


def parse_extra_vars(items: Iterable[str]) -> dict[str, Any]:
    """``-e`` values merged in order, later ones winning: ``NAME=VALUE`` (the value a string,
    as written), ``@FILE`` (a YAML or JSON mapping) or an inline ``{...}`` mapping."""
    merged: dict[str, Any] = {}
    for item in items:
        if item.startswith("@"):
            given = _vars_file(item[1:])
        elif item.lstrip().startswith("{"):
            given = _mapping(item, f"-e {item!r}")
        else:
            name, equals, value = item.partition("=")
            if not equals or not name.isidentifier():
                raise ConfigurationError(
                    f"-e {item!r}: expected NAME=VALUE, @FILE or a {{...}} mapping"
                )
            given = {name: value}
        for name in given:
            refuse_built_in(name, f"-e {item!r}")
        merged.update(given)
    return merged


def _vars_file(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror}") from None
    return _mapping(text, path)


def _located_error(
    message: str, *, source: str | None = None, line: int | None = None
) -> ConfigurationError:
    where = (source or "<extra vars>") + ("" if line is None else f":{line}")
    return ConfigurationError(f"{where}: {message}")


def _mapping(text: str, source: str) -> dict[str, Any]:
    """A YAML mapping of names to values, with the inventory loader's lines and limits."""
    loader = SafeLineLoader(text)
    try:
        root = compose(loader, source, _located_error)
        if root is None:
            return {}
        line = root.start_mark.line + 1
        if not isinstance(root, MappingNode):
            raise _located_error(
                "extra variables must be a mapping of names to values", source=source, line=line
            )
        repeated = repeated_key(root, deep=True)
        if repeated is not None:
            raise _located_error(
                f"{repeated.value!r} is given twice",
                source=source,
                line=repeated.start_mark.line + 1,
            )
        try:
            values = loader.construct_document(root)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            raise _located_error(f"invalid value: {exc}", source=source, line=line) from None
    finally:
        loader.dispose()
    if not isinstance(values, dict) or not all(isinstance(name, str) for name in values):
        raise _located_error("variable names must be strings", source=source, line=line)
    return values
