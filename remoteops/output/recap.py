"""The end of a task run: Ansible's recap, one line per host with its step counts, and the
JSON form (one object per host per step, then one per host), which the CLI streams: each
step's object as the step ends on its host (:class:`JsonSteps`), the hosts' at the end."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

from remoteops.inventory import Host
from remoteops.output.notices import write
from remoteops.output.style import BOLD, RESET, use_colour
from remoteops.results import Status
from remoteops.tasks.runner import HostRecap, StepResult, TaskReport

_GREEN, _RED, _YELLOW, _MAGENTA = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[35m"
_COUNTS = (
    ("ok", _GREEN),
    ("changed", _YELLOW),
    ("failed", _RED),
    ("skipped", ""),
    ("ignored", ""),
    ("unreachable", _MAGENTA),
)


def print_recap(report: TaskReport, err: TextIO | None = None) -> None:
    """``host : ok=3 changed=1 failed=0 ...`` per host, then why the run stopped early."""
    err = err or sys.stderr
    colour = use_colour(err)
    width = max((len(r.host) for r in report.hosts), default=0)

    def paint(text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if colour and code else text

    lines = [paint("RECAP", BOLD)]
    for recap in report.hosts:
        counts = " ".join(
            paint(f"{name}={getattr(recap, name)}", code if getattr(recap, name) else "")
            for name, code in _COUNTS
        )
        ended = "" if recap.status is Status.OK else f"  {recap.status.value}"
        why = f": {recap.error}" if recap.error and recap.status is not Status.OK else ""
        lines.append(f"{recap.host.ljust(width)} : {counts}{ended}{why}")
    if report.stopped:
        lines.append(f"stopped early: {report.stopped}")
    if report.check:
        lines.append("check mode: nothing was changed; changed counts what would change")
    lines.append(f"{len(report.hosts)} hosts in {report.duration_s:.2f} s")
    write(err, "".join(line + "\n" for line in lines))


def step_json(outcome: StepResult) -> dict[str, Any]:
    """A step on one host: its result's object with the step's index, name and status, and
    its notes (why a step was skipped, too)."""
    obj = outcome.result.to_json()
    obj.update(
        step=outcome.step, name=outcome.name, step_status=outcome.status, changed=outcome.changed
    )
    obj.setdefault("notes", list(outcome.result.notes))
    return obj


def host_json(recap: HostRecap, *, check: bool = False) -> dict[str, Any]:
    """A host's end (``"step": null``), with its step counts, and whether the run was a check
    (``--check``)."""
    return {
        "host": recap.host,
        "step": None,
        "ok": recap.status is Status.OK,
        "status": recap.status.value,
        # step counts; "ok" is taken by the host's outcome, as in every other object
        **{f"{name}_steps": getattr(recap, name) for name, _ in _COUNTS},
        "error": recap.error,
        "check": check,
    }


def recap_json(recap: HostRecap, *, check: bool = False) -> list[dict[str, Any]]:
    """One object per step the host took, then the host's recap (``"step": null``)."""
    return [*(step_json(step) for step in recap.steps), host_json(recap, check=check)]


def print_json(report: TaskReport, out: TextIO | None = None, *, steps: bool = True) -> None:
    """Every host's objects, host by host; only the hosts' ends when ``steps`` is off (the
    steps' objects were streamed by :class:`JsonSteps`)."""
    out = out or sys.stdout
    objects = (
        [obj for recap in report.hosts for obj in recap_json(recap, check=report.check)]
        if steps
        else [host_json(recap, check=report.check) for recap in report.hosts]
    )
    write(out, "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in objects))


class JsonSteps:
    """``on_result`` for ``-o json``: each step's object printed (one line, flushed) as soon
    as the step ends on its host; safe to call from the hosts' threads."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._lock = threading.Lock()

    def __call__(self, outcome: StepResult, host: Host) -> None:
        line = json.dumps(step_json(outcome), ensure_ascii=False) + "\n"
        with self._lock:
            write(self._out or sys.stdout, line)


__all__ = ["JsonSteps", "host_json", "print_json", "print_recap", "recap_json", "step_json"]
