"""The connection pool's rules (pure concurrency logic; real FTP servers are in integration)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from remoteops.errors import TransferError, UnreachableError
from remoteops.transports.connection_pool import ConnectionPool, TooManyConnectionsError


class Connection:
    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False
        self.alive = True

    def close(self) -> None:
        self.closed = True


class Server:
    """Hands out connections up to ``limit`` open at once, then refuses as FTP servers do."""

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self.made: list[Connection] = []
        self.lock = threading.Lock()

    def open(self) -> Connection:
        with self.lock:
            if sum(not c.closed for c in self.made) >= self.limit:
                raise TooManyConnectionsError("421 Too many connections")
            connection = Connection(len(self.made))
            self.made.append(connection)
            return connection


def busy_work(pool: ConnectionPool[Connection], jobs: int) -> tuple[int, int]:
    """Run ``jobs`` operations on 8 threads; the most connections in use at once, and how
    many operations ran."""
    in_use: set[int] = set()
    most = [0, 0]
    lock = threading.Lock()

    def job() -> None:
        with pool.session() as connection:
            with lock:
                in_use.add(connection.number)
                most[0] = max(most[0], len(in_use))
            time.sleep(0.01)
            with lock:
                in_use.discard(connection.number)
                most[1] += 1

    with ThreadPoolExecutor(8) as threads:
        for future in [threads.submit(job) for _ in range(jobs)]:
            future.result()
    return most[0], most[1]


def test_never_more_connections_than_its_size_and_they_are_reused() -> None:
    server = Server()
    pool = ConnectionPool(server.open, 3)
    most, done = busy_work(pool, 40)
    assert (most, done) == (3, 40)
    assert len(server.made) == 3


def test_a_server_limit_below_the_size_is_shared_not_failed() -> None:
    server = Server(limit=2)
    pool = ConnectionPool(server.open, 5)
    most, done = busy_work(pool, 40)
    assert (most, done) == (2, 40)
    assert pool.size == 2


def test_a_refused_first_connection_is_the_hosts_failure() -> None:
    pool = ConnectionPool(Server(limit=0).open, 4)
    with pytest.raises(TooManyConnectionsError), pool.session():
        pass


def test_nested_operations_share_the_connection_and_a_broken_one_is_closed() -> None:
    server = Server()
    pool = ConnectionPool(server.open, 2)
    with pool.session() as outer, pool.session() as inner:
        assert inner is outer
        assert pool.current() is outer
    with pytest.raises(TransferError), pool.session():  # refused request: connection kept
        raise TransferError("550 no such file")
    with pytest.raises(UnreachableError), pool.session() as lost:
        raise UnreachableError("connection lost")
    assert lost.closed
    with pool.session() as fresh:
        assert fresh is not lost


def test_an_idle_connection_the_server_dropped_is_replaced_before_use() -> None:
    server = Server()
    pool = ConnectionPool(server.open, 1, alive=lambda c: c.alive, stale_after_s=0)
    with pool.session() as first:
        pass
    first.alive = False  # the server closed it while idle
    with pool.session() as second:
        assert second is not first
    assert first.closed


def test_close_unblocks_operations_waiting_for_a_connection() -> None:
    pool = ConnectionPool(Server().open, 1)
    failures: list[BaseException] = []

    def waiter() -> None:
        try:
            with pool.session():
                pass
        except UnreachableError as exc:
            failures.append(exc)

    with pool.session():
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.1)
        pool.close()
    thread.join(5)
    assert not thread.is_alive()
    assert len(failures) == 1
