"""Live lines for file transfers: each host ends with one line of what it changed.

Like rsync's ``--stats``, but one line per host, so a fleet's transfer reads at a glance and
a host that changed nothing says so (``unchanged``) instead of staying silent. A failed host
says its error on stderr as in every text run; one that changed files before failing also
gets the line, so what it did is never hidden behind the error.
"""

from __future__ import annotations

from remoteops.output.live import LiveLines
from remoteops.output.notices import write
from remoteops.results import HostResult, Status

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def shown_size(size: int) -> str:
    """``size`` bytes for a person: ``512 B``, ``20.1 KiB``, ``3.0 GiB``."""
    value, unit = float(size), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{size} B" if unit == 0 else f"{value:.1f} {_UNITS[unit]}"


def transfer_line(result: HostResult) -> str | None:
    """What ``result``'s transfer did (or, in a dry run, would do), on one line; None for a
    host with nothing to tell beyond its error (it failed before changing anything, or its
    dry run was refused)."""
    stats = result.transfer
    if stats is None:
        return None
    dry_run = result.plan is not None
    if result.status is not Status.OK and (dry_run or not stats.changed):
        return None
    counts = (
        f"{stats.files_created} created, {stats.files_updated} updated, "
        f"{stats.files_deleted} deleted, {stats.files_unchanged} unchanged"
    )
    if dry_run:
        return f"{'would change' if stats.changed else 'unchanged'} (dry run): {counts}"
    said = "changed" if stats.changed else "unchanged"
    if result.status is not Status.OK:
        said = "partly changed"
    sizes = f"{shown_size(stats.bytes_sent)} sent, {shown_size(stats.bytes_received)} received"
    return f"{said}: {counts}; {sizes}"


class TransferLines(LiveLines):
    """:class:`LiveLines` that ends each host with its :func:`transfer_line` (on stdout,
    ``host | ...``), after the host's own lines and error."""

    def host_finished(self, result: HostResult) -> None:
        super().host_finished(result)
        line = transfer_line(result)
        if line is not None:
            with self._lock:
                write(self.out, self._prefix(result.host, "|", self._colour_out) + line + "\n")


__all__ = ["TransferLines", "shown_size", "transfer_line"]
