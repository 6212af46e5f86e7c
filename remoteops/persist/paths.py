"""Where the persistent process listens: a socket in a folder only its user can enter.

The folder is ``$XDG_RUNTIME_DIR/remoteops`` (the per-login tmpfs systemd makes, 0700), else
``/tmp/remoteops-UID``. It must be a real folder (not a link), owned by the user and closed to
everyone else (mode 0700): one that is not is refused, never repaired, since someone else may
have made it to catch the socket. The socket's name carries a digest of this installation
(version, package folder, interpreter), so two installs never talk to each other's process.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path

#: The longest path a Unix socket address holds on Linux (108 bytes, NUL included).
_SUN_PATH_MAX = 107


class PersistError(Exception):
    """Persistence cannot be used here (the runtime folder is unsafe, the process will not
    start); the command then runs directly."""


def runtime_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """The user's runtime folder for remoteops, made 0700 when missing, checked otherwise."""
    env = os.environ if environ is None else environ
    uid = os.getuid()
    base = env.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "remoteops" if base else Path(f"/tmp/remoteops-{uid}")
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise PersistError(f"cannot make {folder}: {exc.strerror or exc}") from None
    try:
        found = os.lstat(folder)
    except OSError as exc:
        raise PersistError(f"cannot use {folder}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(found.st_mode):
        raise PersistError(f"{folder} is not a folder (a link or a file); refusing to use it")
    if found.st_uid != uid:
        raise PersistError(f"{folder} belongs to uid {found.st_uid}, not to you ({uid})")
    if found.st_mode & 0o077:
        raise PersistError(
            f"{folder} is open to others (mode {stat.S_IMODE(found.st_mode):04o}); it must be 0700"
        )
    return folder


def installation_tag() -> str:
    """A short digest naming this installation of remoteops and its interpreter."""
    from remoteops import __version__

    package = Path(__file__).resolve().parent.parent
    seed = f"{__version__}\0{package}\0{sys.executable}".encode()
    return hashlib.sha256(seed).hexdigest()[:12]


def socket_path(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """The socket of this user's persistent process for this installation."""
    path = runtime_dir(environ) / f"persist-{installation_tag()}.sock"
    if len(os.fsencode(path)) > _SUN_PATH_MAX:
        raise PersistError(f"{path} is too long for a Unix socket ({_SUN_PATH_MAX} bytes)")
    return path
