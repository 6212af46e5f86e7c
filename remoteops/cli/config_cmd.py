"""``remoteops config``, and the config files' and journal's glue for every command.

The root callback loads the config files once (:func:`apply_config`) and hands their values
to click as ``default_map``: every option a file names gets its default from there, below
the flag and the option's environment variable, without any command knowing about files.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import typer

from remoteops.config import SETTINGS, Config, ConfigFileError, load_config

if TYPE_CHECKING:
    from remoteops.journal import Journal
    from remoteops.results import RunReport
    from remoteops.tasks.runner import TaskReport


def apply_config(ctx: typer.Context) -> Config:
    """Load the files (a bad one is exit 2), make them the commands' defaults, apply colour."""
    from remoteops.cli.common import fail

    try:
        config = load_config()
    except ConfigFileError as exc:
        fail(str(exc))
    ctx.default_map = {**config.default_map(), **(ctx.default_map or {})}
    global _loaded
    _loaded = config
    colour = config.values["color"]
    if colour.value == "never" and not os.environ.get("NO_COLOR"):
        os.environ["NO_COLOR"] = "1"  # what every renderer already honours
    return config


#: What the root callback loaded, for the command it runs.
_loaded: Config | None = None


def current_config() -> Config:
    """The config the root callback loaded (loaded now when called outside a command)."""
    return _loaded if _loaded is not None else load_config()


def journal() -> Journal:
    """The run journal, keeping as many runs as the config says."""
    from remoteops.journal import Journal

    keep = current_config().values["keep-runs"].value
    return Journal(keep=keep if isinstance(keep, int) else 0)


def journal_run(report: RunReport) -> None:
    """Journal a finished run with its command line (secrets blanked by the journal)."""
    journal().record(report, ["remoteops", *sys.argv[1:]])


def journal_task(report: TaskReport) -> None:
    """Journal a task file's or fabfile's run: each host's end as ``-o json`` prints it."""
    from remoteops.output.recap import host_json

    journal().record_results(
        ["remoteops", *sys.argv[1:]],
        [host_json(recap, check=report.check) for recap in report.hosts],
        exit_code=int(report.exit_code),
        duration_s=report.duration_s,
        interrupted=report.interrupted,
    )


def config() -> None:
    """Show the effective defaults and where each comes from (built-in, a file, the env)."""
    effective = current_config()
    width = max(len(setting.name) for setting in SETTINGS)
    for setting in SETTINGS:
        value = effective.values[setting.name]
        typer.echo(f"{setting.name:<{width}} = {_shown(value.value):<12} # {value.source}")
    for command, table in effective.commands.items():
        for name, value in table.items():
            typer.echo(f"[{command}] {name} = {_shown(value.value)}  # {value.source}")


def _shown(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(f'"{item}"' for item in value) + "]"
    return f'"{value}"' if isinstance(value, str) else f"{value:g}"
