"""``get``: copy a path from every host into ``LOCAL_DIR/<host>/``, like ``pslurp -L``.

A host's names are untrusted input here: a name that would climb out of the host's folder
(``..``, absolute) or a symlink pointing outside it is refused and reported, never written.
Files land under a temporary name first, so an interrupted ``get`` leaves no partial file.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import time
from collections.abc import Sequence
from pathlib import Path

from remoteops.errors import ConfigurationError, TransferError
from remoteops.executor import DEFAULT_FORKS, Executor, HostWork, Listener, needing
from remoteops.inventory.model import Host
from remoteops.results import HostResult, PlannedChange, RunReport, Status, TransferStats
from remoteops.sync.paths import expand_home, refuse_user_home
from remoteops.sync.run import describe
from remoteops.transports import Transport, TransportFactory
from remoteops.transports.base import Privilege, file_needs, files_of
from remoteops.transports.file_ops import remove_stale_partials
from remoteops.tree import Entry, Kind, temporary_name


def escape_reason(entry: Entry) -> str | None:
    """Why writing ``entry`` under the host's folder would reach outside it, or None."""
    parts = entry.path.split("/")
    if entry.path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        return "its name leaves the host's folder"
    if entry.kind is Kind.SYMLINK:
        target = entry.target or ""
        if target.startswith("/"):
            return f"symlink to an absolute path ({target})"
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(entry.path), target))
        if resolved == ".." or resolved.startswith("../"):
            return f"symlink pointing outside ({target})"
    return None


def _through_link(folder: Path, relative: str) -> bool:
    """True if a folder on the way to ``relative`` is a symlink: writing would follow it.

    Each link is checked on its own when created, but a chain (``a -> .``, ``b -> a/..``)
    can still lead out, so nothing is ever written through a link.
    """
    parts = relative.split("/")[:-1]
    return any((folder.joinpath(*parts[: i + 1])).is_symlink() for i in range(len(parts)))


def _remove_escaping_links(folder: Path, links: list[str]) -> list[str]:
    """Resolve every link made, now that all exist: chains can lead out where each link
    alone does not (``b/c -> ..`` then ``a -> b/c/../..``). Those are removed and reported."""
    root = os.path.realpath(folder)
    refused = []
    for relative in links:
        path = folder / relative
        resolved = os.path.realpath(path)
        if resolved != root and not resolved.startswith(root + os.sep):
            path.unlink(missing_ok=True)
            refused.append(f"{relative!r}: symlink leads outside (through other links)")
    return refused


def _host_folder(local_dir: Path, host: str) -> Path:
    if "/" in host or host in ("", ".", ".."):
        raise TransferError(f"host name {host!r} cannot be a folder name")
    return local_dir / host


def _make_room(path: Path, kind: Kind) -> None:
    """Remove what an earlier ``get`` left at ``path`` if the host now has another kind there
    (a folder that became a link or a file, or the reverse): the copy follows the host."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    found = Kind.SYMLINK if stat.S_ISLNK(mode) else Kind.DIR if stat.S_ISDIR(mode) else Kind.FILE
    if found is kind:
        return
    if found is Kind.DIR:
        shutil.rmtree(path)
    else:
        path.unlink()


def _link(target: str, path: Path) -> None:
    temporary = path.with_name(temporary_name(path.name))
    os.symlink(target, temporary)
    os.replace(temporary, path)


def _listed(problems: list[str], limit: int = 20) -> str:
    """Problems one after the other, the first ``limit`` of them: one line, whatever the number."""
    shown = "; ".join(problems[:limit])
    return shown + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")


def _parent(path: str) -> str:
    """The host folder ``path``'s entries are named from (``list_path`` names them from its
    basename)."""
    return path.rstrip("/").rpartition("/")[0] or ("/" if path.startswith("/") else ".")


def _fetch_plan(host: str, listed: list[Entry], folder: Path, started: float) -> HostResult:
    """What fetching ``listed`` would write into ``folder`` (a dry run): nothing is written
    here, not even the host's folder; names that would escape it are refused as a real
    ``get`` refuses them."""
    refused = [f"{e.path!r}: {why}" for e in listed if (why := escape_reason(e)) is not None]
    fetched = [e for e in listed if e.kind is not Kind.DIR and escape_reason(e) is None]
    changes = tuple(PlannedChange("fetch", e.path, f"into {folder}") for e in fetched)
    error = f"would refuse {len(refused)} entries: {_listed(refused)}" if refused else None
    return HostResult(
        host,
        Status.FAILED if refused else Status.OK,
        error=error,
        duration_s=time.monotonic() - started,
        transfer=TransferStats(files_created=len(fetched)),
        plan=changes,
    )


def fetch_work(
    remote_path: str,
    local_dir: Path,
    *,
    dry_run: bool = False,
    privilege: Privilege | None = None,
) -> HostWork:
    """The work of ``remoteops get`` on one host; a path naming nothing is refused here.
    With ``privilege`` the host's files are read as root (or its user) through sudo.

    Entries are fetched one by one, and one that cannot be (a file that vanished, a name this
    machine refuses, a link it cannot make) is reported by name while the others still
    arrive; the host then ends ``failed``. A lost connection ends the host at once
    (``unreachable``). Files growing while fetched arrive as listed, with a note.
    ``dry_run`` lists the host's path and says what would be fetched, writing nothing."""
    if remote_path.rstrip("/") in ("", "."):
        raise ConfigurationError(f"cannot get {remote_path!r}: name a file or folder")
    refuse_user_home(remote_path)

    def work(host: Host, connection: Transport, listener: Listener) -> HostResult:
        transport = files_of(connection, privilege)
        started = time.monotonic()
        folder = _host_folder(local_dir, host.name)
        path = expand_home(transport, remote_path)
        if dry_run:
            planned = _fetch_plan(
                host.name, transport.list_path(path, follow=True), folder, started
            )
            if planned.plan:
                listener.host_output(host.name, "stdout", describe(planned.plan, ()))
            return planned
        parent = _parent(path)
        refused: list[str] = []
        failed: list[str] = []
        notes: list[str] = []
        failed_folders: set[str] = set()
        links: list[str] = []
        fetched = received = 0
        whole: dict[Path, set[str]] = {}  # files fetched whole, by folder
        # A REMOTE_PATH that is a link is followed, as scp and pslurp do; links below are not.
        for entry in transport.list_path(path, follow=True):  # parents before children
            reason = escape_reason(entry)
            if reason is not None:
                refused.append(f"{entry.path!r}: {reason}")
                continue
            if _inside(entry.path, failed_folders):
                continue  # its folder could not be made: said once, for the folder
            target = folder / entry.path
            if _through_link(folder, entry.path):
                refused.append(f"{entry.path!r}: its folder is a symlink here")
                continue
            try:
                _make_room(target, entry.kind)
                if entry.kind is Kind.DIR:
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if entry.kind is Kind.SYMLINK:
                    _link(entry.target or "", target)
                    links.append(entry.path)
                else:
                    got = transport.get_file(posixpath.join(parent, entry.path), target, entry)
                    received += got.received
                    whole.setdefault(target.parent, set()).add(target.name)
                    if got.note is not None:
                        notes.append(got.note)
                        listener.host_output(host.name, "stderr", f"note: {got.note}\n".encode())
            except OSError as exc:  # this machine refused it: a name too long, no room...
                failed.append(f"{entry.path!r}: cannot write {target}: {exc.strerror or exc}")
                if entry.kind is Kind.DIR:
                    failed_folders.add(entry.path)
                continue
            except TransferError as exc:  # the host refused it: vanished, unreadable...
                failed.append(f"{entry.path!r}: {exc}")
                continue
            fetched += 1
        for place, names in whole.items():
            remove_stale_partials(place, names)
        refused += _remove_escaping_links(folder, links)
        problems = []
        if refused:
            problems.append(f"refused {len(refused)} entries that would escape {folder}: "
                            + _listed(refused))  # fmt: skip
        if failed:
            problems.append(f"could not fetch {len(failed)} entries: " + _listed(failed))
        return HostResult(
            host.name,
            Status.FAILED if problems else Status.OK,
            error="; ".join(problems) or None,
            duration_s=time.monotonic() - started,
            transfer=TransferStats(files_created=fetched, bytes_received=received),
            notes=tuple(notes),
        )

    return needing(file_needs(privilege), work)


def _inside(path: str, folders: set[str]) -> bool:
    return bool(folders) and any(path.startswith(f + "/") for f in folders)


def fetch_hosts(
    hosts: Sequence[Host],
    remote_path: str,
    local_dir: Path,
    *,
    factory: TransportFactory | None = None,
    forks: int = DEFAULT_FORKS,
    listener: Listener | None = None,
    host_timeout: float | None = None,
) -> RunReport:
    """Copy ``remote_path`` (file or folder) from every host into ``local_dir/<host>/``."""
    work = fetch_work(remote_path, local_dir)
    executor = Executor(factory, forks=forks, listener=listener, host_timeout=host_timeout)
    return executor.run(hosts, work)
