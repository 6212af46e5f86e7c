"""A tar stream of local entries, written straight to a command's stdin (the SSH bulk path).

Per-file SFTP costs about seven requests per file; one ``tar -x`` fed over an exec channel costs
one channel for the whole batch and moves data at the cipher's speed. tarfile's own stream mode
re-slices its buffer in 10 KiB steps (quadratic for big files), so the archive is framed here:
headers from :class:`tarfile.TarInfo`, file data read in large chunks, then the padding.
"""

from __future__ import annotations

import os
import struct
import tarfile
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
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s12x")
_MAX_OCTAL = 8**11 - 1  # what an 11-digit octal field holds (sizes and times)


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
    fields = [
        name,
        b"%07o\0" % (entry.mode & 0o7777),
        b"0000000\0",  # uid: extracted as the login user anyway (tar -o)
        b"0000000\0",
        b"%011o\0" % size,
        b"%011o\0" % entry.mtime,
        b" " * 8,  # the checksum counts itself as spaces
        _TYPES[entry.kind],
        link,
        b"ustar  \0",
        b"",
        b"",
        b"",
        b"",
        b"",
    ]
    header = bytearray(_HEADER.pack(*fields))
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


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


def _send_file(sink: _Sink, member: Member, local: Path, advance: Advance) -> int:
    """Header and content of one file; the size is taken when the file is opened.

    Only local failures become :class:`LocalReadError`; the sink's (remote) errors pass as
    they are, so a host that went away is not blamed on a local file.
    """
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
) -> int:
    """Write a tar archive of ``members`` through ``write``; returns the file bytes sent.

    ``sizes``, if given, receives each file member's size as archived (taken when the file
    was opened: it may differ from the scan's), by member name, as it goes.
    Raises :class:`LocalReadError` for local trouble, and whatever ``write`` raises when the
    receiving end goes away.
    """
    sink = _Sink(write)
    sent = 0
    for member in members:
        if member.entry.kind is Kind.FILE:
            if member.local is None:
                raise ValueError(f"{member.name}: a file member needs its local path")
            size = _send_file(sink, member, member.local, advance)
            if sizes is not None:
                sizes[member.name] = size
            sent += size
        else:
            sink.add(_header(member, 0))
    sink.add(bytes(2 * _BLOCK))  # end-of-archive marker
    sink.add(bytes(-sink.total % _RECORD))
    sink.flush()
    return sent


__all__ = ["Member", "write_tar"]
