"""File operations made of shell commands on the host: what SSH and container hosts share.

:class:`ShellListing` lists with one ``find -printf`` per tree (and hashes with ``sha256sum``);
:class:`TarWrites` writes a batch of entries as one tar stream into ``tar -x`` under temporary
names, checks what a failed stream left, renames the rest into place and removes leftovers.
Both need only :meth:`~remoteops.transports.base.CommandTransport.run`: SSH pairs them with
SFTP (renames, a walk where ``find`` cannot list, deltas), a container host
(:mod:`remoteops.transports.container`) with more shell commands
(:class:`~remoteops.transports.exec_files.ExecFiles`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from remoteops.errors import HostError, LocalReadError, TransferError
from remoteops.transports.base import CommandSpec, CommandTransport, FileTransport, Whereabouts
from remoteops.transports.file_ops import partial_batch, stage_new_folders
from remoteops.transports.listing import (
    cd_target,
    children_command,
    find_command,
    parse_find_output,
    path_command,
    split_where,
    where_command,
    with_digests,
)
from remoteops.transports.tar_stream import Member, Write, write_tar
from remoteops.tree import Advance, Entry, Kind, no_progress, temporary_name

#: Extraction as the login user, modes as in the archive, mtimes kept. ``-o`` is
#: --no-same-owner for GNU, BSD and BusyBox tar alike.
TAR_EXTRACT = "tar -x -o -p -f -"
#: What a listing prints first where nothing is at its root: no listing or scan output
#: starts so (``find -printf %y`` letters are lower case, a scan starts with ``B``).
_ABSENT = b"M"
COMMAND_NOT_FOUND = 127


def host_bytes(path: str) -> bytes:
    """Paths as the host's bytes: names that are not UTF-8 arrive with surrogate escapes,
    which paramiko would refuse to encode."""
    return os.fsencode(path)


def parse_sums(output: bytes) -> dict[str, str]:
    """``sha256sum -z`` output: path (without a leading ./) -> hex digest."""
    digests: dict[str, str] = {}
    for record in output.split(b"\0"):
        digest, _, name = record.partition(b"  ")
        if name:
            digests[os.fsdecode(name.removeprefix(b"./"))] = digest.decode()
    return digests


def nul_list(names: Sequence[str]) -> bytes:
    """``names`` as ``xargs -0`` reads them on stdin (never in a command line: no length
    limit, no quoting)."""
    return b"".join(host_bytes(name) + b"\0" for name in names)


class ShellListing(FileTransport, CommandTransport):
    """Listings through ``find -printf`` on the host; a host whose find cannot (BusyBox or
    BSD find, or none) is walked by :meth:`_walk` and friends, which the transport gives."""

    #: Set once a host's find cannot list for us; its listings then take the walk.
    _without_find = False

    def _shell(self, command: str, what: str) -> bytes:
        """``command``'s stdout; a failure is the host's refusal, said with ``what``."""
        outcome = self.run(CommandSpec(command))
        if outcome.exit_code != 0:
            reason = outcome.stderr.decode(errors="replace").strip() or f"exit {outcome.exit_code}"
            raise TransferError(f"{what}: {reason}")
        return outcome.stdout

    def _found(self, command: str, what: str) -> list[Entry] | None:
        """The entries a ``find -printf`` command lists; None once this host's find cannot,
        and from then on for every listing: the caller walks instead."""
        listed = self._found_output(command, what)
        return None if listed is None else parse_find_output(listed)

    def _found_output(self, command: str, what: str) -> bytes | None:
        """:meth:`_found`'s output, unparsed."""
        if self._without_find:
            return None
        outcome = self.run(CommandSpec(command))
        if outcome.exit_code == 0:
            return outcome.stdout
        reason = outcome.stderr.decode(errors="replace").strip()
        if outcome.exit_code == COMMAND_NOT_FOUND or "printf" in reason.lower():
            self._without_find = True
            return None
        raise TransferError(f"{what}: {reason or outcome.exit_code}")

    @abstractmethod
    def _walk(self, root: str) -> list[Entry]:
        """:meth:`list_tree` without ``find -printf``."""

    @abstractmethod
    def _walk_path(self, path: str, *, missing_ok: bool, follow: bool) -> list[Entry]:
        """:meth:`list_path` without ``find -printf``."""

    @abstractmethod
    def _walk_children(self, folder: str, pattern: str) -> list[Entry]:
        """:meth:`list_children` without ``find -printf``."""

    def list_tree(self, root: str, *, checksum: bool = False) -> list[Entry]:
        found = self._found(find_command(root), f"cannot list {root}")
        entries = self._walk(root) if found is None else found
        return self._with_checksums(root, entries) if checksum else entries

    def list_tree_where(
        self, root: str, *, checksum: bool = False, deltas: Sequence[Entry] = ()
    ) -> Whereabouts | None:
        """One command: :func:`~remoteops.transports.listing.where_command`, what
        :meth:`_scan_command` adds, then the listing."""
        scan = self._scan_command(root, deltas)
        quoted = shlex.quote(cd_target(root))
        absent = f"[ -e {quoted} ] || [ -L {quoted} ] || printf {_ABSENT.decode()}; "
        command = where_command(root) + absent + scan + find_command(root)
        listed = self._found_output(command, f"cannot list {root}")
        if listed is None:
            return None
        home, resolved, rest = split_where(listed)
        if rest.startswith(_ABSENT):  # then nothing follows: no scan, no entries
            return Whereabouts(home, resolved, [], missing=True)
        if scan and rest.startswith(b"B"):
            size, _, rest = rest[1:].partition(b"\n")
            length = int(size)
            if rest[length : length + 1] != b"E":
                raise TransferError(f"cannot list {root}: the block digests came garbled")
            self._scanned(root, rest[:length])
            rest = rest[length + 1 :]
        entries = parse_find_output(rest)
        if checksum:
            entries = self._with_checksums(root, entries)
        return Whereabouts(home, resolved, entries)

    def _scan_command(self, root: str, deltas: Sequence[Entry]) -> str:
        """Shell code the listing of ``root`` runs first: where the transport
        sends big changed files as deltas, the hashing of the host's copies of ``deltas``
        (local files) that differ, printed as ``B<length>\\n...E``; nothing here."""
        return ""

    def _scanned(self, root: str, output: bytes) -> None:
        """What :meth:`_scan_command`'s code printed below ``root``, without its framing."""

    def _with_checksums(self, root: str, entries: list[Entry]) -> list[Entry]:
        """The entries with each file's SHA-256 as the host computes it (``--checksum``)."""
        if not any(e.kind is Kind.FILE for e in entries):
            return entries
        quoted = shlex.quote(cd_target(root))
        listing = self._shell(
            f"cd -P -- {quoted} && find . -mindepth 1 -type f -exec sha256sum -z -- {{}} +",
            f"cannot checksum {root}",
        )
        return with_digests(entries, parse_sums(listing).get)

    def list_path(
        self, path: str, *, missing_ok: bool = False, follow: bool = False
    ) -> list[Entry]:
        command = path_command(path, missing_ok=missing_ok, follow=follow)
        found = self._found(command, f"cannot read {path}")
        if found is not None:
            return found
        return self._walk_path(path, missing_ok=missing_ok, follow=follow)

    def list_children(self, folder: str, pattern: str = "*") -> list[Entry]:
        found = self._found(children_command(folder, pattern), f"cannot list {folder}")
        return self._walk_children(folder, pattern) if found is None else found


def written_whole(member: Member, found: Entry | None, sizes: Mapping[str, int]) -> bool:
    """Whether tar wrote ``member`` in full, by what the host shows at its name (tar's exit
    status says only that something failed; its messages are no interface): a file has the
    size it was archived with and its mtime (set once its data is in), a folder or link is
    there."""
    if found is None:
        return False
    if member.entry.kind is Kind.FILE:
        return (
            found.kind is Kind.FILE
            and found.size == sizes.get(member.name)
            and found.mtime == member.entry.mtime
        )
    return found.kind is member.entry.kind


class NoTarError(Exception):
    """The host has no tar command."""


class TarWrites(ShellListing):
    """A batch of entries as one tar stream into ``tar -x`` under temporary names, then
    renamed into place: a few commands for the batch, whatever its size. tar's exit status
    vouches that every member was written in full; when it fails, :meth:`_unwritten` looks
    at what is there and the rest still takes its real name (see
    :func:`~remoteops.transports.file_ops.partial_batch`).

    The transport gives how to look (:meth:`_unwritten`) and to rename (:meth:`_rename_all`);
    hosts without tar get :class:`FileTransport`'s one operation per entry.
    """

    #: Set once a host turns out to have no tar; its batches then go file by file.
    _without_tar = False
    #: Set once a tar command's first ``mv -T`` failed; renames then go the transport's way.
    _without_mv = False

    def write_entries(
        self,
        root: str,
        items: Sequence[tuple[Entry, Path | None]],
        advance: Advance = no_progress,
        *,
        basis: Mapping[str, Entry] | None = None,
    ) -> int:
        return self.write_tar_batch(root, items, advance)

    def _prepare_renames(self) -> None:
        """Start what :meth:`_rename_all` needs while the stream flows (an SFTP session)."""

    @abstractmethod
    def _unwritten(
        self, root: str, members: Sequence[Member], sizes: Mapping[str, int]
    ) -> set[str]:
        """The members tar did not write in full (by name below ``root``)."""

    @abstractmethod
    def _rename_all(self, root: str, placed: Sequence[tuple[str, str]]) -> None:
        """Rename every (temporary, real) pair below ``root``; on a refusal, remove every
        temporary of the batch and raise :class:`TransferError`."""

    def write_tar_batch(
        self,
        root: str,
        items: Sequence[tuple[Entry, Path | None]],
        advance: Advance,
        *,
        make_root: bool = True,
    ) -> int:
        """New and small files, folders and links: one tar stream, then the renames.
        ``root`` is made if missing, unless ``make_root`` is false (a put's folder must be
        there, as over SFTP)."""
        if not items:
            return 0
        if self._without_tar:
            return FileTransport.write_entries(self, root, items, advance)
        members, placed = _stage(items)
        parts = _reserve_streams(members)
        in_command = self._renames_in_command(members, placed) if len(parts) == 1 else []
        if len(in_command) < len(placed):
            self._prepare_renames()
        renamed = [0]  # how many of in_command the tar command made
        reported = [0, 0]
        lock = threading.Lock()

        def counted(files: int, size: int) -> None:
            with lock:
                reported[0] += files
                reported[1] += size
            advance(files, size)

        sizes: dict[str, int] = {}

        def extract(part: Sequence[Member]) -> tuple[int, str | None]:
            own: dict[str, int] = {}  # a failed stream counts its own as sent
            try:
                sent, trouble, renamed[0] = self._extract(
                    root, part, counted, own, make_root, renames=in_command
                )
                return sent, trouble
            finally:
                with lock:
                    sizes.update(own)

        try:
            try:
                sent, trouble = _extracted_in_parallel(extract, parts)
            finally:
                _release_streams(len(parts))
            missing = set() if trouble is None else self._unwritten(root, members, sizes)
            self._verify(root, [m for m in members if m.name not in missing])
        except NoTarError:
            self._without_tar = True
            advance(-reported[0], -reported[1])  # the files go again, one by one
            return FileTransport.write_entries(self, root, items, advance)
        except BaseException:
            self._discard_all(root, [name for name, _ in placed])
            raise
        if missing:  # GNU tar went on after what it could not write: the rest takes its place
            written = [(m.name, m.entry.path) for m in members]
            batch = partial_batch(root, written, missing, placed, reason=trouble or "", sent=sent)
            self._discard_all(root, batch.discard)
            self._rename_all(root, batch.renames)
            raise batch.error
        if placed[renamed[0] :]:
            self._rename_all(root, placed[renamed[0] :])
        return sent

    def _renames_in_command(
        self, members: Sequence[Member], placed: Sequence[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """The renames the tar command makes itself once tar is done (``mv -T``, a
        rename(2) that never moves into a folder in the way): a small batch of files and
        links, as a re-sync's usually is. A rename then costs no round trip, and the batch
        no SFTP session (three round trips, opened beside the stream, and a process on the
        host). Not for new folders (staged whole: renamed only once the stream is known
        complete), nor with ``--checksum`` (temporaries are hashed before they take their
        names); names only that the command line carries (printable UTF-8)."""
        if (
            self._without_mv
            or len(placed) > SHELL_RENAMES
            or any(m.entry.kind is Kind.DIR or m.entry.digest is not None for m in members)
        ):
            return []
        names = [name for pair in placed for name in pair]
        if not all(name.isprintable() and _utf8(name) for name in names):
            return []
        return list(placed)

    def _verify(self, root: str, members: Sequence[Member]) -> None:
        """Files whose entry carries a digest (``--checksum``) are hashed on the host before
        they take their real names: one ``sha256sum`` pass over the temporaries."""
        expected = {m.name: m.entry.digest for m in members if m.entry.digest is not None}
        if not expected:
            return
        outcome = self.run(
            CommandSpec(
                f"cd -P -- {shlex.quote(cd_target(root))} && xargs -0 sha256sum -z --",
                stdin=nul_list(list(expected)),
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
        self,
        root: str,
        members: Sequence[Member],
        advance: Advance,
        sizes: dict[str, int],
        make_root: bool = True,
        *,
        renames: Sequence[tuple[str, str]] = (),
    ) -> tuple[int, str | None, int]:
        """Stream ``members`` into ``tar -x`` in ``root``: the bytes sent, and None when tar's
        exit status vouches that every member was written in full (it fails on a short write
        or a truncated archive), else what tar said. GNU tar goes on after a member it cannot
        write and exits 2 at the end, so a failure may concern a few members only.

        ``renames`` (see :meth:`_renames_in_command`) are made by the same command once tar
        succeeded and the last member is there (an archive cut at a member boundary is no
        failure for tar), in order, up to the first that fails; the third value is how
        many were made (none where tar failed)."""
        failure: list[BaseException] = []
        sent: int | None = None  # set only once the whole archive went out

        def produce(write: Write) -> None:
            nonlocal sent
            try:
                sent = write_tar(members, write, advance, sizes)
            except BaseException as exc:  # handed to the caller below, whatever it is
                failure.append(exc)

        quoted = shlex.quote(cd_target(root))
        command = f"cd -P -- {quoted} && {TAR_EXTRACT}"
        if make_root:
            command = f"mkdir -p -- {quoted} && {command}"
        if renames:
            last = shlex.quote(members[-1].name)
            command += f" && {{ [ -e {last} ] || [ -L {last} ] || exit {_CUT_SHORT}; }}"
        for index, (temporary, real) in enumerate(renames):
            move = f"mv -f -T -- {shlex.quote(temporary)} {shlex.quote(real)}"
            command += f" && {{ {move} || exit {_RENAME_FAILED + index}; }}"
        outcome = self.run(CommandSpec(command, stdin=produce))
        if failure and isinstance(failure[0], LocalReadError):
            raise failure[0]
        code, made = outcome.exit_code, len(renames)
        if renames and code == _CUT_SHORT and sent is None:  # tar took the cut for the end
            code, made = 0, 0
        if code is not None and renames and 0 <= code - _RENAME_FAILED < len(renames):
            made = code - _RENAME_FAILED  # the rest go the transport's way, which says why
            self._without_mv = made == 0  # perhaps no mv -T here: not asked again
            code = 0
        if code == COMMAND_NOT_FOUND:
            raise NoTarError()
        if code != 0:
            reason = outcome.stderr.decode(errors="replace").strip()
            return sum(sizes.values()), reason or f"exit code {outcome.exit_code}", 0
        if sent is None:
            # tar accepts an archive cut at a member boundary: exit 0 is only trusted when
            # the whole archive, end marker included, was written.
            cause = failure[0] if failure else None
            raise TransferError(f"the stream to {root} stopped early: {cause!r}") from cause
        return sent, None, made

    def _discard_all(self, root: str, names: Sequence[str]) -> None:
        """Best effort, one command: remove temporaries a failed batch may have left."""
        if not names:
            return
        with contextlib.suppress(HostError):
            self.run(
                CommandSpec(
                    f"cd -P -- {shlex.quote(cd_target(root))} && xargs -0 rm -rf --",
                    stdin=nul_list(names),
                    timeout=60,
                )
            )


#: Renames a tar command makes itself at most (see :meth:`TarWrites._renames_in_command`):
#: each is an ``mv`` process on the host, where SFTP makes any number in one round trip.
SHELL_RENAMES = 8
#: The tar command's exit status when its last member is missing (the stream was cut).
_CUT_SHORT = 99
#: The tar command's exit status when its rename number N failed: this plus N.
_RENAME_FAILED = 100


def _utf8(name: str) -> bool:
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


#: Files from this size on may go in tar streams of their own, beside the batch's main one.
STREAM_MIN_BYTES = 4 * 1024 * 1024
#: Tar streams per batch at most: the main one and up to three for big files.
MAX_STREAMS = 4


#: Tar streams this process runs at once past which a batch gets no streams of its own for
#: its big files. Streams beside the main one pay where one channel's window is the limit
#: (few hosts, far away); with many hosts at once the CPU is, and more streams only add
#: threads and processes: 10 hosts at 25 ms, each split in four, measured no faster and
#: 8% more client CPU than one stream each.
STREAM_BUDGET = 8
_ACTIVE_STREAMS = [0]
_ACTIVE_LOCK = threading.Lock()


def _reserve_streams(members: Sequence[Member]) -> list[list[Member]]:
    """:func:`_streams` within what :data:`STREAM_BUDGET` leaves, counted as running until
    :func:`_release_streams`."""
    with _ACTIVE_LOCK:
        spare = min(MAX_STREAMS - 1, STREAM_BUDGET - _ACTIVE_STREAMS[0] - 1)
        parts = _streams(members, max(0, spare))
        _ACTIVE_STREAMS[0] += len(parts)
    return parts


def _release_streams(count: int) -> None:
    with _ACTIVE_LOCK:
        _ACTIVE_STREAMS[0] -= count


def _streams(members: Sequence[Member], spare: int = MAX_STREAMS - 1) -> list[list[Member]]:
    """``members`` cut into the tar streams that carry them at once, each on a channel of
    its own: big files that land in a folder already there (each under its own temporary
    name) spread over up to ``spare`` more streams by size, the rest (new folders whole
    with all they hold, small files, links) in the first, in order.

    One SSH channel carries at most the server's window per round trip (OpenSSH: 2 MiB, so
    about 30 MB/s at 25 ms each way), so a host's big files in one stream with the small
    ones waited for each other: measured on 10 hosts at 25 ms, the 100 MB of big files went
    at the window's pace, then 2,000 small files at the pace of the host's file creation,
    one after the other. Side by side, each waits less.
    """
    made = {m.name for m in members if m.entry.kind is Kind.DIR}
    big = [
        m
        for m in members
        if m.entry.kind is Kind.FILE
        and m.entry.size >= STREAM_MIN_BYTES
        and m.name.rpartition("/")[0] not in made
    ]
    if not big or spare < 1:
        return [list(members)]
    separate = {id(m) for m in big}
    main = [m for m in members if id(m) not in separate]
    others: list[list[Member]] = [[] for _ in range(min(spare, len(big)))]
    loads = [0] * len(others)
    for member in sorted(big, key=lambda m: -m.entry.size):  # largest first, to the least
        least = loads.index(min(loads))
        others[least].append(member)
        loads[least] += member.entry.size
    return [part for part in (main, *others) if part]


def _extracted_in_parallel(
    extract: Callable[[Sequence[Member]], tuple[int, str | None]],
    parts: Sequence[Sequence[Member]],
) -> tuple[int, str | None]:
    """``extract`` of every part at once: the bytes sent, and what tar said where it failed
    (None when every stream's tar vouched for all its members). Every stream runs to its
    end; an exception of one is raised then (the first, in the parts' order)."""
    if len(parts) == 1:
        return extract(parts[0])
    with ThreadPoolExecutor(len(parts), thread_name_prefix="remoteops-tar") as pool:
        futures = [pool.submit(extract, part) for part in parts]
        wait(futures)
    for future in futures:
        failure = future.exception()
        if failure is not None:
            raise failure
    results = [future.result() for future in futures]
    troubles = [trouble for _, trouble in results if trouble is not None]
    return sum(sent for sent, _ in results), "\n".join(troubles) if troubles else None


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


__all__ = [
    "COMMAND_NOT_FOUND",
    "TAR_EXTRACT",
    "NoTarError",
    "ShellListing",
    "TarWrites",
    "host_bytes",
    "nul_list",
    "parse_sums",
    "written_whole",
]
