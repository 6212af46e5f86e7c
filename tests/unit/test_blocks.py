"""Block sizes and the comparison behind big-file deltas."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

from remoteops.transports.blocks import (
    CHANGED_MEANWHILE,
    DELTA_SCRIPT,
    END_OF_PATCH,
    block_digests,
    block_size,
    changed_blocks,
    coarse_block_size,
)

MIB = 1024 * 1024
KIB = 1024


def test_blocks_are_32_kib_until_a_file_would_need_more_than_4096() -> None:
    assert block_size(1) == 32 * KIB
    assert block_size(128 * MIB) == 32 * KIB
    assert block_size(128 * MIB + 1) == 64 * KIB
    assert block_size(10 * 1024 * MIB) == 2560 * KIB


def test_coarse_blocks_are_one_mib_until_a_file_would_need_more_than_256() -> None:
    assert coarse_block_size(1) == MIB
    assert coarse_block_size(256 * MIB) == MIB
    assert coarse_block_size(256 * MIB + 1) == 2 * MIB
    assert coarse_block_size(10 * 1024 * MIB) == 40 * MIB


def _script(mode: str, stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-E", "-S", "-c", DELTA_SCRIPT, mode, *args]
    return subprocess.run(argv, input=stdin, capture_output=True, check=False)


def _fields(*values: object) -> bytes:
    return b"".join(os.fsencode(str(v)) + b"\0" for v in values)


def test_the_host_script_copies_and_hashes_as_the_client_does(tmp_path: Path) -> None:
    path, temp = tmp_path / "f", tmp_path / "f.tmp"
    path.write_bytes(os.urandom(3 * 32 * KIB + 10))
    done = _script("hash", _fields(path, temp, 32 * KIB))
    assert done.returncode == 0, done.stderr
    assert tuple(done.stdout.decode().split()) == block_digests(path, 32 * KIB)
    assert temp.read_bytes() == path.read_bytes()
    assert temp.stat().st_mode & 0o777 == 0o600


def test_a_patch_cut_short_is_not_renamed_into_place(tmp_path: Path) -> None:
    """Without the end marker (a dropped connection), the host's file stays as it was."""
    path, temp = tmp_path / "f", tmp_path / "f.tmp"
    path.write_bytes(b"a" * 100)
    temp.write_bytes(b"a" * 100)
    header = _fields(temp, path, 100, "644", 1_700_000_000, "", "")
    record = struct.pack(">QI", 10, 3) + b"xyz"
    cut = _script("patch", header + record)
    assert cut.returncode != 0
    assert b"cut short" in cut.stderr
    assert path.read_bytes() == b"a" * 100
    done = _script("patch", header + record + struct.pack(">QI", 0, END_OF_PATCH))
    assert done.returncode == 0, done.stderr
    assert path.read_bytes() == b"a" * 10 + b"xyz" + b"a" * 87
    assert not temp.exists()
    assert (path.stat().st_mode & 0o777, path.stat().st_mtime) == (0o644, 1_700_000_000)


def test_a_patch_whose_result_has_another_digest_is_refused(tmp_path: Path) -> None:
    path, temp = tmp_path / "f", tmp_path / "f.tmp"
    path.write_bytes(b"old")
    temp.write_bytes(b"old")
    header = _fields(temp, path, 3, "600", 1_700_000_000, "0" * 64, "")
    done = _script("patch", header + struct.pack(">QI", 0, END_OF_PATCH))
    assert done.returncode != 0
    assert b"content differs" in done.stderr
    assert path.read_bytes() == b"old"


def test_changed_blocks_are_the_differing_and_the_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(os.urandom(3 * MIB + 10))
    ours = block_digests(path, MIB)
    assert len(ours) == 4
    theirs = [ours[0], "x" * 32, ours[2]]  # block 1 differs, block 3 missing on the host
    assert changed_blocks(ours, theirs) == [1, 3]
    assert changed_blocks(ours, list(ours)) == []


def test_the_scan_hashes_only_big_files_that_differ_and_a_patch_copies_them_unless_changed(
    tmp_path: Path,
) -> None:
    """The listing's scan: big host files whose size or mtime differ from ours are hashed
    (nothing is written); the patch copies such a file first, unless it changed since."""
    os.chdir(tmp_path)
    big, same, small = (tmp_path / n for n in ("big", "same", "small"))
    for path, size in ((big, 5 * MIB), (same, 5 * MIB), (small, 1000)):
        path.write_bytes(os.urandom(size))
        os.utime(path, (1_700_000_000, 1_700_000_000))
    asked = [f"./{big.name}", str(5 * MIB + 1), "1700000000", "./small", "1001", "1700000000"]
    asked += ["./same", str(5 * MIB), "1700000000", "./gone", str(5 * MIB), "1"]
    done = _script("scan", b"", *asked)
    assert done.returncode == 0, done.stderr
    length, _, rest = done.stdout[1:].partition(b"\n")
    assert rest[int(length) :] == b"E"
    path, block, token, digests, end = rest[: int(length)].split(b"\0")
    assert (path, int(block), end) == (b"./big", 32 * KIB, b"")
    assert tuple(digests.decode().split(",")) == block_digests(big, 32 * KIB)
    assert sorted(os.listdir(tmp_path)) == ["big", "same", "small"]
    temp = tmp_path / ".big.tmp"
    header = _fields(temp, big, 5 * MIB, "600", 1_700_000_001, "", token.decode())
    end_mark = struct.pack(">QI", 0, END_OF_PATCH)
    os.utime(big, (1_700_000_002, 1_700_000_002))  # changed since the scan
    stale = _script("patch", header + end_mark)
    assert stale.returncode == CHANGED_MEANWHILE
    assert not temp.exists()
    os.utime(big, (1_700_000_000, 1_700_000_000))  # the ctime moved on: still changed
    assert _script("patch", header + end_mark).returncode == CHANGED_MEANWHILE
