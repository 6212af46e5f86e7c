"""The events a chunk sends back while it runs, as plain lists (Dask's event topics carry
msgpack), and the listener that sends them. Pure: no Dask import, so it is unit-tested alone.

Each host's events come from one worker, in order: started, output..., finished. The
controller replays them into its own listener, so live text, ``-b``, JSON Lines and exit
codes are made by the same code as a local run.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from remoteops.inventory.model import Host
from remoteops.results import HostResult

#: Sends one event (a msgpack-able list) to the controller.
Emit = Callable[[list[object]], None]

CLAIMED = "c"  # chunk index, worker address: the chunk started on that worker
STARTED = "s"  # host
OUTPUT = "o"  # host, stream, bytes
FINISHED = "f"  # host, pickled HostResult
HOST_KEY = "k"  # controller's known_hosts path, name, key type, base64 key
ENDED = "e"  # chunk index: every event of the chunk was sent before this one


@dataclass(frozen=True)
class Claimed:
    chunk: int
    worker: str


@dataclass(frozen=True)
class Started:
    host: str


@dataclass(frozen=True)
class Output:
    host: str
    stream: str
    data: bytes


@dataclass(frozen=True)
class Finished:
    result: HostResult


@dataclass(frozen=True)
class HostKey:
    known_hosts: str
    name: str
    key_type: str
    key_b64: str


@dataclass(frozen=True)
class Ended:
    chunk: int


Event = Claimed | Started | Output | Finished | HostKey | Ended


#: What a chunk returns when another attempt of it already ran (its worker died): Dask
#: reschedules a lost task, and its hosts must not run twice.
RETRY = "retry"


@dataclass(frozen=True)
class ChunkOrder:
    """One chunk of a run, as submitted: ``topic`` is where its events go."""

    run_id: str
    topic: str
    index: int
    hosts: tuple[Host, ...]
    forks: int
    host_timeout: float | None


def event_name(run_id: str, what: str) -> str:
    """The scheduler-wide name of one of a run's Events (``stop``, ``cancel``, ``claim-N``)."""
    return f"remoteops-{run_id}-{what}"


def result_bytes(result: HostResult) -> bytes:
    return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


def result_from(raw: bytes) -> HostResult:
    # from our own workers, through a scheduler that runs pickled code anyway
    result = pickle.loads(raw)  # noqa: S301
    if not isinstance(result, HostResult):
        raise ValueError(f"not a host result: {type(result).__name__}")
    return result


def decode(message: Sequence[object]) -> Event:
    """One event as the controller receives it; ValueError for anything else."""
    try:
        kind, *args = message
        if kind == OUTPUT:
            host, stream, data = args
            return Output(str(host), str(stream), bytes(data))  # type: ignore[call-overload]
        if kind == STARTED:
            return Started(str(args[0]))
        if kind == FINISHED:
            result = result_from(args[1])  # type: ignore[arg-type]
            if result.host != args[0]:
                raise ValueError("not the host's result")
            return Finished(result)
        if kind == CLAIMED:
            return Claimed(int(args[0]), str(args[1]))  # type: ignore[call-overload]
        if kind == ENDED:
            return Ended(int(args[0]))  # type: ignore[call-overload]
        if kind == HOST_KEY:
            path, name, key_type, key_b64 = (str(a) for a in args)
            return HostKey(path, name, key_type, key_b64)
    except (TypeError, ValueError, IndexError, pickle.UnpicklingError) as exc:
        raise ValueError(f"malformed chunk event {str(message)[:80]!r}: {exc}") from exc
    raise ValueError(f"unknown chunk event {str(message)[:80]!r}")


class Forwarder:
    """The listener a chunk's executor reports to, on the worker: every call becomes an event.

    ``interrupted`` is dropped: the controller shows one list for the whole run.
    """

    def __init__(self, emit: Emit) -> None:
        self._emit = emit

    def host_started(self, host: str) -> None:
        self._emit([STARTED, host])

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        self._emit([OUTPUT, host, stream, data])

    def host_finished(self, result: HostResult) -> None:
        self._emit([FINISHED, result.host, result_bytes(result)])

    def interrupted(self, running: Sequence[str]) -> None:
        return None


__all__ = [
    "RETRY",
    "ChunkOrder",
    "Claimed",
    "Emit",
    "Ended",
    "Event",
    "Finished",
    "Forwarder",
    "HostKey",
    "Output",
    "Started",
    "decode",
    "event_name",
    "result_bytes",
    "result_from",
]
