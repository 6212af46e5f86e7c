"""Rolling batches (`serial:`) and the brake (`max_fail`, `max_fail_percentage`), with the
examples of Ansible's documentation."""

from __future__ import annotations

import pytest

from remoteops.tasks import batches, should_stop
from remoteops.tasks.batches import parse_batch_size, run_batches
from remoteops.tasks.model import BatchSize

HOSTS = [f"h{number:02}" for number in range(1, 21)]


def sizes(total: int, serial: list[BatchSize]) -> list[int]:
    return [len(batch) for batch in batches(HOSTS[:total], serial)]


def test_no_serial_is_one_batch_of_every_host_and_no_hosts_no_batch() -> None:
    assert batches(HOSTS, []) == [HOSTS]
    assert batches([], [3]) == []
    assert batches([], []) == []


def test_batches_keep_the_hosts_order_and_lose_none() -> None:
    cut = batches(HOSTS, [1, 5, "50%"])
    assert [host for batch in cut for host in batch] == HOSTS
    assert cut[0] == ["h01"]


@pytest.mark.parametrize(
    ("total", "serial", "expected"),
    [
        (6, [3], [3, 3]),  # "serial: 3": six hosts in two batches of three
        (7, [3], [3, 3, 1]),  # the last batch takes what is left
        (20, ["30%"], [6, 6, 6, 2]),  # "30%" of all 20 hosts: six at a time
        (3, ["10%"], [1, 1, 1]),  # 10 % of 3 rounds down to 0: at least one
        (20, [1, 5, 10], [1, 5, 10, 4]),  # a list: a canary, then five, then ten
        (20, [1, 5], [1, 5, 5, 5, 4]),  # the last entry repeats
        (20, ["10%", "20%", "100%"], [2, 4, 14]),
        (4, ["100%"], [4]),
        (2, [5], [2]),
    ],
)
def test_serial_follows_ansible(total: int, serial: list[BatchSize], expected: list[int]) -> None:
    assert sizes(total, serial) == expected


@pytest.mark.parametrize(
    ("failed", "total", "percentage", "stop"),
    [
        # "if more than 3 of the 10 servers in the first batch failed, the rest is aborted"
        (3, 10, 30, False),
        (4, 10, 30, True),
        # "serial 4, abort when 2 of the systems failed: set 49 rather than 50"
        (2, 4, 49, True),
        (2, 4, 50, False),
        # 0 tolerates nothing
        (0, 10, 0, False),
        (1, 10, 0, True),
        # a failed canary is 100 % of the hosts run so far
        (1, 1, 99, True),
        (0, 0, 10, False),
    ],
)
def test_max_fail_percentage_stops_when_exceeded_not_when_equalled(
    failed: int, total: int, percentage: float, stop: bool
) -> None:
    assert should_stop(failed, total, max_fail_percentage=percentage) is stop


def test_max_fail_stops_once_that_many_hosts_failed() -> None:
    assert should_stop(0, 10, max_fail=1) is False
    assert should_stop(1, 10, max_fail=1) is True
    assert should_stop(2, 10, max_fail=3) is False
    assert should_stop(3, 10, max_fail=3) is True


def test_either_limit_stops_and_none_never_does() -> None:
    assert should_stop(10, 10) is False
    assert should_stop(2, 100, max_fail=2, max_fail_percentage=50) is True
    assert should_stop(1, 2, max_fail=5, max_fail_percentage=49) is True


@pytest.mark.parametrize(
    ("typed", "entry"), [("5", 5), ("1", 1), ("20%", "20%"), (" 100% ", "100%"), ("050%", "50%")]
)
def test_a_serial_entry_typed_on_the_command_line_reads_as_in_a_file(
    typed: str, entry: BatchSize
) -> None:
    assert parse_batch_size(typed) == entry


@pytest.mark.parametrize("typed", ["0", "0%", "101%", "-1", "five", "%", "1.5", "²"])
def test_a_bad_serial_entry_says_what_is_accepted(typed: str) -> None:
    with pytest.raises(ValueError, match="positive number of hosts or a percentage"):
        parse_batch_size(typed)


def test_batches_stop_at_the_brake_after_a_failed_canary_and_say_why() -> None:
    failing = {"h01"}
    ran: list[list[str]] = []

    def run(batch: list[str]) -> bool:
        ran.append(batch)
        return False

    stopped = run_batches(HOSTS[:6], [1, 5], run, failing.__contains__, max_fail=1)
    assert ran == [["h01"]]
    assert stopped == "1 of 1 hosts failed (the max_fail brake)"
    ran.clear()
    assert run_batches(HOSTS[:6], [1, 5], run, failing.__contains__) == (
        "every host of batch 1 failed"
    )
    ran.clear()
    assert run_batches(HOSTS[:6], [2], run, lambda host: False) is None
    assert ran == [HOSTS[:2], HOSTS[2:4], HOSTS[4:6]]
    assert run_batches(HOSTS[:6], [2], lambda batch: True, lambda host: False) == "interrupted"
