"""The files a transfer reads or writes here must be the workers' too: ``put`` and ``sync``
read their sources by path on the worker, ``get`` writes under its local folder there. Until
sources travel in the run's bundle, a run checks first that every worker sees them as this
machine does (a shared filesystem), and refuses otherwise: files silently fetched onto a
worker, or a stale copy synced from one, would be worse than no run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SharedPaths:
    """What the work reads here (``reads``) and the folders it writes into (``writes``)."""

    reads: tuple[Path, ...] = ()
    writes: tuple[Path, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.reads or self.writes)


def signature(path: str) -> str:
    """What must match on a worker: kind, size (files) and modification time."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"missing ({exc.strerror or exc})"
    kind = "folder" if os.path.isdir(path) else "file"
    size = "" if kind == "folder" else f", {info.st_size} bytes"
    return f"{kind}{size}, modified {info.st_mtime_ns}"


def probe(expected: Sequence[tuple[str, str]]) -> list[str]:
    """Run on each worker: the paths it sees otherwise than the controller, and how."""
    return [
        f"{path}: {seen} there, {wanted} here"
        for path, wanted in expected
        if (seen := signature(path)) != wanted
    ]


class Tokens:
    """A file of random content in each folder the work writes into, for workers to read:
    seeing it proves they write where this machine will look."""

    def __init__(self, folders: Sequence[Path]) -> None:
        self.files: list[Path] = []
        for wanted in folders:
            folder = wanted
            while not folder.is_dir() and folder.parent != folder:
                folder = folder.parent  # the work makes the rest; nothing is made for the check
            token = folder / f".remoteops-dask-probe-{secrets.token_hex(8)}"
            token.write_text(secrets.token_hex(8))
            self.files.append(token)

    def expected(self) -> list[tuple[str, str]]:
        return [(str(f), signature(str(f))) for f in self.files]

    def remove(self) -> None:
        for token in self.files:
            token.unlink(missing_ok=True)


__all__ = ["SharedPaths", "Tokens", "probe", "signature"]
