"""The sync engine: a pure *plan* step, then an *apply* step over a transport's file operations.

Planning needs no I/O: the local tree (scanned once per run, shared by every host) and a
host's remote listing go in, an ordered list of actions with reasons comes out. That keeps
``--dry-run`` exact and lets every protocol (SFTP, FTP, local) share one engine.
"""

from remoteops.sync.model import Action, ActionKind, Plan, SyncOptions
from remoteops.sync.plan import plan_sync
from remoteops.tree import Entry, Fidelity, Kind, Times

__all__ = [
    "Action",
    "ActionKind",
    "Entry",
    "Fidelity",
    "Kind",
    "Plan",
    "SyncOptions",
    "Times",
    "plan_sync",
]
