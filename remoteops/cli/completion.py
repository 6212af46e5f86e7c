"""Shell completion callbacks (typer's ``autocompletion``): called only while completing,
so what they import costs nothing when a command runs."""

from __future__ import annotations

import typer


def complete_hosts(ctx: typer.Context, incomplete: str) -> list[str]:
    """Group and host names for ``--hosts``, from the inventory the command would load
    (its ``--inventory`` options typed so far, else the default one). An inventory that
    does not load completes nothing: a traceback in the middle of a command line helps no
    one, and the command itself reports the error when run."""
    from remoteops.errors import RemoteOpsError
    from remoteops.inventory import load_inventory
    from remoteops.inventory.completion import pattern_completions

    sources = ctx.params.get("inventory")
    try:
        inventory = load_inventory(list(sources) if sources else None)
    except (RemoteOpsError, OSError):
        return []
    return pattern_completions(inventory, incomplete)
