"""``remoteops put``: copy local files and folders to a path on every host (like ``pscp``)."""

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


def put(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Local files or folders, then the path on every host (last).",
            metavar="LOCAL... REMOTE_PATH",
        ),
    ],
    hosts: HostsOption = "all",
    inventory: InventoryOption = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Copy folders and what they hold.")
    ] = False,
    parents: Annotated[
        bool, typer.Option("--parents", help="Create the remote folders that are missing.")
    ] = False,
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
    """Copy LOCAL files to REMOTE_PATH on every host matching --hosts.

    An existing remote folder (or a path ending in /) gets each LOCAL under its own name.

    Otherwise a single LOCAL is copied as REMOTE_PATH; several LOCALs need a folder.

    Modes and mtimes are kept; files whose size and mtime match are not sent again.
    """
    from remoteops.sync.put import put_work, read_source

    if len(paths) < 2:
        fail("give at least one local path and the remote path")
    *local, remote = paths
    try:
        sources = [read_source(Path(path), recursive=recursive) for path in local]
        put_work(sources, remote, parents=parents)  # refuses bad arguments before any host
    except ConfigurationError as exc:
        fail(str(exc))
    loaded, selected = load_and_select(inventory, hosts)
    dask = dask_from(executor, scheduler, ask_pass=ask_pass)
    privilege = transfer_privilege(
        selected, "put", sudo, sudo_user, sudo_password_env, read_where_used=dask is not None
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
        lambda fleet, listener, progress: fleet.put(
            sources,
            remote,
            parents=parents,
            sudo=privilege or False,
            listener=listener,
            progress=progress,
        ),
        output=output,
        progress=True,
    )
