"""Block digests of local files, for sending a big file's changed blocks only.

A changed big file (a VM image, a database dump, a log that grew) usually differs from the
host's copy in a few blocks. Both sides hash fixed blocks (the host with ``split --filter
md5sum``, one pass, no helper program needed), and only blocks whose digests differ travel.
MD5 serves to spot changes, not to resist an attacker (who would be the host itself): it is
3.5x faster than coreutils' sha256sum on the host (measured here: 0.044 vs 0.155 s/20 MiB).
Unlike rsync's rolling checksum this finds no shifted data: an insertion near the start sends
the rest of the file. It does find in-place changes and appends, the common cases.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

#: Files below this size are sent whole: hashing both sides would cost more than sending.
DELTA_MIN_SIZE = 4 * 1024 * 1024
_MIN_BLOCK = 1024 * 1024
_MAX_BLOCKS = 256  # the host runs one sha256sum per block


def block_size(size: int) -> int:
    """1 MiB, or more for files over 256 MiB: at most 256 blocks, a whole number of MiB."""
    blocks_of_min = -(-size // _MIN_BLOCK)
    return _MIN_BLOCK * max(1, -(-blocks_of_min // _MAX_BLOCKS))


def block_digests(path: Path, block: int) -> tuple[str, ...]:
    """MD5 of each ``block``-sized piece of ``path`` as it is now (once per run and version).

    ``block`` must be the size the host hashed with (:func:`block_size` of the larger of the
    two file sizes), or no digest would match."""
    info = os.stat(path)
    return _digests(str(path), info.st_size, info.st_mtime_ns, block)


@functools.lru_cache(maxsize=1024)
def _digests(path: str, size: int, mtime_ns: int, block: int) -> tuple[str, ...]:
    found = []
    with open(path, "rb") as source:
        while chunk := source.read(block):
            found.append(hashlib.md5(chunk, usedforsecurity=False).hexdigest())
    return tuple(found)


def changed_blocks(local: tuple[str, ...], remote: list[str]) -> list[int]:
    """Indexes of the local blocks the host lacks (differing, or past its end)."""
    return [i for i, digest in enumerate(local) if i >= len(remote) or remote[i] != digest]


__all__ = ["DELTA_MIN_SIZE", "block_digests", "block_size", "changed_blocks"]
