"""The exception tree of remoteops.

Errors that stop a whole run (bad usage, bad inventory) are exceptions; a host that fails is never
an exception to the caller: it becomes a value with a :class:`~remoteops.results.Status`.
Transport modules raise the ``Host*Error`` kinds internally, translated once from the library
they wrap (paramiko, ftplib, pexpect, subprocess), and the executor turns them into statuses.

::

    RemoteOpsError
    ├── ConfigurationError          usage or configuration the run cannot start with (exit 2)
    │   ├── InventoryError          malformed inventory: names file and line or key path
    │   ├── PatternError            a host pattern that matches nothing or does not parse
    │   └── TaskFileError           malformed task file: names file, line and step
    ├── HostsFailedError            raised on request (RunReport.raise_for_status)
    ├── StepFailedError             in a Python task: one host's command or transfer failed
    └── HostError                   one host failed; its class carries the Status it maps to
        ├── UnreachableError        refused, no route, name not resolved, connection lost
        │   └── ConnectTimeoutError no answer within connect_timeout (TCP, banner, login)
        ├── AuthenticationError     every credential was refused
        ├── HostKeyError            unknown or changed host key
        ├── HostTimeoutError        the command's time (or the host's overall time) ran out
        ├── TransferError           a file operation failed (permission, disk full, not a dir)
        │   ├── EntriesFailedError  some entries of a transfer failed, every other one arrived
        │   ├── LocalReadError      a local source file (put, sync) could not be read
        │   └── LocalWriteError     a download could not be written on this machine
        ├── LocalResourceError      this machine ran out of descriptors or memory (failed)
        ├── PrivilegeError          sudo refused (wrong or no password, not allowed) (failed)
        ├── TemplateError           a template or expression failed for this host (failed)
        ├── DialogueError           a send/expect exchange got no awaited answer (failed)
        └── UnsupportedError        the host's protocol cannot do what was asked

Each transport translates its library's exceptions in one place (its translator); an
exception that reaches the executor untranslated is a bug of ours: ``failed``, "internal
error", with its traceback logged, never guessed to be the network's fault.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from remoteops.status import Status

if TYPE_CHECKING:
    from remoteops.results import HostResult, RunReport, TransferStats


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

    def __init__(self, message: str, *, suggestions: tuple[str, ...] = (), hint: str = "") -> None:
        self.suggestions = suggestions
        if suggestions:
            message += "; did you mean: " + ", ".join(suggestions) + "?"
        if hint:
            message += "; " + hint
        super().__init__(message)


class TaskFileError(ConfigurationError):
    """A malformed task file; the message names the file, the line and the step
    (``deploy.yml:14 (step 3 'copy config'): ...``). ``step`` counts from 1."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        step: int | None = None,
        step_name: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.step = step
        self.step_name = step_name
        self.reason = message
        where = source or "<task file>"
        if line is not None:
            where += f":{line}"
        if step is not None:
            where += f" (step {step}" + (f" {step_name!r})" if step_name else ")")
        super().__init__(f"{where}: {message}")


class HostError(RemoteOpsError):
    """One host failed; ``status`` is the :class:`~remoteops.status.Status` it maps to.

    ``stdout``/``stderr`` hold what a command had printed before the failure, if one was running
    (up to its capture limit; ``stdout_bytes``/``stderr_bytes`` count all of it, None: as kept).
    """

    status: ClassVar[Status] = Status.FAILED

    def __init__(self, message: str, *, stdout: bytes = b"", stderr: bytes = b"") -> None:
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr
        self.stdout_bytes: int | None = None
        self.stderr_bytes: int | None = None


class UnreachableError(HostError):
    """The host could not be reached or the connection was lost."""

    status = Status.UNREACHABLE


class ConnectTimeoutError(UnreachableError):
    """The host did not answer within ``connect_timeout``: the TCP connect, the SSH banner
    or handshake, the FTP greeting or login, the Telnet login prompt. The host is as good as
    unreachable; ``timeout`` is kept for a command (or the host's overall time) running out."""

    def __init__(self, seconds: float, detail: str) -> None:
        super().__init__(f"connect timed out after {seconds:g} s ({detail})")
        self.seconds = seconds
        self.detail = detail

    def __reduce__(self) -> tuple[type[ConnectTimeoutError], tuple[float, str]]:
        return type(self), (self.seconds, self.detail)  # copies and pickles as built


class AuthenticationError(HostError):
    """Every credential offered was refused."""

    status = Status.AUTH


class HostKeyError(HostError):
    """The host key is unknown or differs from the known one."""

    status = Status.HOSTKEY


class HostTimeoutError(HostError):
    """The command's timeout (or the host's overall ``--timeout``) ran out."""

    status = Status.TIMEOUT


class TransferError(HostError):
    """A file operation on the host failed; the connection itself is fine."""

    status = Status.FAILED


class EntriesFailedError(TransferError):
    """Some entries could not be written (``failed``: their paths); every other entry of the
    batch was. ``sent`` counts the bytes that went out; ``transfer`` is filled by the engine
    with the host's counts, so the failed host still reports what did arrive."""

    def __init__(self, message: str, *, failed: Sequence[str], sent: int = 0) -> None:
        super().__init__(message)
        self.failed = tuple(failed)
        self.sent = sent
        self.transfer: TransferStats | None = None


class LocalReadError(TransferError):
    """A local file to send (the source of a put or sync) could not be read: this machine's
    trouble, said with the local path; the host and its connection are fine."""

    def __init__(self, local: object, exc: OSError | str) -> None:
        reason = exc if isinstance(exc, str) else exc.strerror or str(exc)
        super().__init__(f"cannot read {local}: {reason}")
        self.local = local


class LocalWriteError(TransferError):
    """A download could not be written on this machine (a folder we may not write in, no
    room): said as such, with the local path, so the host is not blamed; never resumed."""


class LocalResourceError(HostError):
    """This machine ran out of something a connection needs (file descriptors, memory,
    ptys): ``failed``, said as ours, and never remembered against the host."""

    status = Status.FAILED


#: errno values that mean this machine, not the host, is out of something.
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})


def local_exhaustion(exc: BaseException) -> LocalResourceError | None:
    """``exc`` as :class:`LocalResourceError` when it says this machine ran out of a
    resource (an OSError of that kind, raised by us or found in its causes)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, OSError) and seen.errno in _EXHAUSTED:
            what = seen.strerror or str(seen)
            hint = (
                " (raise ulimit -n or lower --forks)"
                if seen.errno in (errno.EMFILE, errno.ENFILE)
                else ""
            )
            return LocalResourceError(f"this machine ran out: {what}{hint}")
        seen = seen.__cause__ or seen.__context__
    return None


class TemplateError(HostError):
    """A template or a ``when:`` expression could not be rendered for one host: an undefined
    variable (``variable`` names it), a syntax error, a filter that raised. Only that host
    fails; the same file may render on every other one."""

    status = Status.FAILED

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class PrivilegeError(HostError):
    """sudo would not run what was asked: a wrong or missing password, a user it does not
    allow, or no sftp-server to start. It ends the host, not one file of a transfer."""

    status = Status.FAILED


class DialogueError(HostError):
    """A dialogue (``send``/``expect`` exchanges) did not go as written: an exchange's
    pattern was not seen within its time, or the device refused a line. ``stdout`` holds
    what was received, secrets masked. The session is hung up: its state is unknown."""

    status = Status.FAILED


class UnsupportedError(HostError):
    """The host's protocol cannot do what was asked (e.g. run a command on an FTP host)."""

    status = Status.UNSUPPORTED


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


class StepFailedError(RemoteOpsError):
    """Raised inside a Python task's function (:mod:`remoteops.tasks.python`) when a session
    call failed on its host: a command's non-zero exit (as Fabric's ``UnexpectedExit``), a
    transfer that failed. ``result`` is the host's result for that call (exit code, output,
    error); uncaught, it fails the host with this message."""

    def __init__(self, step: str, result: HostResult) -> None:
        self.step = step
        self.result = result
        if result.error is not None:
            why = result.error
        elif result.exit_code is not None:
            why = f"exit code {result.exit_code}"
        else:
            why = result.status.value
        super().__init__(f"{step}: {why}")


def first_of(problems: Sequence[str]) -> str:
    """The first of several problems, and how many more: one line, whatever their number."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"
