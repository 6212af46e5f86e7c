"""Host sessions: how the executor gets a host's connection, and what happens to it afterwards.

A one-off run (:class:`RunSessions`) connects each host when its turn comes and closes the
connection as soon as the host is done, so a run over thousands of hosts holds no more than
``forks`` connections. A :class:`~remoteops.fleet.Fleet` keeps them (:class:`KeptSessions`):
each host connects once, on first use, and every later call reuses that connection.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from remoteops.errors import HostError, UnreachableError
from remoteops.inventory.model import Host
from remoteops.results import Status
from remoteops.transports import Transport, TransportFactory

log = logging.getLogger(__name__)


class HostSessions(Protocol):
    """What the executor asks for each host; thread-safe."""

    factory: TransportFactory

    def acquire(self, host: Host) -> Transport:
        """The host's transport, connected or not yet; raises the host's remembered failure."""
        ...

    def connect(self, host: Host, transport: Transport) -> None:
        """Connect ``transport`` unless it is already connected."""
        ...

    def release(self, host: Host, transport: Transport, *, reusable: bool) -> None:
        """The host's work is over; ``reusable`` is False when its connection may be broken."""
        ...

    def forget_failure(self, host: Host) -> None:
        """The host's last failure was ours (cancelled, timed out): the next call may retry."""
        ...

    def run_ended(self) -> None:
        """One run is over: what it left closing gets the time to finish."""
        ...

    def close(self) -> None:
        """Close every connection still open."""
        ...


def close_quietly(name: str, transport: Transport) -> None:
    """Closing is the last thing done for a host: its failure must not take the host's
    result (or the worker thread that carries it) with it."""
    try:
        transport.close()
    except Exception:
        log.warning("host %s: error while closing its connection", name, exc_info=True)


def remembered(failure: HostError) -> HostError:
    """The failure again, for a later call: the same kind (and status), said to be old."""
    again = copy.copy(failure)
    again.args = (f"{failure} (remembered from its first connection)",)
    return again


class RunSessions:
    """One connection per host for one run: opened when the host starts, closed when it ends."""

    def __init__(self, factory: TransportFactory) -> None:
        self.factory = factory

    def acquire(self, host: Host) -> Transport:
        return self.factory.create(host)

    def connect(self, host: Host, transport: Transport) -> None:
        transport.connect()

    def release(self, host: Host, transport: Transport, *, reusable: bool) -> None:
        close_quietly(host.name, transport)

    def forget_failure(self, host: Host) -> None:
        return None

    def run_ended(self) -> None:
        self.factory.close()

    def close(self) -> None:
        return None


@dataclass
class _Kept:
    """One host's session: its transport once made, whether it connected, or why not."""

    #: Held by the call working on the host. Re-entrant: a listener of that call may close
    #: the fleet from the call's own thread without waiting for itself.
    lock: threading.RLock = field(default_factory=threading.RLock)
    host: Host | None = None
    transport: Transport | None = None
    connected: bool = False
    failure: HostError | None = None


class KeptSessions:
    """Connections kept across calls. A host is worked on by one call at a time (a second
    call waits for the first: a Telnet session, for one, is a single conversation).

    A host that could not be reached (refused, no answer, credentials or host key refused)
    keeps that failure for the sessions' life: every later call reports it at once, without
    trying again (no storm of retries against a host that is down). Trouble on this machine
    (out of file descriptors, say) is not remembered. A connection that broke or was closed
    under its work (timeout, Ctrl-C) is dropped, and the next call connects afresh.
    """

    #: How long :meth:`close` waits for a call still working on a host (it is cancelled
    #: first by the Fleet) before closing that host's connection under it.
    CLOSE_WAIT_S = 5.0

    def __init__(self, factory: TransportFactory) -> None:
        self.factory = factory
        self._hosts: dict[str, _Kept] = {}
        self._lock = threading.Lock()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _kept(self, host: Host) -> _Kept:
        with self._lock:
            if self._closed:
                raise UnreachableError("not started: the fleet was closed")
            return self._hosts.setdefault(host.name, _Kept())

    def acquire(self, host: Host) -> Transport:
        kept = self._kept(host)
        kept.lock.acquire()
        try:
            if self._closed:
                raise UnreachableError("not started: the fleet was closed")
            if kept.failure is not None:
                raise remembered(kept.failure)
            if kept.transport is not None and kept.connected and kept.transport.connection_lost():
                log.info("host %s: its kept connection was lost; connecting again", host.name)
                close_quietly(host.name, kept.transport)
                kept.transport, kept.connected = None, False
            if kept.transport is None:
                kept.host = host
                kept.transport, kept.connected = self._new_transport(host)
            return kept.transport
        except BaseException:
            kept.lock.release()
            raise

    def connect(self, host: Host, transport: Transport) -> None:
        kept = self._entry(host)
        if kept.connected:
            return
        try:
            transport.connect()
        except HostError as exc:
            if exc.status in _REMEMBERED:
                kept.failure = exc
            raise
        kept.connected = True

    def _entry(self, host: Host) -> _Kept:
        with self._lock:
            return self._hosts[host.name]  # made by acquire(), never removed

    def forget_failure(self, host: Host) -> None:
        """Let the next call try ``host`` again (after the failure was cancellation)."""
        with self._lock:
            kept = self._hosts.get(host.name)
        if kept is not None:
            kept.failure = None

    def _new_transport(self, host: Host) -> tuple[Transport, bool]:
        """A transport for the host and whether it is connected already: a new one here."""
        return self.factory.create(host), False

    def _put_away(self, host: Host, transport: Transport, *, reusable: bool) -> None:
        """What becomes of a connection these sessions let go of: closed here."""
        close_quietly(host.name, transport)

    def release(self, host: Host, transport: Transport, *, reusable: bool) -> None:
        kept = self._entry(host)
        try:
            if self._closed or not reusable or not kept.connected:
                kept.transport, kept.connected = None, False
                self._put_away(host, transport, reusable=False)
        finally:
            kept.lock.release()

    def run_ended(self) -> None:
        self.factory.settle()

    def close(self) -> None:
        """Close every kept connection; a call still working on a host gets
        :data:`CLOSE_WAIT_S` to let go of it, then its connection is closed under it."""
        with self._lock:
            self._closed = True
            hosts = list(self._hosts.items())
        deadline = time.monotonic() + self.CLOSE_WAIT_S
        for name, kept in hosts:
            held = kept.lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
            try:
                transport, kept.transport = kept.transport, None
                reusable, kept.connected = held and kept.connected, False
                if transport is not None and kept.host is not None:
                    self._put_away(kept.host, transport, reusable=reusable)
                elif transport is not None:
                    close_quietly(name, transport)
            finally:
                if held:
                    kept.lock.release()
        self.factory.close()


#: Makes the sessions of every Fleet and Executor of this process (given the factory and
#: whether connections are kept across calls); set by a process that keeps connections
#: between commands (``remoteops --persist``), None: :func:`new_sessions`'s own.
SessionsMaker = Callable[[TransportFactory, bool], HostSessions]
_maker: SessionsMaker | None = None


def make_sessions_with(maker: SessionsMaker | None) -> None:
    """Have :func:`new_sessions` use ``maker`` from now on (None: the built-in ones)."""
    global _maker
    _maker = maker


def new_sessions(factory: TransportFactory, *, keep_open: bool) -> HostSessions:
    """The sessions for a new Fleet (``keep_open``) or a one-off Executor run."""
    if _maker is not None:
        return _maker(factory, keep_open)
    return KeptSessions(factory) if keep_open else RunSessions(factory)


#: The failures a kept session remembers: the host's own answer (or silence), not ours.
_REMEMBERED = frozenset({Status.UNREACHABLE, Status.AUTH, Status.HOSTKEY})


__all__ = [
    "HostSessions",
    "KeptSessions",
    "RunSessions",
    "close_quietly",
    "make_sessions_with",
    "new_sessions",
]
