"""``--diff``: what a file step changes in a file, as a unified diff of the host's content
against the new one.

Only text is shown: a file that is not UTF-8 (or holds a NUL byte) says "binary file
differs", and one over :data:`DIFF_LIMIT` bytes on either side says so with its sizes, so a
diff never dumps a binary or a huge file; a file that is too large is not even fetched. A
diff shows the file's content: that is what ``--diff`` asks for, secrets included.
"""

from __future__ import annotations

import difflib
import tempfile
from collections.abc import Callable
from pathlib import Path

from remoteops.sync.model import ActionKind, Plan
from remoteops.transports.base import FileTransport
from remoteops.tree import Entry, join_remote

#: Larger files (on the host or here) are compared by size only, never fetched or shown.
DIFF_LIMIT = 1 << 20

#: A plan's diff shows this many files at most, then says how many more differ.
DIFF_FILES = 50


def read_remote(transport: FileTransport, path: str, entry: Entry) -> bytes:
    """The host's file ``path`` (as listed: ``entry``), read through a temporary folder here
    that is gone when this returns."""
    with tempfile.TemporaryDirectory(prefix="remoteops-diff-") as folder:
        local = Path(folder) / "current"
        transport.get_file(path, local, entry)
        return local.read_bytes()


def _as_text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _too_large(path: str, before: int | None, after: int) -> str:
    was = "new" if before is None else f"{before} bytes"
    return f"file differs, too large to show: {path} ({was} -> {after} bytes)\n"


def text_diff(path: str, before: bytes | None, after: bytes) -> str:
    """The unified diff of ``path`` from ``before`` (None: the host has no such file) to
    ``after``; empty when they are the same."""
    if before == after:
        return ""
    if max(len(before or b""), len(after)) > DIFF_LIMIT:
        return _too_large(path, None if before is None else len(before), len(after))
    old, new = _as_text(before or b""), _as_text(after)
    if old is None or new is None:
        sizes = f"{'new' if before is None else len(before)} -> {len(after)} bytes"
        return f"binary file differs: {path} ({sizes})\n"
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile="/dev/null" if before is None else f"{path} (on the host)",
        tofile=f"{path} (new)",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def file_diff(transport: FileTransport, path: str, current: Entry | None, new: bytes | Path) -> str:
    """The diff of the host's ``path`` (``current`` as listed, None: missing) to ``new``
    (bytes, or a local file read only when small enough)."""
    new_size = len(new) if isinstance(new, bytes) else new.stat().st_size
    if max(new_size, current.size if current is not None else 0) > DIFF_LIMIT:
        return _too_large(path, None if current is None else current.size, new_size)
    after = new if isinstance(new, bytes) else new.read_bytes()
    before_bytes = None if current is None else read_remote(transport, path, current)
    return text_diff(path, before_bytes, after)


def plan_diff(
    transport: FileTransport, plan: Plan, local_file: Callable[[str], Path], folder: str
) -> str:
    """The diffs of the files ``plan`` uploads into the host's ``folder`` (each from its
    ``local_file``), the first :data:`DIFF_FILES` of them; folders, links, modes and
    deletions are in the plan's own lines."""
    uploads = [a for a in plan.actions if a.kind is ActionKind.UPLOAD]
    shown = "".join(
        file_diff(transport, join_remote(folder, a.path), a.replaces, local_file(a.path))
        for a in uploads[:DIFF_FILES]
    )
    more = len(uploads) - DIFF_FILES
    return shown + (f"... and {more} more files differ (not shown)\n" if more > 0 else "")


__all__ = ["DIFF_LIMIT", "file_diff", "plan_diff", "read_remote", "text_diff"]
