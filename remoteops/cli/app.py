"""The typer application: one sub-command per module, registered here."""

from __future__ import annotations

from typing import Annotated

import typer

from remoteops import __version__
from remoteops.cli import (
    get_cmd,
    hosts_cmd,
    playground_cmd,
    put_cmd,
    run_cmd,
    serve_cmd,
    sync_cmd,
)

app = typer.Typer(
    name="remoteops",
    help="Run commands across fleets of hosts in parallel, over SSH or locally.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold passwords
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"remoteops {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Run commands across fleets of hosts in parallel, over SSH or locally."""


app.command("run", no_args_is_help=True)(run_cmd.run)
app.command("sync", no_args_is_help=True)(sync_cmd.sync)
app.command("put", no_args_is_help=True)(put_cmd.put)
app.command("get", no_args_is_help=True)(get_cmd.get)
app.command("hosts")(hosts_cmd.hosts)
app.add_typer(playground_cmd.app, name="playground")
app.add_typer(serve_cmd.app, name="serve")
