"""The tree vocabulary every layer shares: entries of a file tree, what a host keeps of them,
names of temporaries, remote path joins, and progress callbacks. Nothing here does network
I/O; transports, the sync engine and output all build on it.
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

#: Temporary names of atomic writes; a later sync removes leftovers of interrupted ones.
#: The visible part may be the real name cut short (see :func:`hidden_name`).
TEMPORARY_NAME = re.compile(r"\..+\.remoteops-[0-9a-f]{8}\.tmp", re.DOTALL)  # names hold \n

#: The longest file name ext4, XFS, btrfs and tmpfs take (NAME_MAX), in bytes.
NAME_MAX = 255
#: What a temporary adds to the name it stands for: ``.`` and ``.remoteops-XXXXXXXX.tmp``.
_TEMPORARY_EXTRA = len(".") + len(".remoteops-00000000.tmp")
#: The longest visible part a temporary keeps of its real name, in bytes; longer names are
#: cut to this, so a 255-byte name still has a temporary the file system takes.
VISIBLE_MAX = NAME_MAX - _TEMPORARY_EXTRA


def hidden_name(name: str, tag: str) -> str:
    """``.NAME.remoteops-TAG.tmp`` (``tag``: 8 hex digits), within :data:`NAME_MAX` bytes:
    a name too long for that is cut to its first :data:`VISIBLE_MAX` bytes (bytes, as the
    file system counts them; a cut UTF-8 character keeps its bytes as surrogate escapes)."""
    encoded = os.fsencode(name)
    visible = name if len(encoded) <= VISIBLE_MAX else os.fsdecode(encoded[:VISIBLE_MAX])
    return f".{visible}.remoteops-{tag}.tmp"


def is_temporary_of(temporary: str, names: Collection[str]) -> bool:
    """True if ``temporary`` is shaped as :func:`hidden_name` makes them for one of
    ``names`` (a cut visible part stands for every name it begins)."""
    if ".remoteops-" not in temporary or not TEMPORARY_NAME.fullmatch(temporary):
        return False
    visible = temporary[1:].rpartition(".remoteops-")[0]
    if visible in names:
        return True
    cut = os.fsencode(visible)
    return len(cut) == VISIBLE_MAX and any(os.fsencode(n).startswith(cut) for n in names)


def temporary_name(path: str) -> str:
    """A hidden sibling of ``path`` to write to before renaming over the real name."""
    folder, slash, name = path.rpartition("/")
    hidden = hidden_name(name, secrets.token_hex(4))
    return f"{folder}{slash}{hidden}"  # "/x" keeps its "/": a file of the root folder


def join_remote(root: str, path: str) -> str:
    """``path`` (relative, POSIX) below the host folder ``root``; ``/`` stays single."""
    return f"{root.rstrip('/')}/{path}" if root.rstrip("/") else f"/{path}"


#: Told of work done as it happens: (files finished, bytes sent) since the last call.
Advance = Callable[[int, int], None]


def no_progress(files: int, sent: int) -> None:
    """The :data:`Advance` that ignores everything."""


class ProgressSink(Protocol):
    """Where transfers report progress (the CLI's progress bars); called from host threads."""

    def planned(self, host: str, files: int, size: int) -> Advance:
        """``host`` will write ``files`` files of ``size`` bytes; returns how to report them."""


class Kind(str, enum.Enum):
    """What a path is. Anything else (devices, sockets, fifos) is never copied."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"


@dataclass(frozen=True)
class Entry:
    """One path of a tree, relative to its root, POSIX separators, never empty.

    ``mtime`` is whole seconds: SFTP v3 and FTP MDTM carry no more, so finer stamps would make
    every file look changed. ``changed`` is the host's ctime (the last change of content,
    mode or times) where its listing has one (``find``; not SFTP v3 nor FTP: 0), so that a
    temporary whose times were just set to the source's is still seen as in use; it is not
    compared (two listings of the same tree are equal).
    """

    path: str
    kind: Kind
    size: int = 0
    mtime: int = 0
    mode: int = 0o644
    target: str | None = None
    digest: str | None = None
    changed: int = field(default=0, compare=False)

    @property
    def last_change(self) -> int:
        """When the entry last changed as far as its listing says (its ctime, else mtime)."""
        return max(self.mtime, self.changed)


class Times(str, enum.Enum):
    """How far a host's file times can be trusted for "has it changed?"."""

    EXACT = "exact"  # read to the second and set by writes: compared for equality
    READ = "read"  # read to the second, never set (FTP without MFMT): the host's copy must
    #               be newer than ours, i.e. sent after our last change
    NONE = "none"  # not read exactly either (LIST without MDTM): size only, as rsync --size-only


@dataclass(frozen=True)
class Fidelity:
    """What a host keeps of a file besides its content; the planner compares only that.

    Every SSH and local host keeps everything; an FTP server may show no modes (Windows) or
    set no times (no MFMT), and a sync that compared them would send every file every time.
    It makes no symlinks either.
    """

    modes: bool = True
    times: Times = Times.EXACT
    #: With :attr:`Times.READ`: how far the host's stamps run ahead of our clock (its clock,
    #: or an MDTM in local time), so that "sent after our last change" compares like with like.
    skew_s: int = 0
    #: Whether the host can make symlinks (FTP cannot): a plan that needs one is refused
    #: whole, in the dry run too, before anything is written.
    links: bool = True


_HASH_CHUNK = 1024 * 1024


def file_digest(path: Path | str) -> str:
    """SHA-256 of a local file's content, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
