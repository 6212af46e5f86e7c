"""What every transport's file operations share: atomic downloads with resume, new folders
staged under a temporary name, a batch of writes where some entries failed, and running
operations a few at a time.

Kept apart from :mod:`remoteops.transports.base` (the interface and the command runner) so
each stays small; base's default ``write_entries`` builds on these.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from remoteops.errors import EntriesFailedError, LocalReadError, LocalWriteError, TransferError
from remoteops.tree import Entry, Kind, hidden_name, is_temporary_of, temporary_name

#: A cut-off download keeps its partial file from this size on, for the next get to resume.
RESUME_FROM_BYTES = 1024 * 1024


class _IncompleteError(TransferError):
    """The download ended at the wrong size: its bytes are not worth resuming."""


@dataclass(frozen=True)
class Received:
    """What one download brought: the bytes received this time, and a note when the file
    was not as listed (it grew while being fetched: the copy holds the listed bytes)."""

    received: int
    note: str | None = None


#: ``fetch(temporary, offset)`` of :func:`receive_atomically`: writes the host file's bytes
#: from ``offset`` up to the listed size (never past it) to the temporary; returns the offset
#: it really started from and, if the file held more than listed, how it grew ("grew to N
#: bytes", or "grew" where the size is not known), else None.
Fetch = Callable[[Path, int], tuple[int, str | None]]


class Partial:
    """A download's temporary as :func:`open_partial` opens it: ``write`` and close only,
    local failures raised as :class:`LocalWriteError`."""

    def __init__(self, handle: BinaryIO, temporary: Path) -> None:
        self._handle = handle
        self._temporary = temporary

    def write(self, data: bytes) -> None:
        try:
            self._handle.write(data)
        except OSError as exc:
            raise _local_failure(self._temporary, exc) from exc

    def __enter__(self) -> Partial:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._handle.close()
        except OSError as exc:  # the last buffered bytes could not be written
            raise _local_failure(self._temporary, exc) from exc


def _local_failure(temporary: Path, exc: OSError) -> LocalWriteError:
    return LocalWriteError(f"cannot write in {temporary.parent}: {exc.strerror or exc}")


class LocalSource:
    """A local file being sent (put, sync), read in chunks; its failures are
    :class:`LocalReadError` naming ``path``, so no transport's translator can take them for
    the host's or the connection's."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self._handle = handle
        self.path = path

    def read(self, size: int) -> bytes:
        try:
            return self._handle.read(size)
        except OSError as exc:
            raise LocalReadError(self.path, exc) from exc

    def seek(self, offset: int) -> None:
        try:
            self._handle.seek(offset)
        except OSError as exc:
            raise LocalReadError(self.path, exc) from exc

    def __enter__(self) -> LocalSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._handle.close()


def open_source(local: Path) -> LocalSource:
    """Open a local file to send; one that cannot be opened (gone, a folder, a dangling
    link) is a :class:`LocalReadError` naming it."""
    try:
        return LocalSource(open(local, "rb"), local)
    except OSError as exc:
        raise LocalReadError(local, exc) from exc


def open_partial(temporary: Path, offset: int) -> Partial:
    """A download's temporary, owner-only, appended to from ``offset`` (cut there)."""
    try:
        handle = open(  # noqa: SIM115 - Partial closes it
            temporary,
            "ab" if offset else "wb",
            # owner-only; and never through a link planted under this predictable name
            opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW, 0o600),
        )
        handle.truncate(offset)
    except OSError as exc:
        raise _local_failure(temporary, exc) from exc
    return Partial(handle, temporary)


def partial_name(local: Path, path: str, entry: Entry) -> Path:
    """The temporary a download of ``path`` writes to: hidden beside ``local`` (shaped as
    :data:`~remoteops.tree.TEMPORARY_NAME`) and named after the host file's path, size
    and mtime, so only the same, unchanged file ever resumes it."""
    version = hashlib.sha256(
        f"{path}\0{entry.size}\0{entry.mtime}".encode(errors="surrogateescape")
    )
    return local.with_name(hidden_name(local.name, version.hexdigest()[:8]))


def stage_new_folders(
    items: Sequence[tuple[Entry, Path | None]],
) -> tuple[list[str | None], list[tuple[str, str]]]:
    """Where each entry goes below the root, and the (temporary, real) renames that follow.

    A new folder that is the highest new one on its path is written whole under a temporary
    name and renamed once: a first copy of 100 folders costs 100 renames, not one per file,
    and nothing of it shows under the real name before it is complete. Entries in folders
    that already exist get None: each is written atomically on its own.
    """
    new_folders = {e.path for e, _ in items if e.kind is Kind.DIR}
    staged: dict[str, str] = {}  # highest new folder -> its temporary name
    tops: dict[str, str | None] = {}  # each new folder -> the highest new one holding it
    placed: list[str | None] = []
    for entry, _ in items:  # parents come before their children
        parent = entry.path.rpartition("/")[0]
        # Looked up from the parent's answer: prefixes walked per entry cost per file per host.
        top = tops[parent] if parent in tops else _highest_new(entry.path, new_folders)
        if top is None and entry.path in new_folders:
            top = entry.path
        if entry.kind is Kind.DIR:
            tops[entry.path] = top
        if top is None:
            placed.append(None)
            continue
        if top not in staged:
            staged[top] = temporary_name(top)
        placed.append(staged[top] + entry.path[len(top) :])
    return placed, [(temporary, real) for real, temporary in staged.items()]


@dataclass(frozen=True)
class PartialBatch:
    """What to do with a batch of writes where some entries failed (see
    :func:`partial_batch`): the renames still to make, the temporaries to remove, and the
    error to raise once that is done."""

    renames: list[tuple[str, str]]
    discard: list[str]
    error: TransferError


def partial_batch(
    root: str,
    written: Sequence[tuple[str, str]],
    missing: Collection[str],
    renames: Sequence[tuple[str, str]],
    *,
    reason: str,
    sent: int,
) -> PartialBatch:
    """The outcome of a batch below ``root`` where the entries named in ``missing`` could
    not be written, shared by every write path (the SSH tar stream, one operation per entry).

    ``written`` lists each entry as (where it was written below ``root``, its real path), in
    batch order; ``renames`` the (temporary, real) renames the batch still has to make.
    Everything else takes its real name: one entry the host cannot take (a name too long, a
    folder we may not write in) fails alone. A temporary holding a failed entry is removed
    whole: a new folder with a failed entry in it stays out (new folders appear complete or
    not at all), named in the message and counted as failed. The error is
    :class:`EntriesFailedError`, or a plain :class:`TransferError` when nothing could be
    written. ``reason`` (what the host said) is shown with real names for temporary ones.
    """
    temporaries = dict(renames)
    if len(missing) == len(written):
        error = TransferError(f"cannot write below {root}: {_shown(reason, written, missing)}")
        return PartialBatch([], list(temporaries), error)
    failed_temporaries: set[str] = set()
    failed: list[str] = []
    for name, path in written:
        if name not in missing:
            continue
        failed.append(path)
        parts = name.split("/")
        failed_temporaries.update(
            prefix
            for prefix in ("/".join(parts[: i + 1]) for i in range(len(parts)))
            if prefix in temporaries
        )
    incomplete = sorted(temporaries[t] for t in failed_temporaries if t not in missing)
    message = f"could not write {len(failed)} of {len(written)} entries below {root}: " + (
        ", ".join(repr(p) for p in failed[:20]) + (" ..." if len(failed) > 20 else "")
    )
    if incomplete:
        message += f"; new folders left out, incomplete: {', '.join(map(repr, incomplete))}"
    shown = _shown(reason, written, missing)
    if shown:
        message += f" ({shown})"
    return PartialBatch(
        [(t, real) for t, real in renames if t not in failed_temporaries],
        sorted(failed_temporaries),
        EntriesFailedError(message, failed=[*failed, *incomplete], sent=sent),
    )


def _shown(reason: str, written: Sequence[tuple[str, str]], missing: Collection[str]) -> str:
    """The first lines of ``reason``, with the failed entries' real names for the temporary
    ones the host's messages give."""
    for name, path in written:
        if name in missing and name != path:
            reason = reason.replace(name, path)
    return "; ".join(line for line in reason.splitlines()[:5] if line.strip())


def _highest_new(path: str, new_folders: Collection[str]) -> str | None:
    """The highest of ``path``'s folders (not ``path`` itself) that is new, if any."""
    parts = path.split("/")[:-1]
    return next(
        (p for p in ("/".join(parts[: i + 1]) for i in range(len(parts))) if p in new_folders),
        None,
    )


def receive_atomically(
    path: str,
    local: Path,
    entry: Entry,
    fetch: Fetch,
    *,
    resume: bool = True,
) -> Received:
    """``get_file`` for every transport: ``fetch(temporary, offset)`` (see :data:`Fetch`)
    appends the host's ``path`` from ``offset`` up to ``entry.size`` to a temporary beside
    ``local`` and returns the offset it really started from (0 where the host refused to
    resume). The temporary is checked for size, given mode and mtime, and renamed, so
    ``local`` never holds a partial file.

    The copy is the file as listed, as scp and rsync deliver a file that is being appended to
    (a live log): its first ``entry.size`` bytes; what was added since is a note, not a
    failure. A file that shrank meanwhile is an error (its listed bytes are gone).

    A download cut off after :data:`RESUME_FROM_BYTES` keeps its temporary, and the next get
    of the same unchanged file goes on from there (as ``wget -c`` and lftp's ``get -c`` do);
    any other failure removes it. Returns the bytes received this time. Without ``resume``
    (a host whose mtimes are not exact cannot tell two versions apart) it starts over.
    Partials are the owner's only (0600) until the file is complete.
    """
    temporary = partial_name(local, path, entry)
    offset = 0
    try:  # our disk: its errors name the local path, whatever transport calls
        with contextlib.suppress(FileNotFoundError):
            offset = temporary.stat().st_size
        if offset >= entry.size or not resume:  # nothing to resume (or not ours): start over
            temporary.unlink(missing_ok=True)
            offset = 0
    except OSError as exc:  # something else under the partial's name
        raise LocalWriteError(f"cannot replace {temporary}: {exc.strerror or exc}") from exc
    try:
        offset, grown = fetch(temporary, offset)
        try:
            received = temporary.stat().st_size
        except OSError as exc:
            raise _local_failure(temporary, exc) from exc
        if received < entry.size:
            raise _IncompleteError(
                f"{path}: received {received} bytes of {entry.size} "
                "(the file shrank on the host while being fetched?)"
            )
        if received > entry.size:  # a transport that did not stop at the listed size
            raise _IncompleteError(f"{path}: received {received} bytes of {entry.size}")
        try:
            os.chmod(temporary, entry.mode)
            os.utime(temporary, (entry.mtime, entry.mtime))
            os.replace(temporary, local)
        except OSError as exc:
            raise LocalWriteError(f"cannot write {local}: {exc.strerror or exc}") from exc
    except BaseException as exc:
        kept = 0
        with contextlib.suppress(OSError):
            kept = temporary.stat().st_size
        if isinstance(exc, (_IncompleteError, LocalWriteError)) or kept < RESUME_FROM_BYTES:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
        raise
    note = None
    if grown is not None:
        note = f"{path} {grown} while being fetched: copied the {entry.size} bytes listed"
    return Received(received - offset, note)


def remove_stale_partials(folder: Path, fetched: Collection[str]) -> None:
    """Partials left in ``folder`` for files just fetched whole: of earlier versions, never
    to be resumed. One scan per folder (a scan per file made a big folder quadratic)."""
    try:
        found = list(os.scandir(folder))
    except OSError:
        return
    for item in found:
        if is_temporary_of(item.name, fetched):
            with contextlib.suppress(OSError):
                os.unlink(item.path)


def run_in_parallel(jobs: Sequence[Callable[[], int]], workers: int) -> int:
    """Run ``jobs`` up to ``workers`` at a time; the sum of their results.

    The first failure cancels the jobs not yet started and is raised once the running ones end.
    """
    workers = max(1, min(workers, len(jobs)))
    if workers == 1:
        return sum(job() for job in jobs)
    total = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="remoteops-files") as pool:
        futures = [pool.submit(job) for job in jobs]
        try:
            for future in as_completed(futures):
                total += future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return total


__all__ = [
    "RESUME_FROM_BYTES",
    "Fetch",
    "LocalReadError",
    "LocalSource",
    "LocalWriteError",
    "Partial",
    "PartialBatch",
    "Received",
    "open_partial",
    "open_source",
    "partial_batch",
    "partial_name",
    "receive_atomically",
    "remove_stale_partials",
    "run_in_parallel",
    "stage_new_folders",
]
