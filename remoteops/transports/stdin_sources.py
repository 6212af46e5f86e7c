"""Input sent to every host's command: a file read by each host on its own, or a pipe read
once and streamed to all of them as it arrives.

``yes | remoteops run ...`` and ``sleep 30 | remoteops run -t 3 ...`` must neither fill the
controller's memory nor wait for the pipe to close: a :class:`BroadcastStdin` reads the pipe on
one thread into a bounded window that every host reads at its own pace. The slowest host still
reading holds the window back (as a slow reader of ``tee`` does), until it ends or times out.

Hosts that have started but not yet opened their stream (still connecting) hold the window
too: the input waits for them. The start of the input is kept for hosts that have not started
yet (more hosts than ``--forks``) only until it outgrows the window; a host starting after that
fails with a message saying so, rather than receiving the input from its middle. The executor
says when each host starts and ends (:meth:`BroadcastStdin.host_started`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Protocol

from remoteops.errors import TransferError

#: Bytes read from the input at a time.
CHUNK = 64 * 1024
#: Bytes a broadcast holds at most: the start of the input for hosts yet to start, or what
#: the slowest running host has yet to read.
DEFAULT_WINDOW = 64 * 1024 * 1024


class StdinStream(Protocol):
    """One host's reading of the input."""

    def read(self) -> bytes:
        """The next bytes, blocking until some arrive; ``b""`` at the end (or once closed)."""

    def close(self) -> None:
        """Stop reading; safe from another thread, where a blocked :meth:`read` returns."""


class StdinSource(Protocol):
    """Input for many hosts: each host's command opens its own stream."""

    def open(self) -> StdinStream:
        """A stream from the start of the input; raises TransferError if that is gone."""


class FileStdin:
    """A regular file: every host reads it on its own, from where it starts, nothing held.

    Given by path, or as an open descriptor (stdin redirected from a file), read from its
    offset now with ``pread``, so hosts never move each other's position.
    """

    def __init__(self, path: Path | None = None, *, fd: int | None = None) -> None:
        if (path is None) == (fd is None):
            raise ValueError("FileStdin takes a path or a descriptor")
        self.path = path
        self._fd = fd
        self._start = os.lseek(fd, 0, os.SEEK_CUR) if fd is not None else 0

    def open(self) -> StdinStream:
        if self._fd is not None:
            return _FileStream(self._fd, self._start, owned=False)
        assert self.path is not None  # noqa: S101 - one of the two, checked above
        try:
            return _FileStream(os.open(self.path, os.O_RDONLY), 0, owned=True)
        except OSError as exc:
            raise TransferError(f"cannot read {self.path}: {exc.strerror or exc}") from exc


class _FileStream:
    def __init__(self, fd: int, offset: int, *, owned: bool) -> None:
        self._fd = fd
        self._offset = offset
        self._owned = owned
        self._closed = False
        self._lock = threading.Lock()  # a read of a regular file is quick: close waits for it

    def read(self) -> bytes:
        with self._lock:
            if self._closed:
                return b""
            try:
                data = os.pread(self._fd, CHUNK, self._offset)
            except OSError as exc:
                raise TransferError(f"cannot read the input: {exc.strerror or exc}") from exc
            self._offset += len(data)
            return data

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                if self._owned:
                    with contextlib.suppress(OSError):
                        os.close(self._fd)


class BroadcastStdin:
    """A pipe (or terminal) read once, on its own thread, and streamed to every host.

    ``readers`` is how many hosts will open it at most; once all of them have started, the
    start of the input is no longer kept for late comers. Reading starts with the first
    :meth:`open`, so input nobody asks for is never read. A host is known by the thread that
    runs it (the executor runs each host on one thread, from start to end).
    """

    def __init__(self, fd: int, readers: int, *, window: int = DEFAULT_WINDOW) -> None:
        self._fd = fd
        self._readers_left = readers
        self._window = window
        lock = threading.Lock()
        self._arrived = threading.Condition(lock)  # streams wait here for more input
        self._room = threading.Condition(lock)  # the reader waits here for room in the window
        self._chunks: dict[int, bytes] = {}  # chunk number -> bytes: the window
        self._first = 0  # number of the oldest chunk still held
        self._next = 0  # number the next chunk read will get
        self._held = 0  # bytes in the window
        self._eof = False
        self._error: str | None = None
        self._positions: dict[int, int] = {}  # open stream -> number of the chunk it reads next
        self._connecting: set[int] = set()  # threads of hosts started but not yet reading
        self._reader: threading.Thread | None = None

    def host_started(self, host: str) -> None:
        """A host is connecting: the input waits for it to open its stream (or end)."""
        with self._arrived:
            self._readers_left -= 1
            self._connecting.add(threading.get_ident())

    def host_ended(self, host: str) -> None:
        """A host ended, whether or not it read the input: it holds nothing back any more."""
        with self._arrived:
            self._connecting.discard(threading.get_ident())
            self._release()
            self._room.notify()

    def open(self) -> StdinStream:
        with self._arrived:
            if self._readers_left <= 0 and threading.get_ident() not in self._connecting:
                raise TransferError(
                    "this input was already given to every host it was made for (a "
                    "BroadcastStdin serves one run, its readers hosts)"
                )
            if self._first > 0:
                raise TransferError(
                    f"the input was streamed to the first hosts and is over {self._window} "
                    "bytes, too much to keep for hosts started later: raise --forks to the "
                    "number of hosts, or pass a regular file with --stdin FILE"
                )
            if threading.get_ident() in self._connecting:
                self._connecting.discard(threading.get_ident())
            else:  # opened without host_started: a caller of its own, not the executor
                self._readers_left -= 1
            stream = _BroadcastStream(self)
            self._positions[id(stream)] = 0
            if self._reader is None:
                self._reader = threading.Thread(
                    target=self._read_input, name="remoteops-stdin-reader", daemon=True
                )
                self._reader.start()
            return stream

    def _read_input(self) -> None:
        while True:
            with self._room:
                while self._held >= self._window and not self._release():
                    if self._nobody_left():
                        return
                    self._room.wait()
                if self._nobody_left():  # every host ended: no more input is needed
                    return
            try:
                data = os.read(self._fd, CHUNK)
            except OSError as exc:
                data = b""
                self._error = f"cannot read the input: {exc.strerror or exc}"
            with self._arrived:
                if data:
                    self._chunks[self._next] = data
                    self._next += 1
                    self._held += len(data)
                else:
                    self._eof = True
                self._arrived.notify_all()
            if not data:
                return

    def _nobody_left(self) -> bool:
        """No host is reading, connecting or still to start: the input is read no further,
        so the descriptor is never read again after the run (its number may be reused)."""
        return self._readers_left <= 0 and not self._positions and not self._connecting

    def _release(self) -> bool:
        """Drop the chunks every open stream has read, unless a connecting host still needs
        them, or hosts yet to start do and the window has room; True if that made room.
        Called with the lock held."""
        if self._connecting or (self._readers_left > 0 and self._held < self._window):
            return False
        lowest = min(self._positions.values(), default=self._next)
        freed = False
        while self._first < lowest:
            self._held -= len(self._chunks.pop(self._first))
            self._first += 1
            freed = True
        return freed and self._held < self._window

    def _take(self, stream: _BroadcastStream) -> bytes:
        with self._arrived:
            while True:
                position = self._positions.get(id(stream))
                if position is None:
                    return b""
                if position < self._next:
                    self._positions[id(stream)] = position + 1
                    data = self._chunks[position]
                    if self._release():
                        self._room.notify()
                    return data
                if self._eof:
                    if self._error is not None:
                        raise TransferError(self._error)
                    return b""
                self._arrived.wait()

    def _forget(self, stream: _BroadcastStream) -> None:
        with self._arrived:
            if self._positions.pop(id(stream), None) is not None:
                self._release()
                self._room.notify()
                self._arrived.notify_all()  # wakes the stream's own read, if blocked


class _BroadcastStream:
    def __init__(self, source: BroadcastStdin) -> None:
        self._source = source

    def read(self) -> bytes:
        return self._source._take(self)

    def close(self) -> None:
        self._source._forget(self)


__all__ = ["DEFAULT_WINDOW", "BroadcastStdin", "FileStdin", "StdinSource", "StdinStream"]
