"""``remoteops sync``: make a folder on every selected host match a local folder."""

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


def _excludes(patterns: list[str], files: list[Path]) -> tuple[str, ...]:
    lines = list(patterns)
    for file in files:
        try:
            text = file.read_text()
        except OSError as exc:
            fail(f"cannot read --exclude-from {file}: {exc.strerror}")
        lines += [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return tuple(lines)


def sync(
    source: Annotated[
        Path, typer.Argument(metavar="SOURCE", help="Local folder to copy (its contents).")
    ],
    dest: Annotated[
        str,
        typer.Argument(
            metavar="DEST", help="Folder on every host (~ is the login's home); created if missing."
        ),
    ],
    hosts: HostsOption = "all",
    inventory: InventoryOption = None,
    delete: Annotated[
        bool, typer.Option("--delete", help="Remove files on the hosts that the source lacks.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            "-n",
            "-N",
            help="Show the plan per host; change nothing (-n as in rsync; -N as before).",
        ),
    ] = False,
    checksum: Annotated[
        bool, typer.Option("--checksum", "-c", help="Compare content, not size and mtime.")
    ] = False,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="gitignore-style pattern to skip (repeatable)."),
    ] = None,
    exclude_from: Annotated[
        list[Path] | None, typer.Option("--exclude-from", help="File of exclude patterns.")
    ] = None,
    max_delete: Annotated[
        int | None, typer.Option(min=0, help="Refuse a host's sync that would delete more.")
    ] = None,
    copy_links: Annotated[
        bool, typer.Option("--copy-links", "-L", help="Copy what symlinks point to.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Allow a destination that is a system or home folder (/, /etc, ~)."
        ),
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
    """Sync SOURCE's contents to DEST on every host matching --hosts."""
    from remoteops.sync import SyncOptions
    from remoteops.sync.local_tree import scan_tree
    from remoteops.sync.paths import refuse_user_home

    try:  # bad spellings before any host; whether DEST is a protected folder, each host says
        if not dest:
            raise ConfigurationError("the destination is empty")
        refuse_user_home(dest)
    except ConfigurationError as exc:
        fail(str(exc))
    options = SyncOptions(
        delete=delete,
        checksum=checksum,
        excludes=_excludes(exclude or [], exclude_from or []),
        max_delete=max_delete,
    )
    loaded, selected = load_and_select(inventory, hosts)
    dask = dask_from(executor, scheduler, ask_pass=ask_pass)
    privilege = transfer_privilege(
        selected, "sync", sudo, sudo_user, sudo_password_env, read_where_used=dask is not None
    )
    try:
        tree = scan_tree(source, copy_links=copy_links, checksum=checksum)
    except ConfigurationError as exc:
        fail(str(exc))
    for skipped in tree.skipped:
        typer.echo(f"skipped {skipped}", err=True)
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
        lambda fleet, listener, progress: fleet.sync(
            tree,
            dest,
            delete=delete,
            checksum=checksum,
            exclude=options.excludes,
            max_delete=max_delete,
            dry_run=dry_run,
            force=force,
            sudo=privilege or False,
            listener=listener,
            progress=progress,
        ),
        output=output,
        progress=not dry_run,
        dry_run=dry_run,
    )
