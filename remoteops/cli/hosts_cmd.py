"""``remoteops hosts``: list what a pattern selects, optionally with resolved variables."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from remoteops.cli.common import InventoryOption, load_and_select
from remoteops.cli.run_cmd import OutputMode
from remoteops.inventory.model import Host

_SECRET_WORDS = (
    "pass", "secret", "token", "credential", "private_key", "api_key", "apikey", "access_key",
)  # fmt: skip
_NOT_SECRET = ("password_env", "identity_file")
_MASK = "********"


def _is_secret(name: object) -> bool:
    lowered = str(name).lower()
    return any(w in lowered for w in _SECRET_WORDS) and name not in _NOT_SECRET


def _mask_value(value: Any) -> Any:
    """Mask inside nested mappings and lists too: ``aws: {secret_key: ...}`` is a secret."""
    if isinstance(value, Mapping):
        return mask_secrets(value)
    if isinstance(value, (list, tuple)):
        return [_mask_value(item) for item in value]
    return value


def mask_secrets(variables: Mapping[Any, Any]) -> dict[Any, Any]:
    """Hide values whose names suggest a secret; env var names and key paths are not secrets."""
    return {
        name: _MASK if _is_secret(name) and value is not None else _mask_value(value)
        for name, value in variables.items()
    }


def _show(value: Any) -> str:
    """Strings as they are; anything else as JSON, as the inventory would spell it."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _host_view(host: Host, with_vars: bool) -> dict[str, Any]:
    view: dict[str, Any] = {"host": host.name, "groups": list(host.groups)}
    if with_vars:
        view["vars"] = mask_secrets(dict(host.vars))
    return view


def hosts(
    pattern: Annotated[str, typer.Argument(help="Host pattern (Ansible syntax).")] = "all",
    inventory: InventoryOption = None,
    show_vars: Annotated[
        bool, typer.Option("--vars", help="Show each host's resolved variables.")
    ] = False,
    output: Annotated[OutputMode, typer.Option("--output", "-o")] = OutputMode.text,
) -> None:
    """List the hosts PATTERN selects, in inventory order."""
    _, selected = load_and_select(inventory, pattern)
    if output is OutputMode.json:
        for host in selected:
            typer.echo(json.dumps(_host_view(host, show_vars), default=str))
        return
    for host in selected:
        if not show_vars:
            typer.echo(host.name)
            continue
        typer.echo(f"{host.name}  (groups: {', '.join(host.groups)})")
        for name, value in sorted(mask_secrets(dict(host.vars)).items()):
            typer.echo(f"    {name}: {_show(value)}")
