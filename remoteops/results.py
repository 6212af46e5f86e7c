"""Result values of a run: one per host, and the report over all of them with its exit code.

A failed host is a value here, never an exception, so one bad host cannot hide the others.
"""

from __future__ import annotations

import base64
import enum
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from remoteops.status import Status


@dataclass(frozen=True)
class TransferStats:
    """What a file transfer did on one host (``sync``, ``put``, ``get``); in JSON, these
    fields in this order, on every line of a transfer, whatever the host's outcome."""

    files_created: int = 0
    files_updated: int = 0
    files_deleted: int = 0
    files_unchanged: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    @property
    def changed(self) -> bool:
        """Whether any file was created, updated or deleted (a task step is ``changed``)."""
        return bool(self.files_created or self.files_updated or self.files_deleted)


#: The :class:`TransferStats` fields, in JSON order.
TRANSFER_FIELDS = tuple(f.name for f in fields(TransferStats))


def shown_path(path: str) -> str:
    """A path on one line: newlines, tabs and other control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in path)


@dataclass(frozen=True)
class PlannedChange:
    """One change a dry run found to make (``upload``, ``delete``, ``mkdir``...)."""

    action: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.action} {shown_path(self.path)}: {self.reason}"


class ExitCode(enum.IntEnum):
    """Process exit codes; stable, documented in the README, scripts depend on them."""

    OK = 0
    COMMAND_FAILED = 1
    USAGE = 2
    HOST_FAILED = 3
    BOTH_FAILED = 4
    INTERRUPTED = 130


#: ``-S``'s code for a host whose command never ran to its end: ssh's own exit code then.
NO_COMMAND_EXIT_CODE = 255


def exit_code_error(exit_code: int) -> str:
    """The ``error`` of a command that exited non-zero and had nothing else to say: the
    live output's ``FAILED`` line and JSON's ``error`` show it even when nothing was printed."""
    return f"exit code {exit_code}"


def _text_and_raw(data: bytes) -> tuple[str, str | None]:
    """Decode for display; keep the exact bytes (base64) when they are not valid UTF-8."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Reply:
    """What one exchange of a dialogue received: ``output`` before the awaited pattern,
    ``matched`` the text it matched, ``groups`` its groups (terminal codes removed, secrets
    masked)."""

    output: str
    matched: str
    groups: tuple[str | None, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"output": self.output, "matched": self.matched, "groups": list(self.groups)}


@dataclass(frozen=True)
class HostResult:
    """What happened on one host: its status, the command's exit code and output."""

    host: str
    status: Status
    exit_code: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    error: str | None = None
    duration_s: float = 0.0
    #: For file transfers: what was done. Its presence switches the JSON object to the
    #: transfer schema.
    transfer: TransferStats | None = None
    #: Bytes the command wrote to each stream, kept or not (None: what ``stdout`` holds);
    #: more than was kept means the output outgrew the capture limit.
    stdout_bytes: int | None = None
    stderr_bytes: int | None = None
    #: For file transfers: what went differently from the listing without failing (a file
    #: that grew while ``get`` fetched it); the transfer schema's ``notes``.
    notes: tuple[str, ...] = ()
    #: For a dry run: the changes the transfer would make (None: not a dry run).
    plan: tuple[PlannedChange, ...] | None = None
    #: With ``--diff``: the unified diff of the files the transfer changes (or would).
    diff: str | None = None
    #: For a dialogue: what each exchange received, in order (the JSON's ``exchanges``).
    replies: tuple[Reply, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def output_complete(self) -> bool:
        """True if the command ran to its end (an exit code came back): its output is all there
        is, not what arrived before a timeout, an interruption or a lost connection."""
        return self.exit_code is not None and self.status in (Status.OK, Status.FAILED)

    @property
    def truncated(self) -> bool:
        """True if only part of the output was kept: its start (``capture_limit``), or a task
        step's end (:data:`~remoteops.tasks.runner.KEPT_OUTPUT_TAIL`)."""
        return (self.stdout_bytes or 0) > len(self.stdout) or (self.stderr_bytes or 0) > len(
            self.stderr
        )

    def to_json(self, *, transfer: bool = False, dry_run: bool = False) -> dict[str, Any]:
        """The documented JSON object for this host (see README, "JSON output").

        ``transfer`` asks for the transfer schema even for a host that failed before any
        transfer (its counts are then zero), so every line of a sync run has the same keys;
        ``dry_run`` adds ``plan`` to every line the same way (null: the host made no plan).
        """
        if transfer or self.transfer is not None:
            return {
                "host": self.host,
                "ok": self.ok,
                "status": self.status.value,
                **asdict(self.transfer or TransferStats()),
                "notes": list(self.notes),
                "error": self.error,
                "duration_s": round(self.duration_s, 3),
                **({"plan": self._plan_text()} if dry_run or self.plan is not None else {}),
                **({"diff": self.diff} if self.diff else {}),
            }
        stdout, stdout_b64 = _text_and_raw(self.stdout)
        stderr, stderr_b64 = _text_and_raw(self.stderr)
        obj: dict[str, Any] = {
            "host": self.host,
            "ok": self.ok,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "stdout": stdout,
            "stderr": stderr,
            "stdout_bytes": len(self.stdout) if self.stdout_bytes is None else self.stdout_bytes,
            "stderr_bytes": len(self.stderr) if self.stderr_bytes is None else self.stderr_bytes,
            "truncated": self.truncated,
            "error": self.error,
            "duration_s": round(self.duration_s, 3),
        }
        if stdout_b64 is not None:
            obj["stdout_base64"] = stdout_b64
        if stderr_b64 is not None:
            obj["stderr_base64"] = stderr_b64
        if self.replies:
            obj["exchanges"] = [reply.to_json() for reply in self.replies]
        return obj

    def _plan_text(self) -> str | None:
        """The plan as ``--dry-run`` prints it ("" when nothing would change), or None for a
        host that made none (it failed before planning)."""
        return None if self.plan is None else "".join(f"{c}\n" for c in self.plan)


@dataclass(frozen=True)
class RunReport:
    """All host results of one run, in inventory order, and the run's wall time."""

    results: Sequence[HostResult]
    duration_s: float = 0.0
    interrupted: bool = False
    by_host: Mapping[str, HostResult] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_host", {r.host: r for r in self.results})

    def counts(self) -> Counter[Status]:
        return Counter(r.status for r in self.results)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.ok for r in self.results)

    @property
    def failed(self) -> list[HostResult]:
        """Every host that did not end ``ok``, in inventory order."""
        return [r for r in self.results if not r.ok]

    def raise_for_status(self) -> RunReport:
        """Raise :class:`~remoteops.errors.HostsFailedError` unless every host ended ``ok``
        (as httpx's ``Response.raise_for_status``); returns the report when they did."""
        if not self.ok:
            from remoteops.errors import HostsFailedError

            raise HostsFailedError(self)
        return self

    def max_exit_code(self) -> int:
        """The largest exit code of the hosts' commands, as ``pdsh -S`` and ``clush -S`` exit.

        A host whose command never ran to its end (unreachable, auth, host key, timeout,
        cancelled, unsupported) counts 255, what ``ssh`` exits when it could not run a
        command (and so what pdsh and clush return for it); a failure without an exit code
        (sudo refused, a device's error pattern) counts 1. Ctrl-C is still 130.
        """
        if self.interrupted:
            return ExitCode.INTERRUPTED
        codes = [0]
        for result in self.results:
            if result.status.is_connection_failure:
                codes.append(NO_COMMAND_EXIT_CODE)
            elif result.status is Status.FAILED:
                codes.append(result.exit_code or 1)
            elif result.exit_code is not None:
                codes.append(result.exit_code)
        return min(max(codes), NO_COMMAND_EXIT_CODE)

    @property
    def exit_code(self) -> ExitCode:
        """0 all ok; 1 a command failed; 3 a host failed to connect/finish; 4 both; 130 Ctrl-C."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        failed = any(r.status is Status.FAILED for r in self.results)
        host_failed = any(r.status.is_connection_failure for r in self.results)
        if failed and host_failed:
            return ExitCode.BOTH_FAILED
        if failed:
            return ExitCode.COMMAND_FAILED
        if host_failed:
            return ExitCode.HOST_FAILED
        return ExitCode.OK


__all__ = [
    "NO_COMMAND_EXIT_CODE",
    "TRANSFER_FIELDS",
    "ExitCode",
    "HostResult",
    "Reply",
    "RunReport",
    "Status",
    "exit_code_error",
]
