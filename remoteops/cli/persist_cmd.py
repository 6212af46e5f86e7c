"""``remoteops persist status|stop``: the persistent process (``--persist``), like
``ssh -O check`` and ``ssh -O exit`` for a ControlMaster."""

from __future__ import annotations

import json

import typer

from remoteops.cli.common import fail
from remoteops.persist.paths import PersistError

app = typer.Typer(help="The background process that keeps connections (--persist).")


def _ask(action: str) -> dict[str, object] | None:
    from remoteops.persist.client import control
    from remoteops.persist.wire import WireError

    try:
        return control(action)
    except (PersistError, WireError, OSError) as exc:
        fail(f"persist: {exc}")


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Whether the process runs: its pid, idle time and the hosts it keeps. Exit 1: none."""
    found = _ask("status")
    if found is None:
        typer.echo("no persistent process")
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(found))
        return
    hosts = found.get("hosts_kept") or []
    typer.echo(
        f"pid {found.get('pid')}, idle {found.get('idle_for_s')} s of "
        f"{found.get('idle_exit_s')} s, {found.get('commands_served')} commands served, "
        f"{len(hosts) if isinstance(hosts, list) else 0} hosts kept"
    )


@app.command()
def stop() -> None:
    """Stop the process (after the command it runs, if any); its connections close."""
    found = _ask("stop")
    if found is None:
        typer.echo("no persistent process")
        return
    typer.echo(f"stopping pid {found.get('pid')}")
