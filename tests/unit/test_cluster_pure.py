"""The pure parts of the Dask executor: how hosts are cut into chunks, and the events."""

from __future__ import annotations

import pytest

from remoteops.cluster import DaskSettings, settings_from_env
from remoteops.cluster.placement import plan_chunks, resource_of
from remoteops.cluster.wire import Claimed, Ended, Finished, Forwarder, Output, Started, decode
from remoteops.errors import InventoryError
from remoteops.inventory.model import Host
from remoteops.results import HostResult
from remoteops.status import Status


def hosts(count: int, **extra: object) -> list[Host]:
    return [Host(f"h{i:03d}", dict(extra)) for i in range(count)]


def test_chunks_keep_forks_the_total_in_flight_and_leave_work_to_steal() -> None:
    chunks = plan_chunks(hosts(1000), forks=256, threads={None: 8})
    assert sum(len(c.hosts) for c in chunks) == 1000
    assert [h.name for c in chunks for h in c.hosts] == [h.name for h in hosts(1000)]
    assert all(c.forks == min(32, len(c.hosts)) for c in chunks)  # 256 forks, 8 threads
    assert len(chunks) >= 8  # every thread gets one, some left for the fast ones
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_pinned_hosts_are_chunked_apart_with_their_resource() -> None:
    pinned = hosts(5, dask_worker_resource="site-a")
    mixed = [*hosts(3), *(Host(f"p{h.name}", h.vars) for h in pinned)]
    chunks = plan_chunks(mixed, forks=4, threads={None: 4, "site-a": 2}, chunk_size=2)
    by_resource = {
        r: [h.name for c in chunks if c.resource == r for h in c.hosts] for r in (None, "site-a")
    }
    assert by_resource[None] == ["h000", "h001", "h002"]
    assert by_resource["site-a"] == [f"ph{i:03d}" for i in range(5)]
    assert all(len(c.hosts) <= 2 for c in chunks)
    assert {c.forks for c in chunks if c.resource == "site-a"} <= {1, 2}


@pytest.mark.parametrize("value", [7, " site-a", "", None])
def test_a_resource_must_be_a_plain_name(value: object) -> None:
    assert resource_of(Host("web00", {})) is None  # unset: any worker
    with pytest.raises(InventoryError, match="web01: dask_worker_resource"):
        resource_of(Host("web01", {"dask_worker_resource": value}))


def test_settings_refuse_nonsense_and_come_from_the_environment() -> None:
    with pytest.raises(ValueError, match="scheduler address is empty"):
        DaskSettings(" ")
    with pytest.raises(ValueError, match="chunk_size"):
        DaskSettings("tcp://s:8786", chunk_size=0)
    assert settings_from_env({}) is None
    found = settings_from_env({"REMOTEOPS_DASK_SCHEDULER": "tcp://s:8786"})
    assert found == DaskSettings("tcp://s:8786")


def test_events_round_trip_through_plain_lists() -> None:
    sent: list[list[object]] = []
    forward = Forwarder(sent.append)
    result = HostResult("web01", Status.FAILED, exit_code=3, stdout=b"\xff", error="exit code 3")
    forward.host_started("web01")
    forward.host_output("web01", "stderr", b"oops\n")
    forward.host_finished(result)
    forward.interrupted(["web01"])  # the controller shows one list for the whole run
    assert [decode(m) for m in sent] == [
        Started("web01"),
        Output("web01", "stderr", b"oops\n"),
        Finished(result),
    ]
    assert decode(["c", 4, "tcp://w:1"]) == Claimed(4, "tcp://w:1")
    assert decode(["e", 4]) == Ended(4)


@pytest.mark.parametrize(
    "message",
    [["zz", 1], ["s"], ["f", "web02", b"not a pickle"], ["o", "web01", "stdout"], []],
)
def test_a_malformed_event_is_a_value_error(message: list[object]) -> None:
    with pytest.raises(ValueError, match="chunk event"):
        decode(message)


def test_a_result_under_another_hosts_name_is_refused() -> None:
    sent: list[list[object]] = []
    Forwarder(sent.append).host_finished(HostResult("web01", Status.OK))
    sent[0][1] = "web02"
    with pytest.raises(ValueError, match="not the host's result"):
        decode(sent[0])


@pytest.mark.parametrize(
    ("address", "host_port"),
    [
        ("tcp://10.0.0.5:8786", ("10.0.0.5", 8786)),
        ("sched:8786", ("sched", 8786)),
        ("tcp://[::1]:8786/", ("::1", 8786)),
        ("tls://sched:8786", (None, 0)),  # Dask's own client checks those
        ("tcp://sched", (None, 0)),
    ],
)
def test_a_scheduler_address_gives_what_is_checked_before_dask(
    address: str, host_port: tuple[str | None, int]
) -> None:
    assert DaskSettings(address).host_port() == host_port


@pytest.mark.parametrize("address", ["foo://bar:1", "http://sched:8787", "tcp://", "tcp:///"])
def test_a_scheduler_address_dask_cannot_speak_is_refused_at_once(address: str) -> None:
    with pytest.raises(ValueError, match="Dask scheduler address"):
        DaskSettings(address)


def test_transfers_check_a_spread_of_their_files() -> None:
    from pathlib import Path

    from remoteops.fleet import _FILES_CHECKED, _spread

    few = [Path(f"f{i}") for i in range(3)]
    assert _spread(few) == tuple(few)
    many = [Path(f"f{i:04d}") for i in range(2000)]
    chosen = _spread(many)
    assert len(chosen) == _FILES_CHECKED
    assert chosen[0] == many[0]
    assert chosen[-1] == many[-1]
    assert list(chosen) == sorted(set(chosen))
