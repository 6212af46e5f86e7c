"""Writing to the terminal safely, and the diagnostics every renderer prints the same way.

A reader that goes away (``remoteops run ... | head``) must not stop the hosts' work: the
renderers are called from the executor's workers, and an exception there would end the host.
Once a stream's reader is gone, its output is dropped and the run finishes normally.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import IO

from remoteops.inventory.ranges import fold_hosts


def write(stream: IO[str], text: str, *, flush: bool = True) -> None:
    """Write and flush; if the reader closed the pipe, send this and later output nowhere."""
    try:
        stream.write(text)
        if flush:
            stream.flush()
    except BrokenPipeError:
        drop_output(stream)


def drop_output(stream: IO[str]) -> None:
    """Point the stream's descriptor at /dev/null, so pending and later writes succeed."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)


def write_interrupted(err: IO[str], running: Sequence[str]) -> None:
    """The first Ctrl-C: say that no new host starts and who is still running."""
    names = fold_hosts(running) if running else "none"
    write(
        err,
        f"\ninterrupted: no new hosts will start; still running ({len(running)}): "
        f"{names}\npress Ctrl-C again to cancel them\n",
    )
