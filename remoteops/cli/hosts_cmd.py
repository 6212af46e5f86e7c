"""``remoteops hosts``: list what a pattern selects, optionally with resolved variables."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from remoteops.cli.common import InventoryOption, OutputMode, load_and_select
from remoteops.cli.completion import complete_hosts
from remoteops.inventory.model import Host
from remoteops.inventory.secrets import mask_secrets


def _show(value: Any) -> str:
    """Strings as they are; anything else as JSON, as the inventory would spell it."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _host_view(host: Host, with_vars: bool) -> dict[str, Any]:
    view: dict[str, Any] = {"host": host.name, "groups": list(host.groups)}
    if with_vars:
        view["vars"] = mask_secrets(dict(host.vars))
    return view


def hosts(
    pattern: Annotated[
        str,
        typer.Argument(
            metavar="PATTERN", help="Host pattern (Ansible syntax).", autocompletion=complete_hosts
        ),
    ] = "all",
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
