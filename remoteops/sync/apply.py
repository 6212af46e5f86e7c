"""The apply step: carry out one host's plan with the transport's file operations only.

Deletions come last in every plan, and an exception stops the host at the failing action, so
nothing is deleted unless every upload before it succeeded; uploads are atomic, so a stopped
host never holds a partial file under a real name. The next sync finishes the job.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from remoteops.errors import TransferError
from remoteops.sync.model import Action, ActionKind, Kind, Plan
from remoteops.transports.base import Transport


@dataclass(frozen=True)
class SyncStats:
    """What one host's sync changed (the JSON fields of ``remoteops sync``)."""

    files_created: int = 0
    files_updated: int = 0
    files_deleted: int = 0
    files_unchanged: int = 0
    bytes_sent: int = 0


def _join(dest: str, path: str) -> str:
    return f"{dest.rstrip('/')}/{path}" if dest.rstrip("/") else f"/{path}"


def apply_plan(plan: Plan, transport: Transport, source: Path, dest: str) -> SyncStats:
    """Apply ``plan`` (from :func:`~remoteops.sync.plan.plan_sync`) to ``dest`` on the host."""
    if not plan.ok:
        raise TransferError("; ".join(plan.problems))
    transport.make_dir(dest)
    actions = plan.actions
    # Phases, in plan order: removals of other kinds and directories one by one (parents
    # first), then files, links and attributes with several in flight, then deletions.
    # Folders are made writable for us first and get their real modes last, deepest first, so
    # a read-only folder (0555) in the source can still be filled, by a non-root user too.
    folder_modes = [
        a
        for a in actions
        if a.entry is not None
        and a.entry.kind is Kind.DIR
        and (
            a.kind is ActionKind.CHMOD
            or (a.kind is ActionKind.MKDIR and a.entry.mode & 0o700 != 0o700)
        )
    ]
    in_flight = {ActionKind.UPLOAD, ActionKind.SYMLINK, ActionKind.CHMOD, ActionKind.TOUCH}
    before = [a for a in actions if a.kind in (ActionKind.REPLACE, ActionKind.MKDIR)]
    later = set(folder_modes)
    middle = [a for a in actions if a.kind in in_flight and a not in later]
    after = [a for a in actions if a.kind is ActionKind.DELETE]
    for action in before:
        _apply_one(action, transport, source, dest)
    sent = _apply_parallel(middle, transport, source, dest)
    for action in after:  # only reached when every upload above succeeded
        _apply_one(action, transport, source, dest)
    for action in sorted(folder_modes, key=lambda a: a.path.count("/"), reverse=True):
        if action.entry is not None:
            transport.set_attributes(_join(dest, action.path), mode=action.entry.mode)
    return plan_stats(plan, sent)


def _apply_parallel(actions: list[Action], transport: Transport, source: Path, dest: str) -> int:
    """Several actions in flight; the first failure stops the rest and is raised."""
    workers = max(1, min(transport.parallel_transfers, len(actions)))
    if workers == 1:
        return sum(_apply_one(a, transport, source, dest) for a in actions)
    sent = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="remoteops-sync") as pool:
        futures = [pool.submit(_apply_one, a, transport, source, dest) for a in actions]
        try:
            for future in as_completed(futures):
                sent += future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return sent


def _apply_one(action: Action, transport: Transport, source: Path, dest: str) -> int:
    """Carry out one action; returns the bytes sent."""
    remote = _join(dest, action.path)
    entry = action.entry
    if entry is None:
        raise TransferError(f"{action.path}: the plan has no entry for {action.kind.value}")
    if action.kind in (ActionKind.REPLACE, ActionKind.DELETE):
        transport.remove(remote, entry.kind)
    elif action.kind is ActionKind.MKDIR:
        transport.make_dir(remote, entry.mode | 0o700)  # its real mode comes last
    elif action.kind is ActionKind.UPLOAD:
        return transport.put_file(source / action.path, remote, entry)
    elif action.kind is ActionKind.SYMLINK:
        transport.make_symlink(entry.target or "", remote)
    elif action.kind is ActionKind.CHMOD:
        transport.set_attributes(remote, mode=entry.mode)
    elif action.kind is ActionKind.TOUCH:
        transport.set_attributes(remote, mtime=entry.mtime)
    return 0


def plan_stats(plan: Plan, bytes_sent: int = 0) -> SyncStats:
    """What a plan changes, counted per path (``--dry-run`` reports it without applying)."""
    created = {a.path for a in plan.actions if a.reason == "new"}
    touched = {
        a.path
        for a in plan.actions
        if a.kind not in (ActionKind.DELETE, ActionKind.REPLACE) and a.reason != "new"
    }
    return SyncStats(
        files_created=len(created),
        files_updated=len(touched - created),
        files_deleted=sum(a.kind is ActionKind.DELETE for a in plan.actions),
        files_unchanged=plan.unchanged,
        bytes_sent=bytes_sent,
    )


__all__ = ["SyncStats", "apply_plan", "plan_stats"]
