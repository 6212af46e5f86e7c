"""File operations of the local transport: the sync engine against this machine's disk.

Shares the atomic-write rule with every transport: data goes to a temporary name in the
destination folder and is renamed over the real name only once complete.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from remoteops.errors import LocalReadError, TransferError
from remoteops.transports.file_ops import Received, open_partial, open_source, receive_atomically
from remoteops.transports.listing import find_command, parse_find_output, path_command, with_digests
from remoteops.tree import Entry, Kind, file_digest, temporary_name

_COPY_CHUNK = 1024 * 1024
_KINDS = {stat.S_IFDIR: Kind.DIR, stat.S_IFREG: Kind.FILE, stat.S_IFLNK: Kind.SYMLINK}


def translate(exc: OSError, what: str) -> TransferError:
    """The local transport's error translator: the host is this machine, so every error is
    a disk's or a process's (permission, full disk, not a directory): ``failed``."""
    return TransferError(f"{what}: {exc.strerror or exc}")


def _unlock_and_retry(function: Callable[[str], object], path: str, info: object) -> None:
    """rmtree's error hook: a read-only folder (0555) is made writable, then tried again."""
    parent = os.path.dirname(path)
    os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, os.stat(path).st_mode | stat.S_IRWXU)
    function(path)


class LocalFiles:
    """The files capability for :class:`~remoteops.transports.local.LocalTransport`."""

    @staticmethod
    def _shell(command: str, what: str) -> bytes:
        done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, check=False)
        if done.returncode != 0:
            raise TransferError(f"{what}: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    def list_tree(self, root: str, *, checksum: bool = False) -> list[Entry]:
        entries = parse_find_output(self._shell(find_command(root), f"cannot list {root}"))
        if not checksum:
            return entries
        return with_digests(entries, lambda path: file_digest(f"{root}/{path}"))

    def list_path(
        self, path: str, *, missing_ok: bool = False, follow: bool = False
    ) -> list[Entry]:
        command = path_command(path, missing_ok=missing_ok, follow=follow)
        return parse_find_output(self._shell(command, f"cannot read {path}"))

    @staticmethod
    def path_kind(path: str) -> Kind | None:
        try:
            found = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise translate(exc, f"cannot read {path}") from exc
        return Kind.DIR if stat.S_ISDIR(found.st_mode) else Kind.FILE

    def get_file(self, path: str, local: Path, entry: Entry) -> Received:
        def fetch(temporary: Path, offset: int) -> tuple[int, str | None]:
            with open(path, "rb") as source, open_partial(temporary, offset) as target:
                source.seek(offset)
                left = entry.size - offset  # the listed bytes, not what was added since
                while left > 0 and (chunk := source.read(min(_COPY_CHUNK, left))):
                    target.write(chunk)
                    left -= len(chunk)
                grown = None
                if left <= 0 and source.read(1):
                    grown = f"grew to {os.fstat(source.fileno()).st_size} bytes"
            return offset, grown

        try:
            return receive_atomically(path, local, entry, fetch)
        except OSError as exc:
            raise translate(exc, f"cannot fetch {path}") from exc

    @staticmethod
    def home_dir() -> str:
        return os.path.expanduser("~")  # $HOME, as the shell's ~

    @staticmethod
    def real_path(path: str) -> str | None:
        try:
            return os.path.realpath(path, strict=True)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise translate(exc, f"cannot resolve {path}") from exc

    @staticmethod
    def list_children(folder: str, pattern: str = "*") -> list[Entry]:
        try:
            with os.scandir(folder) as listing:
                found = [item for item in listing if fnmatch.fnmatchcase(item.name, pattern)]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise translate(exc, f"cannot list {folder}") from exc
        entries = []
        for item in found:
            try:
                info = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            kind = _KINDS.get(stat.S_IFMT(info.st_mode))
            if kind is not None:
                size = info.st_size if kind is Kind.FILE else 0
                entries.append(
                    Entry(item.name, kind, size, int(info.st_mtime), stat.S_IMODE(info.st_mode))
                )
        return entries

    def make_dir(self, path: str, mode: int | None = None) -> None:
        try:
            os.makedirs(path, exist_ok=True)
            if mode is not None:
                os.chmod(path, mode)
        except OSError as exc:
            raise translate(exc, f"cannot create {path}") from exc

    def put_file(self, local: Path, path: str, entry: Entry) -> int:
        temporary = temporary_name(path)
        try:
            with open_source(local) as source, open(temporary, "wb") as target:
                while chunk := source.read(_COPY_CHUNK):  # its errors name the source
                    target.write(chunk)
                target.flush()
                os.fsync(target.fileno())
            os.chmod(temporary, entry.mode)
            os.utime(temporary, (entry.mtime, entry.mtime))
            os.replace(temporary, path)
        except (OSError, LocalReadError) as exc:
            Path(temporary).unlink(missing_ok=True)
            if isinstance(exc, LocalReadError):
                raise
            raise translate(exc, f"cannot write {path}") from exc
        return entry.size

    def rename_path(self, old: str, new: str) -> None:
        try:
            os.rename(old, new)
        except OSError as exc:
            raise translate(exc, f"cannot rename {old} to {new}") from exc

    def make_symlink(self, target: str, path: str) -> None:
        temporary = temporary_name(path)
        try:
            os.symlink(target, temporary)
            os.replace(temporary, path)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise translate(exc, f"cannot link {path}") from exc

    def set_attributes(
        self, path: str, *, mode: int | None = None, mtime: int | None = None
    ) -> None:
        try:
            if mode is not None:
                os.chmod(path, mode)
            if mtime is not None:
                os.utime(path, (mtime, mtime), follow_symlinks=False)
        except OSError as exc:
            raise translate(exc, f"cannot set attributes of {path}") from exc

    def remove(self, path: str, kind: Kind) -> None:
        try:
            if kind is Kind.DIR:
                shutil.rmtree(path, onerror=_unlock_and_retry)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise translate(exc, f"cannot remove {path}") from exc
