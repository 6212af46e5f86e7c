"""The pure plan step: local entries + one host's remote entries + options -> ordered actions.

Comparison follows rsync: by size and mtime (whole seconds) by default, by size and content
digest with ``checksum``; modes are kept in step; symlinks are compared by target. Excluded
paths (gitignore syntax, via pathspec) are neither sent nor deleted, as rsync protects
excluded files on the receiver.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from remoteops.errors import first_of
from remoteops.sync.model import Action, ActionKind, Plan, SyncOptions
from remoteops.tree import TEMPORARY_NAME, Entry, Fidelity, Kind, Times

#: The fidelity of SSH and local hosts: everything is compared.
KEEPS_ALL = Fidelity()

#: How long a temporary must have been left unchanged before a sync or put removes it as
#: the leftover of an interrupted one: younger, it may be another sync's (or put's) still
#: being written into the same folder, and removing it failed that one. An hour, as tmpreaper
#: and systemd-tmpfiles wait before they call a file abandoned; the age is by this machine's
#: clock against the host's times, so a host whose clock runs an hour or more behind (or a
#: listing without times, FTP LIST without MDTM) keeps its leftovers longer, never loses an
#: in-flight one.
LEFTOVER_AGE_S = 3600


def abandoned(entry: Entry, now: float | None = None) -> bool:
    """Whether a temporary has been left unchanged for :data:`LEFTOVER_AGE_S` at ``now``
    (default: the clock's now): an interrupted sync's, not one being written."""
    return entry.last_change <= (time.time() if now is None else now) - LEFTOVER_AGE_S


def _depth_key(path: str) -> list[str]:
    """Parents sort before their children, siblings by name."""
    return path.split("/")


def _exclusion(patterns: tuple[str, ...]) -> Callable[[Entry], bool]:
    if not patterns:
        return lambda entry: False
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(patterns)

    def excluded(entry: Entry) -> bool:
        shown = entry.path + "/" if entry.kind is Kind.DIR else entry.path
        return bool(spec.match_file(shown))

    return excluded


def _file_difference(local: Entry, remote: Entry, checksum: bool, fidelity: Fidelity) -> str | None:
    """Why the remote file's content must be replaced, or None if it is the same."""
    if local.size != remote.size:
        return f"size differs ({remote.size} -> {local.size} bytes)"
    if checksum:
        if local.digest != remote.digest:
            return "content differs (checksum)"
        return None
    if fidelity.times is Times.EXACT and local.mtime != remote.mtime:
        return "modification time differs"
    if fidelity.times is Times.READ and local.mtime > remote.mtime - fidelity.skew_s:
        return "changed here since it was sent"
    return None


def _compare(
    local: Entry, remote: Entry, checksum: bool, fidelity: Fidelity = KEEPS_ALL
) -> list[Action]:
    """Actions that make ``remote`` (same kind, same path) match ``local``."""
    if local.kind is Kind.SYMLINK:
        if local.target != remote.target:
            return [Action(ActionKind.SYMLINK, local.path, "link target differs", local)]
        return []
    actions: list[Action] = []
    if local.kind is Kind.FILE:
        reason = _file_difference(local, remote, checksum, fidelity)
        if reason is not None:
            # The upload sets mode and time too; the host's file may serve as a delta basis.
            return [Action(ActionKind.UPLOAD, local.path, reason, local, replaces=remote)]
        if fidelity.times is Times.EXACT and local.mtime != remote.mtime:
            actions.append(Action(ActionKind.TOUCH, local.path, "same content, other time", local))
    if fidelity.modes and local.mode != remote.mode:
        reason = f"mode differs ({remote.mode:04o} -> {local.mode:04o})"
        actions.append(Action(ActionKind.CHMOD, local.path, reason, local))
    return actions


_CREATE = {
    Kind.DIR: ActionKind.MKDIR,
    Kind.FILE: ActionKind.UPLOAD,
    Kind.SYMLINK: ActionKind.SYMLINK,
}
_ORDER = {kind: rank for rank, kind in enumerate(ActionKind)}


@dataclass(frozen=True)
class LocalSide:
    """The source's half of every host's plan, prepared once per run (see :func:`plan_sync`)."""

    wanted: dict[str, Entry]
    order: tuple[str, ...]  # the wanted paths, parents first
    excluded: Callable[[Entry], bool]
    has_excludes: bool


def prepare_local(local: Iterable[Entry], options: SyncOptions) -> LocalSide:
    """Filter and order the source once; a hundred hosts' plans then share the work."""
    excluded = _exclusion(options.excludes)
    wanted = {e.path: e for e in local if not excluded(e)}
    order = tuple(sorted(wanted, key=_depth_key))
    return LocalSide(wanted, order, excluded, bool(options.excludes))


def plan_sync(
    local: Iterable[Entry] | LocalSide,
    remote: Iterable[Entry],
    options: SyncOptions,
    fidelity: Fidelity = KEEPS_ALL,
    now: float | None = None,
) -> Plan:
    """Plan one host's sync; see :class:`~remoteops.sync.model.Plan` for the order.

    ``fidelity`` says what the host keeps of modes and times; only that is compared. A
    temporary is removed only when unchanged for :data:`LEFTOVER_AGE_S` at ``now`` (default:
    the clock's now); a younger one is left alone, neither removed nor counted."""
    now = time.time() if now is None else now
    side = local if isinstance(local, LocalSide) else prepare_local(local, options)
    wanted, excluded = side.wanted, side.excluded
    present: dict[str, Entry] = {}
    protected: set[str] = set()  # excluded on the host: never deleted, nor their folders
    leftovers: list[Action] = []  # temporaries of an interrupted earlier sync, old enough
    staged: set[str] = set()  # leftover folders: what is inside goes with them
    kept: list[Entry] = []
    for entry in remote:
        name = entry.path.rpartition("/")[2]
        if (
            ".remoteops-" in name
            and TEMPORARY_NAME.fullmatch(name)
            and entry.path not in wanted  # a source file may look like one: it is not
            and not (side.has_excludes and excluded(entry))  # nor one the user excluded
        ):
            if abandoned(entry, now):
                leftovers.append(
                    Action(ActionKind.DELETE, entry.path, "leftover of an interrupted sync", entry)
                )
            if entry.kind is Kind.DIR:  # in use or not, what is inside is not ours to plan
                staged.add(entry.path)
        else:
            kept.append(entry)
    if staged:
        kept = [e for e in kept if not _under(e.path, staged)]
        leftovers = [a for a in leftovers if not _under(a.path, staged)]
    for entry in kept:
        if side.has_excludes and excluded(entry):
            protected.add(entry.path)
        else:
            present[entry.path] = entry
    if protected:  # inside an excluded folder nothing is touched, temporaries included
        leftovers = [a for a in leftovers if not _under(a.path, protected)]
    actions: list[Action] = []
    problems: list[str] = []
    unchanged = 0
    for path in side.order:
        ours, theirs = wanted[path], present.get(path)
        if theirs is None:
            actions.append(Action(_CREATE[ours.kind], path, "new", ours))
        elif theirs.kind is not ours.kind:
            if not options.delete:
                problems.append(
                    f"{path}: is a {theirs.kind.value} on the host, a {ours.kind.value} here; "
                    "replacing it needs --delete"
                )
                continue
            reason = f"a {theirs.kind.value} on the host, a {ours.kind.value} here"
            actions.append(Action(ActionKind.REPLACE, path, reason, theirs))
            actions.append(
                Action(_CREATE[ours.kind], path, "replaces a " + theirs.kind.value, ours)
            )
        else:
            changes = _compare(ours, theirs, options.checksum, fidelity)
            actions.extend(changes)
            unchanged += not changes
    if options.delete:
        replaced = {a.path for a in actions if a.kind is ActionKind.REPLACE}
        gone = [
            p
            for p in present
            if p not in wanted and not _under(p, replaced) and not _holds(p, protected)
        ]
        for path in sorted(gone, key=_depth_key, reverse=True):  # children before parents
            actions.append(Action(ActionKind.DELETE, path, "not in the source", present[path]))
    deletions = sum(a.kind is ActionKind.DELETE for a in actions) + sum(
        1 + sum(_under(p, {a.path}) for p in present)  # a replaced folder goes with its contents
        for a in actions
        if a.kind is ActionKind.REPLACE
    )
    actions.extend(sorted(leftovers, key=lambda a: a.path))
    links = [a.path for a in actions if a.kind is ActionKind.SYMLINK]
    unsupported: list[str] = []
    if links and not fidelity.links:  # refused here, not at the first link of the real run
        unsupported.append(
            f"this host cannot make symlinks: {first_of(links)} (-L copies what they point to)"
        )
    if options.max_delete is not None and deletions > options.max_delete:
        problems.append(
            f"would delete {deletions} entries, more than --max-delete {options.max_delete}"
        )
    ordered = sorted(actions, key=lambda a: _ORDER[a.kind])  # stable: path order kept inside
    return Plan(
        tuple(ordered),
        unchanged,
        tuple(problems),
        _locked_folders(ordered, present),
        unsupported=tuple(unsupported),
    )


def _locked_folders(actions: Iterable[Action], present: dict[str, Entry]) -> tuple[Entry, ...]:
    """Host folders without owner write permission that the plan adds to or removes from.

    As rsync does, they are made writable for the sync and get their mode back after it.
    (The destination itself is not listed, so it is not among them.)
    """
    touched = {
        a.path.rpartition("/")[0]
        for a in actions
        if a.kind not in (ActionKind.CHMOD, ActionKind.TOUCH)
    }
    found = [present.get(folder) for folder in sorted(touched, key=_depth_key)]
    return tuple(e for e in found if e is not None and e.kind is Kind.DIR and not e.mode & 0o200)


def _holds(folder: str, paths: set[str]) -> bool:
    """True if one of ``paths`` lies inside ``folder`` (so the folder must stay)."""
    return any(path.startswith(folder + "/") for path in paths)


def _under(path: str, roots: set[str]) -> bool:
    """True if ``path`` lies inside one of ``roots`` (removed whole by a replacement)."""
    return any(path.startswith(root + "/") for root in roots)
