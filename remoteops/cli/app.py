"""The typer application: one sub-command per module, registered here."""

from __future__ import annotations

import typer

from remoteops.cli import hosts_cmd, playground_cmd, run_cmd

app = typer.Typer(
    name="remoteops",
    help="Run commands across fleets of hosts in parallel, over SSH or locally.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold passwords
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("run", no_args_is_help=True)(run_cmd.run)
app.command("hosts")(hosts_cmd.hosts)
app.add_typer(playground_cmd.app, name="playground")
