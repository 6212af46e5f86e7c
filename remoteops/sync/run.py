"""``sync`` across hosts: scan the source once, then per host list, plan and apply.

The library form of ``remoteops sync``; the executor runs :func:`sync_work` on every host in
parallel, one connection each, like ``run``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from remoteops.errors import ConfigurationError, EntriesFailedError, UnsupportedError
from remoteops.executor import DEFAULT_FORKS, Executor, HostWork, Listener, needing
from remoteops.inventory.model import Host
from remoteops.results import HostResult, PlannedChange, RunReport, Status
from remoteops.sync.apply import (
    apply_plan,
    apply_to_new_folder,
    partly_applied,
    plan_stats,
    start_progress,
)
from remoteops.sync.diff import plan_diff
from remoteops.sync.local_tree import LocalTree, scan_tree
from remoteops.sync.model import Plan, SyncOptions
from remoteops.sync.paths import checked_listing, refuse_user_home
from remoteops.sync.plan import plan_sync, prepare_local
from remoteops.transports import Transport, TransportFactory
from remoteops.transports.base import (
    FileTransport,
    Privilege,
    Whereabouts,
    file_needs,
    files_of,
)
from remoteops.tree import Kind, ProgressSink


def planned_changes(plan: Plan) -> tuple[PlannedChange, ...]:
    """The plan as the dry run reports it, one change per action."""
    return tuple(PlannedChange(a.kind.value, a.path, a.reason) for a in plan.actions)


def describe(changes: tuple[PlannedChange, ...], problems: tuple[str, ...]) -> bytes:
    """The itemized plan, one action per line, as ``--dry-run`` shows it."""
    lines = [str(change) for change in changes]
    lines += [f"refused: {problem}" for problem in problems]
    return "".join(line + "\n" for line in lines).encode()


def sync_work(
    tree: LocalTree,
    dest: str,
    options: SyncOptions,
    *,
    dry_run: bool,
    progress: ProgressSink | None = None,
    force: bool = False,
    diff: bool = False,
    privilege: Privilege | None = None,
) -> HostWork:
    """The work of ``remoteops sync`` on one host: one listing, a plan, then apply it;
    with ``privilege``, both as root (or its user) through sudo.

    ``dest`` may start with ``~`` (the login's home). Unless ``force``, a host where ``dest``
    is a system or home folder (as spelled, or as the host resolves it: see
    :mod:`remoteops.sync.paths`) is refused before anything is listed or written.
    """
    if not dest:
        raise ConfigurationError("the destination is empty")
    refuse_user_home(dest)
    side = prepare_local(tree.entries, options)
    # Files that may go as deltas: the host may read its copies of them in the listing.
    files = () if dry_run else tuple(e for e in side.wanted.values() if e.kind is Kind.FILE)

    def apply_here(
        host: Host, transport: FileTransport, listener: Listener, started: float
    ) -> HostResult:
        seen: list[Whereabouts] = []

        def located(path: str) -> Whereabouts | None:
            found = transport.list_tree_where(path, checksum=options.checksum, deltas=files)
            if found is not None:
                seen.append(found)
            return found

        folder, remote = checked_listing(
            transport,
            dest,
            lambda path: transport.list_tree(path, checksum=options.checksum),
            force=force,
            located=located,
        )
        # Whether dest is there: the listing may have said so (nothing at all there).
        missing = any(found.missing for found in seen)
        fidelity = transport.fidelity
        plan = tree.shared_plan(
            (options, fidelity, tuple(remote)), lambda: plan_sync(side, remote, options, fidelity)
        )
        if plan.unsupported:
            raise UnsupportedError("; ".join(plan.unsupported))
        changes = planned_changes(plan) if dry_run else None
        shown = describe(changes, plan.problems) if changes is not None else b""
        diffs = plan_diff(transport, plan, tree.root.joinpath, folder) if diff else None
        if shown or diffs:
            listener.host_output(host.name, "stdout", shown + (diffs or "").encode())
        if dry_run:
            stats = plan_stats(plan)
            status, error = (
                (Status.OK, None) if plan.ok else (Status.FAILED, "; ".join(plan.problems))
            )
        else:
            advance = start_progress(plan, host.name, progress)
            if not remote and (
                missing or transport.path_kind(folder) is None
            ):  # a new folder: whole or not at all
                stats = apply_to_new_folder(plan, transport, tree.local_path, folder, advance)
            else:  # (an empty listing may be an empty folder)
                stats = apply_plan(
                    plan, transport, tree.local_path, folder, advance, ensure_dest=False
                )
            status, error = Status.OK, None
        return HostResult(
            host.name,
            status,
            error=error,
            duration_s=time.monotonic() - started,
            transfer=stats,
            plan=changes,
            diff=diffs,
        )

    def work(host: Host, connection: Transport, listener: Listener) -> HostResult:
        transport = files_of(connection, privilege)
        started = time.monotonic()
        try:
            return apply_here(host, transport, listener, started)
        except EntriesFailedError as exc:  # the rest arrived: say what did, and what did not
            return partly_applied(host.name, exc, started)

    return needing(file_needs(privilege), work)


def sync_hosts(
    hosts: Sequence[Host],
    source: Path,
    dest: str,
    options: SyncOptions | None = None,
    *,
    dry_run: bool = False,
    copy_links: bool = False,
    force: bool = False,
    factory: TransportFactory | None = None,
    forks: int = DEFAULT_FORKS,
    listener: Listener | None = None,
    host_timeout: float | None = None,
) -> RunReport:
    """Make ``dest`` on every host match the local ``source`` folder; ``force`` allows a
    destination that is a system or home folder (see :func:`sync_work`)."""
    options = options or SyncOptions()
    tree = scan_tree(source, copy_links=copy_links, checksum=options.checksum)
    work = sync_work(tree, dest, options, dry_run=dry_run, force=force)
    executor = Executor(factory, forks=forks, listener=listener, host_timeout=host_timeout)
    return executor.run(hosts, work)
