"""The end-of-run summary on stderr: counts per status, wall time, and who failed how."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from remoteops.inventory.ranges import fold_hosts
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
    console = console or Console(stderr=True, highlight=False)
    counts = report.counts()
    parts = [
        f"[{_STYLE[status]}]{counts[status]} {status.value}[/]"
        for status in Status
        if counts[status] or status in (Status.OK, Status.FAILED)
    ]
    console.print(
        f"[bold]{len(report.results)} hosts[/]: "
        + ", ".join(parts)
        + f" in {report.duration_s:.2f} s"
    )
    for status in Status:
        if status is Status.OK or not counts[status]:
            continue
        hosts = [r.host for r in report.results if r.status is status]
        console.print(
            f"  [{_STYLE[status]}]{status.value}[/]: {escape(fold_hosts(hosts))}", soft_wrap=True
        )
