"""An interactive session over a fleet (``remoteops shell``, as ``clush`` without a command):
each line runs on the selected hosts over connections kept open between lines.

What a front end needs beside reading lines lives here, so another front end (a notebook, a
test) gets the same behaviour: :func:`parse_line` tells a command from a ``:`` directive;
:class:`ShellSession` holds the selection, runs a line so that Ctrl-C ends that line only
(its remote commands are killed, the session goes on), and leaves out the hosts that could
not be reached, once reported, until the selection is made again.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from remoteops.executor import DEFAULT_FORKS, Listener, command_work
from remoteops.fleet import Fleet
from remoteops.inventory import Inventory
from remoteops.inventory.model import Host
from remoteops.results import HostResult, RunReport, Status
from remoteops.transports import CommandSpec, TransportFactory

#: How often the waiting thread looks for Ctrl-C, and re-sends a cancel the running call
#: may have missed (asked before it had registered with the fleet).
_POLL_S = 0.1

#: Failures that say the host cannot be worked on at all: its connection was refused,
#: unanswered, or its credentials or host key were refused. The fleet remembers them.
_CANNOT_CONNECT = frozenset({Status.UNREACHABLE, Status.AUTH, Status.HOSTKEY})


class LineKind(enum.Enum):
    COMMAND = "command"
    HOSTS = "hosts"
    HELP = "help"
    QUIT = "quit"
    EMPTY = "empty"
    UNKNOWN = "unknown"


#: The directives a line may start with, and what each does (``:help`` shows them).
DIRECTIVES = {
    ":hosts": (LineKind.HOSTS, ":hosts [PATTERN]  select hosts from the inventory anew "
               "(without PATTERN: list the selected ones)"),
    ":help": (LineKind.HELP, ":help             this list"),
    ":quit": (LineKind.QUIT, ":quit             leave (as do Ctrl-D and :exit)"),
    ":exit": (LineKind.QUIT, ""),
}  # fmt: skip


@dataclass(frozen=True)
class ShellLine:
    """One line read: what it asks for, and its argument (the command, or the pattern)."""

    kind: LineKind
    argument: str = ""


def parse_line(line: str) -> ShellLine:
    """A line is a shell command for the hosts unless it starts with ``:``."""
    text = line.strip()
    if not text:
        return ShellLine(LineKind.EMPTY)
    if not text.startswith(":"):
        return ShellLine(LineKind.COMMAND, text)
    word, _, rest = text.partition(" ")
    kind = DIRECTIVES.get(word, (LineKind.UNKNOWN, ""))[0]
    return ShellLine(kind, rest.strip() if kind is not LineKind.UNKNOWN else word)


class _OutputUntil:
    """A line's listener that gets no more output once ``cancelled`` is set: what the hosts
    sent before their commands were killed but was not shown yet (up to the SSH window, 8 MiB
    a host, for a command that floods) would keep the prompt away long after Ctrl-C."""

    def __init__(self, cancelled: threading.Event, inner: Listener) -> None:
        self.cancelled = cancelled
        self.inner = inner

    def host_started(self, host: str) -> None:
        self.inner.host_started(host)

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        if not self.cancelled.is_set():
            self.inner.host_output(host, stream, data)

    def host_finished(self, result: HostResult) -> None:
        self.inner.host_finished(result)

    def interrupted(self, running: Sequence[str]) -> None:
        self.inner.interrupted(running)


class ShellSession:
    """The selected hosts of an interactive session and their kept connections.

    Lifecycle: constructing one selects hosts and checks their settings, without any network
    I/O; each host connects on the first line it runs; :meth:`select` closes the connections
    and selects again from the inventory; :meth:`close` closes everything.
    """

    def __init__(
        self,
        inventory: Inventory,
        pattern: str,
        *,
        factory: TransportFactory,
        forks: int = DEFAULT_FORKS,
    ) -> None:
        self.inventory = inventory
        self.factory = factory
        self.forks = forks
        self.pattern = pattern
        self._fleet = self._fleet_for(pattern)
        #: Hosts that could not be reached, left out of later lines until :meth:`select`.
        self.left_out: dict[str, HostResult] = {}

    def _fleet_for(self, pattern: str) -> Fleet:
        return Fleet(
            self.inventory.select(pattern),
            inventory=self.inventory,
            forks=self.forks,
            factory=self.factory,
            keep_open=True,
        )

    @property
    def hosts(self) -> list[Host]:
        """The hosts the next line runs on: the selection less those left out."""
        return [h for h in self._fleet.hosts if h.name not in self.left_out]

    def select(self, pattern: str) -> None:
        """Select hosts anew from the inventory; hosts left out are tried again. A pattern
        that selects nothing raises (a :class:`~remoteops.errors.ConfigurationError`) and
        leaves the selection as it was."""
        fleet = self._fleet_for(pattern)
        self._fleet.close()
        self._fleet, self.pattern = fleet, pattern
        self.left_out = {}

    def run(self, spec: CommandSpec, listener: Listener | None = None) -> RunReport:
        """Run ``spec`` on :attr:`hosts`. Ctrl-C (``KeyboardInterrupt`` in this thread)
        cancels this line: its output stops, its commands are killed on the hosts, its
        unfinished hosts end ``cancelled`` and the report says ``interrupted``; the session
        stays usable.

        The fleet's call runs on a thread of its own, so Ctrl-C lands here and never inside
        the executor (whose own Ctrl-C handling first lets running hosts finish).
        """
        hosts = self.hosts
        outcome: list[RunReport] = []
        failure: list[BaseException] = []
        done, cancelling = threading.Event(), threading.Event()
        work = command_work(spec)
        muted = None if listener is None else _OutputUntil(cancelling, listener)

        def call() -> None:
            try:
                outcome.append(self._fleet.execute(work, hosts=hosts, listener=muted))
            except BaseException as exc:  # raised again on the caller's thread
                failure.append(exc)
            finally:
                done.set()

        # waited for on an event, not with Thread.join: a join that Ctrl-C interrupts can
        # mark the thread as ended while it still runs (CPython bpo-45274)
        threading.Thread(target=call, name="remoteops-shell-line", daemon=True).start()
        try:
            while not done.wait(_POLL_S):
                pass
        except KeyboardInterrupt:
            cancelling.set()
            self._cancel(done)
        if failure:
            raise failure[0]
        return outcome[0]

    def _cancel(self, done: threading.Event) -> None:
        """Cancel the line until its call has returned (it may not have reached the fleet
        when the first cancel was sent); further Ctrl-C presses meanwhile change nothing."""
        while not done.is_set():
            try:
                self._fleet.cancel()
                done.wait(_POLL_S)
            except KeyboardInterrupt:
                continue

    def leave_out_unreachable(self, results: Sequence[HostResult]) -> list[HostResult]:
        """Leave out of later lines the hosts that could not be reached in ``results`` (each
        is reported once, with this line's output); return them."""
        failed = [r for r in results if r.status in _CANNOT_CONNECT]
        self.left_out.update({r.host: r for r in failed})
        return failed

    def close(self) -> None:
        """Close every kept connection (commands still running are killed)."""
        self._fleet.close()


__all__ = ["DIRECTIVES", "LineKind", "ShellLine", "ShellSession", "parse_line"]
