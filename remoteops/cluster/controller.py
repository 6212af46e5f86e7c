"""The controller's side of a Dask run: a drop-in :class:`~remoteops.executor.Executor` that
sends chunks of hosts to the cluster and replays their events into the run's listener.

Worker lost: a host that had started on a worker that died ends ``unreachable`` ("worker
lost"), never run twice (its command may or may not have run); the chunk's hosts that had
not started are sent again once, to another worker.

Trust: the events and results come through the scheduler, and Dask's client unpickles what
its workers return; whoever can reach the scheduler can run code on the workers and here
(that is Dask's model: keep it on a network you trust, or use its TLS). What the events can
name is still checked: only this run's hosts, only the known_hosts files this run sent.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from remoteops.cluster import DaskSettings
from remoteops.cluster.bundle import RunBundle
from remoteops.cluster.placement import Chunk, plan_chunks, resource_of
from remoteops.cluster.shared import SharedPaths, Tokens, probe, signature
from remoteops.cluster.wire import (
    RETRY,
    ChunkOrder,
    Claimed,
    Ended,
    Event,
    Finished,
    HostKey,
    Output,
    Started,
    decode,
    event_name,
    result_from,
)
from remoteops.diagnostics import secrets_in
from remoteops.errors import ConfigurationError, HostKeyError
from remoteops.executor import CANCEL_GRACE_S, WAIT_S, Executor, HostWork, Listener
from remoteops.inventory.model import Host
from remoteops.results import HostResult, RunReport
from remoteops.status import Status
from remoteops.transports import TransportFactory

log = logging.getLogger(__name__)

#: How long a chunk's returned results wait for its last events before standing in for them.
_LATE_EVENTS_S = 2.0
#: Time for the workers' last events to cross the network once a run is cancelled.
_NETWORK_GRACE_S = 1.0
#: How long a run's end waits for the workers to remove its files (a hung one is left).
_TIDY_S = 10.0
#: How long every worker gets to answer the check of a transfer's local files.
_PROBE_S = 30.0


class DaskUnavailableError(ConfigurationError):
    """``distributed`` is not installed, or the scheduler does not answer."""


def import_distributed() -> ModuleType:
    try:
        import distributed
    except ImportError as exc:
        raise DaskUnavailableError(
            "--executor dask needs Dask distributed: pip install 'remoteops[dask]'"
        ) from exc
    module: ModuleType = distributed
    return module


class DaskExecutor(Executor):
    """Runs work on the hosts through a Dask cluster; same results, events and Ctrl-C as
    :class:`~remoteops.executor.Executor` (which it extends for the signal handling and the
    end of a run)."""

    def __init__(
        self,
        settings: DaskSettings,
        factory: TransportFactory,
        *,
        forks: int,
        listener: Listener | None = None,
        host_timeout: float | None = None,
        shared: SharedPaths | None = None,
    ) -> None:
        super().__init__(factory, forks=forks, listener=listener, host_timeout=host_timeout)
        self.settings = settings
        #: Paths the work reads or writes here, which every worker must see the same.
        self.shared = shared

    def run(self, hosts: Sequence[Host], work: HostWork) -> RunReport:
        started_at = time.monotonic()
        if not hosts:
            return RunReport([], 0.0)
        self.factory.check_settings(hosts)
        for host in hosts:
            resource_of(host)  # a bad pin is an inventory error before anything is sent
        distributed = import_distributed()
        bundle = RunBundle.of(self.factory, hosts)
        payload = _payload(work, bundle)
        client = _connect(distributed, self.settings)
        try:
            if self.shared:
                _check_shared(client, self.shared)
            from remoteops.cluster import worker

            sent = {home for home, _ in bundle.known_hosts}
            dask_run = _DaskRun(
                self,
                client,
                distributed,
                worker,
                hosts=list(hosts),
                payload=payload,
                known_hosts=sent,
            )
            with self._sigint_as_count():
                results, stopped = dask_run.wait()
        finally:
            client.close()
        return self._report(hosts, results, started_at, interrupted=stopped)

    # what the run's waiting loop asks of its executor (Ctrl-C, SIGTERM, cancel())

    def presses(self) -> int:
        """Ctrl-C presses so far (:meth:`interrupt` counts one)."""
        return self._sigints

    def cancelling(self) -> bool:
        """SIGTERM or :meth:`cancel`: stop at once, as a second Ctrl-C."""
        return self._terminating() or self._cancelled.is_set()

    def stop_starting(self) -> None:
        self._stop_starting.set()

    def stopping(self) -> bool:
        return self._stop_starting.is_set()


def _payload(work: HostWork, bundle: RunBundle) -> bytes:
    """What every chunk carries: the work and the bundle, refused if a secret is in them."""
    import cloudpickle

    try:
        payload: bytes = cloudpickle.dumps((work, bundle))
    except Exception as exc:  # what holds a lock, a file or a terminal stays here
        raise ConfigurationError(
            f"this work cannot be sent to Dask workers ({type(exc).__name__}: {exc})"
        ) from exc
    if secrets_in(payload):  # a password or -e value read here is in the work
        raise ConfigurationError(
            "the work holds a secret read here (a password or an -e value): it would travel "
            "to the Dask workers; name a password's variable instead (--sudo-password-env, "
            "password_env) so each worker reads its own"
        )
    return payload


def _connect(distributed: ModuleType, settings: DaskSettings) -> Any:
    address = settings.scheduler
    _refused_at_once(settings)
    try:
        return distributed.Client(address, set_as_default=False, timeout=settings.connect_timeout)
    except Exception as exc:  # not a scheduler there (an sshd: MemoryError), a bad name...
        raise DaskUnavailableError(
            f"cannot reach the Dask scheduler {address}: {type(exc).__name__}: {exc}"
        ) from exc


def _refused_at_once(settings: DaskSettings) -> None:
    """A scheduler that refuses the connection is an error now: Dask's client would try
    again until its timeout (10 s) for an address nothing listens on."""
    host, port = settings.host_port()
    if host is None:
        return  # not tcp: Dask's own client knows the scheme
    try:
        socket.create_connection((host, port), settings.connect_timeout).close()
    except OSError as exc:
        raise DaskUnavailableError(
            f"cannot reach the Dask scheduler {settings.scheduler}: {exc.strerror or exc}"
        ) from exc


def _check_shared(client: Any, shared: SharedPaths) -> None:
    """Refuse the run unless every worker sees the transfer's local paths as this machine."""
    tokens = Tokens(shared.writes)
    try:
        expected = [(str(p), signature(str(p))) for p in shared.reads] + tokens.expected()
        try:
            found: dict[str, list[str]] = client.run(probe, expected, callback_timeout=_PROBE_S)
        except TimeoutError as exc:
            raise ConfigurationError(
                f"--executor dask: a worker did not answer the check of the local files in "
                f"{_PROBE_S:g} s (a hung worker?)"
            ) from exc
    finally:
        tokens.remove()
    problems = [f"{worker}: {'; '.join(seen)}" for worker, seen in sorted(found.items()) if seen]
    if problems:
        raise ConfigurationError(
            "--executor dask reads and writes this machine's files on the workers, so they "
            "must share its filesystem; "
            + " / ".join(problems[:3])
            + (f" (and {len(problems) - 3} more workers)" if len(problems) > 3 else "")
        )


@dataclass
class _ChunkState:
    chunk: Chunk
    retry: bool  #: a second attempt: losing it again loses its hosts
    future: Any = None  #: None: waiting here for a slot (fewer forks than worker threads)
    worker: str | None = None
    ended: bool = False
    settled: bool = False  #: nothing more is awaited from it
    returned_at: float | None = None
    cancelled_at: float | None = None
    hosts: dict[str, Host] = field(default_factory=dict)


class _DaskRun:
    """One run's chunks on the cluster, followed from the controller's waiting thread."""

    def __init__(
        self,
        executor: DaskExecutor,
        client: Any,
        distributed: ModuleType,
        worker: ModuleType,
        *,
        hosts: list[Host],
        payload: bytes,
        known_hosts: set[str],
    ) -> None:
        self.executor = executor
        self.listener = executor.listener
        self.client = client
        self.distributed = distributed
        self.task = worker.run_chunk
        self.forget = worker.forget_run
        self.hosts = hosts
        self.names = {h.name for h in hosts}
        self.run_id = uuid.uuid4().hex[:16]
        self.topic = f"remoteops-{self.run_id}"
        # the payload goes inline with each chunk: a copy scattered to the workers waits for
        # every worker (a hung one hangs the run) and may live on one only (lost with it)
        self.payload = payload
        #: The controller's known_hosts files the workers got: a new key may go to these only.
        self.known_hosts = known_hosts
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.results: dict[str, HostResult] = {}
        self.started: set[str] = set()
        self.chunks: dict[int, _ChunkState] = {}
        self.used_events = [event_name(self.run_id, "stop"), event_name(self.run_id, "cancel")]
        # subscribed before anything is submitted: the topic does not replay old events
        client.subscribe_topic(self.topic, lambda event: self.inbox.put(event[1]))
        self.threads = self._threads_by_resource()
        total = self.threads[None]
        #: Chunks running at once: every worker thread, or fewer when --forks is smaller (each
        #: chunk then runs one host at a time).
        self.slots = min(total, executor.forks) if total else 0
        self._add(
            plan_chunks(
                hosts,
                forks=executor.forks,
                threads=self.threads,
                chunk_size=executor.settings.chunk_size,
            ),
            retry=False,
        )

    # -- placement ------------------------------------------------------------------------

    def _threads_by_resource(self) -> dict[str | None, int]:
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except TypeError:  # an older client: every worker by default
            info = self.client.scheduler_info()
        threads: dict[str | None, int] = {None: 0}
        for worker in info.get("workers", {}).values():
            count = int(worker.get("nthreads", 1))
            threads[None] += count
            for name, amount in (worker.get("resources") or {}).items():
                if amount:
                    threads[name] = threads.get(name, 0) + count
        return threads

    def _add(self, chunks: list[Chunk], *, retry: bool) -> None:
        for chunk in chunks:
            if not self.threads[None]:
                self._unreachable(chunk.hosts, "the Dask cluster has no worker")
            elif chunk.resource is not None and not self.threads.get(chunk.resource):
                self._unreachable(
                    chunk.hosts,
                    f"no Dask worker advertises the resource {chunk.resource!r} "
                    "(dask_worker_resource)",
                )
            else:
                self.used_events.append(event_name(self.run_id, f"claim-{chunk.index}"))
                state = _ChunkState(chunk, retry, hosts={h.name: h for h in chunk.hosts})
                self.chunks[chunk.index] = state
        self._submit_waiting()

    def _submit_waiting(self) -> None:
        """Send waiting chunks while slots are free (in order: the inventory's)."""
        if self.executor.stopping():
            return
        running = sum(s.future is not None and not s.settled for s in self.chunks.values())
        for state in self.chunks.values():
            if running >= self.slots:
                return
            if state.future is not None or state.settled:
                continue
            chunk = state.chunk
            order = ChunkOrder(
                self.run_id,
                self.topic,
                chunk.index,
                chunk.hosts,
                chunk.forks,
                self.executor.host_timeout,
            )
            state.future = self.client.submit(
                self.task,
                order,
                self.payload,
                key=f"remoteops-chunk-{self.run_id}-{chunk.index}",
                resources={chunk.resource: 1} if chunk.resource else None,
                pure=False,
            )
            running += 1

    def _unreachable(self, hosts: Sequence[Host], why: str) -> None:
        for host in hosts:
            self._finish(
                HostResult(
                    host.name, Status.UNREACHABLE, error=f"{why}; nothing was sent to the host"
                )
            )

    # -- events ---------------------------------------------------------------------------

    def _finish(self, result: HostResult) -> None:
        if result.host in self.results or result.host not in self.names:
            return
        self.results[result.host] = result
        self.listener.host_finished(result)

    def _apply(self, event: Event) -> None:
        if isinstance(event, Output):
            if event.host in self.names and event.host not in self.results:
                self.listener.host_output(event.host, event.stream, event.data)
        elif isinstance(event, Started):
            if event.host in self.names - self.started - set(self.results):
                self.started.add(event.host)
                self.listener.host_started(event.host)
        elif isinstance(event, Finished):
            self._finish(event.result)
        elif isinstance(event, Claimed):
            state = self.chunks.get(event.chunk)
            if state is not None:
                state.worker = event.worker
        elif isinstance(event, Ended):
            state = self.chunks.get(event.chunk)
            if state is not None:
                state.ended = True
        elif isinstance(event, HostKey):
            self._keep_host_key(event)

    def _keep_host_key(self, event: HostKey) -> None:
        """A key a worker accepted as new goes into the controller's known_hosts too (only a
        file this run sent): the first key written for a name wins, another is logged."""
        if event.known_hosts not in self.known_hosts:
            log.warning("ignored a host key for %s sent for another file", event.name)
            return
        known = self.executor.factory.ssh_context().known_hosts
        try:
            known.verify(
                event.name,
                event.key_type,
                event.key_b64,
                None,
                files=[Path(event.known_hosts)],
                policy="accept-new",
            )
        except HostKeyError as exc:
            log.warning("a worker's new host key was not kept: %s", exc)

    def _drain(self, timeout: float) -> None:
        try:
            message = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            try:
                self._apply(decode(message))
            except ValueError:
                log.warning("ignored a malformed event on %s", self.topic, exc_info=True)
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return

    # -- chunks ending --------------------------------------------------------------------

    def _check_chunks(self, now: float) -> None:
        for state in list(self.chunks.values()):
            if state.settled or state.future is None:
                continue
            if state.cancelled_at is not None and state.worker is None:
                if now - state.cancelled_at >= _NETWORK_GRACE_S:
                    state.settled = True  # it never started: its hosts end cancelled
                continue
            status = state.future.status
            if status == "finished":
                returned = state.future.result()
                if returned == RETRY:
                    self._lost(state, "its task was run again elsewhere")
                elif state.ended:
                    state.settled = True
                elif state.returned_at is None:
                    state.returned_at = now
                elif now - state.returned_at >= _LATE_EVENTS_S:
                    for raw in returned:  # the last events are late: the results stand in
                        self._finish(result_from(raw))
                    state.settled = True
            elif status == "error":
                self._lost(state, _described(state.future.exception()))
            elif status == "cancelled" and state.cancelled_at is None:
                self._lost(state, "its task was cancelled by the scheduler")
        self._submit_waiting()

    def _lost(self, state: _ChunkState, why: str) -> None:
        state.settled = True
        if self.client.status in ("running", "connecting"):
            lost = f"worker lost ({state.worker or 'a worker'}, {why})"
        else:
            lost = f"lost the Dask scheduler {self.executor.settings.scheduler}"
        again: list[Host] = []
        for name, host in state.hosts.items():
            if name in self.results:
                continue
            if name in self.started:
                self._finish(
                    HostResult(
                        name,
                        Status.UNREACHABLE,
                        error=f"{lost}: it may or may not have run the work",
                    )
                )
            else:
                again.append(host)
        if not again:
            return
        if state.retry or self.executor.stopping() or self.client.status != "running":
            self._unreachable(again, lost)
            return
        log.warning("%s: %d host(s) that had not started are sent again", lost, len(again))
        resend = plan_chunks(
            again,
            forks=state.chunk.forks,
            threads={None: 1, state.chunk.resource: 1},
            chunk_size=len(again),
            first_index=max(self.chunks) + 1,
        )
        self._add(resend, retry=True)

    # -- the waiting thread ---------------------------------------------------------------

    def wait(self) -> tuple[dict[str, HostResult], bool]:
        """Replay events until every host has a result; Ctrl-C in two stages as locally.
        Returns the results and whether the run was stopped."""
        executor = self.executor
        interrupts = 0
        cancel_deadline: float | None = None
        try:
            while len(self.results) < len(self.hosts):
                try:
                    if cancel_deadline is None and (
                        executor.cancelling() or executor.presses() > interrupts + 1
                    ):
                        cancel_deadline = self._cancel()
                        interrupts = max(interrupts, 2)
                    elif executor.presses() > interrupts:
                        interrupts += 1
                        if interrupts == 1:
                            self._stop()
                        else:
                            cancel_deadline = self._cancel()
                    self._drain(WAIT_S)
                    now = time.monotonic()
                    self._check_chunks(now)
                    if cancel_deadline is not None and now >= cancel_deadline:
                        break
                    if interrupts and all(s.settled for s in self.chunks.values()):
                        break
                except KeyboardInterrupt:  # not the main thread, or a caller's own handler
                    executor.interrupt()
            stopped = interrupts > 0 or executor.cancelling()
            for host in self.hosts:  # every host reaches the listener, as in a local run
                if host.name not in self.results:
                    self._finish(
                        HostResult(
                            host.name,
                            Status.CANCELLED,
                            error="interrupted"
                            + ("" if host.name in self.started else " before it started"),
                        )
                    )
            return self.results, stopped
        finally:
            self._close()

    def _stop(self) -> None:
        """First Ctrl-C: no host starts any more, anywhere; those already running go on."""
        self.executor.stop_starting()
        self.distributed.Event(event_name(self.run_id, "stop"), client=self.client).set()
        now = time.monotonic()
        waiting = [s for s in self.chunks.values() if s.worker is None and not s.settled]
        for state in waiting:
            state.cancelled_at = now
            if state.future is None:
                state.settled = True  # never sent
        sent = [s.future for s in waiting if s.future is not None]
        if sent:
            self.client.cancel(sent)
        self.listener.interrupted(sorted(self.started - set(self.results)))

    def _cancel(self) -> float:
        """Second Ctrl-C (or SIGTERM, or cancel()): the workers close their hosts'
        connections; their last results are awaited a moment, then the rest is cancelled."""
        self.executor.stop_starting()
        for what in ("stop", "cancel"):
            self.distributed.Event(event_name(self.run_id, what), client=self.client).set()
        return time.monotonic() + CANCEL_GRACE_S + _NETWORK_GRACE_S

    def _close(self) -> None:
        """Nothing of the run stays on the cluster: futures, Events, its topic's events
        (every host's output), worker files."""
        client = self.client
        futures = [s.future for s in self.chunks.values() if s.future is not None]
        # a chunk's last events reach the scheduler before its end: dropped after them (a
        # stopped chunk may outlast the wait: its late events are few)
        with contextlib.suppress(Exception):
            self.distributed.wait(futures, timeout=_NETWORK_GRACE_S)
        try:
            client.cancel(futures, force=True)
            client.unsubscribe_topic(self.topic)
            # workers first: a chunk still running there stops sending, so the topic
            # dropped next is not made again by its late events. Only where a chunk ran,
            # and bounded: a hung worker must not hold the run's end
            ran = sorted({s.worker for s in self.chunks.values() if s.worker})
            if ran:
                client.run(
                    self.forget,
                    self.run_id,
                    workers=ran,
                    on_error="ignore",
                    callback_timeout=_TIDY_S,
                )
            client.run_on_scheduler(_forget_topic, self.topic)
            for name in self.used_events:
                self.distributed.Event(name, client=client).clear()
        except Exception:  # the cluster is going away: nothing more to tidy
            log.debug("could not tidy the run on the cluster", exc_info=True)


def _forget_topic(topic: str, dask_scheduler: Any = None) -> None:
    """On the scheduler: drop the run's events. It keeps the last 1,000 of every topic for any
    client to read (every host's output here); distributed has no public call to drop them
    (its ``_broker``, as of 2026.8: left alone if it is not there)."""
    broker = getattr(dask_scheduler, "_broker", None)
    if broker is not None:
        broker.truncate(topic)
        getattr(broker, "_topics", {}).pop(topic, None)


def _described(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


__all__ = ["DaskExecutor", "DaskUnavailableError", "import_distributed"]
