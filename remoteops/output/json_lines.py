"""JSON Lines: one object per host on stdout as each host finishes (schema in the README)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from remoteops.executor import NullListener
from remoteops.output.notices import write, write_interrupted
from remoteops.results import HostResult

_ENCODER = json.JSONEncoder(ensure_ascii=False)


class JsonLines(NullListener):
    """A listener writing :meth:`HostResult.to_json` objects, one per line, nothing else.

    Diagnostics (the Ctrl-C notice) go to ``err``, so stdout stays parseable.
    """

    def __init__(
        self, out: TextIO | None = None, err: TextIO | None = None, *, transfer: bool = False
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.transfer = transfer  # file transfers: every line in the transfer schema
        self._lock = threading.Lock()

    def host_finished(self, result: HostResult) -> None:
        # In pieces: a line may hold 64 MiB of output, not worth one more copy of it whole.
        pieces = _ENCODER.iterencode(result.to_json(transfer=self.transfer))
        with self._lock:
            for piece in pieces:
                write(self.out, piece, flush=False)
            write(self.out, "\n")

    def interrupted(self, running: Sequence[str]) -> None:
        with self._lock:
            write_interrupted(self.err, running)
