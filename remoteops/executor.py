"""Parallel fan-out of per-host work, with timeouts, cancellation and events to listeners.

The executor never prints: what happens is reported to a :class:`Listener` (the CLI's renderers
are listeners; a library user may pass their own). Every host ends as a
:class:`~remoteops.results.HostResult`, whatever went wrong on it.

Ctrl-C (``KeyboardInterrupt`` in the calling thread): the first stops starting new hosts and
reports who is still running; the second closes every open connection, which ends the work in
progress, and the run returns with ``interrupted`` set (exit code 130).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Protocol, runtime_checkable

from remoteops.errors import HostError, local_exhaustion
from remoteops.inventory.model import Host
from remoteops.results import HostResult, RunReport, Status, exit_code_error
from remoteops.sessions import HostSessions, close_quietly, new_sessions
from remoteops.transports import CommandSpec, Transport, TransportFactory
from remoteops.transports.base import (
    DEFAULT_CAPTURE_LIMIT,
    PROTOCOL_CAPABILITIES,
    Capability,
    commands_of,
    with_host_sudo,
)
from remoteops.transports.deadlines import Deadline, after
from remoteops.transports.settings import settings_for

log = logging.getLogger(__name__)

#: Default number of hosts worked on at once: 200 hosts finish in one round.
DEFAULT_FORKS = 256
#: How often the waiting loop looks at Ctrl-C presses.
WAIT_S = 0.1
#: After the second Ctrl-C, how long closed connections get to wind their threads down.
CANCEL_GRACE_S = 2.0


class _Termination:
    """Whether a SIGTERM that stopped a run is to be re-raised by the caller, and has come."""

    deferring = 0
    pending = False


_termination = _Termination()


@contextlib.contextmanager
def sigterm_deferred() -> Iterator[None]:
    """Within this block a run stopped by SIGTERM returns its report instead of ending the
    process at once; the process ends by the SIGTERM when the block is left, however it is.

    For the CLI: re-raised inside :meth:`Executor.run`, the SIGTERM ended the process before
    ``run -b``/``--diff`` printed anything, before the summary and before the journal, so
    ``-H @failed`` then retried the hosts of the run before (``timeout 60 remoteops run``).
    """
    previous: signal._HANDLER | None = None
    if (
        not _termination.deferring
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    ):
        # between two runs of the block (a task's steps, its local commands, the output
        # printed after a run) the SIGTERM is held too; a run going on reads it as its own
        previous = signal.signal(signal.SIGTERM, _hold_sigterm)
    _termination.deferring += 1
    try:
        yield
    finally:
        _termination.deferring -= 1
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if not _termination.deferring and _termination.pending:
            _termination.pending = False
            signal.raise_signal(signal.SIGTERM)


def _hold_sigterm(signum: int, frame: FrameType | None) -> None:
    """:func:`sigterm_deferred`'s handler: the SIGTERM ends the process when the block ends."""
    _termination.pending = True


def sigterm_pending() -> bool:
    """A SIGTERM stopped a run inside :func:`sigterm_deferred` and ends the process at its end."""
    return _termination.pending


class Listener(Protocol):
    """Receives run events; called from worker threads, so implementations must be thread-safe."""

    def host_started(self, host: str) -> None: ...

    def host_output(self, host: str, stream: str, data: bytes) -> None: ...

    def host_finished(self, result: HostResult) -> None: ...

    def interrupted(self, running: Sequence[str]) -> None: ...


class NullListener:
    """A listener that ignores everything."""

    def host_started(self, host: str) -> None:
        return None

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        return None

    def host_finished(self, result: HostResult) -> None:
        return None

    def interrupted(self, running: Sequence[str]) -> None:
        return None


class _GuardedListener:
    """A listener whose failure is reported once, then detached: a bug in what watches the
    run must neither hang it nor change any host's result."""

    def __init__(self, inner: Listener) -> None:
        self.inner = inner
        self._detached = False

    def _call(self, event: str, *args: object) -> None:
        if self._detached:
            return
        try:
            getattr(self.inner, event)(*args)
        except Exception:
            self._detached = True
            log.error(
                "listener %s failed in %s and was detached; the run goes on",
                type(self.inner).__name__,
                event,
                exc_info=True,
            )

    def host_started(self, host: str) -> None:
        self._call("host_started", host)

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        self._call("host_output", host, stream, data)

    def host_finished(self, result: HostResult) -> None:
        self._call("host_finished", result)

    def interrupted(self, running: Sequence[str]) -> None:
        self._call("interrupted", running)


def _watchdog(
    seconds: float, name: str, transport: Transport, expired: threading.Event
) -> Deadline:
    """Close ``transport`` after ``seconds``: whatever the host's work waits on then fails."""

    def expire() -> None:
        expired.set()
        close_quietly(name, transport)

    return after(seconds, expire)


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


#: The work for one host, given its open transport; returns the host's result.
HostWork = Callable[[Host, Transport, "Listener"], HostResult]


def refuse_duplicates(hosts: Sequence[Host]) -> None:
    """Results are kept by host name: a name given twice would leave the run waiting for a
    result that never comes."""
    counts = Counter(host.name for host in hosts)
    twice = sorted(name for name, count in counts.items() if count > 1)
    if twice:
        raise ValueError(f"hosts given more than once: {', '.join(twice)}")


class _NeedingWork:
    """Work that says what the host must be able to do (see :func:`needing`)."""

    def __init__(self, needs: frozenset[Capability], work: HostWork) -> None:
        self.needs = needs
        self.work = work

    def __call__(self, host: Host, transport: Transport, listener: Listener) -> HostResult:
        return self.work(host, transport, listener)


def needing(needs: Iterable[Capability], work: HostWork) -> HostWork:
    """``work`` that only hosts able to do ``needs`` are given: the others end
    ``unsupported`` before any connection is made (no password sent, no packet)."""
    return _NeedingWork(frozenset(needs), work)


_DOING = {
    Capability.COMMANDS: "run commands",
    Capability.FILES: "transfer files",
    Capability.SUDO_FILES: "transfer files with sudo",
    Capability.DIALOGUES: "hold send/expect dialogues",
}


def _missing_capability(factory: TransportFactory, host: Host, work: HostWork) -> str | None:
    needs: frozenset[Capability] = getattr(work, "needs", frozenset())
    missing = needs - factory.capabilities(host)
    if not missing:
        return None
    able = sorted(p for p, caps in PROTOCOL_CAPABILITIES.items() if needs <= caps)
    if Capability.FILES in missing:  # "cannot transfer files" says it all
        missing -= {Capability.SUDO_FILES}
    return (
        f"{host.protocol.upper()} hosts cannot {' or '.join(_DOING[c] for c in sorted(missing))} "
        f"(protocols that can: {', '.join(able)}); nothing was sent to the host"
    )


@runtime_checkable
class HostLifecycle(Protocol):
    """Work that wants to know when each host starts (before connecting) and ends (whatever
    happened), called on the host's own thread: e.g. input shared by every host, which must
    wait for hosts still connecting and stop waiting for hosts that failed."""

    def host_started(self, host: str) -> None: ...

    def host_ended(self, host: str) -> None: ...


@dataclass(frozen=True)
class _Finished:
    result: HostResult


class Executor:
    """Runs one piece of work on many hosts, ``forks`` at a time, one connection per host."""

    def __init__(
        self,
        factory: TransportFactory | None = None,
        *,
        forks: int = DEFAULT_FORKS,
        listener: Listener | None = None,
        host_timeout: float | None = None,
        sessions: HostSessions | None = None,
    ) -> None:
        if forks < 1:
            raise ValueError("forks must be at least 1")
        #: Where each host's connection comes from; by default one per host for this run.
        self.sessions: HostSessions = sessions or new_sessions(
            factory or TransportFactory(), keep_open=False
        )
        self.factory = self.sessions.factory
        self.forks = forks
        #: Seconds each host may take in all (connect and work); then its connection is
        #: closed under it and it ends ``timeout``, so a stalled host cannot hold up the run.
        self.host_timeout = host_timeout
        self.listener: Listener = _GuardedListener(listener) if listener else NullListener()
        self._open: dict[str, Transport] = {}
        self._lock = threading.Lock()
        self._stop_starting = threading.Event()
        self._cancelled = threading.Event()
        self._sigints = 0
        self._terminated = False

    def run(self, hosts: Sequence[Host], work: HostWork) -> RunReport:
        """Do ``work`` on every host; never raises for a host's failure.

        A :class:`~remoteops.errors.ConfigurationError` (e.g. an unparsable ``~/.ssh/config``)
        is raised before any host starts.
        """
        started_at = time.monotonic()
        refuse_duplicates(hosts)
        self.factory.prepare(hosts)
        pending: queue.SimpleQueue[Host] = queue.SimpleQueue()
        for host in hosts:
            pending.put(host)
        finished: queue.SimpleQueue[_Finished] = queue.SimpleQueue()
        results: dict[str, HostResult] = {}
        running: dict[str, None] = {}

        lifecycle = work if isinstance(work, HostLifecycle) else None  # asked once a run

        def worker() -> None:
            while not self._stop_starting.is_set():
                try:
                    host = pending.get_nowait()
                except queue.Empty:
                    return
                with self._lock:
                    running[host.name] = None
                try:
                    result = self._run_one(host, work, lifecycle)
                except BaseException as exc:  # a worker must always answer
                    log.error("host %s: internal error", host.name, exc_info=True)
                    result = HostResult(
                        host.name, Status.FAILED, error=f"internal error: {_described(exc)}"
                    )
                finished.put(_Finished(result))

        threads = [
            threading.Thread(target=worker, name=f"remoteops-worker-{i}", daemon=True)
            for i in range(min(self.forks, len(hosts)))
        ]
        for thread in threads:
            thread.start()

        interrupts = 0

        def interrupt() -> bool:
            """One more Ctrl-C; True when the run must stop waiting."""
            nonlocal interrupts
            interrupts += 1
            self._stop_starting.set()
            if interrupts > 1:
                self._cancel_all()
                return True
            with self._lock:
                still = [name for name in running if name not in results]
            self.listener.interrupted(still)
            return False

        with self._sigint_as_count():
            while len(results) < len(hosts):
                try:
                    if self._terminating():  # SIGTERM: cancel at once
                        self._stop_starting.set()
                        self._cancel_all()
                        break
                    if self._sigints > interrupts and interrupt():
                        break
                    try:
                        item = finished.get(timeout=WAIT_S)
                    except queue.Empty:
                        stopping = interrupts or self._cancelled.is_set()
                        if stopping and not any(t.is_alive() for t in threads):
                            break
                        continue
                    results[item.result.host] = item.result
                    with self._lock:
                        running.pop(item.result.host, None)
                    self.listener.host_finished(item.result)
                except KeyboardInterrupt:  # not the main thread, or a caller's own handler
                    self._sigints = interrupts + 1
                    if interrupt():
                        break

        stopped = interrupts > 0 or self._cancelled.is_set()
        if stopped:  # collect whatever finished while cancelling, then mark the rest
            deadline = time.monotonic() + CANCEL_GRACE_S
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            late: list[HostResult] = []
            while True:
                try:
                    late.append(finished.get_nowait().result)
                except queue.Empty:
                    break
            reported = set(results) | {r.host for r in late}
            late += [
                HostResult(
                    host.name,
                    Status.CANCELLED,
                    error="interrupted" + ("" if host.name in running else " before it started"),
                )
                for host in hosts
                if host.name not in reported
            ]
            for result in late:  # every host reaches the listener, so JSON output is complete
                if result.host not in results:
                    results[result.host] = result
                    self.listener.host_finished(result)
        return self._report(hosts, results, started_at, interrupted=stopped)

    def _report(
        self,
        hosts: Sequence[Host],
        results: Mapping[str, HostResult],
        started_at: float,
        *,
        interrupted: bool,
    ) -> RunReport:
        """The run's report once every host has reported; a SIGTERM that stopped it now
        ends the process, as it asked."""
        self.sessions.run_ended()
        if self._terminated or _termination.pending:  # every host reported: now end as asked
            if _termination.deferring:  # once the caller has shown and journalled the run
                _termination.pending = True
            else:
                signal.raise_signal(signal.SIGTERM)  # the default handler is back in place
        ordered = [results[h.name] for h in hosts]
        # ready for another run; a cancel() that came before this run began was honoured
        self._stop_starting.clear()
        self._cancelled.clear()
        return RunReport(ordered, time.monotonic() - started_at, interrupted=interrupted)

    def _terminating(self) -> bool:
        """A SIGTERM arrived during the run: cancel at once, as a second Ctrl-C."""
        return self._terminated or _termination.pending

    @contextlib.contextmanager
    def _sigint_as_count(self) -> Iterator[None]:
        """Ctrl-C becomes a count the wait loop reads, not an exception landing anywhere; SIGTERM
        a flag it reads, ending the run as a second Ctrl-C does.

        Each only where Python's default handler is in place and we are the main thread;
        elsewhere ``KeyboardInterrupt`` is still caught around each step of the loop. SIGTERM
        is what ``timeout``, systemd and CI runners send: left to its default, the process
        died on the spot, its commands still running on every host (local ones orphaned) and
        ``--outdir``'s temporary files left behind. Once every host has ended, the SIGTERM is
        raised again under the default handler: the process still ends by it (status 143).
        """
        self._sigints = 0
        self._terminated = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def count(signum: int, frame: FrameType | None) -> None:
            self._sigints += 1

        def terminate(signum: int, frame: FrameType | None) -> None:
            self._terminated = True

        previous: dict[int, signal._HANDLER] = {}
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, count)
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, terminate)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _run_one(self, host: Host, work: HostWork, lifecycle: HostLifecycle | None) -> HostResult:
        if lifecycle is not None:
            lifecycle.host_started(host.name)
        try:
            return self._run_host(host, work)
        finally:
            if lifecycle is not None:
                lifecycle.host_ended(host.name)

    def _run_host(self, host: Host, work: HostWork) -> HostResult:
        started = time.monotonic()
        self.listener.host_started(host.name)
        transport: Transport | None = None
        expired = threading.Event()
        watchdog: Deadline | None = None
        reusable = False
        try:
            missing = _missing_capability(self.factory, host, work)
            if missing is not None:
                return HostResult(host.name, Status.UNSUPPORTED, error=missing)
            transport = self.sessions.acquire(host)  # may wait for another call's turn
            with self._lock:  # cancelled before, or registered for cancel() to close: no gap
                cancelled = self._cancelled.is_set()
                if not cancelled:
                    self._open[host.name] = transport
            if cancelled:  # while it waited: nothing was sent, the connection is as it was
                reusable = True
                return HostResult(
                    host.name,
                    Status.CANCELLED,
                    error="interrupted before it started",
                    duration_s=time.monotonic() - started,
                )
            if self.host_timeout is not None:
                watchdog = _watchdog(self.host_timeout, host.name, transport, expired)
            self.sessions.connect(host, transport)
            result = work(host, transport, self.listener)
            reusable = not (expired.is_set() or self._cancelled.is_set()) and (
                result.status in (Status.OK, Status.FAILED)
            )
            if expired.is_set():
                return self._expired(host, started)
            if self._cancelled.is_set():  # killed by the second Ctrl-C, e.g. exit 137 locally
                return dataclasses.replace(
                    result,
                    status=Status.CANCELLED,
                    exit_code=None,
                    error="interrupted",
                    duration_s=time.monotonic() - started,
                )
            return dataclasses.replace(result, duration_s=time.monotonic() - started)
        except HostError as exc:
            if expired.is_set():
                return self._expired(host, started)
            cancelled = self._cancelled.is_set()
            return HostResult(
                host.name,
                Status.CANCELLED if cancelled else exc.status,
                stdout=exc.stdout,
                stderr=exc.stderr,
                error="interrupted" if cancelled else str(exc),
                duration_s=time.monotonic() - started,
                stdout_bytes=exc.stdout_bytes,
                stderr_bytes=exc.stderr_bytes,
            )
        except Exception as exc:  # no translator knew it: a bug of ours, still only this host
            if expired.is_set():
                return self._expired(host, started)
            if self._cancelled.is_set():
                return HostResult(
                    host.name,
                    Status.CANCELLED,
                    error="interrupted",
                    duration_s=time.monotonic() - started,
                )
            exhausted = local_exhaustion(exc)
            if exhausted is not None:  # this machine's limits, not a bug and not the host
                return HostResult(
                    host.name,
                    Status.FAILED,
                    error=str(exhausted),
                    duration_s=time.monotonic() - started,
                )
            log.error("host %s: internal error", host.name, exc_info=True)  # shown with -v
            return HostResult(
                host.name,
                Status.FAILED,
                error=f"internal error: {_described(exc)}",
                duration_s=time.monotonic() - started,
            )
        finally:
            if watchdog is not None:
                watchdog.cancel()
            with self._lock:
                self._open.pop(host.name, None)
            if transport is not None:
                if expired.is_set() or self._cancelled.is_set():
                    self.sessions.forget_failure(host)  # it was our doing, not the host's
                self.sessions.release(host, transport, reusable=reusable)

    def _expired(self, host: Host, started: float) -> HostResult:
        return HostResult(
            host.name,
            Status.TIMEOUT,
            error=f"gave up after {self.host_timeout:g} s (--timeout)",
            duration_s=time.monotonic() - started,
        )

    def interrupt(self) -> None:
        """One Ctrl-C from another thread (the first stops new hosts starting, the second
        cancels): a Dask worker's chunk hears the controller's Ctrl-C this way."""
        self._sigints += 1

    def cancel(self) -> None:
        """Stop the run from another thread, as a second Ctrl-C does: no host starts any
        more, open connections are closed (ending their work), the run returns with every
        host that did not finish ``cancelled``."""
        self._stop_starting.set()
        self._cancel_all()

    def _cancel_all(self) -> None:
        self._cancelled.set()
        with self._lock:
            open_now = list(self._open.items())
        for name, transport in open_now:
            close_quietly(name, transport)


class _CommandWork:
    """The work of ``remoteops run``: one command, its output streamed to the listener."""

    needs = frozenset({Capability.COMMANDS})

    def __init__(self, spec: CommandSpec, *, host_sudo: bool = True) -> None:
        self.spec = spec
        self.host_sudo = host_sudo
        # asked once: an isinstance against a runtime protocol costs ~17 us a host
        stdin = spec.stdin
        self._stdin_lifecycle = stdin if isinstance(stdin, HostLifecycle) else None

    def __call__(self, host: Host, transport: Transport, listener: Listener) -> HostResult:
        started = time.monotonic()

        def on_output(stream: str, data: bytes) -> None:
            listener.host_output(host.name, stream, data)

        # the inventory's become, unless the step said sudo: false (host_privilege decides)
        spec = with_host_sudo(self.spec, settings_for(host), inventory=self.host_sudo)
        outcome = commands_of(transport).run(spec, on_output)  # errors keep partial output
        error = outcome.error
        if error is None and outcome.exit_code not in (0, None):
            error = exit_code_error(outcome.exit_code)  # said: a silent failure still shows
        return HostResult(
            host.name,
            Status.OK if error is None else Status.FAILED,
            exit_code=outcome.exit_code,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            error=error,
            duration_s=time.monotonic() - started,
            stdout_bytes=outcome.stdout_bytes,
            stderr_bytes=outcome.stderr_bytes,
        )

    def host_started(self, host: str) -> None:
        if self._stdin_lifecycle is not None:
            self._stdin_lifecycle.host_started(host)

    def host_ended(self, host: str) -> None:
        if self._stdin_lifecycle is not None:
            self._stdin_lifecycle.host_ended(host)


def command_work(spec: CommandSpec, *, host_sudo: bool = True) -> HostWork:
    """The work of ``remoteops run``: one command, its output streamed to the listener.

    A spec without a ``capture_limit`` keeps :data:`DEFAULT_CAPTURE_LIMIT` bytes of each
    stream in the result (the listener sees everything). ``host_sudo=False`` leaves out the
    sudo a host's inventory asks for (a task step's explicit ``sudo: false``).
    """
    if spec.capture_limit is None:
        spec = dataclasses.replace(spec, capture_limit=DEFAULT_CAPTURE_LIMIT)
    return _CommandWork(spec, host_sudo=host_sudo)


def run_command(
    hosts: Sequence[Host],
    spec: CommandSpec,
    *,
    factory: TransportFactory | None = None,
    forks: int = DEFAULT_FORKS,
    listener: Listener | None = None,
) -> RunReport:
    """Run one command on every host in parallel: the library form of ``remoteops run``."""
    executor = Executor(factory, forks=forks, listener=listener)
    return executor.run(hosts, command_work(spec))
