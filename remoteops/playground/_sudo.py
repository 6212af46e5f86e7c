"""The sudo test user of netns mode: a real account whose sudo asks for a password.

One account (``roplay``) serves every playground on the machine, so its password is created once
and kept root-only next to its home; each playground gets a 0600 copy in its state dir. The
sudoers rule goes when the last netns playground does; the account itself stays.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import tempfile
from pathlib import Path

from ._model import SUDO_HOME_ROOT, SUDO_USER, SUDOERS_FILE, PlaygroundError
from ._system import atomic_write, find_tool, run

_SUDOERS = f"""\
# Installed by remoteops playground (netns mode); removed by `remoteops playground down`.
Defaults:{SUDO_USER} !lecture
{SUDO_USER} ALL=(ALL) ALL
"""


def ensure_sudo_user(password_copy: Path) -> str:
    """Create the user if missing, install its sudoers rule, copy its password; return its name."""
    find_tool("sudo", "sudo")
    SUDO_HOME_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    store = SUDO_HOME_ROOT / "sudo_password"
    try:
        pwd.getpwnam(SUDO_USER)
    except KeyError:
        run(
            [
                find_tool("useradd", "passwd"), "--system", "--create-home",
                "--home-dir", str(SUDO_HOME_ROOT / SUDO_USER), "--shell", "/bin/bash",
                "--comment", "remoteops playground sudo user", SUDO_USER,
            ]
        )  # fmt: skip
        store.unlink(missing_ok=True)
    password = store.read_text().strip() if store.exists() else ""
    if not password:
        password = secrets.token_urlsafe(18)
        run([find_tool("chpasswd", "passwd")], stdin=f"{SUDO_USER}:{password}\n")
        atomic_write(store, password + "\n", mode=0o600)
    atomic_write(password_copy, password + "\n", mode=0o600)
    _install_sudoers()
    return SUDO_USER


def _install_sudoers() -> None:
    visudo = find_tool("visudo", "sudo")
    # A name with a dot is skipped by sudo's @includedir until the rename makes it live.
    fd, tmp = tempfile.mkstemp(dir=SUDOERS_FILE.parent, prefix=".remoteops-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o440)
        with os.fdopen(fd, "w") as handle:
            handle.write(_SUDOERS)
        proc = run([visudo, "-cf", tmp], check=False)
        if proc.returncode != 0:
            raise PlaygroundError(f"visudo rejected the playground sudoers rule: {proc.stdout}")
        os.replace(tmp, SUDOERS_FILE)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def remove_sudoers() -> None:
    SUDOERS_FILE.unlink(missing_ok=True)
