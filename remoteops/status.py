"""How one host ended: the bottom of the package, so errors and results can both name it."""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    """How one host ended. The string values are part of the JSON output contract."""

    OK = "ok"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    AUTH = "auth"
    HOSTKEY = "hostkey"
    TIMEOUT = "timeout"
    UNSUPPORTED = "unsupported"
    CANCELLED = "cancelled"

    @property
    def is_connection_failure(self) -> bool:
        """True for the kinds that mean the work never ran or never finished on the host."""
        return self not in (Status.OK, Status.FAILED)


__all__ = ["Status"]
