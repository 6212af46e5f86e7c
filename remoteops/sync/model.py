"""Values of the sync engine: planned actions, the plan itself and the user's options.

The tree they are about (entries, kinds, fidelity) is :mod:`remoteops.tree`.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from remoteops.tree import Entry


class ActionKind(str, enum.Enum):
    """Planned operations, in the order a host applies them (see :class:`Plan`)."""

    REPLACE = "replace"  # remove a remote entry of another kind before creating ours
    MKDIR = "mkdir"
    UPLOAD = "upload"
    SYMLINK = "symlink"
    CHMOD = "chmod"
    TOUCH = "touch"  # same content, other mtime (--checksum): set the time only
    DELETE = "delete"


@dataclass(frozen=True)
class Action:
    """One operation on one path, and why (shown by ``--dry-run``)."""

    kind: ActionKind
    path: str
    reason: str
    #: The local entry to create or match; for REPLACE and DELETE, the remote one to remove.
    entry: Entry | None = None
    #: For an UPLOAD over an existing file: that file, which a transport may send a delta to.
    replaces: Entry | None = None


@dataclass(frozen=True)
class SyncOptions:
    """What the user asked for; the planner's only knobs."""

    delete: bool = False
    checksum: bool = False
    excludes: tuple[str, ...] = ()
    max_delete: int | None = None


@dataclass(frozen=True)
class Plan:
    """Ordered actions for one host, with what stays as it is and what blocks applying.

    Order: replacements, then directories parents first, then files and links, then mode and
    time fixes, then deletions deepest first, so nothing is deleted before every upload is in.
    ``problems`` non-empty means the plan must not be applied (e.g. over ``--max-delete``).
    """

    actions: tuple[Action, ...]
    unchanged: int = 0
    problems: tuple[str, ...] = field(default=())
    #: Host folders (as listed) that lack owner write permission and must be unlocked while
    #: the plan is applied, parents first.
    locked: tuple[Entry, ...] = field(default=())
    #: What the plan needs that the host cannot do at all (FTP and symlinks): the host is
    #: ``unsupported`` for this transfer, in the dry run too.
    unsupported: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unsupported

    def count(self, kind: ActionKind) -> int:
        return Counter(a.kind for a in self.actions)[kind]

    @property
    def bytes_to_send(self) -> int:
        return sum(a.entry.size for a in self.actions if a.kind is ActionKind.UPLOAD and a.entry)
