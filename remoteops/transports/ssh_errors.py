"""The SSH transport's one error translator: paramiko's, the socket's and SFTP's exceptions
as this host's :class:`~remoteops.errors.HostError` kinds.

Used by :mod:`~remoteops.transports.ssh` (connecting, starting commands) and by the SFTP file
operations alike, so the same exception means the same status wherever it is raised:

- no answer within ``connect_timeout`` while connecting: ``unreachable`` (connect timed out);
- anything else while connecting, EOF, an SSH protocol error, or any error once the session
  is gone: ``unreachable``;
- an OSError on a live SFTP session (the host refused the operation): ``failed``;
- a HostError (already translated, or a local file's :class:`LocalReadError`): as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import paramiko

from remoteops.errors import (
    ConnectTimeoutError,
    HostError,
    TransferError,
    UnreachableError,
    local_exhaustion,
)

#: What paramiko, sockets and SFTP raise: the errors the translator knows.
LIBRARY_ERRORS = (OSError, EOFError, paramiko.SSHException, UnicodeError)


def describe(exc: BaseException) -> str:
    """An exception's reason as the host gave it (``strerror`` where there is one)."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return reason or type(exc).__name__


def is_timeout(exc: BaseException) -> bool:
    """paramiko reports timeouts as SSHException text or with a socket timeout as context."""
    return (
        isinstance(exc, TimeoutError)
        or isinstance(exc.__context__, TimeoutError)
        or ("timeout" in str(exc).lower() or "timed out" in str(exc).lower())
    )


def ssh_failure(
    what: str,
    exc: BaseException,
    *,
    connecting: float | None = None,
    lost: bool = False,
    timed_out: Callable[[], HostError] | None = None,
) -> HostError:
    """``exc`` as this host's error, ``what`` saying what was being done.

    ``connecting``: the connect timeout, while the connection is being made (a timeout is
    then :class:`ConnectTimeoutError`, anything else unreachable); ``lost``: the session is
    known to be gone; ``timed_out``: the error a timeout means here (a command that did not
    start within its own time, say).
    """
    if isinstance(exc, HostError):
        return exc
    exhausted = local_exhaustion(exc)
    if exhausted is not None:
        return exhausted
    if connecting is not None and is_timeout(exc):
        return ConnectTimeoutError(connecting, what)
    if timed_out is not None and is_timeout(exc):
        return timed_out()
    if connecting is not None:
        return UnreachableError(f"{what}: {describe(exc)}")
    if lost or isinstance(exc, (EOFError, paramiko.SSHException)):
        return UnreachableError(f"{what}: connection lost ({describe(exc)})")
    return TransferError(f"{what}: {describe(exc)}")


@contextlib.contextmanager
def ssh_errors(
    what: str,
    *,
    connecting: float | None = None,
    lost: Callable[[], bool] = lambda: False,
    timed_out: Callable[[], HostError] | None = None,
) -> Iterator[None]:
    """Run the block with its library errors translated by :func:`ssh_failure`."""
    try:
        yield
    except HostError:
        raise
    except LIBRARY_ERRORS as exc:
        raise ssh_failure(
            what, exc, connecting=connecting, lost=lost(), timed_out=timed_out
        ) from exc


__all__ = ["LIBRARY_ERRORS", "describe", "is_timeout", "ssh_errors", "ssh_failure"]
