"""The run journal's reading of the previous run (``@failed`` / ``@last``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from remoteops.errors import PatternError
from remoteops.journal import Journal
from remoteops.results import HostResult, RunReport, Status


def _report(*results: tuple[str, Status]) -> RunReport:
    return RunReport(
        [HostResult(host, status, 0 if status is Status.OK else 1) for host, status in results], 0.1
    )


def test_a_damaged_newest_run_is_said_not_skipped_for_the_one_before(tmp_path: Path) -> None:
    """A retry of the run before the damaged one would reach hosts of another run."""
    journal = Journal(tmp_path)
    journal.record(_report(("web1", Status.FAILED), ("web2", Status.OK)), ["run", "x"])
    assert journal.host_sets() == {"failed": ["web1"], "last": ["web1", "web2"]}
    newest = journal.record(_report(("db1", Status.FAILED)), ["run", "y"])
    assert newest is not None
    newest.write_text('{"run": ')  # cut short by hand
    with pytest.raises(PatternError, match=r"newest journalled run, .* cannot be read"):
        journal.host_sets()
    newest.unlink()
    assert journal.host_sets()["failed"] == ["web1"]
