"""Many SFTP requests in flight on one session: pipelined renames and the listing walk.

paramiko has no public interface for this; its own prefetching and ``listdir_iter`` use the
same private calls (``_async_request`` to send, ``_read_response`` to take one reply and hand
it to the object the request was sent for), so that is what this builds on.

The walk is the listing for hosts whose ``find`` cannot ``-printf`` (BusyBox, BSD) or that
have no usable shell: it reads every folder of one level at once, so a tree costs a few round
trips per level instead of several per folder.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import paramiko
from paramiko.sftp import (
    CMD_ATTRS,
    CMD_CLOSE,
    CMD_DATA,
    CMD_HANDLE,
    CMD_LSTAT,
    CMD_NAME,
    CMD_OPENDIR,
    CMD_READ,
    CMD_READDIR,
    CMD_READLINK,
    CMD_STATUS,
    SFTP_EOF,
    SFTP_OK,
    int64,
)

from remoteops.errors import TransferError, first_of
from remoteops.transports.ssh_errors import LIBRARY_ERRORS, ssh_failure
from remoteops.tree import Entry, Kind, join_remote

#: Called with the reply's type and message.
Reply = Callable[[int, paramiko.Message], None]
_IN_FLIGHT = 256


class Pipeline:
    """Queue requests, each with a reply handler; :meth:`run` keeps up to 256 in flight.

    Handlers may queue further requests (a folder's handle asks for its entries).
    """

    def __init__(self, sftp: paramiko.SFTPClient) -> None:
        self._sftp: Any = sftp  # the async calls are private, hence untyped
        self._queue: deque[tuple[int, tuple[Any, ...], Reply]] = deque()
        self._pending: dict[int, Reply] = {}

    def send(self, kind: int, *args: Any, on_reply: Reply) -> None:
        self._queue.append((kind, args, on_reply))

    def run(self) -> None:
        """Send everything queued and wait for every reply."""
        while self._queue or self._pending:
            while self._queue and len(self._pending) < _IN_FLIGHT:
                kind, args, on_reply = self._queue.popleft()
                number = self._sftp._async_request(self, kind, *args)
                self._pending[number] = on_reply
            if self._pending:
                self._sftp._read_response()

    def _async_response(self, kind: int, message: paramiko.Message, number: int) -> None:
        on_reply = self._pending.pop(number, None)
        if on_reply is not None:
            on_reply(kind, message)


def status_of(kind: int, message: paramiko.Message) -> tuple[int, str]:
    """The status code and text of a reply; a non-status reply counts as a failure."""
    if kind != CMD_STATUS:
        return -1, f"unexpected reply {kind}"
    return message.get_int(), message.get_text()


def expect_ok(failures: list[str], what: str) -> Reply:
    """A handler that records ``what`` in ``failures`` unless the reply is OK."""

    def on_reply(kind: int, message: paramiko.Message) -> None:
        code, text = status_of(kind, message)
        if code != SFTP_OK:
            failures.append(f"{what}: {text}")

    return on_reply


#: Bytes per read request. paramiko's prefetch asks 32 KiB; 128 KiB fetched a 200 MiB file
#: 2-2.8x faster here (1.5-2.1 s against 4.2 s; OpenSSH serves up to 255 KiB). A server that
#: serves less answers short, and the rest is asked for on its own.
_READ_SIZE = 128 * 1024


def read_range(
    sftp: paramiko.SFTPClient, handle: bytes, start: int, end: int, write: Callable[[bytes], None]
) -> tuple[int, bool]:
    """Bytes ``start`` to ``end`` of the open file ``handle``, handed to ``write`` in order,
    up to 256 reads in flight on the calling thread (paramiko's prefetch runs a thread per
    file, whose traceback a dropped connection printed); then one byte past ``end``, asked
    once every read is out, says whether the file goes on.

    Returns where the data stopped (``end``, or less if the file ended first) and whether
    there was more past ``end``. A read the server refuses raises OSError with its text.
    """
    pipeline = Pipeline(sftp)
    arrived: dict[int, bytes] = {}  # replies may come out of order: kept until their turn
    written, asked = start, start
    ended = end  # lowered where the server said EOF
    more = False
    failures: list[str] = []

    def ask() -> None:
        """One more read (or, once all are out, the probe past the end)."""
        nonlocal asked
        if asked < end:
            length = min(_READ_SIZE, end - asked)
            pipeline.send(CMD_READ, handle, int64(asked), length, on_reply=got(asked, length))
            asked += length
        elif asked == end:
            pipeline.send(CMD_READ, handle, int64(end), 1, on_reply=probed)
            asked += 1

    def got(offset: int, length: int) -> Reply:
        def on_reply(kind: int, message: paramiko.Message) -> None:
            nonlocal written, ended
            if kind == CMD_DATA and (data := message.get_string()):
                arrived[offset] = data
                if len(data) < length:  # a short read: the rest is asked for on its own
                    rest = offset + len(data)
                    pipeline.send(
                        CMD_READ, handle, int64(rest), length - len(data),
                        on_reply=got(rest, length - len(data)),
                    )  # fmt: skip
                while written in arrived:
                    chunk = arrived.pop(written)
                    write(chunk)
                    written += len(chunk)
            else:
                code, text = status_of(kind, message)
                if kind == CMD_DATA or code == SFTP_EOF:
                    ended = min(ended, offset)
                else:
                    failures.append(text)
            ask()

        return on_reply

    def probed(kind: int, message: paramiko.Message) -> None:
        nonlocal more
        more = kind == CMD_DATA and bool(message.get_string())

    for _ in range(min(_IN_FLIGHT, (end - start) // _READ_SIZE + 2)):
        ask()
    pipeline.run()
    if failures:
        raise OSError(failures[0])
    return min(written, ended), more


_ATTRIBUTES: Any = paramiko.SFTPAttributes  # its message parser is private too


def lstat_all(
    sftp: paramiko.SFTPClient, paths: Sequence[str]
) -> list[paramiko.SFTPAttributes | None]:
    """The attributes of every path (links not followed), None where there is nothing (or
    nothing we may see): one pipelined round of requests, whatever their number."""
    pipeline = Pipeline(sftp)
    found: list[paramiko.SFTPAttributes | None] = [None] * len(paths)

    def keep(index: int) -> Reply:
        def on_reply(kind: int, message: paramiko.Message) -> None:
            if kind == CMD_ATTRS:
                found[index] = _ATTRIBUTES._from_msg(message)

        return on_reply

    for index, path in enumerate(paths):
        pipeline.send(CMD_LSTAT, os.fsencode(path), on_reply=keep(index))
    pipeline.run()
    return found


_KIND_OF = {stat.S_IFDIR: Kind.DIR, stat.S_IFREG: Kind.FILE, stat.S_IFLNK: Kind.SYMLINK}


def walk_tree(sftp: paramiko.SFTPClient, root: str, *, max_depth: int | None = None) -> list[Entry]:
    """Every entry below ``root`` (links not followed, as ``find -H``), by SFTP only;
    ``max_depth`` 1 lists the folder's own entries only.

    Missing root: empty; a root that is not a folder, or any folder that cannot be read:
    TransferError.
    """
    try:
        top = sftp.stat(os.fsencode(root))
    except FileNotFoundError:
        return []
    except LIBRARY_ERRORS as exc:
        raise ssh_failure(f"cannot list {root}", exc) from exc
    if not stat.S_ISDIR(top.st_mode or 0):
        raise TransferError(f"cannot list {root}: not a directory")
    pipeline = Pipeline(sftp)
    entries: list[Entry] = []
    links: dict[str, int] = {}  # path -> index in entries, for its target
    failures: list[str] = []

    def open_folder(relative: str) -> None:
        remote = os.fsencode(join_remote(root, relative) if relative else root)
        pipeline.send(CMD_OPENDIR, remote, on_reply=opened(relative))

    def opened(relative: str) -> Reply:
        def on_reply(kind: int, message: paramiko.Message) -> None:
            if kind != CMD_HANDLE:
                failures.append(f"{relative or root}: {status_of(kind, message)[1]}")
                return
            handle = message.get_binary()
            pipeline.send(CMD_READDIR, handle, on_reply=read(relative, handle))

        return on_reply

    def read(relative: str, handle: bytes) -> Reply:
        def on_reply(kind: int, message: paramiko.Message) -> None:
            if kind != CMD_NAME:
                code, text = status_of(kind, message)
                if code != SFTP_EOF:
                    failures.append(f"{relative or root}: {text}")
                pipeline.send(CMD_CLOSE, handle, on_reply=lambda kind, message: None)
                return
            for _ in range(message.get_int()):
                name = message.get_string()
                message.get_string()  # the ls -l style long name
                attrs = _ATTRIBUTES._from_msg(message)
                if name in (b".", b".."):
                    continue
                add(f"{relative}/{os.fsdecode(name)}" if relative else os.fsdecode(name), attrs)
            pipeline.send(CMD_READDIR, handle, on_reply=read(relative, handle))

        return on_reply

    def add(path: str, attrs: paramiko.SFTPAttributes) -> None:
        mode = attrs.st_mode or 0
        kind = _KIND_OF.get(stat.S_IFMT(mode))
        if kind is None:
            return  # devices, sockets, fifos: never copied
        entries.append(
            Entry(
                path,
                kind,
                size=(attrs.st_size or 0) if kind is Kind.FILE else 0,
                mtime=int(attrs.st_mtime or 0),
                mode=stat.S_IMODE(mode),
            )
        )
        if kind is Kind.DIR and (max_depth is None or path.count("/") + 1 < max_depth):
            open_folder(path)
        elif kind is Kind.SYMLINK:
            links[path] = len(entries) - 1
            pipeline.send(CMD_READLINK, os.fsencode(join_remote(root, path)), on_reply=target(path))

    def target(path: str) -> Reply:
        def on_reply(kind: int, message: paramiko.Message) -> None:
            if kind != CMD_NAME or message.get_int() != 1:
                failures.append(f"{path}: cannot read the link")
                return
            index = links[path]
            entry = entries[index]
            link = os.fsdecode(message.get_string())
            entries[index] = Entry(entry.path, entry.kind, 0, entry.mtime, entry.mode, link)

        return on_reply

    open_folder("")
    try:
        pipeline.run()
    except LIBRARY_ERRORS as exc:
        raise ssh_failure(f"cannot list {root}", exc) from exc
    if failures:
        raise TransferError(f"cannot list {root}: {first_of(failures)}")
    return entries


__all__ = ["Pipeline", "expect_ok", "lstat_all", "read_range", "status_of", "walk_tree"]
