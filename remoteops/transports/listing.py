"""Reading a remote tree in one command: ``find`` with NUL-separated fields, parsed here.

One listing per host, whatever the tree's size, instead of a round trip per file (see the
sync issue's latency targets). NUL separators keep names with spaces, quotes, newlines and
non-UTF-8 bytes exact.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable

from remoteops.tree import Entry, Kind

#: Fields per entry (see :func:`find_printf`).
_FIELDS = 7
_KIND_LETTERS = {"f": Kind.FILE, "d": Kind.DIR, "l": Kind.SYMLINK}


def cd_target(folder: str) -> str:
    """A folder to ``cd`` into: relative names get ``./``, or ``cd`` would search ``$CDPATH``.

    Every ``cd`` of ours is ``cd -P``: ``link/..`` is then the link target's parent, as for
    mkdir, find and SFTP, not the link's own folder (the shell's logical default), so a
    command lands where the destination check resolved the path to."""
    if folder in (".", "..") or folder.startswith(("/", "./", "../")):
        return folder
    return f"./{folder}"


def find_printf(path: str) -> str:
    """The ``-printf`` of every listing, :func:`parse_find_output` reads it: type letter,
    size, mtime, ctime, octal mode, the path as ``%{path}`` gives it (``P`` below the root,
    ``f`` the base name, ``p`` as found), link target; each field ended by a NUL. The ctime
    tells a temporary still being written from a leftover (see the planner)."""
    return f"-printf '%y\\0%s\\0%T@\\0%C@\\0%m\\0%{path}\\0%l\\0'"


def find_command(root: str) -> str:
    """The POSIX shell command that lists ``root`` (GNU or busybox find with -printf).

    A missing root prints nothing and succeeds (the first sync creates it); a root that is not
    a directory is reported on stderr with exit code 3.
    """
    quoted = shlex.quote(root if root.startswith(("/", "./")) else f"./{root}")  # not -name
    return (
        f"if [ -e {quoted} ] && [ ! -d {quoted} ]; then echo 'not a directory' >&2; exit 3; fi; "
        f"[ -d {quoted} ] || exit 0; "
        f"find -H {quoted} -mindepth 1 {find_printf('P')}"
    )


def where_command(path: str) -> str:
    """Print the login folder (``pwd -P`` where the command starts) and ``path`` as the host
    resolves it (its longest part that is a folder, entered with ``cd -P``, and the rest
    joined), each ended by a NUL; empty where ``cd``/``pwd`` fail. What SFTP's ``realpath``
    answers, without an SFTP session: a sync's destination check rides on its listing."""
    quoted = shlex.quote(cd_target(path))  # cd searches $CDPATH for other relative names
    return (
        "h=$(pwd -P && printf x); "
        f"p={quoted}; r=; "
        'while [ ! -d "$p" ] && [ "$p" != / ] && [ "$p" != . ]; do '
        'q=${p%/*}; [ "$q" = "$p" ] && q=.; r=/${p##*/}$r; p=${q:-/}; done; '
        'd=$(cd -P -- "$p" && pwd -P && printf x); '
        'printf \'%s\\0\' "${h%?x}" "${d%?x}${d:+$r}"; '
    )


def split_where(data: bytes) -> tuple[str, str, bytes]:
    """The two fields :func:`where_command` printed, and the rest of the output."""
    home, _, rest = data.partition(b"\0")
    resolved, _, rest = rest.partition(b"\0")
    decoded = home.decode("utf-8", "surrogateescape"), resolved.decode("utf-8", "surrogateescape")
    return (*decoded, rest)


def children_command(folder: str, pattern: str = "*") -> str:
    """List the entries directly in ``folder`` (a link to a folder is entered) whose names
    match the glob ``pattern``, named as in the folder; a missing folder lists nothing."""
    quoted = shlex.quote(folder if folder.startswith(("/", "./")) else f"./{folder}")
    return (
        f"[ -d {quoted} ] || exit 0; "
        f"find -H {quoted} -mindepth 1 -maxdepth 1 -name {shlex.quote(pattern)} " + find_printf("f")
    )


def path_command(path: str, *, missing_ok: bool = False, follow: bool = False) -> str:
    """List ``path`` itself (file, link or folder) and all below it, named from its basename.

    Used by ``get`` and ``put``: entries come out as ``name``, ``name/sub/file``..., ready to
    be placed under a folder. A missing path is exit code 4, or no output with ``missing_ok``.
    With ``follow``, a ``path`` that is a symlink is listed as what it points to (``get``
    copies the folder a link names, as scp and pslurp do); links below are never followed.
    """
    parent, _, name = path.rstrip("/").rpartition("/")
    if not parent:
        parent = "/" if path.startswith("/") else "."
    parent = cd_target(parent)
    quoted_parent, quoted_name = shlex.quote(parent), shlex.quote(f"./{name}")
    missing = "exit 0" if missing_ok else "exit 4"
    return (
        f"cd -P -- {quoted_parent} 2>/dev/null || {{ echo 'no such directory' >&2; {missing}; }}; "
        f"[ -e {quoted_name} ] || [ -L {quoted_name} ] || "
        f"{{ echo 'no such file or directory' >&2; {missing}; }}; "
        f"find {'-H ' if follow else ''}{quoted_name} {find_printf('p')}"  # ./name...
    )


def parse_find_output(data: bytes) -> list[Entry]:
    """Entries from a listing of :func:`find_printf`; other file types are left out."""
    # Decoded once, whole: NUL never occurs inside a UTF-8 sequence, so splitting after
    # decoding is the same, and names that are not UTF-8 keep their bytes as surrogates
    # (os.fsdecode per name cost more than the rest of the parse here).
    fields = data.decode("utf-8", "surrogateescape").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    if len(fields) % _FIELDS:
        raise ValueError(f"truncated find listing ({len(fields)} fields)")
    entries: list[Entry] = []
    known = _PARSED
    if len(known) > _PARSED_KEPT:
        known.clear()
    for start in range(0, len(fields), _FIELDS):
        record = fields[start : start + _FIELDS]
        path = record[5]
        # The ctime tells only a temporary's age (see the planner): for any other entry it
        # is left out of the key, so hosts with the same tree share their entries.
        key = tuple(record) if ".remoteops-" in path else (*record[:3], *record[4:])
        entry = known.get(key)
        if entry is None:
            entry = _entry(record)
            if entry is None:
                continue
            known[key] = entry
        entries.append(entry)
    return entries


#: Entries parsed from listings, by their fields: the hosts of a fleet list the same tree,
#: and building an Entry was most of a listing's parse (20 ms for 2,100 entries; a lookup
#: of the fields costs a tenth of that).
_PARSED: dict[tuple[str, ...], Entry] = {}
_PARSED_KEPT = 200_000


def _entry(record: list[str]) -> Entry | None:
    """One entry of a :func:`find_printf` listing; None for other file types."""
    kind_letter, size, mtime, ctime, mode, path, target = record
    kind = _KIND_LETTERS.get(kind_letter)
    if kind is None:
        return None
    return Entry(
        path.removeprefix("./"),
        kind,
        int(size) if kind is Kind.FILE else 0,
        int(mtime.partition(".")[0]),
        int(mode, 8),
        target if kind is Kind.SYMLINK else None,
        changed=int(ctime.partition(".")[0]),
    )


def with_digests(entries: list[Entry], digest_of: Callable[[str], str | None]) -> list[Entry]:
    """The entries with each file's content digest filled in (``--checksum``)."""
    return [
        dataclasses.replace(e, digest=digest_of(e.path)) if e.kind is Kind.FILE else e
        for e in entries
    ]
