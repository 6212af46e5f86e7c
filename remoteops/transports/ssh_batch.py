"""The SSH transport's batch writes: one tar stream per batch, renames pipelined on SFTP, and
big changed files sent as block deltas.

Per-file SFTP costs about seven requests per file. Here a batch of new entries goes as one
tar stream into ``tar -x`` under temporary names (a new folder whole, under one), followed by
all the renames at once: a few round trips for the batch, whatever its size. tar's exit status
vouches that every member was written in full. Hosts without tar, or without GNU ``split``
for deltas, get the per-file path of :class:`~remoteops.transports.sftp_files.SFTPFiles`.
"""

from __future__ import annotations

import functools
import os
import shlex
import stat
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from paramiko.sftp import CMD_EXTENDED, CMD_SETSTAT, SFTP_FAILURE, SFTP_OK

from remoteops.errors import HostError, LocalReadError, TransferError, first_of
from remoteops.transports.base import CommandSpec
from remoteops.transports.blocks import (
    CHANGED_MEANWHILE,
    DELTA_MIN_SIZE,
    DELTA_SCRIPT,
    END_OF_PATCH,
    block_digests,
    block_size,
    changed_blocks,
    coarse_block_size,
)
from remoteops.transports.file_ops import open_source, run_in_parallel
from remoteops.transports.listing import cd_target
from remoteops.transports.sftp_files import SFTPFiles
from remoteops.transports.sftp_pipeline import Pipeline, Reply, lstat_all, status_of
from remoteops.transports.shell_files import (
    COMMAND_NOT_FOUND,
    TarWrites,
    host_bytes,
    written_whole,
)
from remoteops.transports.ssh_errors import LIBRARY_ERRORS
from remoteops.transports.tar_stream import Member, Write
from remoteops.tree import Advance, Entry, Kind, join_remote, no_progress, temporary_name


class BatchWrites(TarWrites, SFTPFiles):
    """:meth:`write_entries` for SSH hosts: the tar stream (shared with other shell hosts,
    :class:`~remoteops.transports.shell_files.TarWrites`), renames over SFTP, and deltas."""

    #: Set once a host's split cannot hash blocks; big changed files then go whole.
    _without_split = False
    #: Set once a host has no ``python3``; big changed files then take split's 1 MiB blocks.
    _without_python = False
    #: (root, path) -> what the listing's scan found of a big file that differs (one host,
    #: one sync: taken once by :meth:`_write_delta`).
    _prehashed: dict[tuple[str, str], _Hashed] | None = None

    def _scan_command(self, root: str, deltas: Sequence[Entry]) -> str:
        """Hash the host's copies of big local files that differ, in the listing's command:
        :meth:`_write_delta` then needs one command, not two. A ``find`` of those files
        first: the script starts only if one of them differs in size or mtime (a sync with
        no change starts no Python on the host)."""
        wanted = [
            e for e in deltas if e.kind is Kind.FILE and e.size >= DELTA_MIN_SIZE and _plain(e.path)
        ]
        if not wanted or len(wanted) > _MAX_SCANNED or self._without_python:
            return ""
        folder = shlex.quote(cd_target(root))
        names = " ".join(shlex.quote(f"./{e.path}") for e in wanted)
        expected = shlex.quote("\n".join(f"{e.size}:{e.mtime}" for e in wanted))
        asked = " ".join(f"{shlex.quote('./' + e.path)} {e.size} {e.mtime}" for e in wanted)
        return (
            f"c=$(cd -P -- {folder} 2>/dev/null && "
            f"find {names} -maxdepth 0 -type f -printf '%s:%Ts\\n' 2>/dev/null); "
            f'if [ "$c" != {expected} ]; then '
            f"(cd -P -- {folder} && exec {_DELTA_COMMAND} scan {asked}) 2>/dev/null; fi; "
        )

    def _scanned(self, root: str, output: bytes) -> None:
        fields = output.split(b"\0")[:-1]
        found = self._prehashed = self._prehashed or {}
        for start in range(0, len(fields) - 3, 4):
            path, block, token, digests = fields[start : start + 4]
            name = os.fsdecode(path).removeprefix("./")
            found[root, name] = _Hashed(int(block), token.decode(), digests.decode().split(","))

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
        jobs = [lambda: self.write_tar_batch(root, whole, advance)]
        jobs += [
            functools.partial(self._write_delta, root, entry, local, old, advance)
            for entry, local, old in deltas
        ]
        # Deltas touch files in folders that exist, the batch makes new ones: they can overlap.
        return run_in_parallel(jobs, self.parallel_transfers)

    def _prepare_renames(self) -> None:
        self.prepare_sftp()  # for the renames, opened while the stream flows

    def _unwritten(
        self, root: str, members: Sequence[Member], sizes: Mapping[str, int]
    ) -> set[str]:
        """Members tar did not write in full, found by looking (tar's exit status says only
        that something failed; its messages are no interface): a file must have the size it
        was archived with and its mtime (set once its data is in), a folder or link must be
        there. One pipelined round of lstat requests."""
        try:
            found = lstat_all(self.sftp(), [join_remote(root, m.name) for m in members])
        except LIBRARY_ERRORS as exc:
            raise self.failure(f"cannot check what was written below {root}", exc) from exc
        return {
            member.name
            for member, attributes in zip(members, found, strict=True)
            if not written_whole(member, _as_entry(member, attributes), sizes)
        }

    def _write_delta(
        self, root: str, entry: Entry, local: Path, old: Entry, advance: Advance
    ) -> int:
        """Send only the blocks of a big file that differ from the host's copy.

        The host's blocks were hashed by the listing (:meth:`_scan_command`), or are now: the
        host copies its file to a temporary name and hashes the copy's 32 KiB blocks in the
        same pass (:data:`~remoteops.transports.blocks.DELTA_SCRIPT`). The changed blocks
        then go on the stdin of one more run of the script, which copies the file first if
        the listing hashed it (unless it changed since: then all over again), writes them
        into the copy, sets size and mode (with ``--checksum`` checks its SHA-256), then
        mtime, and renames it over the real name, as any upload. A host without ``python3``
        takes :meth:`_write_delta_split`.
        """
        if self._without_python:
            return self._write_delta_split(root, entry, local, old, advance)
        path = join_remote(root, entry.path)
        staged = temporary_name(entry.path)  # relative to root, for the commands run there
        temporary = join_remote(root, staged)
        block = block_size(max(entry.size, old.size))
        hashed = (self._prehashed or {}).pop((root, entry.path), None)
        if hashed is not None and hashed.block == block:
            remote, token = hashed.digests, hashed.token
        else:
            outcome = self.run(
                CommandSpec(_DELTA_COMMAND + " hash", stdin=_fields(path, temporary, str(block)))
            )
            if outcome.exit_code == COMMAND_NOT_FOUND:
                self._without_python = True
                return self._write_delta_split(root, entry, local, old, advance)
            if outcome.exit_code != 0:  # an unreadable host file, no room for a copy...
                self._discard_all(root, [staged])
                return self.write_tar_batch(root, [(entry, local)], advance)
            remote, token = outcome.stdout.decode(errors="replace").split(), ""
        try:
            ours = block_digests(local, block)
        except OSError as exc:
            self._discard_all(root, [staged])
            raise LocalReadError(local, exc) from exc
        changed = changed_blocks(ours, remote)
        sent = 0
        failure: list[BaseException] = []

        def produce(write: Write) -> None:
            nonlocal sent
            header = _fields(temporary, path, str(entry.size), f"{entry.mode:o}")
            header += _fields(str(entry.mtime), entry.digest or "", token)
            write(memoryview(header))
            try:
                with open(local, "rb") as source:
                    for index in changed:
                        source.seek(index * block)
                        data = source.read(block)
                        write(memoryview(_RECORD.pack(index * block, len(data)) + data))
                        sent += len(data)
            except OSError as exc:  # no end marker: the host keeps its file
                failure.append(LocalReadError(local, exc))
                return
            write(memoryview(_RECORD.pack(0, END_OF_PATCH)))

        outcome = self.run(CommandSpec(_DELTA_COMMAND + " patch", stdin=produce))
        if outcome.exit_code == CHANGED_MEANWHILE and token and not failure:
            return self._write_delta(root, entry, local, old, advance)  # hashed anew
        if outcome.exit_code != 0:
            self._discard_all(root, [staged])
            if failure:
                raise failure[0]
            reason = outcome.stderr.decode(errors="replace").strip().splitlines()
            raise TransferError(f"cannot write {path}: {reason[-1] if reason else outcome}")
        advance(1, entry.size)  # the bar counts files done, not the bytes a delta saved
        return sent

    def _write_delta_split(
        self, root: str, entry: Entry, local: Path, old: Entry, advance: Advance
    ) -> int:
        """:meth:`_write_delta` on a host without ``python3``: 1 MiB blocks.

        The host copies its file to a temporary name and hashes that copy's blocks in the same
        command (split runs its filter through $SHELL once per block, so /bin/sh, which
        starts faster than a login shell such as bash). The changed blocks are written into
        the copy over SFTP; one SETSTAT then sets size, mode and times (and with
        ``--checksum`` the copy is hashed), and it is renamed over the real name, as any
        upload. Hosts without GNU ``split --filter`` get the whole file.
        """
        path = join_remote(root, entry.path)
        staged = temporary_name(entry.path)  # relative to root, for the commands run there
        temporary = join_remote(root, staged)
        block = coarse_block_size(max(entry.size, old.size))
        if self._without_split:
            return self.write_tar_batch(root, [(entry, local)], advance)
        self.prepare_sftp()  # opened while the host copies and hashes
        quoted_path, quoted_temporary = shlex.quote(path), shlex.quote(temporary)
        outcome = self.run(
            CommandSpec(
                f"cp -- {quoted_path} {quoted_temporary} && chmod u+w -- {quoted_temporary} && "
                f"SHELL=/bin/sh split -b {block} --filter=md5sum -- {quoted_temporary}"
            )
        )
        if outcome.exit_code != 0:  # no GNU split (BusyBox, BSD), or no room for a copy
            self._without_split = b"split" in outcome.stderr
            self._discard_all(root, [staged])
            return self.write_tar_batch(root, [(entry, local)], advance)
        remote = [line.split()[0].decode() for line in outcome.stdout.splitlines() if line]
        try:
            ours = block_digests(local, block, coarse=True)
        except OSError as exc:
            self._discard_all(root, [staged])
            raise LocalReadError(local, exc) from exc
        sftp = self.sftp()
        sent = 0
        try:
            with open_source(local) as source, sftp.open(host_bytes(temporary), "r+b") as target:
                target.set_pipelined(True)
                for index in changed_blocks(ours, remote):
                    source.seek(index * block)
                    data = source.read(block)
                    target.seek(index * block)
                    target.write(data)
                    sent += len(data)
            # One request for size (shorter now, or grown on the host since listed), mode and
            # times; the writes were all acknowledged when the file closed.
            attributes = paramiko.SFTPAttributes()
            attributes.st_size, attributes.st_mode = entry.size, entry.mode
            attributes.st_atime = attributes.st_mtime = entry.mtime
            untyped: Any = sftp  # setstat with several attributes at once is private
            untyped._request(CMD_SETSTAT, host_bytes(temporary), attributes)
            if entry.digest is not None:
                self._verify(root, [Member(staged, entry, local)])
            sftp.posix_rename(host_bytes(temporary), host_bytes(path))
        except (*LIBRARY_ERRORS, HostError) as exc:
            if isinstance(exc, HostError):
                self.discard(temporary)
                raise
            failure = self.failure(f"cannot write {path}", exc, temporary, path)
            self.discard(temporary)
            raise failure from exc
        advance(1, entry.size)  # the bar counts files done, not the bytes a delta saved
        return sent

    def _rename_all(self, root: str, placed: Sequence[tuple[str, str]]) -> None:
        """posix-rename every temporary over its real name, many requests in flight."""
        pipeline = Pipeline(self.sftp())
        refused: list[tuple[str, str, int, str]] = []  # temporary, real, status, its text

        def check(temporary: str, real: str) -> Reply:
            def on_reply(kind: int, message: paramiko.Message) -> None:
                code, text = status_of(kind, message)
                if code != SFTP_OK:
                    refused.append((temporary, real, code, text))

            return on_reply

        for temporary, real in placed:
            pipeline.send(
                CMD_EXTENDED,
                "posix-rename@openssh.com",
                host_bytes(join_remote(root, temporary)),
                host_bytes(join_remote(root, real)),
                on_reply=check(temporary, real),
            )
        try:
            pipeline.run()
        except LIBRARY_ERRORS as exc:
            raise self.failure(f"cannot rename into {root}", exc) from exc
        if refused:
            failures = [f"{real}: {text}" for _, real, _, text in refused]
            temporary, real, code, _ = refused[0]
            if code == SFTP_FAILURE:  # SFTP's bare "Failure": say what is in the way
                why = self._explain(join_remote(root, temporary), join_remote(root, real))
                failures[0] += f" ({why})"
            self._discard_all(root, [name for name, _ in placed])
            raise TransferError(f"cannot rename {first_of(failures)}")


#: How the host runs :data:`~remoteops.transports.blocks.DELTA_SCRIPT` (no site packages, no
#: PYTHON* variables: only the standard library, the same on every host).
_DELTA_COMMAND = f"python3 -E -S -c {shlex.quote(DELTA_SCRIPT)}"
#: A patch record's header: offset, length.
_RECORD = struct.Struct(">QI")


#: More big files than this in a source: the listing hashes none (its command line names them).
_MAX_SCANNED = 64


@dataclass(frozen=True)
class _Hashed:
    """A host file's block digests, from the listing's scan, and its token (inode, size,
    mtime, ctime) then."""

    block: int
    token: str
    digests: list[str]


def _plain(path: str) -> bool:
    """A name the scan's command line can carry: printable, and UTF-8 (no surrogates)."""
    try:
        path.encode()
    except UnicodeEncodeError:
        return False
    return path.isprintable()


def _fields(*values: str) -> bytes:
    """NUL-ended fields for the script's stdin, paths as the host's bytes."""
    return b"".join(host_bytes(value) + b"\0" for value in values)


_KINDS = {stat.S_IFREG: Kind.FILE, stat.S_IFDIR: Kind.DIR, stat.S_IFLNK: Kind.SYMLINK}


def _as_entry(member: Member, attributes: paramiko.SFTPAttributes | None) -> Entry | None:
    """What an lstat found at a member's name, as an entry (None: nothing, or another kind
    of file)."""
    if attributes is None:
        return None
    kind = _KINDS.get(stat.S_IFMT(attributes.st_mode or 0))
    if kind is None:
        return None
    size, mtime = attributes.st_size or 0, int(attributes.st_mtime or 0)
    return Entry(member.name, kind, size, mtime, (attributes.st_mode or 0) & 0o7777)
