"""The one line per host that text mode ends a transfer with (``sync``, ``put``, ``get``)."""

from __future__ import annotations

import io

from remoteops.output.transfers import TransferLines, shown_size, transfer_line
from remoteops.results import HostResult, PlannedChange, Status, TransferStats

COUNTS = "{} created, {} updated, {} deleted, {} unchanged"


def test_sizes_are_bytes_below_a_kibibyte_then_one_decimal() -> None:
    assert [shown_size(n) for n in (0, 1023, 1024, 20_582, 3 * 1024**3, 5 * 1024**5)] == [
        "0 B", "1023 B", "1.0 KiB", "20.1 KiB", "3.0 GiB", "5120.0 TiB",
    ]  # fmt: skip


def test_a_failed_host_that_changed_files_says_so_and_one_that_did_not_has_only_its_error() -> None:
    partly = TransferStats(files_created=2, files_unchanged=1, bytes_sent=4096)
    failed = HostResult("web1", Status.FAILED, error="could not write 1 entry", transfer=partly)
    assert transfer_line(failed) == (
        "partly changed: " + COUNTS.format(2, 0, 0, 1) + "; 4.0 KiB sent, 0 B received"
    )
    nothing = HostResult("web2", Status.FAILED, error="no such folder", transfer=TransferStats())
    assert transfer_line(nothing) is None
    assert transfer_line(HostResult("web3", Status.UNREACHABLE, error="refused")) is None
    refused_plan = HostResult(
        "web4", Status.FAILED, error="over --max-delete", transfer=TransferStats(files_deleted=9),
        plan=(PlannedChange("delete", "x", "not in source"),),
    )  # fmt: skip
    assert transfer_line(refused_plan) is None


def test_a_dry_run_says_what_it_would_change_or_that_nothing_would() -> None:
    would = HostResult("web1", Status.OK, transfer=TransferStats(files_updated=1), plan=())
    assert transfer_line(would) == "would change (dry run): " + COUNTS.format(0, 1, 0, 0)
    same = HostResult("web1", Status.OK, transfer=TransferStats(files_unchanged=4), plan=())
    assert transfer_line(same) == "unchanged (dry run): " + COUNTS.format(0, 0, 0, 4)


def test_the_line_follows_the_hosts_own_lines_and_its_error_goes_to_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    lines = TransferLines(["web1", "db1"], out=out, err=err)
    lines.host_output("web1", "stdout", b"upload a: new")  # no line end: flushed at the end
    lines.host_finished(HostResult("web1", Status.OK, transfer=TransferStats(files_created=1)))
    lines.host_finished(HostResult("db1", Status.UNREACHABLE, error="refused"))
    assert out.getvalue().splitlines() == [
        "web1 | upload a: new",
        "web1 | changed: " + COUNTS.format(1, 0, 0, 0) + "; 0 B sent, 0 B received",
    ]
    assert err.getvalue() == "db1  ! UNREACHABLE: refused\n"
