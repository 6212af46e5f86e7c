"""The run journal: every run's command line and per-host results, one JSON Lines file each.

Files live in ``$XDG_STATE_HOME/remoteops/runs/`` (``~/.local/state/remoteops/runs/``), named
after the run's UTC start time so that names sort in run order; only the last ``keep`` runs
are kept (:data:`DEFAULT_KEEP`). A file's first line describes the run (``{"run": {...}}``:
command line, start, duration, exit code), each further line is one host's result exactly as
``--output json`` prints it. Registered secrets (:mod:`remoteops.diagnostics`) are blanked
from the command line and the outputs.

:meth:`Journal.host_sets` gives the ``@failed`` and ``@last`` terms of host patterns: the hosts
of the previous run that did not end ``ok``, and all of its hosts (Ansible's retry files,
without a file to pass around).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from remoteops.diagnostics import redact
from remoteops.errors import PatternError
from remoteops.results import RunReport
from remoteops.status import Status

#: Runs kept when nothing else is configured (``keep-runs`` in the config file).
DEFAULT_KEEP = 50
_SUFFIX = ".jsonl"


def runs_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/remoteops/runs``, else ``~/.local/state/remoteops/runs``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or str(
        Path(env.get("HOME") or Path.home()) / ".local" / "state"
    )
    return Path(base) / "remoteops" / "runs"


@dataclass(frozen=True)
class JournalledRun:
    """One run read back: where it is, its command line, its hosts and which did not end ok."""

    path: Path
    argv: tuple[str, ...]
    hosts: tuple[str, ...]
    failed: tuple[str, ...]
    exit_code: int | None


class Journal:
    """The folder of journalled runs; constructing one touches no file."""

    def __init__(self, directory: Path | None = None, keep: int = DEFAULT_KEEP) -> None:
        self.directory = directory if directory is not None else runs_dir()
        self.keep = keep

    def record(self, report: RunReport, argv: Sequence[str]) -> Path | None:
        """Journal a run of commands or transfers; see :meth:`record_results`."""
        return self.record_results(
            argv,
            [result.to_json() for result in report.results],
            exit_code=int(report.exit_code),
            duration_s=report.duration_s,
            interrupted=report.interrupted,
        )

    def record_results(
        self,
        argv: Sequence[str],
        results: Sequence[Mapping[str, Any]],
        *,
        exit_code: int,
        duration_s: float,
        interrupted: bool = False,
    ) -> Path | None:
        """Write the run, each host's JSON object (with ``host`` and ``status``) a line,
        atomically (a reader never sees half of it), then drop the oldest runs beyond
        ``keep``; None when the journal is off (``keep`` 0). Never raises for an unwritable
        folder: a journal must not fail a run that worked."""
        if self.keep <= 0:
            return None
        started = time.time() - duration_s
        stamp = datetime.fromtimestamp(started, timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        head = {
            "argv": [redact(arg) for arg in argv],
            "started": datetime.fromtimestamp(started, timezone.utc).isoformat(),
            "duration_s": round(duration_s, 3),
            "exit_code": exit_code,
            "interrupted": interrupted,
            "hosts": len(results),
        }
        lines = [json.dumps({"run": head}, ensure_ascii=False)]
        lines.extend(json.dumps(_redacted(result), ensure_ascii=False) for result in results)
        path = self.directory / f"{stamp}-{os.getpid()}{_SUFFIX}"
        partial = path.with_name(f".{path.name}.part")
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
            partial.chmod(0o600)  # outputs may be private
            partial.replace(path)
            self._prune()
        except OSError:
            partial.unlink(missing_ok=True)
            return None
        return path

    def runs(self) -> list[Path]:
        """The journalled runs' files, oldest first."""
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX)
                          and not p.name.startswith("."))  # fmt: skip
        except OSError:
            return []

    def last(self) -> JournalledRun | None:
        """The previous run, or None when none was journalled."""
        for path in reversed(self.runs()):
            run = _read(path)
            if run is not None:
                return run
        return None

    def host_sets(self) -> dict[str, list[str]]:
        """``failed`` and ``last``: the previous run's hosts that did not end ok, and all of
        them, for the ``@failed`` and ``@last`` pattern terms. Raises :class:`PatternError`
        when there is no previous run, or ``@failed`` would select nothing."""
        run = self.last()
        if run is None:
            where = "the journal is off (keep-runs = 0)" if self.keep <= 0 else self.directory
            raise PatternError(f"@failed/@last: no previous run is journalled ({where})")
        return {"failed": list(run.failed), "last": list(run.hosts)}

    def _prune(self) -> None:
        for old in self.runs()[: -self.keep]:
            old.unlink(missing_ok=True)


def _redacted(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {key: redact(value) if isinstance(value, str) else value for key, value in obj.items()}


def _read(path: Path) -> JournalledRun | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        head = json.loads(lines[0])["run"]
        results = [json.loads(line) for line in lines[1:] if line.strip()]
        hosts = tuple(str(r["host"]) for r in results)
        failed = tuple(str(r["host"]) for r in results if r.get("status") != Status.OK.value)
        return JournalledRun(path, tuple(head.get("argv", ())), hosts, failed,
                             head.get("exit_code"))  # fmt: skip
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None  # a file damaged by hand: the one before it is the previous run
