"""The Dask task that runs one chunk of hosts on a worker, through the same
:class:`~remoteops.executor.Executor` as a local run; imported on the workers (and by the
controller, to submit it), never at CLI start."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
from distributed import Event, get_client, get_worker

from remoteops.cluster.bundle import RunBundle, private_folder, remove_folder
from remoteops.cluster.wire import (
    CLAIMED,
    ENDED,
    HOST_KEY,
    RETRY,
    ChunkOrder,
    Emit,
    Forwarder,
    event_name,
    result_bytes,
)
from remoteops.executor import Executor, HostWork
from remoteops.inventory.model import Host
from remoteops.results import HostResult
from remoteops.status import Status
from remoteops.transports import TransportFactory

log = logging.getLogger(__name__)

#: How often the watcher asks the scheduler whether the controller stopped the run.
_WATCH_S = 0.25


@dataclass
class _Prepared:
    work: HostWork
    factory: TransportFactory
    local: Callable[[Host], Host]
    folder: Path


_runs: dict[str, _Prepared] = {}
_runs_lock = threading.Lock()
#: Runs whose controller has tidied up: a chunk still running says nothing more (its late
#: events would make the dropped topic again, every host's output with it) and none starts.
_forgotten: dict[str, None] = {}
_FORGOTTEN_KEPT = 1024


def _prepared(run_id: str, payload: bytes, emit: Emit) -> _Prepared:
    """The run's work and factory on this worker process, made by its first chunk here and
    shared by the others (one SSH context: keys loaded once, one known_hosts copy)."""
    with _runs_lock:
        ready = _runs.get(run_id)
        if ready is None:
            work, bundle = cloudpickle.loads(payload)
            if not isinstance(bundle, RunBundle):
                raise TypeError(f"not a run's bundle: {type(bundle).__name__}")

            def sent_home(path: str, name: str, key_type: str, key_b64: str) -> None:
                emit([HOST_KEY, path, name, key_type, key_b64])

            folder = private_folder(run_id)
            factory, local = bundle.materialise(folder / "files", sent_home)
            ready = _runs[run_id] = _Prepared(work, factory, local, folder)
        return ready


def forget_run(run_id: str) -> None:
    """Run on every worker when a run ends: its files go, its cached state too."""
    with _runs_lock:
        ready = _runs.pop(run_id, None)
        _forgotten[run_id] = None
        while len(_forgotten) > _FORGOTTEN_KEPT:
            del _forgotten[next(iter(_forgotten))]
    if ready is not None:
        remove_folder(ready.folder)


def run_chunk(order: ChunkOrder, payload: bytes) -> list[bytes] | str:
    """Run the chunk's hosts; their events go to the run's topic as they happen. Returns the
    results as well (the controller's fallback if the last events are late), or
    :data:`RETRY` when an earlier attempt of this chunk already started."""
    worker = get_worker()
    client = get_client()  # taken in the task's thread: the Events below need it

    def emit(message: list[Any]) -> None:
        if order.run_id not in _forgotten:
            worker.log_event(order.topic, message)

    if order.run_id in _forgotten:  # the controller has gone: nobody reads a result
        return RETRY
    claim = Event(event_name(order.run_id, f"claim-{order.index}"), client=client)
    if claim.is_set():
        return RETRY
    claim.set()
    emit([CLAIMED, order.index, worker.address])
    try:
        return _run_claimed(order, payload, emit, client)
    finally:
        emit([ENDED, order.index])


def _run_claimed(order: ChunkOrder, payload: bytes, emit: Emit, client: Any) -> list[bytes]:
    stop = Event(event_name(order.run_id, "stop"), client=client)
    cancel = Event(event_name(order.run_id, "cancel"), client=client)
    listener = Forwarder(emit)
    if stop.is_set():  # stopped while this chunk waited for a worker
        skipped = [
            HostResult(h.name, Status.CANCELLED, error="interrupted before it started")
            for h in order.hosts
        ]
        for result in skipped:
            listener.host_finished(result)
        return [result_bytes(r) for r in skipped]
    prepared = _prepared(order.run_id, payload, emit)
    executor = Executor(
        prepared.factory,
        forks=order.forks,
        listener=listener,
        host_timeout=order.host_timeout,
    )
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch,
        args=(stop, cancel, executor, done),
        name=f"remoteops-dask-watch-{order.index}",
        daemon=True,
    )
    watcher.start()
    try:
        report = executor.run([prepared.local(h) for h in order.hosts], prepared.work)
    finally:
        done.set()
    # the results name the hosts as the controller knows them (a key path may differ here)
    return [result_bytes(r) for r in report.results]


def _watch(stop: Event, cancel: Event, executor: Executor, done: threading.Event) -> None:
    """The controller's Ctrl-C, heard on the worker: ``stop`` is the first press (no new
    host starts), ``cancel`` the second (open connections closed). Asked with short calls,
    not a long wait on the scheduler: the watcher ends with its chunk, never left waiting."""
    stopped = False
    try:
        while not done.wait(_WATCH_S):
            if not stopped and stop.is_set():
                executor.interrupt()
                stopped = True
            if stopped and cancel.is_set():
                executor.cancel()
                return
    except Exception:  # the scheduler went away: the chunk ends by itself
        log.debug("stopped watching the run's events", exc_info=True)


__all__ = ["forget_run", "run_chunk"]
