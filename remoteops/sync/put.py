"""``put``: copy local files and folders to a path on every host, with scp/pscp semantics.

Where the copies land depends on what the remote path is on each host, as with ``cp`` and
``scp``: an existing folder (or a path ending in ``/``) receives every source under its own
name; otherwise a single source is copied *as* that path. ``parents`` creates what is missing.
The copy itself is the sync engine's (one listing, one tar stream, atomic renames), without
deletions; files whose size and mtime already match are left alone, as ``rsync -a`` does.
"""

from __future__ import annotations

import dataclasses
import posixpath
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from remoteops.errors import (
    ConfigurationError,
    EntriesFailedError,
    TransferError,
    UnsupportedError,
    first_of,
)
from remoteops.executor import DEFAULT_FORKS, Executor, HostWork, Listener, needing
from remoteops.inventory.model import Host
from remoteops.results import HostResult, RunReport, Status
from remoteops.sync.apply import apply_plan, partly_applied, plan_stats, start_progress
from remoteops.sync.diff import plan_diff
from remoteops.sync.local_tree import scan_tree
from remoteops.sync.model import SyncOptions
from remoteops.sync.paths import expand_home, refuse_user_home
from remoteops.sync.plan import plan_sync
from remoteops.sync.run import describe, planned_changes
from remoteops.transports import Transport, TransportFactory
from remoteops.transports.base import FileTransport, Privilege, file_needs, files_of
from remoteops.tree import Entry, Kind, ProgressSink, is_temporary_of, join_remote


@dataclass(frozen=True)
class PutSource:
    """One local argument: its path, and its entries named from its basename."""

    path: Path
    entries: tuple[Entry, ...]

    @property
    def name(self) -> str:
        return self.entries[0].path

    @property
    def is_dir(self) -> bool:
        return self.entries[0].kind is Kind.DIR

    def local_file(self, path: str) -> Path:
        """The local file of one of this source's entries."""
        below = path[len(self.name) + 1 :]
        return self.path / below if below else self.path


def read_source(path: Path, *, recursive: bool) -> PutSource:
    """Scan one local argument; a folder needs ``recursive``, as with ``cp -r``.

    A symlink given by name is followed (as ``cp -r``, ``scp`` and ``rsync -a`` do for a
    command-line argument); links inside a folder are copied as links.
    """
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    name = path.resolve().name if path.name in ("", ".", "..") else path.name
    top = Entry(name, Kind.DIR if path.is_dir() else Kind.FILE, info.st_size,
                int(info.st_mtime), info.st_mode & 0o7777)  # fmt: skip
    if top.kind is Kind.FILE:
        if not path.is_file():
            raise ConfigurationError(f"{path}: not a regular file or folder")
        return PutSource(path, (top,))
    if not recursive:
        raise ConfigurationError(
            f"{path} is a folder: use -r to copy it (recursive: true in a task file)"
        )
    tree = scan_tree(path)
    below = (dataclasses.replace(e, path=f"{name}/{e.path}") for e in tree.entries)
    return PutSource(path, (dataclasses.replace(top, size=0), *below))


def _placement(
    transport: FileTransport, sources: Sequence[PutSource], remote: str, *, parents: bool
) -> tuple[str, list[str]]:
    """The host folder the copies go into, and the name each source gets there."""
    stripped = remote.rstrip("/") or "/"
    kind = transport.path_kind(stripped)
    into = kind is Kind.DIR or remote.endswith("/") or len(sources) > 1
    if into:
        require_folder(stripped, kind, parents=parents)
        return stripped, [s.name for s in sources]
    (source,) = sources
    if kind is Kind.FILE and source.is_dir:
        raise TransferError(f"{stripped} is a file; cannot copy the folder {source.path} over it")
    folder, name = posixpath.split(stripped)
    folder = folder or "."
    require_folder(folder, transport.path_kind(folder), parents=parents)
    return folder, [name]


def require_folder(folder: str, kind: Kind | None, *, parents: bool) -> None:
    """Refuse to write into ``folder`` (what the host says it is: ``kind``) unless it is one,
    or is missing and ``parents`` creates it: the check of a real copy and of its dry run."""
    if kind is Kind.FILE:
        raise TransferError(f"{folder} is a file, not a folder")
    if kind is None and not parents:
        raise TransferError(
            f"{folder}: no such folder (--parents, or parents: true in a task file, creates it)"
        )


def _refuse_other_kinds(wanted: Sequence[Entry], present: Sequence[Entry]) -> None:
    """put never removes what is on the host: an entry of another kind in the way (a link
    where a file goes, a file where a folder goes) fails the host, and nothing is written.

    A link is not written through either: the atomic rename would replace the link itself.
    """
    found = {e.path: e for e in present}
    clashes = [
        f"{e.path} is a {found[e.path].kind.value} on the host, a {e.kind.value} here"
        for e in wanted
        if e.path in found and found[e.path].kind is not e.kind
    ]
    if clashes:
        raise TransferError(
            f"{first_of(clashes)}; put does not replace it (remove it first, or sync --delete)"
        )


def _leftovers(transport: FileTransport, folder: str, names: Sequence[str]) -> list[Entry]:
    """put's own temporaries left in ``folder`` by an interrupted put of one of ``names`` (a
    file's, or a new folder's staged whole): listed so that the plan removes them, as sync
    removes its own. Leftovers further down are in the listings of the names themselves."""
    return [
        e
        for e in transport.list_children(folder, ".*.remoteops-*.tmp")
        if is_temporary_of(e.path, names)
    ]


def put_work(
    sources: Sequence[PutSource],
    remote: str,
    *,
    parents: bool = False,
    progress: ProgressSink | None = None,
    dry_run: bool = False,
    diff: bool = False,
    privilege: Privilege | None = None,
) -> HostWork:
    """The work of ``remoteops put`` on one host: where to, one listing, a plan, apply;
    with ``privilege``, all of it as root (or its user) through sudo.

    ``dry_run`` stops at the plan: the host's result carries it (``plan``, and counts of
    what it would do) and nothing is written. ``diff`` adds the unified diff of each file
    uploaded (:mod:`remoteops.sync.diff`), taken before anything is written. Both are
    shown on the listener's stdout, as ``sync --dry-run`` shows its plan.
    """
    if not sources:
        raise ConfigurationError("nothing to put")
    if not remote:
        raise ConfigurationError("the remote path is empty")
    names = [s.name for s in sources]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigurationError(f"several sources are named {', '.join(twice)}")

    refuse_user_home(remote)

    def work(host: Host, connection: Transport, listener: Listener) -> HostResult:
        transport = files_of(connection, privilege)
        started = time.monotonic()
        target = expand_home(transport, remote)
        folder, names = _placement(transport, sources, target, parents=parents)
        wanted: list[Entry] = []
        origin: dict[str, Path] = {}  # a name on the host -> the local file it comes from
        present = _leftovers(transport, folder, names)
        for source, name in zip(sources, names, strict=True):
            present += transport.list_path(join_remote(folder, name), missing_ok=True)
            for entry in source.entries:
                placed = name + entry.path[len(source.name) :]
                wanted.append(dataclasses.replace(entry, path=placed))
                origin[placed] = source.local_file(entry.path)
        _refuse_other_kinds(wanted, present)
        plan = plan_sync(wanted, present, SyncOptions(), transport.fidelity)
        if plan.unsupported:
            raise UnsupportedError("; ".join(plan.unsupported))
        if not plan.ok:
            raise TransferError("; ".join(plan.problems))
        changes = planned_changes(plan) if dry_run else None
        shown = plan_diff(transport, plan, origin.__getitem__, folder) if diff else None
        said = (describe(changes, ()) if changes else b"") + (shown or "").encode()
        if said:
            listener.host_output(host.name, "stdout", said)
        if dry_run:
            return HostResult(
                host.name,
                Status.OK,
                duration_s=time.monotonic() - started,
                transfer=plan_stats(plan),
                plan=changes,
                diff=shown,
            )
        advance = start_progress(plan, host.name, progress)
        try:
            stats = apply_plan(
                plan, transport, origin.__getitem__, folder, advance, ensure_dest=False
            )
        except EntriesFailedError as exc:  # the rest arrived: say what did, and what did not
            return partly_applied(host.name, exc, started)
        return HostResult(
            host.name,
            Status.OK,
            duration_s=time.monotonic() - started,
            transfer=stats,
            diff=shown,
        )

    return needing(file_needs(privilege), work)


def put_hosts(
    hosts: Sequence[Host],
    local: Sequence[Path],
    remote: str,
    *,
    recursive: bool = False,
    parents: bool = False,
    factory: TransportFactory | None = None,
    forks: int = DEFAULT_FORKS,
    listener: Listener | None = None,
    host_timeout: float | None = None,
) -> RunReport:
    """Copy local files (folders with ``recursive``) to ``remote`` on every host."""
    sources = [read_source(path, recursive=recursive) for path in local]
    executor = Executor(factory, forks=forks, listener=listener, host_timeout=host_timeout)
    return executor.run(hosts, put_work(sources, remote, parents=parents))


__all__ = ["PutSource", "put_hosts", "put_work", "read_source", "require_folder"]
