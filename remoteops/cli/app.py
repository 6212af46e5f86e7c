"""The typer application: one sub-command per module, registered here.

A run imports only the sub-command it runs (see :func:`create_app`): the others' modules
and what they pull in would be a tenth of a short run's start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from remoteops import __version__
from remoteops.cli import named_command

#: name -> (module in remoteops.cli, function, no_args_is_help)
_COMMANDS = {
    "run": ("run_cmd", "run", True),
    "sync": ("sync_cmd", "sync", True),
    "put": ("put_cmd", "put", True),
    "get": ("get_cmd", "get", True),
    "hosts": ("hosts_cmd", "hosts", False),
    "task": ("task_cmd", "task", True),
    "fab": ("fab_cmd", "fab", True),
    "config": ("config_cmd", "config", False),
    "shell": ("shell_cmd", "shell", False),
}
#: What every command that works on hosts ends its --help with (README "Exit codes").
EXIT_CODES = (
    "Exit: 0 every host ok; 1 a command failed on some host; 2 usage, inventory or "
    "configuration error (nothing ran); 3 some host unreachable, refused auth or host key, "
    "timed out, cancelled or unsupported; 4 both 1 and 3; 130 interrupted (Ctrl-C); 143 "
    "terminated (SIGTERM)."
)
#: Commands whose --help ends with EXIT_CODES.
_ON_HOSTS = {"run", "sync", "put", "get", "task", "fab"}
ABOUT = (
    "Run commands, transfers and task files across fleets of hosts in parallel: SSH and SFTP, "
    "FTP/FTPS, Telnet and local hosts, from an Ansible-style inventory."
)
#: name -> module in remoteops.cli whose ``app`` holds the group's commands
_GROUPS = {"playground": "playground_cmd", "serve": "serve_cmd", "persist": "persist_cmd"}


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"remoteops {__version__}")
        raise typer.Exit()


def _check_persist(value: str | None) -> str | None:
    if value is not None:
        from remoteops.persist.client import parse_duration

        try:
            parse_duration(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="-v: connection steps (negotiated algorithms, accepted key, timings) and "
            "tracebacks of internal errors; -vv: paramiko's protocol log too. Secrets never shown.",
        ),
    ] = 0,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file",
            metavar="FILE",
            help="Append the -vv log to FILE (whatever -v says); secrets never written.",
            dir_okay=False,
        ),
    ] = None,
    persist: Annotated[
        str | None,
        typer.Option(
            "--persist",
            metavar="DURATION",
            callback=_check_persist,
            envvar="REMOTEOPS_PERSIST",
            help="Keep host connections open in a background process of yours for DURATION "
            "(90s, 10m, 2h) after the last command, and hand run/put/get/sync/task to it: "
            "a repeat command skips connecting. 'no' turns it off. Same output and exit codes.",
        ),
    ] = None,
) -> None:
    """Root options: the configuration files, -v / --log-file and --persist, before any
    command (a command handed to the persistent process never gets here)."""
    from remoteops.cli.config_cmd import apply_config

    apply_config(ctx)
    if verbose or log_file is not None:
        from remoteops.cli.common import be_verbose

        be_verbose(verbose, log_file)


def create_app(argv: Sequence[str] | None = None) -> typer.Typer:
    """The application; given the arguments, with only the sub-command they name (all of
    them for ``--help``, a mistyped name or none: see :func:`named_command`)."""
    app = typer.Typer(
        name="remoteops",
        help=ABOUT,
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,  # locals can hold passwords
        add_completion=True,  # --install-completion, --show-completion (bash, zsh, fish)
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(main)
    named = named_command(list(argv or ()))
    wanted = [named] if named in _COMMANDS or named in _GROUPS else [*_COMMANDS, *_GROUPS]
    for name in wanted:
        if name in _GROUPS:
            group = importlib.import_module(f"remoteops.cli.{_GROUPS[name]}")
            app.add_typer(group.app, name=name)
            continue
        module, function, no_args_is_help = _COMMANDS[name]
        loaded = importlib.import_module(f"remoteops.cli.{module}")
        settings = getattr(loaded, "CONTEXT_SETTINGS", None)  # e.g. fab's own arguments
        app.command(
            name,
            no_args_is_help=no_args_is_help,
            context_settings=settings,
            epilog=EXIT_CODES if name in _ON_HOSTS else None,
        )(getattr(loaded, function))
    return app


def __getattr__(name: str) -> typer.Typer:
    """``app``: the whole application, for whoever imports it (docs, completion tools)."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
