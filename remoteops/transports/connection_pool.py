"""A host's connections, lent per operation: for protocols whose connection does one thing
at a time (FTP), so a host's work can go over several at once.

A server may allow fewer connections than asked for (vsftpd ``max_per_ip``, ProFTPD
``MaxClientsPerHost``, pyftpdlib ``max_cons_per_ip``): once it refuses one while others are
open, the pool keeps to the number it has and the operations wait for one of them, as lftp
does, instead of failing the host.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

from remoteops.errors import TransferError, UnreachableError


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


class TooManyConnectionsError(UnreachableError):
    """The server refused one more connection from us (and not for a wrong password)."""


class ConnectionPool(Generic[C]):
    """Up to ``size`` connections made by ``open``; one per operation in progress."""

    def __init__(
        self,
        open_connection: Callable[[], C],
        size: int,
        *,
        alive: Callable[[C], bool] | None = None,
        stale_after_s: float = 30.0,
        hung_up: Callable[[C], bool] | None = None,
    ) -> None:
        self._open = open_connection
        self.size = max(1, size)
        #: Asked of a connection idle for ``stale_after_s`` before lending it: servers drop
        #: idle ones (pyftpdlib after 300 s, vsftpd's idle_session_timeout), and the first
        #: request of an operation on a dropped one would fail it.
        self._alive = alive
        #: Asked of every idle connection before lending it, without a round trip: whether
        #: the server already closed it (a restart between two calls of a kept session).
        self._hung_up = hung_up
        self._stale_after_s = stale_after_s
        self._all: list[C] = []
        self._idle: list[C] = []
        self._idle_since: dict[int, float] = {}
        self._opening = 0
        self._closed = False
        self._changed = threading.Condition()
        self._local = threading.local()

    def add(self, connection: C) -> None:
        """Take an open connection in, idle (e.g. the one that proved the host reachable)."""
        with self._changed:
            if self._closed:
                connection.close()
                raise UnreachableError("cancelled")
            self._all.append(connection)
            self._idle.append(connection)
            self._idle_since[id(connection)] = time.monotonic()
            self._changed.notify()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called: operations then fail."""
        return self._closed

    def current(self) -> C:
        """The connection of the operation running on this thread."""
        connection: C | None = getattr(self._local, "connection", None)
        if connection is None:
            raise RuntimeError("no connection: not inside ConnectionPool.session()")
        return connection

    @contextlib.contextmanager
    def session(self) -> Iterator[C]:
        """A connection for one operation (the same one for operations nested in it). A
        connection whose operation failed with anything but a refused request is closed."""
        held: C | None = getattr(self._local, "connection", None)
        if held is not None:
            yield held
            return
        connection = self._borrow()
        self._local.connection = connection
        broken = True
        try:
            yield connection
            broken = False
        except TransferError:  # the server refused one request; the connection is fine
            broken = False
            raise
        finally:
            self._local.connection = None
            self._give_back(connection, broken)

    def _borrow(self) -> C:
        while True:
            with self._changed:
                turn = self._wait_for_turn()
            if turn is None:
                return self._connect()
            connection, idle_s = turn
            if self._usable(connection, idle_s):  # outside the lock: it may take a while
                return connection

    def _wait_for_turn(self) -> tuple[C, float] | None:
        """With the lock held: an idle connection and how long it idled, or None when this
        thread may open a new one (it then counts in ``_opening``)."""
        while True:
            if self._closed:
                raise UnreachableError("connection is not open")
            if self._idle:
                connection = self._idle.pop()
                since = self._idle_since.pop(id(connection), time.monotonic())
                return connection, time.monotonic() - since
            if len(self._all) + self._opening < self.size:
                self._opening += 1
                return None
            self._changed.wait()

    def _connect(self) -> C:
        try:
            connection = self._open()
        except TooManyConnectionsError:
            with self._changed:
                self._opening -= 1
                self._changed.notify_all()  # whoever waits on this attempt decides anew
                if not self._all and not self._opening:  # not one connection: unreachable
                    raise
                self.size = max(1, len(self._all))  # the server's limit: share those
            return self._borrow()
        except BaseException:
            with self._changed:
                self._opening -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._opening -= 1
            if self._closed:
                connection.close()
                raise UnreachableError("cancelled")
            self._all.append(connection)
        return connection

    def _usable(self, connection: C, idle_s: float) -> bool:
        """A connection idle for long is asked first (without the lock: a dead server may
        take its timeout to say so); one the server dropped is closed and forgotten."""
        if not self._closed_by_peer(connection):
            if self._alive is None or idle_s < self._stale_after_s:
                return True
            alive = False
            with contextlib.suppress(Exception):  # any failure means: not usable
                alive = self._alive(connection)
            if alive:
                return True
        with self._changed:
            with contextlib.suppress(ValueError):
                self._all.remove(connection)
            self._changed.notify()
        with contextlib.suppress(Exception):
            connection.close()
        return False

    def _closed_by_peer(self, connection: C) -> bool:
        if self._hung_up is None:
            return False
        try:
            return self._hung_up(connection)
        except Exception:
            return True

    def _give_back(self, connection: C, broken: bool) -> None:
        with self._changed:
            if broken or self._closed:
                with contextlib.suppress(ValueError):
                    self._all.remove(connection)
            else:
                self._idle.append(connection)
                self._idle_since[id(connection)] = time.monotonic()
            self._changed.notify()
        if broken:
            with contextlib.suppress(Exception):
                connection.close()

    def close(self) -> None:
        """Close every connection; safe from another thread (it unblocks the operations)."""
        with self._changed:
            self._closed = True
            connections, self._all, self._idle = self._all, [], []
            self._idle_since.clear()
            self._changed.notify_all()
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.close()


__all__ = ["ConnectionPool", "TooManyConnectionsError"]
