"""A pipe that never stops: endless stdin for a run, as ``yes | remoteops run ...`` gives."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def endless_pipe() -> Iterator[int]:
    """The read end of a pipe a thread keeps writing ``y`` lines into until the block ends.

    The writer has a descriptor of its own: the test's may be closed and its number reused
    (by the next test's pipe) while the writer is between two writes. Closing the read end
    at the end wakes a writer blocked on a full pipe (EPIPE).
    """
    read_end, write_end = os.pipe()
    own_end = os.dup(write_end)
    os.close(write_end)
    stop = threading.Event()

    def flood() -> None:
        block = b"y\n" * 32768
        try:
            while not stop.is_set():
                os.write(own_end, block)
        except OSError:  # the read end closed: EPIPE
            pass
        finally:
            os.close(own_end)

    writer = threading.Thread(target=flood, daemon=True)
    writer.start()
    try:
        yield read_end
    finally:
        stop.set()
        os.close(read_end)
        writer.join(5)
