"""``sync`` across hosts: scan the source once, then per host list, plan and apply.

The library form of ``remoteops sync``; the executor runs :func:`sync_work` on every host in
parallel, one connection each, like ``run``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

from remoteops.executor import DEFAULT_FORKS, Executor, HostWork, Listener
from remoteops.inventory.model import Host
from remoteops.results import HostResult, RunReport, Status
from remoteops.sync.apply import apply_plan, apply_to_new_folder, plan_stats, start_progress
from remoteops.sync.local_tree import LocalTree, scan_tree
from remoteops.sync.model import Plan, ProgressSink, SyncOptions
from remoteops.sync.plan import plan_sync, prepare_local
from remoteops.transports import Transport, TransportFactory


def _shown(path: str) -> str:
    """A path on one line: newlines, tabs and other control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in path)


def describe(plan: Plan) -> bytes:
    """The itemized plan, one action per line, as ``--dry-run`` shows it."""
    lines = [f"{a.kind.value} {_shown(a.path)}: {a.reason}" for a in plan.actions]
    lines += [f"refused: {problem}" for problem in plan.problems]
    return "".join(line + "\n" for line in lines).encode()


def sync_work(
    tree: LocalTree,
    dest: str,
    options: SyncOptions,
    *,
    dry_run: bool,
    progress: ProgressSink | None = None,
) -> HostWork:
    """The work of ``remoteops sync`` on one host: one listing, a plan, then apply it."""

    side = prepare_local(tree.entries, options)

    def work(host: Host, transport: Transport, listener: Listener) -> HostResult:
        started = time.monotonic()
        remote = transport.list_tree(dest, checksum=options.checksum)
        plan = plan_sync(side, remote, options, transport.fidelity)
        shown = describe(plan) if dry_run else b""
        if shown:
            listener.host_output(host.name, "stdout", shown)
        if dry_run:
            stats = plan_stats(plan)
            status, error = (
                (Status.OK, None) if plan.ok else (Status.FAILED, "; ".join(plan.problems))
            )
        else:
            advance = start_progress(plan, host.name, progress)
            if (
                not remote and transport.path_kind(dest) is None
            ):  # a new folder: whole or not at all
                stats = apply_to_new_folder(plan, transport, tree.root, dest, advance)
            else:  # (an empty listing may be an empty folder)
                stats = apply_plan(plan, transport, tree.root, dest, advance, ensure_dest=False)
            status, error = Status.OK, None
        return HostResult(
            host.name,
            status,
            stdout=shown,
            error=error,
            duration_s=time.monotonic() - started,
            transfer=dataclasses.asdict(stats),
        )

    return work


def sync_hosts(
    hosts: Sequence[Host],
    source: Path,
    dest: str,
    options: SyncOptions | None = None,
    *,
    dry_run: bool = False,
    copy_links: bool = False,
    factory: TransportFactory | None = None,
    forks: int = DEFAULT_FORKS,
    listener: Listener | None = None,
    host_timeout: float | None = None,
) -> RunReport:
    """Make ``dest`` on every host match the local ``source`` folder."""
    options = options or SyncOptions()
    tree = scan_tree(source, copy_links=copy_links, checksum=options.checksum)
    executor = Executor(factory, forks=forks, listener=listener, host_timeout=host_timeout)
    return executor.run(hosts, sync_work(tree, dest, options, dry_run=dry_run))
