"""File operations of the SSH transport: one ``find`` listing over exec, writes over SFTP.

Uploads go to a hidden temporary name in the destination folder, are checked for size, get
mode and mtime, and are then renamed over the real name with OpenSSH's posix-rename, so a
dropped connection or a killed sshd never leaves a truncated file under a real name.

A batch of new entries (:meth:`SFTPFiles.write_entries`) goes as one tar stream into
``tar -x`` under those temporary names, followed by all the renames pipelined on SFTP: two
round trips for the batch instead of several per file. Hosts without tar get per-file SFTP.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

import paramiko
from paramiko.sftp import CMD_EXTENDED

from remoteops.errors import HostError, TransferError
from remoteops.sync.blocks import DELTA_MIN_SIZE, block_digests, block_size, changed_blocks
from remoteops.sync.listing import find_command, parse_find_output, path_command, with_digests
from remoteops.sync.model import Advance, Entry, Kind, join_remote, no_progress, temporary_name
from remoteops.transports.base import CommandSpec, Transport
from remoteops.transports.sftp_pipeline import Pipeline, expect_ok, walk_tree
from remoteops.transports.tar_stream import LocalReadError, Member, Write, write_tar

_WRITE_CHUNK = 32 * 1024  # OpenSSH's sftp-server handles up to 256 KiB; 32 KiB pipelines well
#: Extraction as the login user, modes as in the archive, mtimes kept. ``-o`` is
#: --no-same-owner for GNU, BSD and BusyBox tar alike.
_TAR_EXTRACT = "tar -x -o -p -f -"
_COMMAND_NOT_FOUND = 127
_RENAMES_IN_FLIGHT = 256


def _b(path: str) -> bytes:
    """Paths as the host's bytes: names that are not UTF-8 arrive with surrogate escapes,
    which paramiko would refuse to encode."""
    return os.fsencode(path)


def _fail(what: str, exc: BaseException) -> TransferError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return TransferError(f"{what}: {reason or type(exc).__name__}")


class SFTPFiles(Transport):
    """The files capability for the SSH transport: commands for listings, SFTP for writes."""

    #: Set once a host turns out to have no tar; its batches then go file by file.
    _without_tar = False
    #: Set once a host's find cannot list for us; its listings then walk over SFTP.
    _without_find = False
    #: Set once a host's split cannot hash blocks; big changed files then go whole.
    _without_split = False

    @abstractmethod
    def sftp(self) -> paramiko.SFTPClient:
        """The connection's SFTP session, opened on first use (provided by the transport)."""

    def prepare_sftp(self) -> None:
        """Start opening the session :meth:`sftp` will return, if that can overlap other work."""

    def write_entries(
        self,
        root: str,
        items: Sequence[tuple[Entry, Path | None]],
        advance: Advance = no_progress,
        *,
        basis: Mapping[str, Entry] | None = None,
    ) -> int:
        deltas = [
            (entry, local, old)
            for entry, local in items
            if local is not None
            and (old := (basis or {}).get(entry.path)) is not None
            and old.kind is Kind.FILE
            and min(entry.size, old.size) >= DELTA_MIN_SIZE
        ]
        patched = {entry.path for entry, _, _ in deltas}
        whole = [item for item in items if item[0].path not in patched]
        sent = self._write_whole(root, whole, advance)
        for entry, local, old in deltas:
            sent += self._write_delta(root, entry, local, old, advance)
        return sent

    def _write_whole(
        self, root: str, items: Sequence[tuple[Entry, Path | None]], advance: Advance
    ) -> int:
        """New and small files, folders and links: one tar stream, then the renames."""
        if not items:
            return 0
        if self._without_tar:
            return super().write_entries(root, items, advance)
        members, placed = _stage(items)
        self.prepare_sftp()  # for the renames, opened while the stream flows
        try:
            sent = self._extract(root, members, advance)
            self._verify(root, members)
        except _NoTarError:
            self._without_tar = True
            return super().write_entries(root, items, advance)
        except BaseException:
            self._discard_all(root, [name for name, _ in placed])
            raise
        self._rename_all(root, placed)
        return sent

    def _write_delta(
        self, root: str, entry: Entry, local: Path, old: Entry, advance: Advance
    ) -> int:
        """Send only the blocks of a big file that differ from the host's copy.

        The host copies its file to a temporary name and hashes that copy's blocks in the same
        command; the changed blocks are written into the copy over SFTP, which is then checked
        for size (and digest with ``--checksum``), given mode and mtime, and renamed over the
        real name, as any upload. Hosts without GNU ``split --filter`` get the whole file.
        """
        path = join_remote(root, entry.path)
        temporary = join_remote(root, temporary_name(entry.path))
        block = block_size(max(entry.size, old.size))
        if self._without_split:
            return self._write_whole(root, [(entry, local)], advance)
        quoted_path, quoted_temporary = shlex.quote(path), shlex.quote(temporary)
        outcome = self.run(
            CommandSpec(
                f"cp -- {quoted_path} {quoted_temporary} && chmod u+w -- {quoted_temporary} && "
                f"split -b {block} --filter=md5sum -- {quoted_temporary}"
            )
        )
        if outcome.exit_code != 0:  # no GNU split (BusyBox, BSD), or no room for a copy
            self._without_split = b"split" in outcome.stderr
            self._discard_all(root, [temporary_name_of(temporary, root)])
            return self._write_whole(root, [(entry, local)], advance)
        remote = [line.split()[0].decode() for line in outcome.stdout.splitlines() if line]
        try:
            ours = block_digests(local, entry.size)
        except OSError as exc:
            self._discard_all(root, [temporary_name_of(temporary, root)])
            raise TransferError(f"cannot read {local}: {exc.strerror or exc}") from exc
        sftp = self.sftp()
        sent = 0
        try:
            with open(local, "rb") as source, sftp.open(_b(temporary), "r+b") as target:
                target.set_pipelined(True)
                for index in changed_blocks(ours, remote):
                    source.seek(index * block)
                    data = source.read(block)
                    target.seek(index * block)
                    target.write(data)
                    sent += len(data)
                target.truncate(entry.size)  # shorter now, or grown on the host since listed
            written = sftp.stat(_b(temporary)).st_size
            if written != entry.size:
                raise TransferError(f"{path}: the patched copy has {written} bytes of {entry.size}")
            if entry.digest is not None:
                self._verify(root, [Member(temporary_name_of(temporary, root), entry, local)])
            sftp.chmod(_b(temporary), entry.mode)
            sftp.utime(_b(temporary), (entry.mtime, entry.mtime))
            sftp.posix_rename(_b(temporary), _b(path))
        except (OSError, paramiko.SSHException, EOFError, HostError) as exc:
            self._discard(temporary)
            if isinstance(exc, HostError):
                raise
            raise _fail(f"cannot write {path}", exc) from exc
        advance(1, sent)
        return sent

    def _verify(self, root: str, members: Sequence[Member]) -> None:
        """Files whose entry carries a digest (``--checksum``) are hashed on the host before
        they take their real names: one ``sha256sum`` pass over the temporaries."""
        expected = {m.name: m.entry.digest for m in members if m.entry.digest is not None}
        if not expected:
            return
        listing = b"".join(_b(name) + b"\0" for name in expected)
        outcome = self.run(
            CommandSpec(f"cd -- {shlex.quote(root)} && xargs -0 sha256sum -z --", stdin=listing)
        )
        if outcome.exit_code != 0:
            reason = outcome.stderr.decode(errors="replace").strip() or outcome.exit_code
            raise TransferError(f"cannot checksum what was written below {root}: {reason}")
        found = _parse_sums(outcome.stdout)
        wrong = [
            m.entry.path
            for m in members
            if m.name in expected and found.get(m.name) != expected[m.name]
        ]
        if wrong:
            raise TransferError(f"content differs after writing: {', '.join(wrong[:5])}")

    def _extract(self, root: str, members: Sequence[Member], advance: Advance) -> int:
        """Stream ``members`` into ``tar -x`` in ``root``; tar's exit status vouches that every
        member was written in full (it fails on a short write or a truncated archive)."""
        local_failure: list[LocalReadError] = []
        sent = 0

        def produce(write: Write) -> None:
            nonlocal sent
            try:
                sent = write_tar(members, write, advance)
            except LocalReadError as exc:
                local_failure.append(exc)

        quoted = shlex.quote(root)
        command = f"mkdir -p -- {quoted} && cd -- {quoted} && {_TAR_EXTRACT}"
        outcome = self.run(CommandSpec(command, stdin=produce))
        if local_failure:
            raise TransferError(f"cannot read {local_failure[0]}")
        if outcome.exit_code == _COMMAND_NOT_FOUND:
            raise _NoTarError()
        if outcome.exit_code != 0:
            reason = outcome.stderr.decode(errors="replace").strip()
            raise TransferError(f"cannot write below {root}: {reason or outcome.exit_code}")
        return sent

    def _rename_all(self, root: str, placed: Sequence[tuple[str, str]]) -> None:
        """posix-rename every temporary over its real name, many requests in flight."""
        pipeline = Pipeline(self.sftp())
        failures: list[str] = []
        for temporary, real in placed:
            pipeline.send(
                CMD_EXTENDED,
                "posix-rename@openssh.com",
                _b(join_remote(root, temporary)),
                _b(join_remote(root, real)),
                on_reply=expect_ok(failures, real),
            )
        try:
            pipeline.run()
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise _fail(f"cannot rename into {root}", exc) from exc
        if failures:
            self._discard_all(root, [name for name, _ in placed])
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise TransferError(f"cannot rename {failures[0]}{more}")

    def _discard_all(self, root: str, names: Sequence[str]) -> None:
        """Best effort, one command: remove temporaries a failed batch may have left."""
        if not names:
            return
        listing = b"".join(_b(name) + b"\0" for name in names)
        with contextlib.suppress(HostError):
            self.run(
                CommandSpec(
                    f"cd {shlex.quote(root)} && xargs -0 rm -rf --", stdin=listing, timeout=60
                )
            )

    def _shell(self, command: str, what: str) -> bytes:
        outcome = self.run(CommandSpec(command))
        if outcome.exit_code != 0:
            reason = outcome.stderr.decode(errors="replace").strip() or f"exit {outcome.exit_code}"
            raise TransferError(f"{what}: {reason}")
        return outcome.stdout

    def list_tree(self, root: str, *, checksum: bool = False) -> list[Entry]:
        entries = self._walk(root) if self._without_find else self._find(root)
        if not checksum or not any(e.kind is Kind.FILE for e in entries):
            return entries
        quoted = shlex.quote(root)
        listing = self._shell(
            f"cd {quoted} && find . -mindepth 1 -type f -exec sha256sum -z -- {{}} +",
            f"cannot checksum {root}",
        )
        return with_digests(entries, _parse_sums(listing).get)

    def _find(self, root: str) -> list[Entry]:
        outcome = self.run(CommandSpec(find_command(root)))
        if outcome.exit_code == 0:
            return parse_find_output(outcome.stdout)
        reason = outcome.stderr.decode(errors="replace").strip()
        if outcome.exit_code == _COMMAND_NOT_FOUND or "printf" in reason.lower():
            self._without_find = True  # BusyBox or BSD find, or none: walk over SFTP
            return self._walk(root)
        raise TransferError(f"cannot list {root}: {reason or outcome.exit_code}")

    def _walk(self, root: str) -> list[Entry]:
        return walk_tree(self.sftp(), root)

    def list_path(self, path: str, *, missing_ok: bool = False) -> list[Entry]:
        command = path_command(path, missing_ok=missing_ok)
        return parse_find_output(self._shell(command, f"cannot read {path}"))

    def path_kind(self, path: str) -> Kind | None:
        try:
            found = self.sftp().stat(_b(path))
        except FileNotFoundError:
            return None
        except (OSError, paramiko.SSHException) as exc:
            raise _fail(f"cannot read {path}", exc) from exc
        return Kind.DIR if stat.S_ISDIR(found.st_mode or 0) else Kind.FILE

    def get_file(self, path: str, local: Path, entry: Entry) -> int:
        temporary = local.with_name(temporary_name(local.name))
        try:
            self.sftp().get(_b(path), str(temporary))
            received = temporary.stat().st_size
            if received != entry.size:
                raise TransferError(f"{path}: received {received} bytes of {entry.size}")
            os.chmod(temporary, entry.mode)
            os.utime(temporary, (entry.mtime, entry.mtime))
            os.replace(temporary, local)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            temporary.unlink(missing_ok=True)
            raise _fail(f"cannot fetch {path}", exc) from exc
        except HostError:
            temporary.unlink(missing_ok=True)
            raise
        return received

    def make_dir(self, path: str, mode: int | None = None) -> None:
        sftp = self.sftp()
        try:
            existing = sftp.stat(_b(path))
        except FileNotFoundError:
            existing = None
        except OSError as exc:
            raise _fail(f"cannot create {path}", exc) from exc
        if existing is not None and not stat.S_ISDIR(existing.st_mode or 0):
            raise TransferError(f"{path} exists and is not a directory")
        try:
            if existing is None:
                parent = path.rstrip("/").rpartition("/")[0]
                if parent and parent != path:
                    self.make_dir(parent)
                sftp.mkdir(_b(path))
            if mode is not None:
                sftp.chmod(_b(path), mode)
        except OSError as exc:
            raise _fail(f"cannot create {path}", exc) from exc

    def put_file(self, local: Path, path: str, entry: Entry) -> int:
        sftp = self.sftp()
        temporary = temporary_name(path)
        sent = 0
        try:
            with open(local, "rb") as source, sftp.open(_b(temporary), "wb") as target:
                target.set_pipelined(True)
                while chunk := source.read(_WRITE_CHUNK):
                    target.write(chunk)
                    sent += len(chunk)
            written = sftp.stat(_b(temporary)).st_size
            if written != sent:
                raise TransferError(f"{path}: wrote {written} bytes of {sent}")
            sftp.chmod(_b(temporary), entry.mode)
            sftp.utime(_b(temporary), (entry.mtime, entry.mtime))
            sftp.posix_rename(_b(temporary), _b(path))
        except (OSError, paramiko.SSHException, EOFError, HostError, UnicodeError) as exc:
            self._discard(temporary)
            if isinstance(exc, HostError):
                raise
            raise _fail(f"cannot write {path}", exc) from exc
        return sent

    def _discard(self, temporary: str) -> None:
        """Best effort: the next sync removes what this leaves (see the planner)."""
        with contextlib.suppress(OSError, paramiko.SSHException, EOFError, HostError):
            self.sftp().remove(_b(temporary))

    def make_symlink(self, target: str, path: str) -> None:
        sftp = self.sftp()
        temporary = temporary_name(path)
        try:
            sftp.symlink(_b(target), _b(temporary))
            sftp.posix_rename(_b(temporary), _b(path))
        except (OSError, paramiko.SSHException) as exc:
            self._discard(temporary)
            raise _fail(f"cannot link {path}", exc) from exc

    def set_attributes(
        self, path: str, *, mode: int | None = None, mtime: int | None = None
    ) -> None:
        sftp = self.sftp()
        try:
            if mode is not None:
                sftp.chmod(_b(path), mode)
            if mtime is not None:
                sftp.utime(_b(path), (mtime, mtime))
        except (OSError, paramiko.SSHException) as exc:
            raise _fail(f"cannot set attributes of {path}", exc) from exc

    def remove(self, path: str, kind: Kind) -> None:
        if kind is Kind.DIR:  # one round trip for a whole tree
            self._shell(f"rm -rf -- {shlex.quote(path)}", f"cannot remove {path}")
            return
        try:
            self.sftp().remove(_b(path))
        except FileNotFoundError:
            pass
        except (OSError, paramiko.SSHException) as exc:
            raise _fail(f"cannot remove {path}", exc) from exc


def _stage(
    items: Sequence[tuple[Entry, Path | None]],
) -> tuple[list[Member], list[tuple[str, str]]]:
    """Archive members under temporary names, and the (temporary, real) renames to make.

    A new folder that is the highest new one on its path is written whole under a temporary
    name and renamed once: a first copy of 100 folders costs 100 renames, not one per file.
    Files and links in folders that already exist get a temporary name each.
    """
    new_folders = {e.path for e, _ in items if e.kind is Kind.DIR}
    staged: dict[str, str] = {}  # highest new folder -> its temporary name
    members: list[Member] = []
    for entry, local in items:  # parents come before their children
        parts = entry.path.split("/")
        top = next(
            (p for p in ("/".join(parts[: i + 1]) for i in range(len(parts))) if p in new_folders),
            None,
        )
        if top is None:
            name = temporary_name(entry.path)
            staged[entry.path] = name
        else:
            if top not in staged:
                staged[top] = temporary_name(top)
            name = staged[top] + entry.path[len(top) :]
        members.append(Member(name, entry, local))
    return members, [(temporary, real) for real, temporary in staged.items()]


def temporary_name_of(temporary: str, root: str) -> str:
    """A temporary's path relative to ``root`` (for the commands that ``cd`` there)."""
    return temporary[len(root.rstrip("/")) + 1 :] if root.rstrip("/") else temporary[1:]


def _parse_sums(output: bytes) -> dict[str, str]:
    """``sha256sum -z`` output: path (without a leading ./) -> hex digest."""
    digests: dict[str, str] = {}
    for record in output.split(b"\0"):
        digest, _, name = record.partition(b"  ")
        if name:
            digests[os.fsdecode(name.removeprefix(b"./"))] = digest.decode()
    return digests


class _NoTarError(Exception):
    """The host has no tar command."""
