"""A tar stream of local entries, written straight to a command's stdin (the SSH bulk path).

Per-file SFTP costs about seven requests per file; one ``tar -x`` fed over an exec channel costs
one channel for the whole batch and moves data at the cipher's speed. tarfile's own stream mode
re-slices its buffer in 10 KiB steps (quadratic for big files), so the archive is framed here:
headers from :class:`tarfile.TarInfo`, file data read in large chunks, then the padding.
"""

from __future__ import annotations

import functools
import os
import stat
import struct
import tarfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from remoteops.errors import LocalReadError
from remoteops.tree import Advance, Entry, Kind, no_progress

_BLOCK = 512
_RECORD = 20 * _BLOCK  # GNU tar's default record: the archive ends on a whole one
_BUFFER = 256 * 1024

#: Receives the archive piece by piece. The piece is a view of a reused buffer: it must be
#: consumed (sent or copied) before the call returns.
Write = Callable[[memoryview], None]


@dataclass(frozen=True)
class Member:
    """One archive member: where it lands (relative to the extraction folder) and what it is."""

    name: str
    entry: Entry
    local: Path | None = None  # the file to read, for Kind.FILE


class _Sink:
    """One reused buffer that headers, padding and file data are read or copied into, written
    out whenever it is full: no allocation per chunk (1 MiB reads each cost an mmap and page
    faults; with ten hosts streaming that was most of the client's CPU)."""

    def __init__(self, write: Write) -> None:
        self._write = write
        self._buffer = bytearray(_BUFFER)
        self._view = memoryview(self._buffer)
        self._fill = 0
        self.total = 0

    def add(self, data: bytes) -> None:
        end = self._fill + len(data)
        if end < _BUFFER:  # the common case (a header, a small file): one copy
            self._buffer[self._fill : end] = data
            self._fill = end
            self.total += len(data)
            return
        view = memoryview(data)
        while view:
            taken = min(len(view), _BUFFER - self._fill)
            self._view[self._fill : self._fill + taken] = view[:taken]
            self._fill += taken
            self.total += taken
            view = view[taken:]
            if self._fill == _BUFFER:
                self.flush()

    def read_from(self, descriptor: int, size: int) -> int:
        """Read up to ``size`` bytes of a file straight into the buffer; bytes read.

        Never writes (so an error here is the file's): call :meth:`make_room` first."""
        end = self._fill + min(size, _BUFFER - self._fill)
        count = os.readv(descriptor, [self._view[self._fill : end]])
        self._fill += count
        self.total += count
        return count

    def make_room(self) -> None:
        if self._fill == _BUFFER:
            self.flush()

    def flush(self) -> None:
        if self._fill:
            self._write(self._view[: self._fill])
            self._fill = 0


_TYPES = {Kind.FILE: b"0", Kind.SYMLINK: b"2", Kind.DIR: b"5"}
#: A header past its 100-byte name field; the checksum field starts 48 bytes into it.
_TAIL = struct.Struct("8s8s8s12s12s8sc100s8s32s32s8s8s155s12x")
_CHECKSUM_AT = 148 - 100
_MAX_OCTAL = 8**11 - 1  # what an 11-digit octal field holds (sizes and times)
_ZERO_ID = b"0000000\0"


def _header(member: Member, size: int) -> bytes:
    """A GNU tar header; plain fields are packed here (tarfile's tobuf was 60% of the
    stream's CPU), long names and huge numbers are left to tarfile."""
    entry = member.entry
    name = member.name.encode("utf-8", "surrogateescape")
    link = (entry.target or "").encode("utf-8", "surrogateescape")
    if (
        len(name) > 100
        or len(link) > 100
        or not 0 <= entry.mtime <= _MAX_OCTAL
        or size > _MAX_OCTAL
    ):
        return _tarfile_header(member, size)
    before, after, fixed = _header_tail(entry.mode & 0o7777, size, entry.mtime, entry.kind, link)
    # The checksum is the sum of the header's bytes with its own field as spaces.
    checksum = b"%06o\0 " % (fixed + sum(name))
    return b"".join((name.ljust(100, b"\0"), before, checksum, after))


@functools.lru_cache(maxsize=4096)
def _header_tail(
    mode: int, size: int, mtime: int, kind: Kind, link: bytes
) -> tuple[bytes, bytes, int]:
    """A header past its name, cut around the checksum field, and what it adds to the
    checksum: the same for a file on every host, only the (temporary) name differs; packing
    and summing all 512 bytes per file per host was most of the header's cost."""
    tail = _TAIL.pack(
        b"%07o\0" % mode,
        _ZERO_ID,  # uid: extracted as the login user anyway (tar -o)
        _ZERO_ID,
        b"%011o\0" % size,
        b"%011o\0" % mtime,
        b" " * 8,  # the checksum counts itself as spaces
        _TYPES[kind],
        link,
        b"ustar  \0",  # GNU's magic
        b"",
        b"",
        b"",
        b"",
        b"",
    )
    return tail[:_CHECKSUM_AT], tail[_CHECKSUM_AT + 8 :], sum(tail)


def _tarfile_header(member: Member, size: int) -> bytes:
    entry = member.entry
    info = tarfile.TarInfo(member.name)
    info.mode = entry.mode & 0o7777
    info.mtime = entry.mtime
    info.size = size
    if entry.kind is Kind.DIR:
        info.type = tarfile.DIRTYPE
    elif entry.kind is Kind.SYMLINK:
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target or ""
    # GNU format carries long names and non-UTF-8 bytes (surrogate escapes) as they are.
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


#: How recent a change makes a file's times untrustworthy as a version stamp (see
#: :class:`ContentCache`).
RACY_SECONDS = 2.0

#: A file's identity as stat tells it: a change to its content, size, mode or place (a new
#: file renamed over it) changes at least one of these.
Identity = tuple[int, int, int, int, int]


def identity_of(info: os.stat_result) -> Identity:
    """(device, inode, size, mtime_ns, ctime_ns): ctime moves on every write and chmod, and
    no one can set it back as ``touch`` sets back an mtime."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class ContentCache:
    """Small files' archived bytes (content and padding), read once and shared by every
    host's stream: a first sync of 2,000 files to 100 hosts opened, stat'ed, read and closed
    200,000 files, the most of the client's CPU after the cipher. Thread-safe; bounded to
    ``capacity`` bytes, least recently used out first; files above ``largest`` are streamed.

    An entry is used only while the file's :func:`identity_of` is unchanged (one ``stat``
    per file per host), so a file changed between two hosts is read again for the next.
    A file changed within the last ``racy_seconds`` is never kept: file systems stamp
    times with a coarse clock, so a write right after our read may leave the same times
    (git's "racily clean" index entries), and such a file is read anew for every host.
    """

    def __init__(
        self,
        capacity: int = 64 * 1024 * 1024,
        largest: int = _BUFFER,
        racy_seconds: float = RACY_SECONDS,
    ) -> None:
        self.capacity = capacity
        self.largest = largest
        self.racy_seconds = racy_seconds
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[Identity, bytes]] = OrderedDict()
        self._held = 0

    @property
    def held(self) -> int:
        """Bytes kept now (never above ``capacity``)."""
        return self._held

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: str, identity: Identity) -> bytes | None:
        """The archived bytes of ``path`` if kept for this very version of it."""
        with self._lock:
            found = self._entries.get(path)
            if found is None or found[0] != identity:
                return None
            self._entries.move_to_end(path)
            return found[1]

    def keeps(self, identity: Identity, now: float | None = None) -> bool:
        """Whether a file of this identity is worth keeping: small enough, and its last
        change old enough that its times tell its versions apart."""
        latest = max(identity[3], identity[4]) / 1e9
        return identity[2] <= self.largest and (
            (time.time() if now is None else now) - latest >= self.racy_seconds
        )

    def put(self, path: str, identity: Identity, archived: bytes) -> None:
        """Keep ``archived`` (the file's bytes and padding) for this version of ``path``."""
        if len(archived) > self.capacity:
            return
        with self._lock:
            old = self._entries.pop(path, None)
            if old is not None:
                self._held -= len(old[1])
            self._entries[path] = (identity, archived)
            self._held += len(archived)
            while self._held > self.capacity:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._held -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._held = 0


#: The cache every stream of this process shares (all hosts of a sync, every step of a task).
SHARED_CONTENTS = ContentCache()


def _archived(local: str | Path, cache: ContentCache) -> tuple[int, bytes] | None:
    """A small file's size and archived bytes, from ``cache`` or read whole (and kept);
    None for a file to stream (big, or not a regular file: the open path says why)."""
    path = os.fspath(local)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise LocalReadError(local, exc) from exc
    if not stat.S_ISREG(info.st_mode) or info.st_size > cache.largest:
        return None
    identity = identity_of(info)
    kept = cache.get(path, identity)
    if kept is not None:
        return info.st_size, kept
    try:  # os-level calls: a Python file object per small file costs more than its read
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise LocalReadError(local, exc) from exc
    try:
        try:
            opened = identity_of(os.fstat(descriptor))
            size = opened[2]
            if size > cache.largest:  # grew since the stat: stream it
                return None
            pieces = []
            left = size
            while left:
                piece = os.read(descriptor, left)
                if not piece:
                    raise LocalReadError(local, "shrank while being sent")
                pieces.append(piece)
                left -= len(piece)
            after = identity_of(os.fstat(descriptor))
        except OSError as exc:
            raise LocalReadError(local, exc) from exc
    finally:
        os.close(descriptor)
    data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    archived = data + bytes(-size % _BLOCK) if size % _BLOCK else data
    if after == opened and cache.keeps(opened):  # not changed while read, nor lately
        cache.put(path, opened, archived)
    return size, archived


def _send_file(
    sink: _Sink, member: Member, local: Path, advance: Advance, cache: ContentCache | None
) -> int:
    """Header and content of one file; the size is taken when the file is opened.

    Only local failures become :class:`LocalReadError`; the sink's (remote) errors pass as
    they are, so a host that went away is not blamed on a local file.
    """
    small = None if cache is None else _archived(local, cache)
    if small is not None:
        size, archived = small
        sink.add(_header(member, size))
        sink.add(archived)
        advance(1, size)
        return size
    try:  # os-level calls: a Python file object per small file costs more than its read
        descriptor = os.open(local, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise LocalReadError(local, exc) from exc
    try:
        try:
            size = os.fstat(descriptor).st_size
        except OSError as exc:
            raise LocalReadError(local, exc) from exc
        sink.add(_header(member, size))
        left = size
        reported = 0
        while left:
            sink.make_room()
            try:
                count = sink.read_from(descriptor, left)
            except OSError as exc:
                raise LocalReadError(local, exc) from exc
            if not count:
                raise LocalReadError(local, "shrank while being sent")
            left -= count
            if size - left - reported >= _BUFFER:  # big files report as they go
                advance(0, size - left - reported)
                reported = size - left
    finally:
        os.close(descriptor)
    padding = -size % _BLOCK
    if padding:
        sink.add(bytes(padding))
    advance(1, size - reported)
    return size


def write_tar(
    members: Sequence[Member],
    write: Write,
    advance: Advance = no_progress,
    sizes: dict[str, int] | None = None,
    cache: ContentCache | None = SHARED_CONTENTS,
) -> int:
    """Write a tar archive of ``members`` through ``write``; returns the file bytes sent.

    ``sizes``, if given, receives each file member's size as archived (taken when the file
    was opened: it may differ from the scan's), by member name, as it goes.
    Small files' bytes come from ``cache`` (see :class:`ContentCache`; None reads every
    file). Raises :class:`LocalReadError` for local trouble, and whatever ``write`` raises
    when the receiving end goes away.
    """
    sink = _Sink(write)
    sent = 0
    for member in members:
        if member.entry.kind is Kind.FILE:
            if member.local is None:
                raise ValueError(f"{member.name}: a file member needs its local path")
            size = _send_file(sink, member, member.local, advance, cache)
            if sizes is not None:
                sizes[member.name] = size
            sent += size
        else:
            sink.add(_header(member, 0))
    sink.add(bytes(2 * _BLOCK))  # end-of-archive marker
    sink.add(bytes(-sink.total % _RECORD))
    sink.flush()
    return sent


__all__ = ["SHARED_CONTENTS", "ContentCache", "Identity", "Member", "identity_of", "write_tar"]
