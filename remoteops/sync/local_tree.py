"""Scanning the local source tree once per run; every host's plan reuses the result."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path

from remoteops.errors import ConfigurationError
from remoteops.sync.model import Plan
from remoteops.tree import Entry, Kind, file_digest

#: Plans kept per tree for hosts whose listings are alike; past this the memo starts over.
_PLANS_KEPT = 8


@dataclass(frozen=True)
class LocalTree:
    """The source's entries, and what was skipped and why (sockets, broken links, loops)."""

    root: Path
    entries: tuple[Entry, ...]
    skipped: tuple[str, ...] = field(default=())
    # What every host of a run would otherwise work out again for each of the tree's files
    # (the cost of a first sync to many hosts grew with files x hosts).
    _paths: dict[str, Path] = field(default_factory=dict, init=False, compare=False, repr=False)
    _plans: dict[Hashable, Plan] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def local_path(self, path: str) -> Path:
        """The local file of the tree's relative ``path``; one Path per path for all hosts."""
        found = self._paths.get(path)
        if found is None:
            found = self._paths.setdefault(path, self.root.joinpath(path))
        return found

    def shared_plan(self, key: Hashable, make: Callable[[], Plan]) -> Plan:
        """``make()``, or the plan it made for an equal ``key`` (the options, what the host
        keeps and its listing): a hundred empty hosts get one plan, made once. Plans are
        immutable, so hosts may share one; two hosts planning at once may both make it."""
        found = self._plans.get(key)
        if found is None:
            found = make()
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.clear()
            self._plans[key] = found
        return found


def scan_tree(root: Path, *, copy_links: bool = False, checksum: bool = False) -> LocalTree:
    """Every directory, file and symlink below ``root`` (not ``root`` itself).

    Symlinks are entries of their own unless ``copy_links``, which follows them (and skips
    links that point nowhere or back up the tree, as rsync does).
    """
    try:
        root_stat = root.stat()
    except OSError as exc:
        raise ConfigurationError(f"source {root} cannot be read: {exc.strerror}") from exc
    if not stat.S_ISDIR(root_stat.st_mode):
        raise ConfigurationError(f"source {root} is not a directory")
    entries: list[Entry] = []
    skipped: list[str] = []
    visited = {(root_stat.st_dev, root_stat.st_ino)}

    def walk(folder: str, prefix: str) -> None:
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            raise ConfigurationError(f"cannot list {folder}: {exc.strerror}") from exc
        for child in children:
            relative = prefix + child.name
            try:
                info = child.stat(follow_symlinks=copy_links)
            except FileNotFoundError:
                skipped.append(f"{relative}: symlink points nowhere")
                continue
            mode = stat.S_IMODE(info.st_mode)
            mtime = int(info.st_mtime)
            if stat.S_ISLNK(info.st_mode):
                target = os.readlink(child.path)
                entries.append(Entry(relative, Kind.SYMLINK, mtime=mtime, mode=mode, target=target))
            elif stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in visited:
                    skipped.append(f"{relative}: link loop")
                    continue
                visited.add(key)
                entries.append(Entry(relative, Kind.DIR, mtime=mtime, mode=mode))
                walk(child.path, relative + "/")
            elif stat.S_ISREG(info.st_mode):
                digest = file_digest(child.path) if checksum else None
                entries.append(Entry(relative, Kind.FILE, info.st_size, mtime, mode, digest=digest))
            else:
                skipped.append(f"{relative}: not a file, directory or symlink")

    walk(str(root), "")
    return LocalTree(root, tuple(entries), tuple(skipped))
