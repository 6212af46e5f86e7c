"""A host's unexpected exception stays that host's: a bug is said to be one, not a network fault."""

from __future__ import annotations

from remoteops.executor import Executor
from remoteops.inventory.model import Host
from remoteops.results import HostResult, Status
from remoteops.transports import Transport

LOCAL = Host("localhost", {"protocol": "local"})


def _raising(exc: Exception) -> object:
    def work(host: Host, transport: Transport, listener: object) -> HostResult:
        raise exc

    return work


def test_a_bug_in_the_work_is_an_internal_error_not_unreachable() -> None:
    result = Executor().run([LOCAL], _raising(TypeError("f() takes 3 arguments"))).results[0]  # type: ignore[arg-type]
    assert result.status is Status.FAILED
    assert result.error == "internal error: TypeError: f() takes 3 arguments"


def test_an_untranslated_socket_error_is_unreachable() -> None:
    result = Executor().run([LOCAL], _raising(ConnectionResetError("reset"))).results[0]  # type: ignore[arg-type]
    assert result.status is Status.UNREACHABLE
    assert "reset" in (result.error or "")
