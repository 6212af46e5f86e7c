"""The end-of-run summary on stderr: counts per status, wall time, and who failed how."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from remoteops.inventory.ranges import fold_hosts
from remoteops.output.notices import drop_output
from remoteops.output.style import stderr_console
from remoteops.results import RunReport, Status

_STYLE = {
    Status.OK: "green",
    Status.FAILED: "red",
    Status.UNREACHABLE: "magenta",
    Status.AUTH: "magenta",
    Status.HOSTKEY: "magenta",
    Status.TIMEOUT: "yellow",
    Status.UNSUPPORTED: "yellow",
    Status.CANCELLED: "yellow",
}


def print_summary(report: RunReport, console: Console | None = None) -> None:
    """One line of counts, then one line per failure kind with the folded host list."""
    console = console or stderr_console()
    counts = report.counts()
    total = len(report.results)
    parts = [
        f"[{_STYLE[status]}]{counts[status]} {status.value}[/]"
        for status in Status
        if counts[status] or status in (Status.OK, Status.FAILED)
    ]
    lines = [
        f"[bold]{total} host{'' if total == 1 else 's'}[/]: "
        + ", ".join(parts)
        + f" in {report.duration_s:.2f} s"
    ]
    for status in Status:
        if status is Status.OK or not counts[status]:
            continue
        hosts = [r.host for r in report.results if r.status is status]
        lines.append(f"  [{_STYLE[status]}]{status.value}[/]: {escape(fold_hosts(hosts))}")
    try:
        for line in lines:
            console.print(line, soft_wrap=True)  # one line each, even off a terminal
    except BrokenPipeError:  # stderr's reader is gone: nothing left to tell
        drop_output(console.file)
