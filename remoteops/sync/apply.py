"""The apply step: carry out one host's plan with the transport's file operations only.

Deletions come last in every plan, and an exception stops the host at the failing action, so
nothing is deleted unless every upload before it succeeded; uploads are atomic, so a stopped
host never holds a partial file under a real name. The next sync finishes the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from remoteops.errors import TransferError
from remoteops.sync.model import ActionKind, Entry, Plan
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
    sent = 0
    for action in plan.actions:
        remote = _join(dest, action.path)
        entry: Entry | None = action.entry
        if entry is None:
            raise TransferError(f"{action.path}: the plan has no entry for {action.kind.value}")
        if action.kind in (ActionKind.REPLACE, ActionKind.DELETE):
            transport.remove(remote, entry.kind)
        elif action.kind is ActionKind.MKDIR:
            transport.make_dir(remote, entry.mode)
        elif action.kind is ActionKind.UPLOAD:
            sent += transport.put_file(source / action.path, remote, entry)
        elif action.kind is ActionKind.SYMLINK:
            transport.make_symlink(entry.target or "", remote)
        elif action.kind is ActionKind.CHMOD:
            transport.set_attributes(remote, mode=entry.mode)
        elif action.kind is ActionKind.TOUCH:
            transport.set_attributes(remote, mtime=entry.mtime)
    return plan_stats(plan, sent)


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
