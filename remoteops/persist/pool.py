"""The connections a persistent process keeps between commands, lent to each command.

A connection is reused only by a later command that would have made the same one: the same
host (name, address, protocol and every inventory variable) with the same connection settings
(command-line overrides, host key policy, ssh_config and known_hosts files as they are on
disk now). Anything else connects afresh. A kept connection found lost (the server restarted,
the host went down) is closed and the host connected again; a host that cannot be reached is
reported as in a direct run, and the next command tries it again (nothing is remembered
between commands).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Hashable
from pathlib import Path

from remoteops.inventory.model import Host
from remoteops.sessions import HostSessions, KeptSessions, close_quietly
from remoteops.transports import Transport, TransportFactory

log = logging.getLogger(__name__)

#: (host name, the host as described, the settings that made its connection)
PoolKey = tuple[str, Hashable, Hashable]


def _file_state(path: Path | None) -> tuple[str, int, int] | None:
    """A file as it is on disk now (a changed known_hosts must be read again)."""
    if path is None:
        return None
    try:
        found = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), found.st_mtime_ns, found.st_size)


#: The known_hosts files searched when neither the run nor ssh_config names any
#: (:class:`~remoteops.transports.known_hosts.KnownHosts`'s own).
_DEFAULT_KNOWN_HOSTS = (
    "~/.ssh/known_hosts",
    "~/.ssh/known_hosts2",
    "/etc/ssh/ssh_known_hosts",
    "/etc/ssh/ssh_known_hosts2",
)


def _config_digest(factory: TransportFactory) -> Hashable:
    """The ssh_config the command reads, as it is now (includes and the system file too);
    one unreadable (the command reports it) is a value equal to no other: nothing shared."""
    from remoteops.transports.ssh_config import config_files, flattened_config

    try:
        text = flattened_config(config_files(factory.ssh_config_path))
    except Exception:
        return object()
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def _settings_key(factory: TransportFactory, config: Hashable) -> Hashable | None:
    """What of the command's settings makes its connections; None: never shared (a password
    typed for this command alone, ``--ask-pass``)."""
    if factory.password is not None:
        return None
    return (
        factory.accept_new_host_keys,
        repr(factory.overrides),
        config,
        os.environ.get("SSH_AUTH_SOCK"),
    )


def _target_key(host: Host, factory: TransportFactory) -> Hashable | None:
    """Where an SSH host's connection goes and the files it was checked and logged in with,
    as they are on disk now: the inventory's ``known_hosts_file`` (a key removed or revoked
    there must refuse the host again), ssh_config's or the run's known_hosts files, the
    identity and certificate files. None: the host cannot be resolved (nothing shared)."""
    if host.protocol != "ssh":
        return ()
    try:
        target = factory.ssh_context().resolve(host)
    except Exception:
        return None
    known = (
        target.known_hosts_files
        or factory.known_hosts_files
        or [Path(name).expanduser() for name in _DEFAULT_KNOWN_HOSTS]
    )
    files = [target.known_hosts_file, *known, *map(Path, target.identity_files)]
    if target.certificate_file:
        files.append(Path(target.certificate_file))
    return (repr(target), tuple(_file_state(path) for path in files))


def host_key(host: Host) -> Hashable:
    """The host as the inventory describes it: a change of any variable is another host."""
    return (host.name, host.protocol, repr(sorted(host.vars.items(), key=lambda kv: kv[0])))


class KeptConnections:
    """Idle connections by host and settings, for the life of the persistent process."""

    def __init__(self) -> None:
        self._idle: dict[PoolKey, Transport] = {}
        self._lock = threading.Lock()
        #: When a command last used or returned a connection (the idle clock).
        self.last_used = time.monotonic()

    def key(self, host: Host, factory: TransportFactory, config: Hashable) -> PoolKey | None:
        """Where ``host``'s connection is kept for a command of ``factory``'s settings and
        ssh_config (see :func:`_config_digest`); None: not kept."""
        settings = _settings_key(factory, config)
        if settings is None or host.protocol == "local":  # nothing to keep for a local host
            return None
        target = _target_key(host, factory)
        if target is None:
            return None
        return (host.name, (host_key(host), target), settings)

    def take(self, key: PoolKey) -> Transport | None:
        """The kept connection for ``key`` (taken out: one command uses it at a time)."""
        with self._lock:
            transport = self._idle.pop(key, None)
            self.last_used = time.monotonic()
        if transport is not None and transport.connection_lost():
            log.info("host %s: its kept connection was lost; connecting again", key[0])
            close_quietly(str(key[0]), transport)
            return None
        return transport

    def give(self, key: PoolKey, transport: Transport) -> None:
        """Keep ``transport`` for the next command (one per key: a second is closed)."""
        with self._lock:
            self.last_used = time.monotonic()
            earlier = self._idle.pop(key, None)
            self._idle[key] = transport
        if earlier is not None:
            close_quietly(str(key[0]), earlier)

    def hosts(self) -> list[str]:
        """The names of the hosts with a kept connection."""
        with self._lock:
            return sorted({str(key[0]) for key in self._idle})

    def close(self) -> None:
        """Close every kept connection (the process is exiting)."""
        with self._lock:
            kept, self._idle = list(self._idle.items()), {}
        for key, transport in kept:
            close_quietly(str(key[0]), transport)

    def sessions(self, factory: TransportFactory, keep_open: bool) -> HostSessions:
        """The sessions of one Fleet or Executor of a command, lending from this pool."""
        return LentSessions(factory, self, keep_open=keep_open)


class LentSessions(KeptSessions):
    """A command's sessions over the kept connections: each host's connection is taken from
    the pool when there is one, and given back when the command (or, for a one-off run, the
    host's work) is done with it, instead of being closed."""

    def __init__(
        self, factory: TransportFactory, pool: KeptConnections, *, keep_open: bool
    ) -> None:
        super().__init__(factory)
        self._pool = pool
        self._keep_open = keep_open
        #: Read once per command: the files are read again for each host otherwise.
        self._config = _config_digest(factory)

    def _new_transport(self, host: Host) -> tuple[Transport, bool]:
        key = self._pool.key(host, self.factory, self._config)
        transport = self._pool.take(key) if key is not None else None
        if transport is None:
            return self.factory.create(host), False
        if getattr(transport, "protocol", None) == "ssh":
            # background kills and agent forwarding go through this command's context
            transport.context = self.factory.ssh_context()  # type: ignore[attr-defined]
        log.info("host %s: reusing its kept connection", host.name)
        return transport, True

    def _put_away(self, host: Host, transport: Transport, *, reusable: bool) -> None:
        key = self._pool.key(host, self.factory, self._config)
        if reusable and key is not None and _poolable(transport):
            self._pool.give(key, transport)
        else:
            close_quietly(host.name, transport)

    def release(self, host: Host, transport: Transport, *, reusable: bool) -> None:
        if self._keep_open:
            super().release(host, transport, reusable=reusable)
            return
        kept = self._entry(host)
        try:
            connected, kept.transport, kept.connected = kept.connected, None, False
            self._put_away(host, transport, reusable=reusable and connected and not self.closed)
        finally:
            kept.lock.release()

    def run_ended(self) -> None:
        self.factory.settle()


def _poolable(transport: Transport) -> bool:
    """Whether the connection stands alone: one through a jump host rides on a connection
    that belongs to its command, and is closed with it."""
    target = getattr(transport, "target", None)
    return getattr(target, "jump", None) is None and not transport.connection_lost()
