"""The controller's side of a Dask run: a drop-in :class:`~remoteops.executor.Executor` that
sends chunks of hosts to the cluster and replays their events into the run's listener.

Worker lost: a host that had started on a worker that died ends ``unreachable`` ("worker
lost"), never run twice (its command may or may not have run); the chunk's hosts that had
not started are sent again once, to another worker.
"""

from __future__ import annotations

import logging
import queue
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remoteops.cluster import DaskSettings
from remoteops.cluster.bundle import RunBundle
from remoteops.cluster.placement import Chunk, plan_chunks, resource_of
from remoteops.cluster.shared import SharedPaths, Tokens, probe, signature
from remoteops.cluster.wire import (
    Claimed,
    Ended,
    Event,
    Finished,
    HostKey,
    Output,
    Started,
    decode,
    result_from,
)
from remoteops.diagnostics import secrets_in
from remoteops.errors import ConfigurationError, HostKeyError
from remoteops.executor import _CANCEL_GRACE_S, _WAIT_S, Executor, HostWork, Listener
from remoteops.inventory.model import Host
from remoteops.results import HostResult, RunReport
from remoteops.status import Status
from remoteops.transports import TransportFactory

log = logging.getLogger(__name__)

#: How long a chunk's returned results wait for its last events before standing in for them.
_LATE_EVENTS_S = 2.0
#: Time for the workers' last events to cross the network once a run is cancelled.
_NETWORK_GRACE_S = 1.0


class DaskUnavailableError(ConfigurationError):
    """``distributed`` is not installed, or the scheduler does not answer."""


def import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise DaskUnavailableError(
            "--executor dask needs Dask distributed: pip install 'remoteops[dask]'"
        ) from exc
    return distributed


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
        import cloudpickle

        bundle = RunBundle.of(self.factory, hosts)
        try:
            payload = cloudpickle.dumps((work, bundle))
        except Exception as exc:  # what holds a lock, a file or a terminal stays here
            raise ConfigurationError(
                f"this work cannot be sent to Dask workers ({type(exc).__name__}: {exc})"
            ) from exc
        if secrets_in(payload):  # a password typed or read here is in the work
            raise ConfigurationError(
                "the work holds a password: it would travel to the Dask workers; name the "
                "variable instead (--sudo-password-env, password_env) so each worker reads it"
            )
        _refused_at_once(self.settings)
        try:
            client = distributed.Client(
                self.settings.scheduler,
                set_as_default=False,
                timeout=self.settings.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise DaskUnavailableError(
                f"cannot reach the Dask scheduler {self.settings.scheduler}: {exc}"
            ) from exc
        try:
            if self.shared:
                _check_shared(client, self.shared)
            dask_run = _DaskRun(self, client, distributed, list(hosts), payload)
            with self._sigint_as_count():
                results, stopped = dask_run.wait()
        finally:
            client.close()
        return self._report(hosts, results, started_at, interrupted=stopped)


@dataclass
class _ChunkState:
    chunk: Chunk
    future: Any
    retry: bool  #: a second attempt: losing it again loses its hosts
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
        distributed: Any,
        hosts: list[Host],
        payload: bytes,
    ) -> None:
        from remoteops.cluster.worker import ChunkOrder, event_name

        self.executor = executor
        self.listener = executor.listener
        self.client = client
        self.distributed = distributed
        self.hosts = hosts
        self.run_id = uuid.uuid4().hex[:16]
        self.topic = f"remoteops-{self.run_id}"
        self.order_type = ChunkOrder
        self.event_name = event_name
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.results: dict[str, HostResult] = {}
        self.started: set[str] = set()
        self.chunks: dict[int, _ChunkState] = {}
        self.used_events: list[str] = [event_name(self.run_id, "stop")]
        self.used_events.append(event_name(self.run_id, "cancel"))
        # subscribed before anything is submitted: the topic does not replay old events
        client.subscribe_topic(self.topic, lambda event: self.inbox.put(event[1]))
        self.threads = self._threads_by_resource()
        [self.payload] = client.scatter([payload], broadcast=True, hash=False)
        self._submit(
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

    def _submit(self, chunks: list[Chunk], *, retry: bool) -> None:
        for chunk in chunks:
            if chunk.resource is not None and not self.threads.get(chunk.resource):
                for host in chunk.hosts:
                    self._finish(
                        HostResult(
                            host.name,
                            Status.UNREACHABLE,
                            error=f"no Dask worker advertises the resource {chunk.resource!r} "
                            f"(dask_worker_resource); nothing was sent to the host",
                        )
                    )
                continue
            if not self.threads[None]:
                for host in chunk.hosts:
                    self._finish(
                        HostResult(
                            host.name,
                            Status.UNREACHABLE,
                            error="the Dask cluster has no worker; nothing was sent to the host",
                        )
                    )
                continue
            order = self.order_type(
                self.run_id,
                self.topic,
                chunk.index,
                chunk.hosts,
                chunk.forks,
                self.executor.host_timeout,
            )
            from remoteops.cluster.worker import run_chunk

            future = self.client.submit(
                run_chunk,
                order,
                self.payload,
                key=f"remoteops-chunk-{self.run_id}-{chunk.index}",
                resources={chunk.resource: 1} if chunk.resource else None,
                pure=False,
            )
            self.used_events.append(self.event_name(self.run_id, f"claim-{chunk.index}"))
            self.chunks[chunk.index] = _ChunkState(
                chunk, future, retry, hosts={h.name: h for h in chunk.hosts}
            )

    # -- events ---------------------------------------------------------------------------

    def _finish(self, result: HostResult) -> None:
        if result.host in self.results:
            return
        self.results[result.host] = result
        self.listener.host_finished(result)

    def _apply(self, event: Event) -> None:
        if isinstance(event, Output):
            if event.host not in self.results:
                self.listener.host_output(event.host, event.stream, event.data)
        elif isinstance(event, Started):
            if event.host not in self.results and event.host not in self.started:
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
        """A key a worker accepted as new goes into the controller's known_hosts too: the
        first key written for a name wins, a different one is logged, not written."""
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
            if state.settled:
                continue
            if state.cancelled_at is not None and state.worker is None:
                if now - state.cancelled_at >= _NETWORK_GRACE_S:
                    state.settled = True  # it never started: its hosts end cancelled
                continue
            status = state.future.status
            if status == "finished":
                returned = state.future.result()
                if returned == "retry":
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

    def _lost(self, state: _ChunkState, why: str) -> None:
        state.settled = True
        worker = state.worker or "a worker"
        again: list[Host] = []
        for name, host in state.hosts.items():
            if name in self.results:
                continue
            if name in self.started or state.retry or self.executor._stop_starting.is_set():
                ran = (
                    "it may or may not have run the work"
                    if name in self.started
                    else "nothing was sent to the host"
                )
                self._finish(
                    HostResult(
                        name, Status.UNREACHABLE, error=f"worker lost ({worker}, {why}): {ran}"
                    )
                )
            else:
                again.append(host)
        if again:
            log.warning(
                "Dask worker lost (%s, %s): %d host(s) that had not started are sent again",
                worker,
                why,
                len(again),
            )
            first = max(self.chunks) + 1
            self._submit(
                plan_chunks(
                    again,
                    forks=state.chunk.forks,
                    threads={state.chunk.resource: 1},
                    chunk_size=len(again),
                    first_index=first,
                ),
                retry=True,
            )

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
                        executor._terminating()
                        or executor._cancelled.is_set()
                        or executor._sigints > interrupts + 1
                    ):
                        cancel_deadline = self._cancel()
                        interrupts = max(interrupts, 2)
                    elif executor._sigints > interrupts:
                        interrupts += 1
                        if interrupts == 1:
                            self._stop()
                        else:
                            cancel_deadline = self._cancel()
                    self._drain(_WAIT_S)
                    now = time.monotonic()
                    self._check_chunks(now)
                    if cancel_deadline is not None and now >= cancel_deadline:
                        break
                    if interrupts and all(s.settled for s in self.chunks.values()):
                        break
                except KeyboardInterrupt:  # not the main thread, or a caller's own handler
                    executor._sigints = interrupts + 1
            stopped = interrupts > 0 or executor._cancelled.is_set()
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
        self.executor._stop_starting.set()
        self.distributed.Event(self.event_name(self.run_id, "stop"), client=self.client).set()
        waiting = [s for s in self.chunks.values() if s.worker is None and not s.settled]
        now = time.monotonic()
        for state in waiting:
            state.cancelled_at = now
        if waiting:
            self.client.cancel([s.future for s in waiting])
        self.listener.interrupted(sorted(self.started - set(self.results)))

    def _cancel(self) -> float:
        """Second Ctrl-C (or SIGTERM, or cancel()): the workers close their hosts'
        connections; their last results are awaited a moment, then the rest is cancelled."""
        self.executor._stop_starting.set()
        for what in ("stop", "cancel"):
            self.distributed.Event(self.event_name(self.run_id, what), client=self.client).set()
        return time.monotonic() + _CANCEL_GRACE_S + _NETWORK_GRACE_S

    def _close(self) -> None:
        """Nothing of the run stays on the cluster: futures, Events, worker files."""
        from remoteops.cluster.worker import forget_run

        client = self.client
        try:
            client.cancel([s.future for s in self.chunks.values()], force=True)
            client.unsubscribe_topic(self.topic)
            for name in self.used_events:
                self.distributed.Event(name, client=client).clear()
            # bounded: a hung worker must not hold the run's end
            client.run(forget_run, self.run_id, on_error="ignore", callback_timeout=10)
        except Exception:  # the cluster is going away: nothing more to tidy
            log.debug("could not tidy the run on the cluster", exc_info=True)


def _refused_at_once(settings: DaskSettings) -> None:
    """A scheduler that refuses the connection is an error now: Dask's client would try
    again until its timeout (10 s) for an address nothing listens on."""
    address = settings.scheduler
    if not address.startswith("tcp://"):
        return  # tls:// and others: Dask's own client knows them
    host, _, port = address.removeprefix("tcp://").rstrip("/").rpartition(":")
    if not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), settings.connect_timeout).close()
    except OSError as exc:
        raise DaskUnavailableError(
            f"cannot reach the Dask scheduler {address}: {exc.strerror or exc}"
        ) from exc


def _check_shared(client: Any, shared: SharedPaths) -> None:
    """Refuse the run unless every worker sees the transfer's local paths as this machine."""
    tokens = Tokens(shared.writes)
    try:
        expected = [(str(p), signature(str(p))) for p in shared.reads] + tokens.expected()
        try:
            found: dict[str, list[str]] = client.run(probe, expected, callback_timeout=60)
        except TimeoutError as exc:
            raise ConfigurationError(
                "--executor dask: a worker did not answer the check of the local files in 60 s"
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


def _described(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


__all__ = ["DaskExecutor", "DaskUnavailableError", "import_distributed"]
