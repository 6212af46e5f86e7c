"""remoteops: run commands and move files across fleets of hosts in parallel.

The library in one import::

    from remoteops import Fleet

    with Fleet.from_inventory("inventory/", hosts="web") as fleet:
        fleet.run("uptime", timeout=30).raise_for_status()

Names are imported on first use, so ``import remoteops`` (and the CLI's start) stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from remoteops.errors import (
        AuthenticationError,
        ConfigurationError,
        EntriesFailedError,
        HostError,
        HostKeyError,
        HostsFailedError,
        HostTimeoutError,
        InventoryError,
        PatternError,
        PrivilegeError,
        RemoteOpsError,
        StepFailedError,
        TransferError,
        UnreachableError,
        UnsupportedError,
    )
    from remoteops.executor import HostWork, Listener, NullListener, needing
    from remoteops.fleet import Fleet
    from remoteops.inventory import Host, Inventory, load_inventory
    from remoteops.results import (
        ExitCode,
        HostResult,
        PlannedChange,
        RunReport,
        Status,
        TransferStats,
    )
    from remoteops.tasks.python import HostSession, run_python_task
    from remoteops.tasks.runner import TaskReport
    from remoteops.transports import Capability, CommandSpec, Privilege, Transport

#: Where each public name lives.
_HOMES = {
    "Fleet": "remoteops.fleet",
    "HostWork": "remoteops.executor",
    "Listener": "remoteops.executor",
    "NullListener": "remoteops.executor",
    "needing": "remoteops.executor",
    "Host": "remoteops.inventory",
    "Inventory": "remoteops.inventory",
    "load_inventory": "remoteops.inventory",
    "ExitCode": "remoteops.results",
    "HostResult": "remoteops.results",
    "PlannedChange": "remoteops.results",
    "RunReport": "remoteops.results",
    "Status": "remoteops.results",
    "TransferStats": "remoteops.results",
    "Capability": "remoteops.transports",
    "CommandSpec": "remoteops.transports",
    "Privilege": "remoteops.transports",
    "Transport": "remoteops.transports",
    "HostSession": "remoteops.tasks.python",
    "run_python_task": "remoteops.tasks.python",
    "TaskReport": "remoteops.tasks.runner",
    **dict.fromkeys(
        (
            "AuthenticationError",
            "ConfigurationError",
            "EntriesFailedError",
            "HostError",
            "HostKeyError",
            "HostTimeoutError",
            "HostsFailedError",
            "InventoryError",
            "PatternError",
            "PrivilegeError",
            "RemoteOpsError",
            "StepFailedError",
            "TransferError",
            "UnreachableError",
            "UnsupportedError",
        ),
        "remoteops.errors",
    ),
}

__all__ = [
    "AuthenticationError",
    "Capability",
    "CommandSpec",
    "ConfigurationError",
    "EntriesFailedError",
    "ExitCode",
    "Fleet",
    "Host",
    "HostError",
    "HostKeyError",
    "HostResult",
    "HostSession",
    "HostTimeoutError",
    "HostWork",
    "HostsFailedError",
    "Inventory",
    "InventoryError",
    "Listener",
    "NullListener",
    "PatternError",
    "PlannedChange",
    "Privilege",
    "PrivilegeError",
    "RemoteOpsError",
    "RunReport",
    "Status",
    "StepFailedError",
    "TaskReport",
    "TransferError",
    "TransferStats",
    "Transport",
    "UnreachableError",
    "UnsupportedError",
    "load_inventory",
    "needing",
    "run_python_task",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'remoteops' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
