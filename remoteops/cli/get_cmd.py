"""``remoteops get``: copy a file or folder from every host into ``LOCAL_DIR/<host>/``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from remoteops.cli.common import (
    AcceptNewOption,
    AskPassOption,
    ConnectTimeoutOption,
    ForksOption,
    HostsOption,
    InventoryOption,
    OutputMode,
    OutputOption,
    PortOption,
    UserOption,
    execute,
    fail,
    finish,
    load_and_select,
    make_factory,
)
from remoteops.executor import DEFAULT_FORKS, Executor, Listener
from remoteops.output import JsonLines, LiveLines
from remoteops.transports import ConnectionOverrides


def get(
    remote_path: Annotated[str, typer.Argument(help="File or folder on every host.")],
    local_dir: Annotated[Path, typer.Argument(help="Each host's copy goes to LOCAL_DIR/<host>/.")],
    hosts: HostsOption = "all",
    inventory: InventoryOption = None,
    forks: ForksOption = DEFAULT_FORKS,
    connect_timeout: ConnectTimeoutOption = None,
    user: UserOption = None,
    port: PortOption = None,
    ask_pass: AskPassOption = False,
    accept_new_host_keys: AcceptNewOption = False,
    output: OutputOption = OutputMode.text,
) -> None:
    """Fetch REMOTE_PATH from every host matching --hosts; exit 0/1/3/4 (see README)."""
    from remoteops.sync.fetch import fetch_work

    if remote_path.rstrip("/") in ("", "."):
        fail(f"cannot get {remote_path!r}: name a file or folder")
    loaded, selected = load_and_select(inventory, hosts)
    factory = make_factory(
        loaded, ConnectionOverrides(user, port, connect_timeout), accept_new_host_keys, ask_pass
    )
    listener: Listener = (
        JsonLines(transfer=True)
        if output is OutputMode.json
        else LiveLines([h.name for h in selected])
    )
    executor = Executor(factory, forks=forks, listener=listener)
    report = execute(executor, selected, fetch_work(remote_path, local_dir))
    finish(report, output)
