"""The tar stream of the SSH bulk path, read back by Python's tarfile and by GNU tar."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from remoteops.errors import LocalReadError
from remoteops.transports.tar_stream import ContentCache, Member, identity_of, write_tar
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


def archived_contents(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            info.name: extracted.read()
            for info in tar.getmembers()
            if (extracted := tar.extractfile(info)) is not None
        }


def stream(members: list[Member], cache: ContentCache) -> dict[str, bytes]:
    chunks: list[bytes] = []
    write_tar(members, lambda view: chunks.append(bytes(view)), cache=cache)
    return archived_contents(b"".join(chunks))


#: The caches here trust a file's times once its last change is this old (2 s by default).
RACY = 0.05


def settled(path: Path, data: bytes) -> None:
    """Write ``data`` (an mtime that stays the same), then wait until the change is old
    enough for the cache to keep the file."""
    path.write_bytes(data)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    time.sleep(2 * RACY)


def test_a_file_changed_between_two_hosts_reaches_the_second_as_changed(tmp_path: Path) -> None:
    cache = ContentCache(racy_seconds=RACY)
    path = tmp_path / "f"
    settled(path, b"first version")
    member = Member("f.tmp", Entry("f", Kind.FILE), path)
    assert stream([member], cache) == {"f.tmp": b"first version"}
    assert len(cache) == 1  # kept for the next host
    settled(path, b"other version")  # same size, same mtime: only ctime tells
    assert stream([member], cache) == {"f.tmp": b"other version"}
    path.unlink()
    settled(path, b"a new file")  # replaced: another inode
    assert stream([member], cache) == {"f.tmp": b"a new file"}


def test_a_file_changed_just_now_is_read_for_every_host_not_kept(tmp_path: Path) -> None:
    cache = ContentCache()
    path = tmp_path / "f"
    path.write_bytes(b"fresh")  # its ctime is now: a write in the same clock tick may not move it
    member = Member("f.tmp", Entry("f", Kind.FILE), path)
    assert stream([member], cache) == {"f.tmp": b"fresh"}
    assert len(cache) == 0


def test_the_cache_keeps_small_files_within_its_capacity_and_drops_the_oldest(
    tmp_path: Path,
) -> None:
    cache = ContentCache(capacity=4 * 1024, largest=2 * 1024, racy_seconds=RACY)
    sizes = {"a": 1000, "b": 1024, "c": 1500, "big": 3000}
    members = []
    for name, size in sizes.items():
        settled(tmp_path / name, os.urandom(size))
        members.append(Member(name + ".tmp", Entry(name, Kind.FILE), tmp_path / name))
    got = stream(members, cache)
    assert got == {m.name: (tmp_path / m.entry.path).read_bytes() for m in members}
    # Kept padded to whole blocks: a 1024, b 1024, c 1536 (4 KiB in all); big is streamed.
    assert (len(cache), cache.held) == (3, 3584)
    settled(tmp_path / "d", os.urandom(1000))
    stream([Member("d.tmp", Entry("d", Kind.FILE), tmp_path / "d")], cache)
    assert cache.held <= cache.capacity
    assert len(cache) == 3  # a, the least recently used, made room for d
    assert cache.get(str(tmp_path / "a"), identity_of((tmp_path / "a").stat())) is None
    assert cache.get(str(tmp_path / "d"), identity_of((tmp_path / "d").stat())) is not None


def test_a_cached_file_that_goes_away_is_a_local_error(tmp_path: Path) -> None:
    cache = ContentCache(racy_seconds=RACY)
    settled(tmp_path / "f", b"x")
    member = Member("f.tmp", Entry("f", Kind.FILE), tmp_path / "f")
    stream([member], cache)
    assert len(cache) == 1
    (tmp_path / "f").unlink()
    with pytest.raises(LocalReadError, match="No such file"):
        stream([member], cache)
