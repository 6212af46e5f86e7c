"""The SSH transport's batch writes: one tar stream per batch, renames pipelined on SFTP, and
big changed files sent as block deltas.

Per-file SFTP costs about seven requests per file. Here a batch of new entries goes as one
tar stream into ``tar -x`` under temporary names (a new folder whole, under one), followed by
all the renames at once: a few round trips for the batch, whatever its size. tar's exit status
vouches that every member was written in full. Hosts without tar, or without GNU ``split``
for deltas, get the per-file path of :class:`~remoteops.transports.sftp_files.SFTPFiles`.
"""

from __future__ import annotations

import contextlib
import functools
import shlex
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import paramiko
from paramiko.sftp import CMD_EXTENDED, CMD_SETSTAT, SFTP_FAILURE, SFTP_OK

from remoteops.errors import HostError, LocalReadError, TransferError, first_of
from remoteops.transports.base import CommandSpec
from remoteops.transports.blocks import DELTA_MIN_SIZE, block_digests, block_size, changed_blocks
from remoteops.transports.file_ops import (
    open_source,
    partial_batch,
    run_in_parallel,
    stage_new_folders,
)
from remoteops.transports.listing import cd_target
from remoteops.transports.sftp_files import SFTPFiles, host_bytes, parse_sums
from remoteops.transports.sftp_pipeline import Pipeline, Reply, lstat_all, status_of
from remoteops.transports.ssh_errors import LIBRARY_ERRORS
from remoteops.transports.tar_stream import Member, Write, write_tar
from remoteops.tree import Advance, Entry, Kind, join_remote, no_progress, temporary_name

#: Extraction as the login user, modes as in the archive, mtimes kept. ``-o`` is
#: --no-same-owner for GNU, BSD and BusyBox tar alike.
_TAR_EXTRACT = "tar -x -o -p -f -"
_COMMAND_NOT_FOUND = 127


class BatchWrites(SFTPFiles):
    """:meth:`write_entries` for SSH hosts: the tar stream, renames and deltas."""

    #: Set once a host turns out to have no tar; its batches then go file by file.
    _without_tar = False
    #: Set once a host's split cannot hash blocks; big changed files then go whole.
    _without_split = False

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
        jobs = [lambda: self._write_whole(root, whole, advance)]
        jobs += [
            functools.partial(self._write_delta, root, entry, local, old, advance)
            for entry, local, old in deltas
        ]
        # Deltas touch files in folders that exist, the batch makes new ones: they can overlap.
        return run_in_parallel(jobs, self.parallel_transfers)

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
        reported = [0, 0]

        def counted(files: int, size: int) -> None:
            reported[0] += files
            reported[1] += size
            advance(files, size)

        sizes: dict[str, int] = {}
        try:
            sent, trouble = self._extract(root, members, counted, sizes)
            missing = set() if trouble is None else self._unwritten(root, members, sizes)
            self._verify(root, [m for m in members if m.name not in missing])
        except _NoTarError:
            self._without_tar = True
            advance(-reported[0], -reported[1])  # the files go again, one by one
            return super().write_entries(root, items, advance)
        except BaseException:
            self._discard_all(root, [name for name, _ in placed])
            raise
        if missing:  # GNU tar went on after what it could not write: the rest takes its place
            written = [(m.name, m.entry.path) for m in members]
            batch = partial_batch(root, written, missing, placed, reason=trouble or "", sent=sent)
            self._discard_all(root, batch.discard)
            self._rename_all(root, batch.renames)
            raise batch.error
        self._rename_all(root, placed)
        return sent

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
        missing = set()
        for member, attributes in zip(members, found, strict=True):
            mode = 0 if attributes is None else attributes.st_mode or 0
            entry = member.entry
            if entry.kind is Kind.FILE:
                complete = (
                    attributes is not None
                    and stat.S_ISREG(mode)
                    and attributes.st_size == sizes.get(member.name)
                    and int(attributes.st_mtime or 0) == entry.mtime
                )
            elif entry.kind is Kind.DIR:
                complete = stat.S_ISDIR(mode)
            else:
                complete = stat.S_ISLNK(mode)
            if not complete:
                missing.add(member.name)
        return missing

    def _write_delta(
        self, root: str, entry: Entry, local: Path, old: Entry, advance: Advance
    ) -> int:
        """Send only the blocks of a big file that differ from the host's copy.

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
        block = block_size(max(entry.size, old.size))
        if self._without_split:
            return self._write_whole(root, [(entry, local)], advance)
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
            return self._write_whole(root, [(entry, local)], advance)
        remote = [line.split()[0].decode() for line in outcome.stdout.splitlines() if line]
        try:
            ours = block_digests(local, block)
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

    def _verify(self, root: str, members: Sequence[Member]) -> None:
        """Files whose entry carries a digest (``--checksum``) are hashed on the host before
        they take their real names: one ``sha256sum`` pass over the temporaries."""
        expected = {m.name: m.entry.digest for m in members if m.entry.digest is not None}
        if not expected:
            return
        listing = b"".join(host_bytes(name) + b"\0" for name in expected)
        outcome = self.run(
            CommandSpec(
                f"cd -P -- {shlex.quote(cd_target(root))} && xargs -0 sha256sum -z --",
                stdin=listing,
            )
        )
        if outcome.exit_code != 0:
            reason = outcome.stderr.decode(errors="replace").strip() or outcome.exit_code
            raise TransferError(f"cannot checksum what was written below {root}: {reason}")
        found = parse_sums(outcome.stdout)
        wrong = [
            m.entry.path
            for m in members
            if m.name in expected and found.get(m.name) != expected[m.name]
        ]
        if wrong:
            raise TransferError(f"content differs after writing: {', '.join(wrong[:5])}")

    def _extract(
        self, root: str, members: Sequence[Member], advance: Advance, sizes: dict[str, int]
    ) -> tuple[int, str | None]:
        """Stream ``members`` into ``tar -x`` in ``root``: the bytes sent, and None when tar's
        exit status vouches that every member was written in full (it fails on a short write
        or a truncated archive), else what tar said. GNU tar goes on after a member it cannot
        write and exits 2 at the end, so a failure may concern a few members only."""
        failure: list[BaseException] = []
        sent: int | None = None  # set only once the whole archive went out

        def produce(write: Write) -> None:
            nonlocal sent
            try:
                sent = write_tar(members, write, advance, sizes)
            except BaseException as exc:  # handed to the caller below, whatever it is
                failure.append(exc)

        quoted = shlex.quote(cd_target(root))
        command = f"mkdir -p -- {quoted} && cd -P -- {quoted} && {_TAR_EXTRACT}"
        outcome = self.run(CommandSpec(command, stdin=produce))
        if failure and isinstance(failure[0], LocalReadError):
            raise failure[0]
        if outcome.exit_code == _COMMAND_NOT_FOUND:
            raise _NoTarError()
        if outcome.exit_code != 0:
            reason = outcome.stderr.decode(errors="replace").strip()
            return sum(sizes.values()), reason or f"exit code {outcome.exit_code}"
        if sent is None:
            # tar accepts an archive cut at a member boundary: exit 0 is only trusted when
            # the whole archive, end marker included, was written.
            cause = failure[0] if failure else None
            raise TransferError(f"the stream to {root} stopped early: {cause!r}") from cause
        return sent, None

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

    def _discard_all(self, root: str, names: Sequence[str]) -> None:
        """Best effort, one command: remove temporaries a failed batch may have left."""
        if not names:
            return
        listing = b"".join(host_bytes(name) + b"\0" for name in names)
        with contextlib.suppress(HostError):
            self.run(
                CommandSpec(
                    f"cd -P -- {shlex.quote(cd_target(root))} && xargs -0 rm -rf --",
                    stdin=listing,
                    timeout=60,
                )
            )


def _stage(
    items: Sequence[tuple[Entry, Path | None]],
) -> tuple[list[Member], list[tuple[str, str]]]:
    """Archive members under temporary names, and the (temporary, real) renames to make:
    new folders staged whole (:func:`stage_new_folders`), other files and links each under
    a temporary name of their own."""
    placed, renames = stage_new_folders(items)
    members: list[Member] = []
    for (entry, local), staged in zip(items, placed, strict=True):
        name = staged or temporary_name(entry.path)
        if staged is None:
            renames.append((name, entry.path))
        members.append(Member(name, entry, local))
    return members, renames


class _NoTarError(Exception):
    """The host has no tar command."""
