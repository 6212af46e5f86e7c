"""File operations of a host that has nothing but a shell: a container reached through
``podman exec``/``docker exec`` (no SFTP server, no second channel).

Everything is a shell command through :meth:`~remoteops.transports.base.CommandTransport.run`:
listings and batch writes as on SSH (:mod:`~remoteops.transports.shell_files`: one ``find``,
one tar stream into temporaries renamed into place, leftovers removed), renames with
``mv -T`` (rename(2): atomic, never into a folder in the way), reads as a byte stream from
an offset (so a cut-off get resumes). Paths are relative to the exec user's home, as SFTP's
are to the login's. Needs GNU ``find``, ``tar``, ``mv``, ``tail``/``head``, ``readlink -f``
and ``touch -d @``: coreutils, findutils and tar, as in Debian's minbase.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from remoteops.errors import TransferError
from remoteops.transports.base import CommandSpec
from remoteops.transports.file_ops import Received, open_partial, receive_atomically
from remoteops.transports.listing import cd_target, find_printf, parse_find_output
from remoteops.transports.shell_files import TarWrites, nul_list, written_whole
from remoteops.transports.tar_stream import Member
from remoteops.tree import Entry, Kind, no_progress, temporary_name

#: Bytes of stdout a get keeps besides what it writes to disk (its stderr is what counts).
_KEPT = 64 * 1024


def _quoted(path: str) -> str:
    """``path`` for a command line: a leading ``-`` can never read as an option."""
    return shlex.quote(path if path.startswith("/") else cd_target(path))


class ExecFiles(TarWrites):
    """The files capability from shell commands alone."""

    def _walk(self, root: str) -> list[Entry]:
        raise self._no_find()

    def _walk_path(self, path: str, *, missing_ok: bool, follow: bool) -> list[Entry]:
        raise self._no_find()

    def _walk_children(self, folder: str, pattern: str) -> list[Entry]:
        raise self._no_find()

    @staticmethod
    def _no_find() -> TransferError:
        return TransferError("cannot list: the host's find has no -printf (GNU findutils needed)")

    def _unwritten(
        self, root: str, members: Sequence[Member], sizes: Mapping[str, int]
    ) -> set[str]:
        """One ``find -maxdepth 0`` over every member's name (fed on stdin)."""
        lister = f'exec find "$@" -maxdepth 0 {find_printf("p")}'
        outcome = self.run(
            CommandSpec(
                f"cd -P -- {_quoted(root)} && xargs -0 sh -c {shlex.quote(lister)} sh",
                stdin=nul_list([cd_target(m.name) for m in members]),
            )
        )  # a member not there is find's complaint (exit 1): its absence is the answer
        found = {e.path: e for e in parse_find_output(outcome.stdout)}
        return {m.name for m in members if not written_whole(m, found.get(m.name), sizes)}

    def _rename_all(self, root: str, placed: Sequence[tuple[str, str]]) -> None:
        if not placed:
            return
        names = [cd_target(name) for pair in placed for name in pair]
        outcome = self.run(
            CommandSpec(
                f"cd -P -- {_quoted(root)} && xargs -0 -n 2 mv -f -T --", stdin=nul_list(names)
            )
        )
        if outcome.exit_code != 0:
            self._discard_all(root, [temporary for temporary, _ in placed])
            reason = outcome.stderr.decode(errors="replace").strip().splitlines()
            raise TransferError(
                f"cannot rename into {root}: {reason[0] if reason else outcome.exit_code}"
            )

    def get_file(self, path: str, local: Path, entry: Entry) -> Received:
        def fetch(temporary: Path, offset: int) -> tuple[int, str | None]:
            wanted = entry.size - offset
            # one byte more than listed tells a file that grew; tail seeks to the offset
            command = (
                f"exec < {_quoted(path)} || exit 2; tail -c +{offset + 1} | head -c {wanted + 1}"
            )
            with open_partial(temporary, offset) as target:
                taken = 0
                grown = False

                def write(stream: str, data: bytes) -> None:
                    nonlocal taken, grown
                    if stream != "stdout":
                        return
                    room = wanted - taken
                    if len(data) > room:
                        grown = True
                    if room > 0:
                        target.write(data[:room])
                        taken += min(room, len(data))

                outcome = self.run(CommandSpec(command, capture_limit=_KEPT), write)
            if outcome.exit_code != 0:
                reason = outcome.stderr.decode(errors="replace").strip()
                raise TransferError(f"cannot fetch {path}: {reason or outcome.exit_code}")
            return offset, "grew" if grown else None

        return receive_atomically(path, local, entry, fetch)

    def put_file(self, local: Path, path: str, entry: Entry) -> int:
        parent, _, name = path.rstrip("/").rpartition("/")
        folder = parent or ("/" if path.startswith("/") else ".")
        item = (dataclasses.replace(entry, path=name), local)
        return self.write_tar_batch(folder, [item], no_progress, make_root=False)

    def home_dir(self) -> str:
        return self._shell("pwd -P", "cannot learn the home folder").decode().strip()

    def real_path(self, path: str) -> str | None:
        outcome = self.run(CommandSpec(f"readlink -f -- {_quoted(path or '.')}"))
        found = outcome.stdout.decode(errors="surrogateescape").removesuffix("\n")
        return found if outcome.exit_code == 0 and found.startswith("/") else None

    def path_kind(self, path: str) -> Kind | None:
        quoted = _quoted(path)
        said = self._shell(
            f"if [ -d {quoted} ]; then echo d; elif [ -e {quoted} ]; then echo f; fi",
            f"cannot read {path}",
        )
        return {b"d": Kind.DIR, b"f": Kind.FILE}.get(said.strip())

    def make_dir(self, path: str, mode: int | None = None) -> None:
        quoted = _quoted(path)
        chmod = "" if mode is None else f" && chmod {mode:o} -- {quoted}"
        self._shell(
            f"if [ -e {quoted} ] || [ -L {quoted} ]; then [ -d {quoted} ] || "
            f"{{ echo 'exists and is not a directory' >&2; exit 1; }}; fi; "
            f"mkdir -p -- {quoted}{chmod}",
            f"cannot create {path}",
        )

    def make_symlink(self, target: str, path: str) -> None:
        quoted, staged = _quoted(path), _quoted(temporary_name(path))
        self._shell(
            f"ln -s -- {shlex.quote(target)} {staged} && mv -f -T -- {staged} {quoted} "
            f"|| {{ rc=$?; rm -f -- {staged}; exit $rc; }}",
            f"cannot link {path}",
        )

    def rename_path(self, old: str, new: str) -> None:
        self._shell(f"mv -f -T -- {_quoted(old)} {_quoted(new)}", f"cannot rename {old} to {new}")

    def set_attributes(
        self, path: str, *, mode: int | None = None, mtime: int | None = None
    ) -> None:
        quoted = _quoted(path)
        steps = [] if mode is None else [f"chmod {mode:o} -- {quoted}"]
        if mtime is not None:
            steps.append(f"touch -h -d @{mtime} -- {quoted}")
        if steps:
            self._shell(" && ".join(steps), f"cannot set attributes of {path}")

    def remove(self, path: str, kind: Kind) -> None:
        quoted = _quoted(path)
        if kind is Kind.DIR:  # read-only folders included
            command = f"chmod -R u+w -- {quoted} 2>/dev/null; rm -rf -- {quoted}"
        else:
            command = f"rm -f -- {quoted}"
        self._shell(command, f"cannot remove {path}")


__all__ = ["ExecFiles"]
