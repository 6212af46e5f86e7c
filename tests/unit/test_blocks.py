"""Block sizes and the comparison behind big-file deltas."""

from __future__ import annotations

import os
from pathlib import Path

from remoteops.transports.blocks import block_digests, block_size, changed_blocks

MIB = 1024 * 1024


def test_blocks_are_one_mib_until_a_file_would_need_more_than_256() -> None:
    assert block_size(1) == MIB
    assert block_size(256 * MIB) == MIB
    assert block_size(256 * MIB + 1) == 2 * MIB
    assert block_size(10 * 1024 * MIB) == 40 * MIB


def test_changed_blocks_are_the_differing_and_the_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(os.urandom(3 * MIB + 10))
    ours = block_digests(path, MIB)
    assert len(ours) == 4
    theirs = [ours[0], "x" * 32, ours[2]]  # block 1 differs, block 3 missing on the host
    assert changed_blocks(ours, theirs) == [1, 3]
    assert changed_blocks(ours, list(ours)) == []
