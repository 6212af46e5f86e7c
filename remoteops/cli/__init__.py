"""The ``remoteops`` command line: thin typer commands over the library.

Each command parses options, builds settings and the inventory, calls the library, renders the
result and exits with the documented code. No logic a library user would need lives here.
"""

from __future__ import annotations

import sys

from remoteops.results import ExitCode


def main() -> None:
    """Console-script entry point."""
    from remoteops.cli.app import app

    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
