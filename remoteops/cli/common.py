"""Options and helpers shared by the commands: inventory loading, errors, prompts."""

from __future__ import annotations

import enum
import getpass
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from remoteops.errors import ConfigurationError
from remoteops.inventory import Inventory, load_inventory
from remoteops.inventory.model import Host
from remoteops.output.style import stderr_console
from remoteops.results import ExitCode

InventoryOption = Annotated[
    list[str] | None,
    typer.Option(
        "--inventory",
        "-i",
        help="Inventory file, folder or comma list (repeatable). "
        "Default: $REMOTEOPS_INVENTORY, else ./inventory/, else localhost.",
        show_default=False,
    ),
]


class OutputMode(str, enum.Enum):
    text = "text"
    json = "json"


def fail(message: str, code: int = ExitCode.USAGE) -> NoReturn:
    """Print an error on stderr and exit (2 = usage, inventory or configuration error)."""
    from rich.markup import escape  # rich only when there is something to say: start-up time

    stderr_console().print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def load_and_select(inventory: list[str] | None, pattern: str) -> tuple[Inventory, list[Host]]:
    """Load the inventory and apply the pattern, turning configuration errors into exit 2."""
    try:
        loaded = load_inventory(inventory)
        return loaded, loaded.select(pattern)
    except ConfigurationError as exc:
        fail(str(exc))


def read_secret_from(env_var: str | None, prompt: str) -> str | None:
    """A secret from the named environment variable, else a no-echo prompt on a terminal."""
    if env_var:
        value = os.environ.get(env_var)
        if value is None:
            fail(f"environment variable {env_var} is not set")
        return value
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return None


def ask_terminal(prompt: str, option: str) -> str:
    """A secret typed at the controlling terminal (never stdin, which may carry a payload)."""
    try:
        with open("/dev/tty"):
            pass
    except OSError:
        fail(f"{option} needs a terminal to ask on; use password_env in the inventory instead")
    return getpass.getpass(prompt)


class PassphrasePrompt:
    """Asks once per key file for its passphrase, one prompt at a time across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, path: str) -> str | None:
        if not sys.stdin.isatty():
            return None
        with self._lock:
            return getpass.getpass(f"Passphrase for {path}: ")


def read_stdin_payload(stdin_file: Path | None) -> bytes | None:
    """The bytes to broadcast: ``--stdin FILE`` (``-`` for stdin), or piped stdin if any."""
    if stdin_file is not None:
        if str(stdin_file) == "-":
            return sys.stdin.buffer.read()
        try:
            return stdin_file.read_bytes()
        except OSError as exc:
            fail(f"cannot read {stdin_file}: {exc.strerror}")
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return None
    import stat

    if stat.S_ISFIFO(mode) or stat.S_ISREG(mode):
        return sys.stdin.buffer.read()
    return None
