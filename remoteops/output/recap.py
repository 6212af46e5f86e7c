"""The end of a task run: Ansible's recap, one line per host with its step counts, and the
JSON form (one object per host per step, then one per host)."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from remoteops.output.notices import write
from remoteops.output.style import BOLD, RESET, use_colour
from remoteops.results import Status
from remoteops.tasks.runner import HostRecap, TaskReport

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


def recap_json(recap: HostRecap, *, check: bool = False) -> list[dict[str, Any]]:
    """One object per step the host took, then the host's recap (``"step": null``), which
    says whether the run was a check (``--check``)."""
    objects: list[dict[str, Any]] = []
    for step in recap.steps:
        obj = step.result.to_json()
        obj.update(step=step.step, name=step.name, step_status=step.status, changed=step.changed)
        obj.setdefault("notes", list(step.result.notes))  # why a step was skipped, too
        objects.append(obj)
    objects.append(
        {
            "host": recap.host,
            "step": None,
            "ok": recap.status is Status.OK,
            "status": recap.status.value,
            # step counts; "ok" is taken by the host's outcome, as in every other object
            **{f"{name}_steps": getattr(recap, name) for name, _ in _COUNTS},
            "error": recap.error,
            "check": check,
        }
    )
    return objects


def print_json(report: TaskReport, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    text = "".join(
        json.dumps(obj, ensure_ascii=False) + "\n"
        for recap in report.hosts
        for obj in recap_json(recap, check=report.check)
    )
    write(out, text)


__all__ = ["print_json", "print_recap", "recap_json"]
