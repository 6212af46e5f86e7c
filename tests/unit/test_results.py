"""Exit codes and the JSON schema of a host result."""

from __future__ import annotations

import base64

import pytest

from remoteops.results import ExitCode, HostResult, RunReport, Status


def _report(*statuses: Status, interrupted: bool = False) -> RunReport:
    return RunReport(
        [HostResult(f"h{i}", s) for i, s in enumerate(statuses)], interrupted=interrupted
    )


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((Status.OK, Status.OK), ExitCode.OK),
        ((Status.OK, Status.FAILED), ExitCode.COMMAND_FAILED),
        ((Status.OK, Status.UNREACHABLE), ExitCode.HOST_FAILED),
        ((Status.AUTH,), ExitCode.HOST_FAILED),
        ((Status.HOSTKEY,), ExitCode.HOST_FAILED),
        ((Status.TIMEOUT,), ExitCode.HOST_FAILED),
        ((Status.UNSUPPORTED,), ExitCode.HOST_FAILED),
        ((Status.FAILED, Status.TIMEOUT), ExitCode.BOTH_FAILED),
        ((), ExitCode.OK),
    ],
)
def test_exit_code_keeps_failed_apart_from_unreachable(
    statuses: tuple[Status, ...], expected: ExitCode
) -> None:
    assert _report(*statuses).exit_code is expected


def test_interrupted_run_exits_130_whatever_the_results() -> None:
    assert _report(Status.OK, interrupted=True).exit_code == 130


def test_json_object_has_the_documented_keys_and_types() -> None:
    obj = HostResult("web01", Status.FAILED, 3, b"out\n", b"err\n", None, 1.23456).to_json()
    assert obj == {
        "host": "web01",
        "ok": False,
        "status": "failed",
        "exit_code": 3,
        "stdout": "out\n",
        "stderr": "err\n",
        "stdout_bytes": 4,
        "stderr_bytes": 4,
        "truncated": False,
        "error": None,
        "duration_s": 1.235,
    }


def test_output_beyond_the_capture_limit_is_counted_and_marked_truncated() -> None:
    result = HostResult("h", Status.OK, 0, b"first", b"", stdout_bytes=10_000_000, stderr_bytes=0)
    obj = result.to_json()
    assert (obj["stdout"], obj["stdout_bytes"], obj["truncated"]) == ("first", 10_000_000, True)
    assert obj["stderr_bytes"] == 0


def test_non_utf8_output_is_kept_exactly_in_base64() -> None:
    raw = b"caf\xe9 \xff\n"
    obj = HostResult("h", Status.OK, 0, raw).to_json()
    assert obj["stdout"] == "caf\ufffd \ufffd\n"
    assert base64.b64decode(obj["stdout_base64"]) == raw
    assert "stderr_base64" not in obj


def test_report_orders_by_host_and_indexes() -> None:
    report = _report(Status.OK, Status.FAILED)
    assert [r.host for r in report.results] == ["h0", "h1"]
    assert report.by_host["h1"].status is Status.FAILED
    assert report.counts()[Status.OK] == 1
