"""``remoteops get``: copy a file or folder from every host into ``LOCAL_DIR/<host>/``."""

from __future__ import annotations

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
    HostsOption,
    HostTimeoutOption,
    InventoryOption,
    OutputMode,
    OutputOption,
    PortOption,
    SchedulerOption,
    SSHConfigOption,
    SSHOptionOption,
    SudoOption,
    SudoPasswordEnvOption,
    SudoUserOption,
    UserOption,
    connection_overrides,
    dask_from,
    fail,
    load_and_select,
    make_fleet,
    run_transfer,
    transfer_privilege,
)
from remoteops.errors import ConfigurationError
from remoteops.executor import DEFAULT_FORKS


def get(
    remote_path: Annotated[
        str, typer.Argument(metavar="REMOTE_PATH", help="File or folder on every host.")
    ],
    local_dir: Annotated[
        Path,
        typer.Argument(metavar="LOCAL_DIR", help="Each host's copy goes to LOCAL_DIR/<host>/."),
    ],
    hosts: HostsOption = "all",
    inventory: InventoryOption = None,
    forks: ForksOption = DEFAULT_FORKS,
    connect_timeout: ConnectTimeoutOption = None,
    timeout: HostTimeoutOption = None,
    user: UserOption = None,
    port: PortOption = None,
    ask_pass: AskPassOption = False,
    executor: ExecutorOption = ExecutorChoice.local,
    scheduler: SchedulerOption = None,
    sudo: SudoOption = False,
    sudo_user: SudoUserOption = None,
    sudo_password_env: SudoPasswordEnvOption = None,
    accept_new_host_keys: AcceptNewOption = False,
    ssh_config: SSHConfigOption = None,
    ssh_option: SSHOptionOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Fetch REMOTE_PATH from every host matching --hosts."""
    from remoteops.sync.fetch import fetch_work

    try:
        fetch_work(remote_path, local_dir)  # refuses bad arguments before any host
    except ConfigurationError as exc:
        fail(str(exc))
    loaded, selected = load_and_select(inventory, hosts)
    dask = dask_from(executor, scheduler, ask_pass=ask_pass)
    privilege = transfer_privilege(
        selected, "get", sudo, sudo_user, sudo_password_env, read_where_used=dask is not None
    )
    fleet = make_fleet(
        loaded,
        selected,
        overrides=connection_overrides(user, port, connect_timeout, ssh_option),
        ssh_config=ssh_config,
        accept_new_host_keys=accept_new_host_keys,
        ask_pass=ask_pass,
        forks=forks,
        dask=dask,
        host_timeout=timeout,
    )
    run_transfer(
        fleet,
        lambda fleet, listener, progress: fleet.get(
            remote_path, local_dir, sudo=privilege or False, listener=listener
        ),
        output=output,
    )
