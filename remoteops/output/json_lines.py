"""JSON Lines: one object per host on stdout as each host finishes (schema in the README)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from remoteops.executor import NullListener
from remoteops.output.notices import write, write_interrupted
from remoteops.results import HostResult

_ENCODER = json.JSONEncoder(ensure_ascii=False)
#: Characters of a long string escaped at a time.
_SLICE = 1024 * 1024


def _pieces(obj: dict[str, Any]) -> Iterator[str]:
    """The JSON line of ``obj`` in pieces: a value may be 64 MiB of output, whose escaped
    form (``\\u0000`` is six characters) would otherwise be built whole, then encoded whole."""
    yield "{"
    for index, (key, value) in enumerate(obj.items()):
        yield (", " if index else "") + _ENCODER.encode(key) + ": "
        if isinstance(value, str) and len(value) > _SLICE:
            yield '"'
            for start in range(0, len(value), _SLICE):
                yield _ENCODER.encode(value[start : start + _SLICE])[1:-1]
            yield '"'
        else:
            yield _ENCODER.encode(value)
    yield "}"


class JsonLines(NullListener):
    """A listener writing :meth:`HostResult.to_json` objects, one per line, nothing else.

    Diagnostics (the Ctrl-C notice) go to ``err``, so stdout stays parseable.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        transfer: bool = False,
        dry_run: bool = False,
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.transfer = transfer  # file transfers: every line in the transfer schema
        self.dry_run = dry_run  # and with a dry run, every line with its plan
        self._lock = threading.Lock()

    def host_finished(self, result: HostResult) -> None:
        obj = result.to_json(transfer=self.transfer, dry_run=self.dry_run)
        with self._lock:
            for piece in _pieces(obj):
                write(self.out, piece, flush=False)
            write(self.out, "\n")

    def interrupted(self, running: Sequence[str]) -> None:
        with self._lock:
            write_interrupted(self.err, running)
