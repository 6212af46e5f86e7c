"""``--diff``'s pure part: grouping hosts by output, choosing the reference, writing the diff."""

from __future__ import annotations

import io
import shutil

import pytest

from remoteops.errors import ConfigurationError
from remoteops.output.diff import (
    DiffOutput,
    _gnu_diff,
    _python_diff,
    diff_outputs,
    unified_diff,
)
from remoteops.output.files import check_file_names
from remoteops.results import HostResult, Status


def _ran(host: str, stdout: bytes, code: int = 0) -> HostResult:
    return HostResult(host, Status.OK if code == 0 else Status.FAILED, code, stdout)


def test_the_largest_group_is_the_reference_and_equal_groups_share_one_diff() -> None:
    results = [
        _ran("web01", b"a\n"),
        _ran("web02", b"b\n"),
        _ran("web03", b"a\n"),
        _ran("web04", b"b\n"),
        _ran("web05", b"a\n"),
    ]
    found = diff_outputs(results)
    assert found.reference == ("web01", "web03", "web05")
    (group,) = found.groups
    assert group.hosts == ("web02", "web04")
    assert group.diff == ("--- web[01,03,05] (3)\n+++ web[02,04] (2)\n@@ -1 +1 @@\n-a\n+b\n")


def test_a_failed_command_is_not_the_reference_even_when_most_hosts_failed() -> None:
    """clush's first criterion: the lowest exit code, then the largest group."""
    results = [_ran("h1", b"oops\n", 1), _ran("h2", b"oops\n", 1), _ran("h3", b"fine\n")]
    found = diff_outputs(results)
    assert found.reference == ("h3",)
    assert [g.hosts for g in found.groups] == [("h1", "h2")]


def test_ties_go_to_the_first_host_in_inventory_order() -> None:
    found = diff_outputs([_ran("z", b"1\n"), _ran("a", b"2\n")])
    assert found.reference == ("z",)


def test_against_names_the_reference_unless_it_has_no_whole_output() -> None:
    results = [_ran("h1", b"x\n"), _ran("h2", b"x\n"), _ran("h3", b"y\n")]
    assert diff_outputs(results, against="h3").reference == ("h3",)
    gone = HostResult("h4", Status.UNREACHABLE, error="connection refused")
    found = diff_outputs([*results, gone], against="h4")
    assert found.reference == ("h1", "h2")
    assert found.not_compared == ("h4",)


def test_hosts_without_a_whole_output_are_not_compared() -> None:
    partial = HostResult("slow", Status.TIMEOUT, stdout=b"half\n", error="gave up")
    found = diff_outputs([_ran("h1", b"all\n"), partial])
    assert (found.reference, found.groups, found.not_compared) == (("h1",), (), ("slow",))


def test_identical_outputs_and_no_hosts_give_no_diff() -> None:
    assert diff_outputs([_ran("a", b"same"), _ran("b", b"same")]).groups == ()
    assert diff_outputs([]).reference == ()


def test_a_last_line_without_newline_is_marked_as_diff_marks_it() -> None:
    assert unified_diff(b"a\nb", b"a\nc", "x", "y") == (
        "--- x\n+++ y\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n"
        "+c\n\\ No newline at end of file\n"
    )


def test_lines_split_at_newline_only_and_bytes_not_utf8_still_differ() -> None:
    """A carriage return or form feed is part of a line; two outputs that differ only in
    bytes that are not UTF-8 are two groups (compared as bytes), their bytes shown escaped."""
    assert unified_diff(b"a\rb\fc\n", b"a\rb\fd\n", "x", "y") == (
        "--- x\n+++ y\n@@ -1 +1 @@\n-a\rb\fc\n+a\rb\fd\n"
    )
    found = diff_outputs([_ran("h1", b"\xff\n"), _ran("h2", b"\xff\n"), _ran("h3", b"\xfe\n")])
    (group,) = found.groups
    assert group.hosts == ("h3",)
    assert "-\\xff\n+\\xfe\n" in group.diff


def test_the_renderer_prints_diffs_only_and_says_when_against_could_not_be_used() -> None:
    out, err = io.StringIO(), io.StringIO()
    renderer = DiffOutput(["h1", "h2", "h3"], against="h3", out=out, err=err)
    renderer.host_output("h1", "stdout", b"kept by the executor, not printed live\n")
    results = [
        _ran("h1", b"x\n"),
        _ran("h2", b"y\n"),
        HostResult("h3", Status.UNREACHABLE, error="refused"),
    ]
    renderer.render(results)
    assert out.getvalue() == "--- h1\n+++ h2\n@@ -1 +1 @@\n-x\n+y\n"
    assert "--diff-against h3: it has no whole output" in err.getvalue()


@pytest.mark.parametrize("name", ["", "a/b", "..", ".", ".x", "a\0b", "n" * 256])
def test_host_names_unusable_as_file_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot name a file"):
        check_file_names(["fine", name])


def test_json_results_need_room_for_their_suffix() -> None:
    check_file_names(["n" * 255])
    with pytest.raises(ConfigurationError, match="longer than 250 bytes"):
        check_file_names(["n" * 255], json_results=True)


@pytest.mark.parametrize(
    ("reference", "other"),
    [
        (b"a\nb\nc\n", b"a\nB\nc\n"),
        (b"a\nb", b"a\nb\n"),  # a last line without its newline, on either side
        (b"same\n" * 20 + b"x\n" + b"same\n" * 20, b"same\n" * 20 + b"y\n" + b"same\n" * 20),
        (b"\xff\xfe\n", b"\xff\xfd\n"),  # not UTF-8: escaped, still different
        (b"cr\r\nff\x0c\n", b"cr\n"),
        (b"", b"new\n"),
    ],
)
def test_gnu_diff_and_the_python_fallback_write_the_same_diff(
    reference: bytes, other: bytes
) -> None:
    """diff is used when installed (difflib took minutes on big outputs); a machine without
    it gets the same text from difflib."""
    tool = shutil.which("diff")
    assert tool is not None  # diffutils is Essential on Debian
    gnu = _gnu_diff(tool, reference, other, "web01", "web[02-03] (2)")
    assert gnu == _python_diff(reference, other, "web01", "web[02-03] (2)")
    assert gnu.startswith("--- web01\n+++ web[02-03] (2)\n@@ ")
