"""``remoteops fab [OPTIONS] TASK [TASK-ARGS]...``: a Fabric fabfile's tasks across the hosts.

remoteops' options come first; from the first word that is not an option on, the words are
the fabfile's (``deploy --tag v2 restart``), parsed by Invoke as ``fab`` parses them.
Fabric is imported only here, inside the command: the other commands start without it.
"""

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
    ForwardAgentOption,
    HostsOption,
    HostTimeoutOption,
    InventoryOption,
    OutputMode,
    OutputOption,
    PortOption,
    SSHConfigOption,
    SSHOptionOption,
    UserOption,
    ask_terminal,
    connection_overrides,
    fail,
    finish_task,
    is_verbose,
    load_and_select,
    make_fleet,
    read_secret_from,
)
from remoteops.errors import ConfigurationError
from remoteops.executor import DEFAULT_FORKS, Listener, sigterm_deferred
from remoteops.inventory import Host

#: The task's words after its name are its own, even those that look like our options.
CONTEXT_SETTINGS = {"allow_interspersed_args": False}


def fab(
    task_args: Annotated[
        list[str],
        typer.Argument(
            help="The task(s) and their arguments, as for fab: deploy --tag v2 restart.",
            metavar="TASK [TASK-ARGS]...",
            show_default=False,
        ),
    ],
    fabfile: Annotated[
        Path, typer.Option("--fabfile", "-f", help="The fabfile (a .py file or package).")
    ] = Path("fabfile.py"),
    hosts: HostsOption = "all",
    inventory: InventoryOption = None,
    serial: Annotated[
        list[str] | None,
        typer.Option(
            "--serial",
            help="Hosts per batch: N or N% (repeat for a canary first: --serial 1 --serial 50%).",
        ),
    ] = None,
    max_fail: Annotated[
        int | None,
        typer.Option(min=1, help="Start no further batch once this many hosts failed."),
    ] = None,
    max_fail_percentage: Annotated[
        float | None,
        typer.Option(
            min=0, max=100, help="Start no further batch once more than this % of hosts failed."
        ),
    ] = None,
    forks: Annotated[
        int, typer.Option("--forks", min=1, help="Hosts worked on at once (-f is the fabfile).")
    ] = DEFAULT_FORKS,
    timeout: HostTimeoutOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    forward_agent: ForwardAgentOption = False,
    user: UserOption = None,
    port: PortOption = None,
    ask_pass: AskPassOption = False,
    sudo_password_env: Annotated[
        str | None,
        typer.Option(help="Env var holding the password c.sudo() answers sudo with."),
    ] = None,
    prompt_for_sudo_password: Annotated[
        bool,
        typer.Option(help="Ask once, on the terminal, for the password c.sudo() answers with."),
    ] = False,
    accept_new_host_keys: AcceptNewOption = False,
    ssh_config: SSHConfigOption = None,
    ssh_option: SSHOptionOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Run a fabfile's tasks on every host, in parallel, on remoteops' own SSH connections."""
    from remoteops.output import LiveLines
    from remoteops.tasks.batches import parse_batch_size
    from remoteops.tasks.fabfile import fabric_config, load_fabfile, run_fabfile

    if sudo_password_env and prompt_for_sudo_password:
        fail("--sudo-password-env and --prompt-for-sudo-password: keep one")
    try:
        batches = tuple(parse_batch_size(entry) for entry in serial or ())
    except ValueError as exc:
        fail(f"--serial: {exc}")
    try:
        loaded_fabfile = load_fabfile(fabfile)
        calls = loaded_fabfile.calls(task_args)
    except ConfigurationError as exc:
        fail(str(exc))
    loaded, selected = load_and_select(inventory, hosts)
    sudo_password = None
    if sudo_password_env:
        sudo_password = read_secret_from(sudo_password_env, "")
    elif prompt_for_sudo_password:
        sudo_password = ask_terminal("sudo password: ", "--prompt-for-sudo-password")
    config = fabric_config(loaded_fabfile, sudo_password=sudo_password)
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
        host_timeout=timeout,
        keep_open=True,
    )
    text = output is OutputMode.text
    listener: Listener | None = LiveLines([h.name for h in selected]) if text else None

    def announce(index: int, name: str, chosen: Sequence[Host]) -> None:
        if text:
            sys.stdout.flush()
            count = f"{len(chosen)} host{'' if len(chosen) == 1 else 's'}"
            typer.echo(f"TASK {index + 1} {name} ({count})", err=True)

    with sigterm_deferred():  # a SIGTERM ends the process once the recap is shown and journalled
        try:
            with fleet:
                report = run_fabfile(
                    fleet,
                    loaded_fabfile,
                    calls,
                    config=config,
                    serial=batches,
                    max_fail=max_fail,
                    max_fail_percentage=max_fail_percentage,
                    listener=listener,
                    on_task=announce,
                    tracebacks=is_verbose(),
                )
        except ConfigurationError as exc:
            fail(str(exc))
        finish_task(report, output, steps_shown=False)
