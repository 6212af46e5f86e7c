"""Remote paths as each host sees them: ``~`` expanded, and destinations that are a system or
home folder refused (without ``force``) however they are spelled.

A destination is judged twice: as written, made absolute and normalised (``/etc/.``,
``//etc``, ``/usr/../etc`` are ``/etc``), and as the host resolves it (a symlink to ``/etc``
is ``/etc``, and so is ``current/..`` where ``current`` is a link into it). Either being a
protected folder refuses the host before anything is listed or written.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from remoteops.errors import ConfigurationError, TransferError
from remoteops.transports.base import FileTransport, Whereabouts
from remoteops.tree import Entry, join_remote

#: Top-level folders of the Filesystem Hierarchy Standard, and the usual extras: a sync there
#: (with --delete, above all) replaces part of the system. Every /lib* counts too.
_SYSTEM = frozenset(
    {"bin", "boot", "dev", "etc", "home", "media", "mnt", "opt", "proc", "root", "run",
     "sbin", "srv", "sys", "tmp", "usr", "var", "lost+found", "snap"}
)  # fmt: skip
#: Folders whose direct children are system folders as well (/usr/bin, /var/lib, /usr/local/bin).
_SYSTEM_PARENTS = frozenset({"/usr", "/var", "/usr/local"})


def refuse_user_home(path: str) -> None:
    """``~user`` forms are refused, not expanded: which user's home a name means can differ
    from host to host (and FTP cannot ask), so the folder is to be written out."""
    if path.startswith("~") and path != "~" and not path.startswith("~/"):
        user = path[1:].partition("/")[0]
        raise ConfigurationError(
            f"{path!r}: ~{user} is not expanded (only ~ and ~/..., the login's home, are); "
            f"write the folder out, or ./{path} for a name that begins with ~"
        )


def expand_home(transport: FileTransport, path: str) -> str:
    """``~`` and ``~/...`` as the login's home on this host (asked once per transport);
    any other path as it is. A trailing ``/`` is kept."""
    refuse_user_home(path)
    if path != "~" and not path.startswith("~/"):
        return path
    home = transport.home_dir()
    return home if path == "~" else join_remote(home, path[2:])


def shell_word(path: str) -> str:
    """``path`` as one word of a shell command, quoted, with a leading ``~`` left outside the
    quotes for the host's shell to expand (as :func:`expand_home` does over a file protocol):
    where no file protocol can ask the host for its home."""
    refuse_user_home(path)
    if path == "~":
        return "~"
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:]) if path[2:] else "~/"
    return shlex.quote(path)


def normalise(path: str, base: str = "/") -> str:
    """``path`` made absolute from ``base`` without asking the host: no ``.``, ``..``,
    doubled or trailing ``/`` (a leading ``//`` too, which POSIX leaves open)."""
    joined = posixpath.normpath(posixpath.join(base, path))
    return "/" + joined.lstrip("/")


def protected(path: str, home: str | None = None, whose: str = "the login's") -> str | None:
    """What makes the absolute, normalised ``path`` a destination that needs force: the
    root, a system folder, a home folder's root, or ``home`` (``whose``: the login's, or
    sudo's target user's) or a folder holding it; None for anything else."""
    if path == "/":
        return "the root folder"
    parent, name = posixpath.split(path)
    if parent == "/" and (name in _SYSTEM or name.startswith("lib")):
        return "a system folder"
    if parent in _SYSTEM_PARENTS:
        return "a system folder"
    if parent == "/home" or path == "/root":
        return "a home folder"
    if home is not None:
        own = normalise(home)
        if path == own:
            return f"{whose} home folder"
        if own.startswith(path + "/"):
            return f"a folder holding {whose} home folder ({own})"
    return None


def resolve(transport: FileTransport, path: str) -> str:
    """``path`` as the host resolves it: its longest part that exists, links followed, and
    the rest (not made yet) joined to that, as ``mkdir -p`` would follow it."""
    rest: list[str] = []
    current = path
    while True:
        real = transport.real_path(current)
        if real is not None:
            return normalise(posixpath.join(real, *reversed(rest)))
        head, tail = posixpath.split(current.rstrip("/"))
        if not tail:  # not even the root resolves: judge the spelling alone
            return normalise(path)
        rest.append(tail)
        current = head or "."


def checked_destination(transport: FileTransport, dest: str, *, force: bool) -> str:
    """``dest`` with ``~`` expanded, once this host showed it is not a protected folder
    (see :func:`protected`); TransferError (the host ends ``failed``) if it is, unless
    ``force``."""
    path = expand_home(transport, dest)
    if not force:
        _refuse_where_protected(transport, path, dest)
    return path


def _refuse_where_protected(transport: FileTransport, path: str, dest: str) -> None:
    """Refuse ``path`` (``dest`` with ``~`` expanded) if this host shows it protected; the
    refusal names ``dest`` as the user spelled it."""
    home = transport.home_dir()
    spelled = normalise(path, transport.real_path(".") or home)
    _refuse_shown(transport, dest, home, spelled, resolve(transport, path))


def _refuse_shown(transport: FileTransport, dest: str, home: str, spelled: str, real: str) -> None:
    """Refuse ``dest`` if it is protected as spelled (made absolute) or as the host resolves
    it (``real``), given the login's ``home``."""
    for shown in dict.fromkeys((spelled, real)):
        _refuse_if_protected(shown, dest, home)
        _refuse_if_protected(shown, dest, transport.acting_home(), "sudo's target user's")


def checked_listing(
    transport: FileTransport,
    dest: str,
    list_it: Callable[[str], list[Entry]],
    *,
    force: bool,
    located: Callable[[str], Whereabouts | None] | None = None,
) -> tuple[str, list[Entry]]:
    """:func:`checked_destination`, and ``list_it(path)`` of the checked path, the two at
    once: asking the host where the path leads costs round trips (an SFTP session and its
    requests: 0.2 s at 25 ms), which the listing, read-only, need not wait for. A spelling
    that is protected on its face is refused before anything is asked; if the host then
    shows the path protected, the listing is abandoned (the host's connection is closed with
    it) and its result never used. ``located`` gives both from one request where the
    transport can (:meth:`~remoteops.transports.base.FileTransport.list_tree_where`): the
    listing is then used only once the host showed the path is not protected."""
    path = expand_home(transport, dest)
    if force:
        return path, list_it(path)
    if path.startswith("/"):
        _refuse_if_protected(normalise(path), dest, None)
    if located is not None:
        found = located(path)
        if found is not None:  # where it is came with the listing: no other request
            home = found.home or transport.home_dir()
            spelled = normalise(path, home)
            real = normalise(found.resolved) if found.resolved else spelled
            _refuse_shown(transport, dest, home, spelled, real)
            return path, found.entries
    pool = ThreadPoolExecutor(1, thread_name_prefix="remoteops-listing")
    listing = pool.submit(list_it, path)
    try:
        _refuse_where_protected(transport, path, dest)
        return path, listing.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _refuse_if_protected(
    shown: str, dest: str, home: str | None, whose: str = "the login's"
) -> None:
    why = protected(shown, home, whose)
    if why is not None:
        said = shown if shown == dest else f"{shown} (which {dest!r} is on this host)"
        raise TransferError(
            f"refusing to sync into {said}: {why}; use --force if that is really meant"
        )


__all__ = [
    "checked_destination",
    "checked_listing",
    "expand_home",
    "normalise",
    "protected",
    "refuse_user_home",
    "shell_word",
]
