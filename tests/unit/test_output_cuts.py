"""Where kept or shown output is cut: never inside a UTF-8 character."""

from __future__ import annotations

import io

from remoteops.output.live import LiveLines
from remoteops.results import HostResult, Status
from remoteops.transports.base import OutputCapture
from remoteops.utf8 import whole_characters


def test_a_cut_moves_back_to_the_start_of_a_character_it_would_split() -> None:
    euro = "€".encode()  # three bytes
    data = b"ab" + euro + b"cd"
    assert [whole_characters(data, end) for end in range(len(data) + 1)] == [
        0, 1, 2, 2, 2, 5, 6, 7,
    ]  # fmt: skip
    assert whole_characters(b"\xff\xfe\xfd\xfc", 2) == 2  # not UTF-8: cut where asked
    assert whole_characters("😀".encode(), 3) == 0


def test_a_capture_cut_inside_a_character_keeps_whole_ones_and_json_stays_text() -> None:
    capture = OutputCapture(10)
    capture.add("€€€€".encode())  # 12 bytes: the limit falls inside the fourth
    capture.add(b"more")
    assert bytes(capture.kept) == "€€€".encode()
    assert capture.total == 16
    result = HostResult("h", Status.OK, 0, bytes(capture.kept), stdout_bytes=capture.total)
    obj = result.to_json()
    assert obj["stdout"] == "€€€"
    assert "stdout_base64" not in obj
    assert obj["truncated"] is True


def test_a_long_line_is_shown_in_pieces_of_whole_characters() -> None:
    out = io.StringIO()
    lines = LiveLines(["h"], out=out, err=io.StringIO())
    lines.host_output("h", "stdout", "€".encode() * 30000)
    lines.host_finished(HostResult("h", Status.OK, 0))
    shown = out.getvalue()
    assert "\ufffd" not in shown
    assert shown.replace("h | ", "").replace("\n", "") == "€" * 30000


def test_grouping_tells_apart_outputs_that_differ_only_after_the_cut_and_says_so() -> None:
    from remoteops.output.grouped import GroupedOutput, group_results

    same_start = [
        HostResult(f"h{i}", Status.OK, 0, b"a" * 100, stdout_bytes=1000 + i) for i in range(2)
    ]
    assert len(group_results(same_start)) == 2
    out = io.StringIO()
    GroupedOutput(out=out, err=io.StringIO()).render(same_start[:1])
    assert "[output cut: 100 of 1000 bytes kept]" in out.getvalue()


def test_a_json_line_written_in_pieces_is_the_same_json() -> None:
    import json

    from remoteops.output.json_lines import JsonLines

    raw = ('\x00é"\\\n€' * 400_000).encode()
    out = io.StringIO()
    JsonLines(out=out).host_finished(HostResult("h", Status.OK, 0, raw, b"err"))
    line = out.getvalue()
    assert line.endswith("}\n")
    assert line.count("\n") == 1
    assert json.loads(line) == HostResult("h", Status.OK, 0, raw, b"err").to_json()


def test_a_broadcast_input_serves_the_hosts_it_was_made_for_and_says_so_after() -> None:
    import os

    import pytest

    from remoteops.errors import TransferError
    from remoteops.transports.stdin_sources import BroadcastStdin

    read_end, write_end = os.pipe()
    os.write(write_end, b"six b\n")
    os.close(write_end)
    source = BroadcastStdin(read_end, readers=1)
    stream = source.open()
    assert stream.read() == b"six b\n"
    stream.close()
    with pytest.raises(TransferError, match="already given to every host"):
        source.open()
    os.close(read_end)
