"""The machine's process list, as any user of a host sees it (the playground's hosts and test
daemons share our process table): for checking that a secret never appears in a command line."""

from __future__ import annotations

import os
from pathlib import Path


def command_lines_showing(secret: bytes) -> list[str]:
    """The command lines of every process (ours excluded) that contain ``secret``, as it is
    or as remoteops encodes an environment value (octal escapes are no disguise)."""
    from remoteops.transports.base import encode_value

    forms = (secret, encode_value(secret.decode("utf-8", "surrogateescape")).encode())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if any(form in argv for form in forms):
            found.append(argv.replace(b"\0", b" ").decode(errors="replace"))
    return found
