"""The library's front door: a :class:`Fleet` of hosts that keeps their connections open.

::

    from remoteops import Fleet

    with Fleet.from_inventory("inventory/", hosts="web:!web03", forks=50) as fleet:
        report = fleet.run("uptime", timeout=30)
        fleet.sync("./site", "/srv/site", delete=True).raise_for_status()

Each host connects once, on its first call, and every later call reuses that connection (one
SSH connection, one FTP connection pool, one Telnet session per host) until the fleet is
closed. The CLI runs every verb through a fleet too, with ``keep_open=False``: a one-off run
closes each host's connection as soon as the host is done.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from remoteops.errors import PatternError
from remoteops.executor import (
    DEFAULT_FORKS,
    Executor,
    HostWork,
    Listener,
    command_work,
    refuse_duplicates,
)
from remoteops.inventory import Inventory, load_inventory
from remoteops.inventory.model import Host
from remoteops.results import RunReport
from remoteops.sessions import HostSessions, new_sessions
from remoteops.transports import CommandSpec, Privilege, TransportFactory
from remoteops.tree import Kind

if TYPE_CHECKING:  # the file verbs' modules are imported when used: `run` starts quicker
    from remoteops.cluster import DaskSettings
    from remoteops.sync.local_tree import LocalTree
    from remoteops.sync.put import PutSource
    from remoteops.transports.stdin_sources import StdinSource
    from remoteops.tree import ProgressSink

PathLike = str | os.PathLike[str]


class Fleet:
    """Hosts to work on in parallel, ``forks`` at a time; thread-safe.

    A host that could not be reached (unreachable, auth, hostkey) stays failed for the fleet's
    life (no retry storm against a host that is down); a connection broken under its work
    (timeout, Ctrl-C, lost) or closed by the server while idle is opened again by the next
    call. Calls on the same host from several threads take turns.
    """

    def __init__(
        self,
        hosts: Iterable[Host],
        *,
        inventory: Inventory | None = None,
        forks: int = DEFAULT_FORKS,
        listener: Listener | None = None,
        host_timeout: float | None = None,
        factory: TransportFactory | None = None,
        keep_open: bool = True,
        dask: DaskSettings | None = None,
    ) -> None:
        if forks < 1:
            raise ValueError("forks must be at least 1")
        self.hosts: tuple[Host, ...] = tuple(hosts)
        refuse_duplicates(self.hosts)
        self.inventory = inventory
        self.forks = forks
        self.listener = listener
        #: Seconds each host may take per call, connecting included (see Executor).
        self.host_timeout = host_timeout
        factory = factory or TransportFactory(
            inventory=inventory.hosts if inventory is not None else None
        )
        factory.check_settings(self.hosts)  # a bad setting is an error now, not at first use
        #: Builds the transports; its SSH context holds the known_hosts every connection checks.
        self.factory = factory
        self._closed = False
        self._running: set[Executor] = set()
        self._lock = threading.Lock()
        self._sessions: HostSessions = new_sessions(factory, keep_open=keep_open)
        #: Where the work runs: None here, else on the workers of this Dask cluster (each
        #: call connects its hosts there: connections are not kept between calls).
        self.dask = dask

    @classmethod
    def from_inventory(
        cls,
        sources: PathLike | Sequence[PathLike] | None = None,
        hosts: str = "all",
        *,
        forks: int = DEFAULT_FORKS,
        listener: Listener | None = None,
        host_timeout: float | None = None,
        factory: TransportFactory | None = None,
        keep_open: bool = True,
        dask: DaskSettings | None = None,
    ) -> Fleet:
        """The hosts that ``hosts`` (a pattern: ``web:!web03``, ``db*``, ``all``) selects in
        the inventory ``sources`` (files, folders or comma lists; None: the default one);
        the other arguments are those of :class:`Fleet`."""
        if sources is None or isinstance(sources, (str, os.PathLike)):
            names = None if sources is None else [os.fspath(sources)]
        else:
            names = [os.fspath(s) for s in sources]
        inventory = load_inventory(names)
        return cls(
            inventory.select(hosts),
            inventory=inventory,
            forks=forks,
            listener=listener,
            host_timeout=host_timeout,
            factory=factory,
            keep_open=keep_open,
            dask=dask,
        )

    # -- the verbs --------------------------------------------------------------------------

    def run(
        self,
        command: str | CommandSpec,
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | StdinSource | None = None,
        sudo: bool = False,
        sudo_password: str | None = None,
        hosts: str | None = None,
        listener: Listener | None = None,
    ) -> RunReport:
        """Run a shell command on every host (or a prepared :class:`CommandSpec`, which
        then says everything: the other command arguments must stay unset)."""
        if isinstance(command, CommandSpec):
            if timeout is not None or env or stdin is not None or sudo or sudo_password:
                raise ValueError("give the command's options in its CommandSpec, not beside it")
            spec = command
        else:
            spec = CommandSpec(
                command,
                stdin=stdin,
                env=dict(env or {}),
                timeout=timeout,
                sudo=sudo,
                sudo_password=sudo_password,
            )
        return self.execute(command_work(spec), hosts=hosts, listener=listener)

    def put(
        self,
        local: PathLike | Sequence[PathLike | PutSource],
        remote: str,
        *,
        recursive: bool = False,
        parents: bool = False,
        sudo: bool | Privilege = False,
        hosts: str | None = None,
        listener: Listener | None = None,
        progress: ProgressSink | None = None,
    ) -> RunReport:
        """Copy local files (folders with ``recursive``) to ``remote`` on every host; a
        source may also be one already read (:func:`~remoteops.sync.put.read_source`).
        ``sudo``: write as root, or as a :class:`Privilege` says (its user, its password)."""
        from remoteops.sync.put import PutSource, put_work, read_source

        paths = [local] if isinstance(local, (str, os.PathLike)) else list(local)
        sources = [
            dataclasses.replace(p, path=self._here(p.path))  # (the CLI reads its own)
            if isinstance(p, PutSource)
            else read_source(self._here(p), recursive=recursive)
            for p in paths
        ]
        work = put_work(
            sources, remote, parents=parents, progress=progress, privilege=_privilege(sudo)
        )
        reads: tuple[Path, ...] = ()
        if self.dask is not None:  # what its workers must see as we do
            files = [s.local_file(e.path) for s in sources for e in s.entries]
            reads = tuple(s.path for s in sources) + _spread(files)
        return self._execute(work, hosts, listener, reads=reads)

    def get(
        self,
        remote: str,
        local_dir: PathLike,
        *,
        sudo: bool | Privilege = False,
        hosts: str | None = None,
        listener: Listener | None = None,
    ) -> RunReport:
        """Copy ``remote`` (a file or folder) from every host into ``local_dir/<host>/``;
        ``sudo`` reads as root, or as a :class:`Privilege` says."""
        from remoteops.sync.fetch import fetch_work

        work = fetch_work(remote, self._here(local_dir), privilege=_privilege(sudo))
        return self._execute(work, hosts, listener, writes=(self._here(local_dir),))

    def sync(
        self,
        source: PathLike | LocalTree,
        dest: str,
        *,
        delete: bool = False,
        checksum: bool = False,
        exclude: Sequence[str] = (),
        max_delete: int | None = None,
        dry_run: bool = False,
        copy_links: bool = False,
        force: bool = False,
        sudo: bool | Privilege = False,
        hosts: str | None = None,
        listener: Listener | None = None,
        progress: ProgressSink | None = None,
    ) -> RunReport:
        """Make ``dest`` on every host match the local folder ``source`` (as ``rsync -a``,
        with ``delete`` as ``--delete``). ``force`` allows a destination that is a system
        or home folder. ``source`` may be a tree already scanned (:func:`scan_tree`).
        ``sudo`` lists and writes as root, or as a :class:`Privilege` says."""
        from remoteops.sync.local_tree import LocalTree, scan_tree
        from remoteops.sync.model import SyncOptions
        from remoteops.sync.run import sync_work

        options = SyncOptions(
            delete=delete, checksum=checksum, excludes=tuple(exclude), max_delete=max_delete
        )
        if not isinstance(source, LocalTree):
            tree = scan_tree(self._here(source), copy_links=copy_links, checksum=checksum)
        elif self.dask is not None:  # read already (the CLI scans its own): its root too
            tree = dataclasses.replace(source, root=self._here(source.root))
        else:
            tree = source  # as it is: what it worked out for earlier calls is kept
        work = sync_work(
            tree,
            dest,
            options,
            dry_run=dry_run,
            progress=progress,
            force=force,
            privilege=_privilege(sudo),
        )
        reads: tuple[Path, ...] = ()
        if self.dask is not None:  # what its workers must see as we do
            files = [tree.root / e.path for e in tree.entries if e.kind is Kind.FILE]
            reads = (tree.root, *_spread(files))
        return self._execute(work, hosts, listener, reads=reads)

    def _here(self, path: PathLike) -> Path:
        """A local path as the work will open it: absolute when Dask workers open it (their
        current folder is not ours)."""
        return Path(path).absolute() if self.dask is not None else Path(path)

    def execute(
        self,
        work: HostWork,
        *,
        hosts: str | Sequence[Host] | None = None,
        listener: Listener | None = None,
    ) -> RunReport:
        """Do any per-host ``work`` (see :data:`~remoteops.executor.HostWork`) on the hosts,
        on their kept connections: the one door every verb goes through. ``hosts`` is a
        pattern, or some of the fleet's own hosts (a task's step picks them one by one)."""
        return self._execute(work, hosts, listener)

    def _execute(
        self,
        work: HostWork,
        hosts: str | Sequence[Host] | None,
        listener: Listener | None,
        *,
        reads: tuple[Path, ...] = (),
        writes: tuple[Path, ...] = (),
    ) -> RunReport:
        """:meth:`execute`, told which local paths the work reads and writes (a Dask run
        checks that its workers see them too)."""
        hosts_now = self.select(hosts) if hosts is None or isinstance(hosts, str) else [*hosts]
        strangers = sorted({h.name for h in hosts_now} - {h.name for h in self.hosts})
        if strangers:
            raise ValueError(f"not hosts of this fleet: {', '.join(strangers)}")
        executor = self._executor(listener or self.listener, reads, writes)
        with self._lock:  # closed, or registered before close() can look: never between
            if self._closed:
                raise RuntimeError("this fleet is closed")
            self._running.add(executor)
        try:
            return executor.run(hosts_now, work)
        finally:
            with self._lock:
                self._running.discard(executor)

    def _executor(
        self, listener: Listener | None, reads: tuple[Path, ...], writes: tuple[Path, ...]
    ) -> Executor:
        if self.dask is not None:
            from remoteops.cluster.controller import DaskExecutor
            from remoteops.cluster.shared import SharedPaths

            return DaskExecutor(
                self.dask,
                self.factory,
                forks=self.forks,
                listener=listener,
                host_timeout=self.host_timeout,
                shared=SharedPaths(reads, writes),
            )
        return Executor(
            forks=self.forks,
            listener=listener,
            host_timeout=self.host_timeout,
            sessions=self._sessions,
        )

    def select(self, pattern: str | None) -> list[Host]:
        """The fleet's hosts that ``pattern`` selects (None: all of them), in fleet order."""
        if pattern is None:
            return list(self.hosts)
        inventory = self.inventory or Inventory(self.hosts)
        chosen = {host.name for host in inventory.select(pattern)}
        selected = [host for host in self.hosts if host.name in chosen]
        if not selected:
            raise PatternError(f"{pattern!r} matches none of this fleet's {len(self.hosts)} hosts")
        return selected

    # -- lifetime ---------------------------------------------------------------------------

    def cancel(self) -> None:
        """Cancel the calls running now (from other threads) and keep the fleet open: their
        commands are killed, their unfinished hosts end ``cancelled``, and the next call
        connects those hosts again (an interactive shell's Ctrl-C)."""
        with self._lock:
            running = list(self._running)
        for executor in running:
            executor.cancel()

    def close(self) -> None:
        """Close every host's connection. Calls still running (from other threads) are
        cancelled: their commands are killed and their unfinished hosts end ``cancelled``."""
        with self._lock:
            self._closed = True
        self.cancel()
        self._sessions.close()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Fleet({len(self.hosts)} hosts, forks={self.forks})"


#: Files of a transfer's sources a Dask run checks on every worker, besides their roots.
_FILES_CHECKED = 16


def _spread(files: Sequence[Path]) -> tuple[Path, ...]:
    """Some of ``files``, spread evenly from first to last (an older copy of a tree on a
    worker differs somewhere: where is not known, and checking every file costs a stat
    each on every worker)."""
    if len(files) <= _FILES_CHECKED:
        return tuple(files)
    step = (len(files) - 1) / (_FILES_CHECKED - 1)
    return tuple(files[round(i * step)] for i in range(_FILES_CHECKED))


def _privilege(sudo: bool | Privilege) -> Privilege | None:
    """A file verb's ``sudo`` argument: False, True (root, no password), or the details."""
    if isinstance(sudo, Privilege):
        return sudo
    return Privilege() if sudo else None


__all__ = ["Fleet"]
