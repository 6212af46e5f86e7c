"""JSON Lines: one object per host on stdout as each host finishes (schema in the README)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from remoteops.results import HostResult


class JsonLines:
    """A listener writing :meth:`HostResult.to_json` objects, one per line, nothing else."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._lock = threading.Lock()

    def host_started(self, host: str) -> None:
        return None

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        return None

    def host_finished(self, result: HostResult) -> None:
        line = json.dumps(result.to_json(), ensure_ascii=False)
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def interrupted(self, running: Sequence[str]) -> None:
        return None
