"""The local scan and the remote listing parser see the same tree the same way.

The listing side runs the real ``find`` command it would send to a host, here on a local
tree, so both readers are checked against one real file system.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from remoteops.errors import ConfigurationError
from remoteops.sync import Entry, Kind, SyncOptions, plan_sync
from remoteops.sync.local_tree import scan_tree
from remoteops.transports.listing import find_command, parse_find_output, path_command
from remoteops.tree import file_digest

ODD_NAMES = [
    "plain.txt",
    "with space",
    "quote'single",
    'quote"double',
    "new\nline",
    "ünï",
    "tab\there",
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    for number, name in enumerate(ODD_NAMES):
        (root / "sub" / name).write_bytes(b"x" * number)
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "sub" / "deeper" / "data").write_bytes(os.urandom(5000))
    os.symlink("run.sh", root / "link")
    os.symlink("/nowhere/at/all", root / "dangling")
    os.utime(root / "run.sh", (1_600_000_000, 1_600_000_000))
    return root


def _listing(root: Path) -> list[Entry]:
    done = subprocess.run(
        ["/bin/sh", "-c", find_command(str(root))], capture_output=True, check=True
    )
    return parse_find_output(done.stdout)


def test_scan_and_listing_agree_on_a_tree_with_odd_names(tree: Path) -> None:
    scanned = {e.path: e for e in scan_tree(tree).entries}
    listed = {e.path: e for e in _listing(tree)}
    assert scanned == listed
    assert {f"sub/{name}" for name in ODD_NAMES} <= set(scanned)
    assert scanned["run.sh"].mode == 0o755
    assert scanned["run.sh"].mtime == 1_600_000_000
    assert scanned["link"].kind is Kind.SYMLINK
    assert scanned["link"].target == "run.sh"
    assert scanned["empty"].kind is Kind.DIR
    assert plan_sync(scanned.values(), listed.values(), SyncOptions(delete=True)).actions == ()


def test_checksum_scan_hashes_files(tree: Path) -> None:
    scanned = {e.path: e for e in scan_tree(tree, checksum=True).entries}
    assert scanned["sub/deeper/data"].digest == file_digest(tree / "sub" / "deeper" / "data")
    assert scanned["sub/deeper"].digest is None


def test_copy_links_follows_links_and_skips_dangling_ones(tree: Path) -> None:
    scanned = scan_tree(tree, copy_links=True)
    by_path = {e.path: e for e in scanned.entries}
    assert by_path["link"].kind is Kind.FILE
    assert by_path["link"].size == len("#!/bin/sh\n")
    assert "dangling" not in by_path
    assert any(s.startswith("dangling:") for s in scanned.skipped)


def test_missing_root_lists_nothing_and_a_file_root_is_an_error(tmp_path: Path) -> None:
    assert _listing(tmp_path / "absent") == []
    (tmp_path / "file").write_text("x")
    done = subprocess.run(
        ["/bin/sh", "-c", find_command(str(tmp_path / "file"))], capture_output=True, check=False
    )
    assert done.returncode == 3
    assert b"not a directory" in done.stderr


def test_scanning_a_missing_or_file_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        scan_tree(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigurationError, match="not a directory"):
        scan_tree(tmp_path / "file")


def test_truncated_listing_is_refused() -> None:
    with pytest.raises(ValueError, match="truncated"):
        parse_find_output(b"f\x0010\x00")


def test_a_symlinked_destination_is_listed_through_the_link(tree: Path, tmp_path: Path) -> None:
    os.symlink(tree, tmp_path / "current")
    assert {e.path for e in _listing(tmp_path / "current")} == {
        e.path for e in scan_tree(tree).entries
    }


def test_names_starting_with_a_dash_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "-rf").mkdir()
    (tmp_path / "-rf" / "f").write_text("x")
    done = subprocess.run(
        ["/bin/sh", "-c", find_command("-rf")], cwd=tmp_path, capture_output=True, check=True
    )
    assert [e.path for e in parse_find_output(done.stdout)] == ["f"]
    done = subprocess.run(
        ["/bin/sh", "-c", path_command("-rf")], cwd=tmp_path, capture_output=True, check=True
    )
    assert [e.path for e in parse_find_output(done.stdout)] == ["-rf", "-rf/f"]


def test_a_listing_says_each_entrys_ctime_whatever_its_form(tmp_path: Path) -> None:
    """The ctime tells a temporary being written from a leftover (its mtime is set to the
    source's before its rename). Every listing has it, in one format (``find_printf``): a
    ctime without a fraction (a find that prints whole seconds) is no other format."""
    (tmp_path / "f").write_text("x")
    os.utime(tmp_path / "f", (5, 5))
    (entry,) = _listing(tmp_path)
    assert (entry.mtime, entry.changed) == (5, int((tmp_path / "f").stat().st_ctime))
    assert entry.last_change == entry.changed
    whole_seconds = b"f\x001\x005\x009\x00644\x00./f\x00\x00d\x000\x007\x008\x00755\x00./d\x00\x00"
    assert [(e.path, e.kind, e.mtime, e.changed) for e in parse_find_output(whole_seconds)] == [
        ("f", Kind.FILE, 5, 9),
        ("d", Kind.DIR, 7, 8),
    ]
    six_fields = b"f\x001\x005.0\x00644\x00./f\x00\x00"  # no ctime: no longer guessed
    with pytest.raises(ValueError, match="truncated"):
        parse_find_output(six_fields)
