"""Several listeners fed the same events: e.g. live lines on the terminal and files on disk."""

from __future__ import annotations

from collections.abc import Sequence

from remoteops.executor import Listener
from remoteops.results import HostResult


class Tee:
    """A :class:`~remoteops.executor.Listener` passing every event to each of ``listeners``, in
    order. Each must not raise (the executor detaches a listener that does, all of it)."""

    def __init__(self, *listeners: Listener) -> None:
        self.listeners = listeners

    def host_started(self, host: str) -> None:
        for listener in self.listeners:
            listener.host_started(host)

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        for listener in self.listeners:
            listener.host_output(host, stream, data)

    def host_finished(self, result: HostResult) -> None:
        for listener in self.listeners:
            listener.host_finished(result)

    def interrupted(self, running: Sequence[str]) -> None:
        for listener in self.listeners:
            listener.interrupted(running)
