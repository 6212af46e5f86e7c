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
    CMD_HANDLE,
    CMD_LSTAT,
    CMD_NAME,
    CMD_OPENDIR,
    CMD_READDIR,
    CMD_READLINK,
    CMD_STATUS,
    SFTP_EOF,
    SFTP_OK,
)

from remoteops.errors import TransferError, first_of
from remoteops.sync.model import Entry, Kind, join_remote

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
    except OSError as exc:
        raise TransferError(f"cannot list {root}: {exc.strerror or exc}") from exc
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
    except (OSError, paramiko.SSHException, EOFError) as exc:
        raise TransferError(f"cannot list {root}: {exc}") from exc
    if failures:
        raise TransferError(f"cannot list {root}: {first_of(failures)}")
    return entries


__all__ = ["Pipeline", "expect_ok", "lstat_all", "status_of", "walk_tree"]
