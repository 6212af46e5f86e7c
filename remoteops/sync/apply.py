"""The apply step: carry out one host's plan with the transport's file operations only.

Deletions come last in every plan, and an exception stops the host at the failing action, so
nothing is deleted unless every upload before it succeeded; uploads are atomic, so a stopped
host never holds a partial file under a real name. The next sync finishes the job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import posixpath
import time
from collections.abc import Callable
from pathlib import Path

from remoteops.errors import EntriesFailedError, HostError, TransferError
from remoteops.results import HostResult, Status, TransferStats
from remoteops.sync.model import Action, ActionKind, Plan
from remoteops.sync.plan import abandoned
from remoteops.transports.base import FileTransport
from remoteops.transports.file_ops import run_in_parallel
from remoteops.tree import (
    Advance,
    Entry,
    Kind,
    ProgressSink,
    hidden_name,
    join_remote,
    no_progress,
    temporary_name,
)


def apply_plan(
    plan: Plan,
    transport: FileTransport,
    source: Path | Callable[[str], Path],
    dest: str,
    advance: Advance = no_progress,
    *,
    ensure_dest: bool = True,
) -> TransferStats:
    """Apply ``plan`` (from :func:`~remoteops.sync.plan.plan_sync`) to ``dest`` on the host.

    ``source`` is the local folder the plan's paths are relative to, or a function giving
    each path's local file (``put`` may rename what it sends). ``dest`` is created if the plan
    writes anything, or if ``ensure_dest``; a caller whose listing showed it exists passes
    False, so a sync with nothing to do costs no round trip at all.
    """
    locate = source.joinpath if isinstance(source, Path) else source
    if not plan.ok:
        raise TransferError("; ".join(plan.problems))
    actions = plan.actions
    # Phases, in plan order: removals of entries of another kind, one by one; then every new
    # directory, file and link in one batch (one tar stream over SSH); then mode and time fixes
    # several at a time; then deletions. Folders are made writable for us first and get their
    # real modes last, deepest first, so a read-only folder (0555) in the source can still be
    # filled, by a non-root user too.
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
    later = set(folder_modes)
    # Host folders we add to but cannot write (0555) are unlocked first, as rsync does; they
    # get their mode back at the end, or the source's mode if the plan changes it.
    removed = {a.path for a in actions if a.kind in (ActionKind.DELETE, ActionKind.REPLACE)}
    relock = {e.path: e.mode for e in plan.locked if not _removed(e.path, removed)}
    final_modes = relock | {a.path: _entry(a).mode for a in folder_modes}
    for entry in plan.locked:
        transport.set_attributes(join_remote(dest, entry.path), mode=entry.mode | 0o700)
    try:
        sent, partial = _apply_phases(
            plan,
            transport,
            locate=locate,
            dest=dest,
            advance=advance,
            later=later,
            ensure_dest=ensure_dest,
        )
    except BaseException:
        with contextlib.suppress(HostError):
            _set_modes(transport, dest, relock)
        raise
    if partial is None:
        _set_modes(transport, dest, final_modes)
        return plan_stats(plan, sent)
    failed = set(partial.failed)
    with contextlib.suppress(TransferError):  # best effort: the failure to report is partial's
        _set_modes(
            transport, dest, {p: m for p, m in final_modes.items() if not _removed(p, failed)}
        )
    partial.transfer = plan_stats(plan, sent, failed=failed)
    raise partial


def apply_to_new_folder(
    plan: Plan,
    transport: FileTransport,
    source: Path | Callable[[str], Path],
    dest: str,
    advance: Advance = no_progress,
) -> TransferStats:
    """:func:`apply_plan` for a ``dest`` that does not exist yet: filled under a hidden name
    beside it and renamed once complete, as every new folder below a destination is (see
    :func:`~remoteops.transports.file_ops.stage_new_folders`), so a sync that fails midway
    leaves nothing under the real name. The hidden name is the same for the same ``dest``:
    what an earlier sync cut off there is removed first. So when some entries could not be
    written (:class:`EntriesFailedError`), nothing of ``dest`` is kept and the host fails
    with what could not be written, having changed nothing (as a new folder below a
    destination with a failed entry in it is left out whole).

    Another sync may be filling the same new folder at the same time: its staged folder
    (changed within :data:`~remoteops.sync.plan.LEFTOVER_AGE_S`) is left alone and this one
    is staged under a name of its own; whichever is renamed second finds ``dest`` there and
    applies its plan into it instead."""
    if not plan.ok:  # refused before anything is made, as apply_plan does
        raise TransferError("; ".join(plan.problems))
    real = dest.rstrip("/") or dest
    folder, name = posixpath.split(real)
    digest = hashlib.sha256(real.encode(errors="surrogateescape")).hexdigest()[:8]
    staged = posixpath.join(folder, hidden_name(name, digest))  # within NAME_MAX, too
    left = transport.list_path(staged, missing_ok=True)  # links not followed
    if left and not abandoned(left[0]):  # another sync's, in use: not ours to remove
        staged = temporary_name(real)
    elif left:
        transport.remove(staged, left[0].kind)
    try:
        stats = apply_plan(plan, transport, source, staged, advance)
        try:
            transport.rename_path(staged, real)
        except HostError:
            if transport.path_kind(real) is not Kind.DIR:
                raise
            # made meanwhile by another sync: fill it as any existing folder
            stats = apply_plan(plan, transport, source, real, ensure_dest=False)
            transport.remove(staged, Kind.DIR)
    except BaseException as exc:
        with contextlib.suppress(HostError, OSError):  # best effort: the next sync does it
            transport.remove(staged, Kind.DIR)
        if isinstance(exc, EntriesFailedError):  # the rest did not arrive either: left out
            said = str(exc).replace(staged, real)
            raise TransferError(f"{said}; {real} left out whole, incomplete") from exc
        raise
    return stats


_WRITES = (ActionKind.MKDIR, ActionKind.UPLOAD, ActionKind.SYMLINK)


def _apply_phases(
    plan: Plan,
    transport: FileTransport,
    *,
    locate: Callable[[str], Path],
    dest: str,
    advance: Advance,
    later: set[Action],
    ensure_dest: bool,
) -> tuple[int, EntriesFailedError | None]:
    """Replacements, the batch of writes, attribute fixes, deletions; returns bytes sent.

    When some writes failed and every other one went in (:class:`EntriesFailedError`), the
    attribute fixes still apply, deletions do not (nothing is deleted unless every write
    succeeded), and the error is returned for the caller to raise once modes are set.
    """
    actions = plan.actions
    for action in actions:
        if action.kind is ActionKind.REPLACE:
            _remove(action, transport, dest)
    writes = [_writable(a) for a in actions if a.kind in _WRITES]
    if not writes and ensure_dest:
        transport.make_dir(dest)  # write_entries creates it otherwise
    basis = {a.path: a.replaces for a in actions if a.replaces is not None}
    partial: EntriesFailedError | None = None
    try:
        sent = transport.write_entries(
            dest,
            [(e, locate(e.path) if e.kind is Kind.FILE else None) for e in writes],
            advance,
            basis=basis,
        )
    except EntriesFailedError as exc:
        partial, sent = exc, exc.sent
    failed = set(partial.failed) if partial is not None else set()
    fixes = [
        _attribute_fix(a, transport, dest)
        for a in actions
        if a.kind in (ActionKind.CHMOD, ActionKind.TOUCH)
        and a not in later
        and not _removed(a.path, failed)
    ]
    if partial is not None:
        with contextlib.suppress(TransferError):  # best effort, as above; the next sync retries
            run_in_parallel(fixes, transport.parallel_transfers)
        return sent, partial
    run_in_parallel(fixes, transport.parallel_transfers)
    for action in actions:  # only reached when every write above succeeded
        if action.kind is ActionKind.DELETE:
            _remove(action, transport, dest)
    return sent, None


def _removed(path: str, removed: set[str]) -> bool:
    """True if the plan removes ``path`` or a folder holding it."""
    parts = path.split("/")
    return any("/".join(parts[: i + 1]) in removed for i in range(len(parts)))


def _set_modes(transport: FileTransport, dest: str, modes: dict[str, int]) -> None:
    """Folder modes, deepest first: a parent locked first would refuse its children's."""
    for path in sorted(modes, key=lambda p: p.count("/"), reverse=True):
        transport.set_attributes(join_remote(dest, path), mode=modes[path])


def _entry(action: Action) -> Entry:
    if action.entry is None:
        raise TransferError(f"{action.path}: the plan has no entry for {action.kind.value}")
    return action.entry


def _writable(action: Action) -> Entry:
    """The entry to create; a new folder is writable for us until its real mode comes last."""
    entry = _entry(action)
    if entry.kind is Kind.DIR:
        return dataclasses.replace(entry, mode=entry.mode | 0o700)
    return entry


def _remove(action: Action, transport: FileTransport, dest: str) -> None:
    transport.remove(join_remote(dest, action.path), _entry(action).kind)


def _attribute_fix(action: Action, transport: FileTransport, dest: str) -> Callable[[], int]:
    entry, remote = _entry(action), join_remote(dest, action.path)

    def fix() -> int:
        if action.kind is ActionKind.CHMOD:
            transport.set_attributes(remote, mode=entry.mode)
        else:
            transport.set_attributes(remote, mtime=entry.mtime)
        return 0

    return fix


def start_progress(plan: Plan, host: str, progress: ProgressSink | None) -> Advance:
    """Announce a host's plan to the progress display, if any; its Advance."""
    if progress is None:
        return no_progress
    return progress.planned(host, plan.count(ActionKind.UPLOAD), plan.bytes_to_send)


def plan_stats(plan: Plan, bytes_sent: int = 0, *, failed: set[str] | None = None) -> TransferStats:
    """What a plan changes, counted per path (``--dry-run`` reports it without applying);
    with ``failed``, what it changed when those paths (and what is in them) failed and the
    deletions were left out."""
    done = [a for a in plan.actions if not failed or not _removed(a.path, failed)]
    created = {a.path for a in done if a.reason == "new"}
    touched = {
        a.path
        for a in done
        if a.kind not in (ActionKind.DELETE, ActionKind.REPLACE) and a.reason != "new"
    }
    return TransferStats(
        files_created=len(created),
        files_updated=len(touched - created),
        files_deleted=0 if failed else sum(a.kind is ActionKind.DELETE for a in plan.actions),
        files_unchanged=plan.unchanged,
        bytes_sent=bytes_sent,
    )


def partly_applied(host: str, exc: EntriesFailedError, started: float) -> HostResult:
    """A host where some entries could not be written and the rest arrived: ``failed``,
    naming those entries, with the counts of what did arrive."""
    return HostResult(
        host,
        Status.FAILED,
        error=str(exc),
        duration_s=time.monotonic() - started,
        transfer=exc.transfer,
    )


__all__ = [
    "apply_plan",
    "apply_to_new_folder",
    "partly_applied",
    "plan_stats",
    "start_progress",
]
