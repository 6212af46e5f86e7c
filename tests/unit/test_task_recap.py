"""The recap's step counts: ``unreachable`` is the connection's failures only."""

from __future__ import annotations

import io

from remoteops.output.recap import host_json, print_recap
from remoteops.results import HostResult, Status
from remoteops.tasks.runner import HostRecap, StepResult, TaskReport


def test_timeouts_and_cancelled_steps_count_as_failed_not_unreachable() -> None:
    ends = [Status.FAILED, Status.TIMEOUT, Status.CANCELLED, Status.UNREACHABLE, Status.AUTH]
    steps = tuple(
        StepResult(index, f"s{index}", HostResult("web1", end, error="x"))
        for index, end in enumerate(ends)
    )
    recap = HostRecap("web1", Status.TIMEOUT, steps, "timed out")
    assert (recap.failed, recap.unreachable) == (3, 2)
    said = host_json(recap)
    assert (said["failed_steps"], said["unreachable_steps"]) == (3, 2)
    out = io.StringIO()
    print_recap(TaskReport((recap,)), out)
    assert "failed=3 skipped=0 ignored=0 unreachable=2  timeout: timed out" in out.getvalue()
