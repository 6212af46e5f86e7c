"""Transfer progress bars: drawn only once a host has something to send."""

from __future__ import annotations

import io

from rich.console import Console

from remoteops.output.live import LiveLines
from remoteops.output.progress import TransferBars
from remoteops.results import HostResult, Status
from remoteops.tree import no_progress


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def test_a_run_with_nothing_to_send_draws_nothing() -> None:
    screen, out = console()
    with TransferBars(screen) as bars:
        assert bars.planned("web1", 0, 0) is no_progress
        bars.host_finished(HostResult("web1", Status.OK))
    assert out.getvalue() == ""


def test_bars_count_files_and_bytes_per_host_and_in_total() -> None:
    screen, out = console()
    with TransferBars(screen) as bars:
        bars.planned("idle", 0, 0)
        advance = bars.planned("web1", 2, 2048)
        advance(1, 1024)
        advance(1, 1024)
        bars.host_finished(HostResult("idle", Status.OK))
        bars.host_finished(HostResult("web1", Status.OK))
    shown = out.getvalue()
    assert "total" in shown
    assert "2/2 files" in shown
    assert "idle" not in shown


def test_host_output_prints_above_the_bars_once_they_started() -> None:
    """The live lines are made before the bars start (they start with the first transfer):
    they must still write through the bars' console, or they would draw over them."""
    screen, out = console()
    lines = LiveLines(["web1"])
    with TransferBars(screen) as bars:
        bars.inner = lines
        bars.planned("web1", 1, 10)
        bars.host_output("web1", "stderr", b"disk almost full\n")
    assert "web1 ! disk almost full" in out.getvalue()
