"""File operations of the SSH transport: one ``find`` listing over exec (shared with other
shell hosts: :class:`~remoteops.transports.shell_files.ShellListing`), writes over SFTP.

Uploads go to a hidden temporary name in the destination folder, are checked for size, get
mode and mtime, and are then renamed over the real name with OpenSSH's posix-rename, so a
dropped connection or a killed sshd never leaves a truncated file under a real name.
Batches of writes (the sync engine's) take a faster path: see :mod:`ssh_batch`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import os
import shlex
import stat
from abc import abstractmethod
from pathlib import Path
from typing import cast

import paramiko

from remoteops.errors import HostError, TransferError
from remoteops.transports.file_ops import (
    Fetch,
    Received,
    open_partial,
    open_source,
    receive_atomically,
)
from remoteops.transports.sftp_pipeline import read_range, walk_tree
from remoteops.transports.shell_files import ShellListing, host_bytes
from remoteops.transports.ssh_errors import LIBRARY_ERRORS, ssh_failure
from remoteops.tree import Entry, Kind, temporary_name

_WRITE_CHUNK = 32 * 1024  # OpenSSH's sftp-server handles up to 256 KiB; 32 KiB pipelines well


def _untyped(exc: BaseException) -> bool:
    """SFTP's status FAILURE (or another without an errno): paramiko raises it as a bare
    ``OSError("Failure")``; OpenSSH sends it for every errno it has no status for (EISDIR,
    ENOTEMPTY, ENOTDIR, EEXIST, EROFS, ENOSPC, EXDEV...)."""
    return isinstance(exc, OSError) and exc.errno is None


class SFTPFiles(ShellListing):
    """The files capability for the SSH transport: commands for listings, SFTP for writes."""

    #: The login's home, asked once (SFTP starts there).
    _home: str | None = None

    @abstractmethod
    def sftp(self) -> paramiko.SFTPClient:
        """The connection's SFTP session, opened on first use (provided by the transport)."""

    @abstractmethod
    def session_lost(self) -> bool:
        """True once the connection (or this thread's SFTP session) is gone."""

    def failure(
        self, what: str, exc: BaseException, path: str | None = None, target: str | None = None
    ) -> HostError:
        """An SFTP error of this host, through the transport's translator
        (:func:`~remoteops.transports.ssh_errors.ssh_failure`): a lost connection is
        ``unreachable``; a refused operation on ``path`` (renamed to ``target``) is
        ``failed``, and SFTP's bare "Failure" is said with what the host shows of the
        likely reason."""
        failure = ssh_failure(what, exc, lost=self.session_lost())
        if type(failure) is TransferError and path is not None and _untyped(exc):
            return TransferError(f"{failure} ({self._explain(path, target)})")
        return failure

    def _explain(self, path: str, target: str | None) -> str:
        """What the host shows about ``path`` (and the ``target`` it was to be renamed to)
        that explains a bare SFTP failure; a best guess, said as one."""

        def kind(name: str) -> str | None:
            try:
                mode = self.sftp().lstat(host_bytes(name)).st_mode or 0
            except LIBRARY_ERRORS:
                return None
            return "folder" if stat.S_ISDIR(mode) else "symlink" if stat.S_ISLNK(mode) else "file"

        source = kind(path)
        if target is not None:
            found = kind(target)
            if found == "folder" and source == "folder":
                return (
                    f"{target} exists and is a folder that is not empty "
                    "(another transfer may have made it meanwhile)"
                )
            if found is not None and (found == "folder") != (source == "folder"):
                return f"{target} exists and is a {found}"
            path = target
        elif source is not None:
            return f"{path} exists and is a {source}"
        parent = path.rstrip("/").rpartition("/")[0] or ("/" if path.startswith("/") else ".")
        above = kind(parent)
        if above is None:
            return f"its folder {parent} does not exist"
        if above != "folder":
            return f"{parent} is a {above}, not a folder"
        return (
            "the host gives no reason: a read-only file system, a full disk, "
            "or a name the file system refuses?"
        )

    def prepare_sftp(self) -> None:
        """Start opening the session :meth:`sftp` will return, if that can overlap other work."""

    def _walk(self, root: str) -> list[Entry]:
        return walk_tree(self.sftp(), root)

    def _walk_path(self, path: str, *, missing_ok: bool, follow: bool) -> list[Entry]:
        """:meth:`list_path` over SFTP: the path's own entry, then a walk below a folder."""
        sftp = self.sftp()
        name = path.rstrip("/").rpartition("/")[2] or path
        try:
            found = (sftp.stat if follow else sftp.lstat)(host_bytes(path))
        except FileNotFoundError:
            if missing_ok:
                return []
            raise TransferError(f"cannot read {path}: no such file or directory") from None
        except LIBRARY_ERRORS as exc:
            raise self.failure(f"cannot read {path}", exc, path) from exc
        mode = found.st_mode or 0
        top = Entry(name, Kind.FILE, found.st_size or 0, int(found.st_mtime or 0), mode & 0o7777)
        if stat.S_ISLNK(mode):
            target = sftp.readlink(host_bytes(path))
            return [dataclasses.replace(top, kind=Kind.SYMLINK, size=0, target=target)]
        if not stat.S_ISDIR(mode):
            return [top] if stat.S_ISREG(mode) else []
        below = walk_tree(sftp, path)
        return [
            dataclasses.replace(top, kind=Kind.DIR, size=0),
            *(dataclasses.replace(e, path=f"{name}/{e.path}") for e in below),
        ]

    def path_kind(self, path: str) -> Kind | None:
        try:
            found = self.sftp().stat(host_bytes(path))
        except FileNotFoundError:
            return None
        except LIBRARY_ERRORS as exc:
            raise self.failure(f"cannot read {path}", exc, path) from exc
        return Kind.DIR if stat.S_ISDIR(found.st_mode or 0) else Kind.FILE

    def get_file(self, path: str, local: Path, entry: Entry) -> Received:
        try:
            return receive_atomically(path, local, entry, self._fetch(path, entry))
        except LIBRARY_ERRORS as exc:
            raise self.failure(f"cannot fetch {path}", exc, path) from exc

    def _fetch(self, path: str, entry: Entry) -> Fetch:
        """Read ``path`` from ``offset`` up to its listed size into the temporary, many reads
        in flight (see :func:`read_range`), and learn whether the file grew meanwhile."""

        def fetch(temporary: Path, offset: int) -> tuple[int, str | None]:
            sftp = self.sftp()
            with (
                sftp.open(host_bytes(path), "rb") as source,
                open_partial(temporary, offset) as target,
            ):
                handle = cast(bytes, source.handle)  # the raw SFTP handle (stubs say otherwise)
                _, more = read_range(sftp, handle, offset, entry.size, target.write)
                grown = f"grew to {source.stat().st_size} bytes" if more else None
            return offset, grown

        return fetch

    def home_dir(self) -> str:
        if self._home is None:
            try:
                self._home = self.sftp().normalize(".")
            except LIBRARY_ERRORS as exc:
                raise self.failure("cannot learn the home folder", exc) from exc
        return self._home

    def real_path(self, path: str) -> str | None:
        if path in (".", ""):
            return self.home_dir()  # SFTP starts in the login's home, as commands do
        try:
            return os.fsdecode(self.sftp().normalize(host_bytes(path)))
        except FileNotFoundError:
            return None
        except LIBRARY_ERRORS as exc:
            if _untyped(exc) and not self.session_lost():
                return None  # ENOTDIR: a file on the way, so nothing there either
            raise self.failure(f"cannot resolve {path}", exc) from exc

    def _walk_children(self, folder: str, pattern: str) -> list[Entry]:
        try:
            found = walk_tree(self.sftp(), folder, max_depth=1)
        except TransferError:
            if self.path_kind(folder) is not Kind.DIR:
                return []
            raise
        return [e for e in found if fnmatch.fnmatchcase(e.path, pattern)]

    def make_dir(self, path: str, mode: int | None = None) -> None:
        sftp = self.sftp()
        try:
            existing = sftp.stat(host_bytes(path))
        except FileNotFoundError:
            existing = None
        except LIBRARY_ERRORS as exc:
            raise self.failure(f"cannot create {path}", exc, path) from exc
        if existing is not None and not stat.S_ISDIR(existing.st_mode or 0):
            raise TransferError(f"{path} exists and is not a directory")
        try:
            if existing is None:
                parent = path.rstrip("/").rpartition("/")[0]
                if parent and parent != path:
                    self.make_dir(parent)
                sftp.mkdir(host_bytes(path))
            if mode is not None:
                sftp.chmod(host_bytes(path), mode)
        except LIBRARY_ERRORS as exc:
            raise self.failure(f"cannot create {path}", exc, path) from exc

    def put_file(self, local: Path, path: str, entry: Entry) -> int:
        sftp = self.sftp()
        temporary = temporary_name(path)
        sent = 0
        try:
            with open_source(local) as source, sftp.open(host_bytes(temporary), "wb") as target:
                target.set_pipelined(True)
                while chunk := source.read(_WRITE_CHUNK):
                    target.write(chunk)
                    sent += len(chunk)
            written = sftp.stat(host_bytes(temporary)).st_size
            if written != sent:
                raise TransferError(f"{path}: wrote {written} bytes of {sent}")
            sftp.chmod(host_bytes(temporary), entry.mode)
            sftp.utime(host_bytes(temporary), (entry.mtime, entry.mtime))
            sftp.posix_rename(host_bytes(temporary), host_bytes(path))
        except (*LIBRARY_ERRORS, HostError) as exc:
            if isinstance(exc, HostError):
                self.discard(temporary)
                raise
            failure = self.failure(f"cannot write {path}", exc, temporary, path)
            self.discard(temporary)
            raise failure from exc
        return sent

    def discard(self, temporary: str) -> None:
        """Best effort: the next sync removes what this leaves (see the planner)."""
        with contextlib.suppress(OSError, paramiko.SSHException, EOFError, HostError):
            self.sftp().remove(host_bytes(temporary))

    def rename_path(self, old: str, new: str) -> None:
        try:
            self.sftp().posix_rename(host_bytes(old), host_bytes(new))
        except LIBRARY_ERRORS as exc:
            raise self.failure(f"cannot rename {old} to {new}", exc, old, new) from exc

    def make_symlink(self, target: str, path: str) -> None:
        sftp = self.sftp()
        temporary = temporary_name(path)
        try:
            sftp.symlink(host_bytes(target), host_bytes(temporary))
            sftp.posix_rename(host_bytes(temporary), host_bytes(path))
        except LIBRARY_ERRORS as exc:
            failure = self.failure(f"cannot link {path}", exc, path)
            self.discard(temporary)
            raise failure from exc

    def set_attributes(
        self, path: str, *, mode: int | None = None, mtime: int | None = None
    ) -> None:
        sftp = self.sftp()
        try:
            if mode is not None:
                sftp.chmod(host_bytes(path), mode)
            if mtime is not None:
                sftp.utime(host_bytes(path), (mtime, mtime))
        except LIBRARY_ERRORS as exc:
            raise self.failure(f"cannot set attributes of {path}", exc, path) from exc

    def remove(self, path: str, kind: Kind) -> None:
        if kind is Kind.DIR:  # one round trip for a whole tree, read-only folders included
            quoted = shlex.quote(path)
            self._shell(
                f"chmod -R u+w -- {quoted} 2>/dev/null; rm -rf -- {quoted}",
                f"cannot remove {path}",
            )
            return
        try:
            self.sftp().remove(host_bytes(path))
        except FileNotFoundError:
            pass
        except LIBRARY_ERRORS as exc:
            raise self.failure(f"cannot remove {path}", exc, path) from exc
