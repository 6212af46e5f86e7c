"""The exception tree of remoteops.

Errors that stop a whole run (bad usage, bad inventory) are exceptions; a host that fails is never
an exception to the caller: it becomes a value with a :class:`~remoteops.results.Status`.
Transport modules raise the ``Host*Error`` kinds internally, translated once from the library
they wrap (paramiko, ftplib, pexpect, subprocess), and the executor turns them into statuses.

::

    RemoteOpsError
    ├── ConfigurationError          usage or configuration the run cannot start with (exit 2)
    │   ├── InventoryError          malformed inventory: names file and line or key path
    │   └── PatternError            a host pattern that matches nothing or does not parse
    ├── HostsFailedError            raised on request (RunReport.raise_for_status)
    └── HostError                   one host failed; carries the status it maps to
        ├── UnreachableError        refused, no route, name not resolved, connection lost
        ├── AuthenticationError     every credential was refused
        ├── HostKeyError            unknown or changed host key
        ├── HostTimeoutError        connect, banner or command timeout fired
        ├── TransferError           a file operation failed (permission, disk full, not a dir)
        │   └── EntriesFailedError  some entries of a transfer failed, every other one arrived
        └── UnsupportedError        the host's protocol cannot do what was asked
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from remoteops.results import RunReport, TransferStats


class RemoteOpsError(Exception):
    """Base of every error remoteops raises on purpose."""


class ConfigurationError(RemoteOpsError):
    """The run cannot start: bad options, settings or environment."""


class InventoryError(ConfigurationError):
    """A malformed inventory; the message names the source and where in it."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        key_path: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.key_path = key_path
        self.reason = message
        where = source or "<inventory>"
        if line is not None:
            where += f":{line}"
        if key_path:
            where += f" ({key_path})"
        super().__init__(f"{where}: {message}")


class PatternError(ConfigurationError):
    """A host pattern that selects nothing or cannot be parsed."""

    def __init__(self, message: str, *, suggestions: tuple[str, ...] = ()) -> None:
        self.suggestions = suggestions
        if suggestions:
            message += "; did you mean: " + ", ".join(suggestions) + "?"
        super().__init__(message)


class HostError(RemoteOpsError):
    """One host failed; ``status`` is the :class:`~remoteops.results.Status` value it maps to.

    ``stdout``/``stderr`` hold what a command had printed before the failure, if one was running
    (up to its capture limit; ``stdout_bytes``/``stderr_bytes`` count all of it, None: as kept).
    """

    status = "unreachable"

    def __init__(self, message: str, *, stdout: bytes = b"", stderr: bytes = b"") -> None:
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr
        self.stdout_bytes: int | None = None
        self.stderr_bytes: int | None = None


class UnreachableError(HostError):
    """The host could not be reached or the connection was lost."""

    status = "unreachable"


class AuthenticationError(HostError):
    """Every credential offered was refused."""

    status = "auth"


class HostKeyError(HostError):
    """The host key is unknown or differs from the known one."""

    status = "hostkey"


class HostTimeoutError(HostError):
    """A connect, banner, authentication or command timeout fired."""

    status = "timeout"


class TransferError(HostError):
    """A file operation on the host failed; the connection itself is fine."""

    status = "failed"


class EntriesFailedError(TransferError):
    """Some entries could not be written (``failed``: their paths); every other entry of the
    batch was. ``sent`` counts the bytes that went out; ``transfer`` is filled by the engine
    with the host's counts, so the failed host still reports what did arrive."""

    def __init__(self, message: str, *, failed: Sequence[str], sent: int = 0) -> None:
        super().__init__(message)
        self.failed = tuple(failed)
        self.sent = sent
        self.transfer: TransferStats | None = None


class UnsupportedError(HostError):
    """The host's protocol cannot do what was asked (e.g. run a command on an FTP host)."""

    status = "unsupported"


class HostsFailedError(RemoteOpsError):
    """Raised by :meth:`RunReport.raise_for_status`: some hosts did not end ``ok``."""

    def __init__(self, report: RunReport) -> None:
        self.report = report
        failed = report.failed
        shown = ", ".join(
            f"{r.host} ({r.status.value}: {r.error or 'exit ' + str(r.exit_code)})"
            for r in failed[:5]
        )
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        super().__init__(f"{len(failed)} of {len(report.results)} hosts failed: {shown}{more}")


def first_of(problems: Sequence[str]) -> str:
    """The first of several problems, and how many more: one line, whatever their number."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"
