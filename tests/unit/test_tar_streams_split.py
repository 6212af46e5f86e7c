"""How a batch's members are spread over parallel tar streams (``shell_files._streams``)."""

from __future__ import annotations

from remoteops.transports.shell_files import (
    MAX_STREAMS,
    STREAM_MIN_BYTES,
    _release_streams,
    _reserve_streams,
    _streams,
)
from remoteops.transports.tar_stream import Member
from remoteops.tree import Entry, Kind

BIG = STREAM_MIN_BYTES


def _file(name: str, size: int) -> Member:
    return Member(name, Entry(name.rsplit("/", maxsplit=1)[-1], Kind.FILE, size=size))


def _folder(name: str) -> Member:
    return Member(name, Entry(name, Kind.DIR))


def test_a_batch_without_big_files_is_one_stream_in_its_order() -> None:
    members = [_folder(".new.tmp"), _file(".new.tmp/a", 10), _file(".b.tmp", BIG - 1)]
    assert _streams(members) == [members]


def test_big_files_beside_existing_folders_spread_over_streams_by_size() -> None:
    small = [_folder(".new.tmp"), _file(".new.tmp/a", 10), _file(".s.tmp", 5)]
    big = [_file(f".big{n}.tmp", BIG * (n + 1)) for n in range(5)]
    parts = _streams([*small, *big])
    assert parts[0] == small  # the main stream keeps everything else, in order
    assert len(parts) == MAX_STREAMS
    spread = sorted(m.name for part in parts[1:] for m in part)
    assert spread == sorted(m.name for m in big)
    loads = [sum(m.entry.size for m in part) for part in parts[1:]]
    assert max(loads) - min(loads) <= BIG * 2  # largest first, each to the least loaded


def test_a_big_file_inside_a_new_folder_stays_with_its_folder() -> None:
    members = [_folder(".new.tmp"), _file(".new.tmp/big", BIG * 3), _file(".other.tmp", 1)]
    assert _streams(members) == [members]


def test_one_big_file_alone_is_one_stream() -> None:
    member = _file(".big.tmp", BIG * 2)
    assert _streams([member]) == [[member]]


def test_streams_beyond_the_budget_are_not_split_until_some_end() -> None:
    """Many hosts at once: the first batches split, the next ones stay one stream each."""
    big = [_file(".small.tmp", 1), *(_file(f".big{n}.tmp", BIG) for n in range(3))]
    taken = [_reserve_streams(big) for _ in range(4)]
    try:
        counts = [len(parts) for parts in taken]
        assert counts == [MAX_STREAMS, MAX_STREAMS, 1, 1]  # STREAM_BUDGET: 8
    finally:
        for parts in taken:
            _release_streams(len(parts))
    again = _reserve_streams(big)
    _release_streams(len(again))
    assert len(again) == MAX_STREAMS
