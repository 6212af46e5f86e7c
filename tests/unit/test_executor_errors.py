"""A host's unexpected exception stays that host's: a bug is said to be one, not a network fault."""

from __future__ import annotations

import logging

import pytest

from remoteops.executor import Executor, run_command
from remoteops.inventory.model import Host
from remoteops.results import HostResult, Status
from remoteops.transports import CommandSpec, Transport, TransportFactory
from remoteops.transports.local import LocalTransport

LOCAL = Host("localhost", {"protocol": "local"})


def _raising(exc: Exception) -> object:
    def work(host: Host, transport: Transport, listener: object) -> HostResult:
        raise exc

    return work


def test_a_bug_in_the_work_is_an_internal_error_not_unreachable() -> None:
    result = Executor().run([LOCAL], _raising(TypeError("f() takes 3 arguments"))).results[0]  # type: ignore[arg-type]
    assert result.status is Status.FAILED
    assert result.error == "internal error: TypeError: f() takes 3 arguments"


def test_an_untranslated_socket_error_is_an_internal_error_with_its_traceback_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each transport translates its own errors: an OSError that reaches the executor got
    past a translator, which is a bug of ours; the status is never guessed from its type."""
    with caplog.at_level(logging.ERROR, logger="remoteops"):
        result = Executor().run([LOCAL], _raising(ConnectionResetError("reset"))).results[0]  # type: ignore[arg-type]
    assert result.status is Status.FAILED
    assert result.error == "internal error: ConnectionResetError: reset"
    logged = [r for r in caplog.records if r.exc_info and "localhost" in r.getMessage()]
    assert logged, caplog.records
    assert logged[0].exc_info is not None
    assert logged[0].exc_info[0] is ConnectionResetError


class _RaisingListener:
    """Raises in one event; counts what it was still given afterwards."""

    def __init__(self, event: str) -> None:
        self.event = event
        self.events: list[str] = []

    def _maybe_raise(self, event: str) -> None:
        self.events.append(event)
        if event == self.event:
            raise RuntimeError(f"listener broke in {event}")

    def host_started(self, host: str) -> None:
        self._maybe_raise("host_started")

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        self._maybe_raise("host_output")

    def host_finished(self, result: HostResult) -> None:
        self._maybe_raise("host_finished")

    def interrupted(self, running: object) -> None:
        self._maybe_raise("interrupted")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("event", ["host_started", "host_output", "host_finished"])
def test_a_raising_listener_is_detached_and_changes_no_result(
    event: str, caplog: pytest.LogCaptureFixture
) -> None:
    """It once hung the run (host_started) or failed the host (host_output)."""
    listener = _RaisingListener(event)
    hosts = [Host(f"h{i}", {"protocol": "local"}) for i in range(3)]
    report = run_command(hosts, CommandSpec("echo out"), listener=listener, forks=1)
    assert [(r.status, r.stdout) for r in report.results] == [(Status.OK, b"out\n")] * 3
    failures = [r for r in caplog.records if "was detached" in r.getMessage()]
    assert len(failures) == 1, caplog.records
    assert event in failures[0].getMessage()
    assert listener.events[-1] == event  # nothing more after the one that raised
    assert listener.events.count(event) == 1


class _ClosingBadly(LocalTransport):
    def close(self) -> None:
        super().close()
        raise EOFError("the connection was already gone")


class _BadCloseFactory(TransportFactory):
    def create(self, host: Host) -> Transport:
        return _ClosingBadly()


@pytest.mark.timeout(30)
def test_a_close_that_raises_keeps_the_hosts_result() -> None:
    """A worker thread died in close() and the run waited forever for its host (CI, issue 10)."""
    hosts = [Host(f"h{i}", {"protocol": "local"}) for i in range(2)]
    report = run_command(hosts, CommandSpec("echo fine"), factory=_BadCloseFactory(), forks=1)
    assert [(r.status, r.stdout) for r in report.results] == [(Status.OK, b"fine\n")] * 2


@pytest.mark.timeout(30)
def test_an_error_outside_the_work_still_yields_a_result() -> None:
    """Even a failure before the work starts (here: a lifecycle hook) ends as that host's result."""

    class Work:
        def __call__(self, host: Host, transport: Transport, listener: object) -> HostResult:
            return HostResult(host.name, Status.OK)

        def host_started(self, host: str) -> None:
            raise RuntimeError("hook broke")

        def host_ended(self, host: str) -> None:
            return None

    report = Executor(forks=1).run([LOCAL], Work())  # type: ignore[arg-type]
    assert report.results[0].status is Status.FAILED
    assert report.results[0].error == "internal error: RuntimeError: hook broke"
