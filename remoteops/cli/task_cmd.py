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
    ExecutorChoice,
    ExecutorOption,
    ForksOption,
    ForwardAgentOption,
    InventoryOption,
    OutputMode,
    OutputOption,
    PortOption,
    SchedulerOption,
    SSHConfigOption,
    SSHOptionOption,
    SudoPasswordEnvOption,
    UserOption,
    connection_overrides,
    dask_from,
    fail,
    finish_task,
    load_and_select,
    make_fleet,
    read_secret_from,
)
from remoteops.cli.completion import complete_hosts
from remoteops.errors import ConfigurationError
from remoteops.executor import DEFAULT_FORKS, Listener, sigterm_deferred
from remoteops.inventory import Host


def task(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="The task file (YAML).", show_default=False)
    ],
    hosts: Annotated[
        str | None,
        typer.Option(
            "--hosts",
            "-H",
            help="Host pattern (Ansible syntax). Default: the file's hosts:.",
            autocompletion=complete_hosts,
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
    forward_agent: ForwardAgentOption = False,
    user: UserOption = None,
    port: PortOption = None,
    ask_pass: AskPassOption = False,
    executor: ExecutorOption = ExecutorChoice.local,
    scheduler: SchedulerOption = None,
    sudo_password_env: SudoPasswordEnvOption = None,
    accept_new_host_keys: AcceptNewOption = False,
    ssh_config: SSHConfigOption = None,
    ssh_option: SSHOptionOption = None,
    output: OutputOption = OutputMode.text,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            "-C",
            help="Change nothing: file steps say what they would change; run and local "
            "steps are skipped unless check_safe: true; guards are still evaluated.",
        ),
    ] = False,
    diff: Annotated[
        bool,
        typer.Option(
            "--diff",
            "-D",
            help="Show a unified diff of each text file that put, sync or template change "
            "(or would, with --check). It shows the files' content, secrets included.",
        ),
    ] = False,
) -> None:
    """Run FILE's steps on every host, in order, on one connection per host.

    Text: each host's lines as they come, under a header per step (``linear``) or with a
    ``host > step`` line as each step ends on a host (``free``: steps have no common start);
    then the recap. JSON: one line per host per step as it ends there, then one per host.
    """
    from remoteops.output import LiveLines
    from remoteops.output.recap import JsonSteps
    from remoteops.tasks import load_task_file, parse_extra_vars, run_task_file
    from remoteops.tasks.model import Step
    from remoteops.tasks.runner import StepEnded, StepResult

    try:
        loaded_task = load_task_file(file)
        variables = parse_extra_vars(extra_vars or [])
    except ConfigurationError as exc:
        fail(str(exc))
    loaded, selected = load_and_select(inventory, hosts or loaded_task.hosts or "all")
    # asked only for a file that uses sudo, and sent only when sudo asks for it
    with_sudo = any(
        s.sudo not in (None, False) or s.sudo_user is not None for s in loaded_task.steps
    )
    if sudo_password_env and not with_sudo:
        fail(f"--sudo-password-env: no step of {file} uses sudo")
    dask = dask_from(executor, scheduler, ask_pass=ask_pass)
    if dask is not None and loaded_task.strategy == "free":
        fail(f"{file}: strategy free runs each host's steps from here; not with --executor dask")
    if dask is not None and sudo_password_env and with_sudo:
        fail(
            "--sudo-password-env with a task file and --executor dask: not supported yet (the "
            "password would travel); give the hosts sudo_password_env, read on each worker"
        )
    # with Dask, sudo's password is the hosts' sudo_password_env, read on each worker
    asked = with_sudo and dask is None
    sudo_password = read_secret_from(sudo_password_env, "sudo password: ") if asked else None
    fleet = make_fleet(
        loaded,
        selected,
        overrides=connection_overrides(
            user, port, connect_timeout, ssh_option, forward_agent=forward_agent
        ),
        ssh_config=ssh_config,
        accept_new_host_keys=accept_new_host_keys,
        ask_pass=ask_pass,
        forks=forks,
        dask=dask,
        keep_open=True,
    )
    text = output is OutputMode.text
    lines = LiveLines([h.name for h in selected]) if text else None
    listener: Listener | None = lines

    def announce(index: int, step: Step, chosen: Sequence[Host]) -> None:
        if text:
            sys.stdout.flush()
            count = f"{len(chosen)} host{'' if len(chosen) == 1 else 's'}"
            typer.echo(f"STEP {index + 1} {step.name} ({count})", err=True)

    def step_line(outcome: StepResult, host: Host) -> None:
        if lines is not None and loaded_task.strategy == "free":
            lines.note(host.name, f"step {outcome.step + 1} {outcome.name}: {outcome.status}")

    ended: StepEnded = step_line if text else JsonSteps()

    with sigterm_deferred():  # a SIGTERM ends the process once the recap is shown and journalled
        try:
            with fleet:
                report = run_task_file(
                    fleet,
                    loaded_task,
                    inventory=loaded,
                    extra_vars=variables,
                    listener=listener,
                    on_step=announce,
                    check=check,
                    diff=diff,
                    on_result=ended,
                    sudo_password=sudo_password,
                )
        except ConfigurationError as exc:
            fail(str(exc))
        finish_task(report, output, steps_shown=True)
