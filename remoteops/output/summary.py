"""The end-of-run summary on stderr: counts per status, wall time, and who failed how.

Plain ANSI rather than rich: the summary ends every text run, and importing rich costs about
45 ms, a tenth of a single-host run.
"""

from __future__ import annotations

import sys
from typing import TextIO

from remoteops.inventory.ranges import fold_hosts
from remoteops.output.notices import write
from remoteops.output.style import BOLD, RESET, use_colour
from remoteops.results import RunReport, Status

_GREEN, _RED, _MAGENTA, _YELLOW = "\x1b[32m", "\x1b[31m", "\x1b[35m", "\x1b[33m"
_COLOUR = {
    Status.OK: _GREEN,
    Status.FAILED: _RED,
    Status.UNREACHABLE: _MAGENTA,
    Status.AUTH: _MAGENTA,
    Status.HOSTKEY: _MAGENTA,
    Status.TIMEOUT: _YELLOW,
    Status.UNSUPPORTED: _YELLOW,
    Status.CANCELLED: _YELLOW,
}


def print_summary(report: RunReport, err: TextIO | None = None) -> None:
    """One line of counts, then one line per failure kind with the folded host list."""
    err = err or sys.stderr
    colour = use_colour(err)

    def paint(text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if colour else text

    def count_of(status: Status) -> str:
        """``3 failed`` in the status's colour; a zero in none (a red "0 failed" alarms)."""
        count = counts[status]
        text = f"{count} {status.value}"
        if count == 0:
            return text
        return paint(text, _COLOUR[status])

    counts = report.counts()
    total = len(report.results)
    parts = [
        count_of(status)
        for status in Status
        if counts[status] or status in (Status.OK, Status.FAILED)
    ]
    lines = [
        paint(f"{total} host{'' if total == 1 else 's'}", BOLD)
        + ": "
        + ", ".join(parts)
        + f" in {report.duration_s:.2f} s"
    ]
    for status in Status:
        if status is Status.OK or not counts[status]:
            continue
        hosts = [r.host for r in report.results if r.status is status]
        lines.append(f"  {paint(status.value, _COLOUR[status])}: {fold_hosts(hosts)}")
    write(err, "".join(line + "\n" for line in lines))
