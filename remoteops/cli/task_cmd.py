"""``remoteops task FILE``: run a task file's steps across the hosts, batch by batch."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from remoteops.cli.common import (
    AcceptNewOption,
    AskPassOption,
    ConnectTimeoutOption,
    ForksOption,
    InventoryOption,
    OutputMode,
    OutputOption,
    PortOption,
    SudoPasswordEnvOption,
    UserOption,
    fail,
    load_and_select,
    make_fleet,
    read_secret_from,
)
from remoteops.errors import ConfigurationError
from remoteops.executor import DEFAULT_FORKS, Listener
from remoteops.inventory import Host
from remoteops.transports import ConnectionOverrides


def task(
    file: Annotated[Path, typer.Argument(help="The task file (YAML).", show_default=False)],
    hosts: Annotated[
        str | None,
        typer.Option(
            "--hosts", "-H", help="Host pattern (Ansible syntax). Default: the file's hosts:."
        ),
    ] = None,
    inventory: InventoryOption = None,
    extra_vars: Annotated[
        list[str] | None,
        typer.Option(
            "--extra-vars",
            "-e",
            help="NAME=VALUE or @file.yml: variables over the file's and the inventory's. "
            "(Unlike `run -e`, these are template variables, not the command's environment.)",
        ),
    ] = None,
    forks: ForksOption = DEFAULT_FORKS,
    connect_timeout: ConnectTimeoutOption = None,
    user: UserOption = None,
    port: PortOption = None,
    ask_pass: AskPassOption = False,
    sudo_password_env: SudoPasswordEnvOption = None,
    accept_new_host_keys: AcceptNewOption = False,
    output: OutputOption = OutputMode.text,
) -> None:
    """Run FILE's steps on every host, in order, on one connection per host; exit 0/1/3/4."""
    from remoteops.output import LiveLines
    from remoteops.output.recap import print_json, print_recap
    from remoteops.tasks import load_task_file, parse_extra_vars, run_task_file
    from remoteops.tasks.model import Step

    try:
        loaded_task = load_task_file(file)
        variables = parse_extra_vars(extra_vars or [])
    except ConfigurationError as exc:
        fail(str(exc))
    loaded, selected = load_and_select(inventory, hosts or loaded_task.hosts or "all")
    # asked only for a file that uses sudo, and sent only when sudo asks for it
    with_sudo = any(s.sudo is not False or s.sudo_user is not None for s in loaded_task.steps)
    if sudo_password_env and not with_sudo:
        fail(f"--sudo-password-env: no step of {file} uses sudo")
    sudo_password = read_secret_from(sudo_password_env, "sudo password: ") if with_sudo else None
    fleet = make_fleet(
        loaded,
        selected,
        overrides=ConnectionOverrides(user, port, connect_timeout),
        accept_new_host_keys=accept_new_host_keys,
        ask_pass=ask_pass,
        forks=forks,
        keep_open=True,
    )
    text = output is OutputMode.text
    listener: Listener | None = LiveLines([h.name for h in selected]) if text else None

    def announce(index: int, step: Step, chosen: Sequence[Host]) -> None:
        if text:
            sys.stdout.flush()
            count = f"{len(chosen)} host{'' if len(chosen) == 1 else 's'}"
            typer.echo(f"STEP {index + 1} {step.name} ({count})", err=True)

    try:
        with fleet:
            report = run_task_file(
                fleet,
                loaded_task,
                inventory=loaded,
                extra_vars=variables,
                listener=listener,
                on_step=announce,
                sudo_password=sudo_password,
            )
    except ConfigurationError as exc:
        fail(str(exc))
    if text:
        sys.stdout.flush()
        print_recap(report)
    else:
        print_json(report)
    raise typer.Exit(int(report.exit_code))
