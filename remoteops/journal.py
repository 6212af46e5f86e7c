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

import base64
import binascii
import contextlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from remoteops.diagnostics import redact, redact_bytes
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
    #: The inventory sources the run read (None: not journalled, by an older remoteops).
    inventory: tuple[str, ...] | None = None


class Journal:
    """The folder of journalled runs; constructing one touches no file."""

    def __init__(self, directory: Path | None = None, keep: int = DEFAULT_KEEP) -> None:
        self.directory = directory if directory is not None else runs_dir()
        self.keep = keep

    def record(
        self,
        report: RunReport,
        argv: Sequence[str],
        inventory: Sequence[str] | None = None,
        exit_code: int | None = None,
    ) -> Path | None:
        """Journal a run of commands or transfers; see :meth:`record_results`. ``exit_code``:
        the status the process ended with, when not the report's own."""
        return self.record_results(
            argv,
            [result.to_json() for result in report.results],
            exit_code=int(report.exit_code) if exit_code is None else exit_code,
            duration_s=report.duration_s,
            interrupted=report.interrupted,
            inventory=inventory,
        )

    def record_results(
        self,
        argv: Sequence[str],
        results: Sequence[Mapping[str, Any]],
        *,
        exit_code: int,
        duration_s: float,
        interrupted: bool = False,
        inventory: Sequence[str] | None = None,
    ) -> Path | None:
        """Write the run, each host's JSON object (with ``host`` and ``status``) a line,
        atomically (a reader never sees half of it), then drop the oldest runs beyond
        ``keep``; None when the journal is off (``keep`` 0). Never raises for an unwritable
        folder: a journal must not fail a run that worked. ``inventory``: the sources the
        run's hosts came from (:attr:`Inventory.sources`), which ``@failed`` must match."""
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
            **({} if inventory is None else {"inventory": [redact(s) for s in inventory]}),
        }
        lines = [json.dumps({"run": head}, ensure_ascii=False)]
        lines.extend(json.dumps(_redacted(result), ensure_ascii=False) for result in results)
        path = self.directory / f"{stamp}-{os.getpid()}{_SUFFIX}"
        partial = path.with_name(f".{path.name}.part")
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            _write_private(partial, "\n".join(lines) + "\n")
            partial.replace(path)
            self._prune()
        except OSError:
            with contextlib.suppress(OSError):  # the folder may be what failed (a file there)
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
        """The previous run, or None when none was journalled. A newest file that cannot be
        read is a :class:`PatternError`: falling back to the run before it would retry the
        hosts of another run without a word."""
        runs = self.runs()
        if not runs:
            return None
        run = _read(runs[-1])
        if run is None:
            raise PatternError(
                f"@failed/@last: the newest journalled run, {runs[-1]}, cannot be read "
                "(damaged?); remove it to use the run before it"
            )
        return run

    def host_sets(self, inventory: Sequence[str] | None = None) -> dict[str, list[str]]:
        """``failed`` and ``last``: the previous run's hosts that did not end ok, and all of
        them, for the ``@failed`` and ``@last`` pattern terms. Raises :class:`PatternError`
        when there is no previous run, or when it read other inventory sources than
        ``inventory`` (the sources about to be used): ``web1`` of staging's inventory is
        not ``web1`` of production's, and a retry must not reach the wrong one."""
        run = self.last()
        if run is None:
            where = "the journal is off (keep-runs = 0)" if self.keep <= 0 else self.directory
            raise PatternError(f"@failed/@last: no previous run is journalled ({where})")
        if inventory is not None and run.inventory is not None:
            now = tuple(redact(source) for source in inventory)
            if now != run.inventory:
                raise PatternError(
                    f"@failed/@last: the previous run used inventory {_sources(run.inventory)}, "
                    f"not {_sources(now)}: hosts of the same name there may be other machines; "
                    "give the inventory that run used with -i"
                )
        return {"failed": list(run.failed), "last": list(run.hosts)}

    def _prune(self) -> None:
        for old in self.runs()[: -self.keep]:
            old.unlink(missing_ok=True)


def _sources(sources: Sequence[str]) -> str:
    return ", ".join(sources) if sources else "(none: localhost only)"


def _write_private(path: Path, text: str) -> None:
    """Write a new file that is 0600 from its creation: outputs may be private, and a file
    made under the umask then chmod-ed is readable by others in between."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def _redacted(value: Any, key: str = "") -> Any:
    """``value`` with every registered secret blanked, at any depth (a dialogue's exchanges,
    a transfer's notes), and inside base64 too: ``stdout_base64`` holds the exact bytes of an
    output that is not UTF-8, which would give back what ``stdout`` blanks."""
    if isinstance(value, str):
        if key.endswith("_base64"):
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return redact(value)
            return base64.b64encode(redact_bytes(raw)).decode("ascii")
        return redact(value)
    if isinstance(value, Mapping):
        return {name: _redacted(item, str(name)) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(item) for item in value]
    return value


def _read(path: Path) -> JournalledRun | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        head = json.loads(lines[0])["run"]
        results = [json.loads(line) for line in lines[1:] if line.strip()]
        hosts = tuple(str(r["host"]) for r in results)
        failed = tuple(str(r["host"]) for r in results if r.get("status") != Status.OK.value)
        inventory = head.get("inventory")
        return JournalledRun(path, tuple(head.get("argv", ())), hosts, failed,
                             head.get("exit_code"),
                             None if inventory is None else tuple(map(str, inventory)))  # fmt: skip
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None  # a file damaged by hand (writes are atomic): said by Journal.last
