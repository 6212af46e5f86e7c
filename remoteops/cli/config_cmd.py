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
    # Annotations only: click is not a dependency (typer 0.26+ bundles its own), so a clean
    # install (the remoteops image) has none, and `import click` here broke every command.
    import click

    from remoteops.journal import Journal
    from remoteops.results import RunReport
    from remoteops.tasks.runner import TaskReport


def apply_config(ctx: typer.Context) -> Config | None:
    """Load the files, make them the commands' defaults, apply colour. A bad file stops the
    command with exit 2 when it runs, not before: its ``--help`` still works (None then)."""
    try:
        config = load_config()
        _check_command_table(ctx, config)
    except ConfigFileError as exc:
        _fail_when_run(ctx, str(exc))
        return None
    ctx.default_map = {**config.default_map(), **(ctx.default_map or {})}
    global _loaded
    _loaded = config
    colour = config.values["color"]
    if colour.value == "never" and not os.environ.get("NO_COLOR"):
        os.environ["NO_COLOR"] = "1"  # what every renderer already honours
    return config


def _subcommand(ctx: typer.Context) -> click.Command | None:
    name = ctx.invoked_subcommand
    get_command = getattr(ctx.command, "get_command", None)  # typer's group (its own click)
    return get_command(ctx, name) if name and get_command is not None else None


def _fail_when_run(ctx: typer.Context, message: str) -> None:
    """Exit 2 with ``message`` once the sub-command is invoked: after click has parsed its
    arguments, so that ``--help`` (handled while parsing) still shows."""
    from remoteops.cli.common import fail

    command = _subcommand(ctx)
    if command is None:
        fail(message)

    def refuse(_: click.Context) -> None:
        fail(message)

    command.invoke = refuse  # type: ignore[method-assign,assignment]  # this run's only command


def _check_command_table(ctx: typer.Context, config: Config) -> None:
    """Refuse a key of the running command's table (``[hosts] timeout``) that the command
    has no option for: click ignores such a default, and the file would quietly not apply."""
    command = _subcommand(ctx)
    if command is None:
        return
    name = command.name
    options = {param.name for param in command.params}
    for key, value in config.commands.get(name or "", {}).items():
        if key.replace("-", "_") not in options:
            raise ConfigFileError(
                f"{value.source}: [{name}] {key}: remoteops {name} has no --{key} option"
            )


#: What the root callback loaded, for the command it runs.
_loaded: Config | None = None
#: The inventory sources the command's hosts came from, journalled with its run.
_inventory_sources: tuple[str, ...] | None = None


def note_inventory(sources: tuple[str, ...]) -> None:
    """Remember the sources the run's hosts come from: the journal records them, so that a
    later ``@failed`` is refused with another inventory."""
    global _inventory_sources
    _inventory_sources = sources


def current_config() -> Config:
    """The config the root callback loaded (loaded now when called outside a command)."""
    return _loaded if _loaded is not None else load_config()


def journal() -> Journal:
    """The run journal, keeping as many runs as the config says."""
    from remoteops.journal import Journal

    keep = current_config().values["keep-runs"].value
    return Journal(keep=keep if isinstance(keep, int) else 0)


def journal_run(report: RunReport, exit_code: int) -> None:
    """Journal a finished run with its command line (secrets blanked by the journal) and the
    status the process exits with (``run -S``'s largest remote exit code, for one)."""
    journal().record(report, ["remoteops", *sys.argv[1:]], _inventory_sources, exit_code)


def journal_task(report: TaskReport, exit_code: int) -> None:
    """Journal a task file's or fabfile's run: each host's end as ``-o json`` prints it, and
    the status the process exits with (143 when a SIGTERM ends it)."""
    from remoteops.output.recap import host_json

    journal().record_results(
        ["remoteops", *sys.argv[1:]],
        [host_json(recap, check=report.check) for recap in report.hosts],
        exit_code=exit_code,
        duration_s=report.duration_s,
        interrupted=report.interrupted,
        inventory=_inventory_sources,
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
