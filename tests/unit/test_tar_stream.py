"""The tar stream of the SSH bulk path, read back by Python's tarfile and by GNU tar."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from remoteops.errors import LocalReadError
from remoteops.transports.tar_stream import Member, write_tar
from remoteops.tree import Entry, Kind

LONG = "d/" + "n" * 180  # beyond the 100 bytes of a plain ustar name


def members(root: Path) -> list[Member]:
    (root / "d").mkdir()
    (root / "d" / "small").write_bytes(b"x" * 700)
    (root / "big").write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    (root / "empty").write_bytes(b"")
    (root / LONG).write_bytes(b"long")
    odd = os.fsdecode(b"d/caf\xe9 \n'quote")  # not UTF-8, with a newline and a quote
    (root / odd).write_bytes(b"odd")
    files = ["d/small", "big", "empty", LONG, odd]
    found = [Member("d", Entry("d", Kind.DIR, mode=0o750, mtime=1_600_000_000))]
    for path in files:
        entry = Entry(path, Kind.FILE, mode=0o640, mtime=1_700_000_000)
        found.append(Member(path + ".tmp", entry, root / path))
    link = Entry("d/link", Kind.SYMLINK, target="../" + "t" * 150)
    found.append(Member("d/link.tmp", link))
    return found


def test_python_reads_back_every_member_exactly(tmp_path: Path) -> None:
    source = members(tmp_path)
    chunks: list[bytes] = []
    reported: list[tuple[int, int]] = []
    sent = write_tar(
        source, lambda view: chunks.append(bytes(view)), lambda n, size: reported.append((n, size))
    )
    data = b"".join(chunks)
    assert len(data) % 10240 == 0
    files = [m for m in source if m.entry.kind is Kind.FILE]
    assert sent == sum((m.local or Path()).stat().st_size for m in files)
    assert sum(f for f, _ in reported) == len(files)  # progress adds up, big files included
    assert sum(s for _, s in reported) == sent
    assert len(reported) > len(files)  # the 3 MiB file reported while it was sent
    with tarfile.open(fileobj=io.BytesIO(data), encoding="utf-8", errors="surrogateescape") as tar:
        got = {info.name: info for info in tar.getmembers()}
        assert list(got) == [m.name for m in source]
        for member in files:
            info = got[member.name]
            assert (info.mode, info.mtime) == (0o640, 1_700_000_000)
            extracted = tar.extractfile(info)
            assert extracted is not None
            assert extracted.read() == (member.local or Path()).read_bytes()
        assert got["d"].isdir()
        assert got["d"].mode == 0o750
        assert got["d/link.tmp"].issym()
        assert got["d/link.tmp"].linkname == "../" + "t" * 150


def test_gnu_tar_extracts_it_with_modes_and_times(tmp_path: Path) -> None:
    source_root, target = tmp_path / "source", tmp_path / "target"
    source_root.mkdir()
    target.mkdir()
    source = members(source_root)
    chunks: list[bytes] = []
    write_tar(source, lambda view: chunks.append(bytes(view)))  # views of a reused buffer
    done = subprocess.run(
        ["tar", "-x", "-o", "-p", "-f", "-", "-C", str(target)],
        input=b"".join(chunks),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for member in source:
        landed = target / member.name
        if member.entry.kind is Kind.FILE:
            assert member.local is not None
            assert landed.read_bytes() == member.local.read_bytes()
            assert landed.stat().st_mode & 0o7777 == 0o640
            assert int(landed.stat().st_mtime) == 1_700_000_000
        elif member.entry.kind is Kind.SYMLINK:
            assert os.readlink(landed) == member.entry.target


def test_a_missing_local_file_is_a_local_error(tmp_path: Path) -> None:
    gone = Member("x.tmp", Entry("x", Kind.FILE), tmp_path / "missing")
    with pytest.raises(LocalReadError, match="missing"):
        write_tar([gone], lambda data: None)


def test_a_failing_receiver_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(2 * 1024 * 1024))

    def closed(data: memoryview) -> None:
        raise OSError("Socket is closed")

    member = Member("f.tmp", Entry("f", Kind.FILE), tmp_path / "f")
    with pytest.raises(OSError, match="Socket is closed") as caught:
        write_tar([member], closed)
    assert not isinstance(caught.value, LocalReadError)
