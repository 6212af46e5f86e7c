"""Colour decisions and the per-host palette, shared by every renderer."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console

# Distinct, readable on dark and light backgrounds (ANSI 256-colour indexes).
_PALETTE = (33, 166, 34, 129, 37, 160, 172, 27, 28, 163, 94, 31)
RESET = "\x1b[0m"
RED = "\x1b[31m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"


def use_colour(stream: TextIO) -> bool:
    """Colour only for a terminal, and never with NO_COLOR set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def host_colour(index: int) -> str:
    return f"\x1b[38;5;{_PALETTE[index % len(_PALETTE)]}m"


def stderr_console() -> Console:
    """A rich console on stderr that writes no escape at all under ``NO_COLOR``.

    Rich's own ``NO_COLOR`` support drops colours but keeps bold and the like; plain text is
    what users setting it expect. Off a terminal rich already writes plain text.
    """
    from rich.console import Console

    plain = bool(os.environ.get("NO_COLOR"))
    return Console(stderr=True, highlight=False, color_system=None if plain else "auto")
