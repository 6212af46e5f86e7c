"""The file interface every transport implements, checked against each real one alike.

The sync, put and get engines use only these operations, so a new transport (FTP next) is
ready for them once it passes this module: add it to ``PROTOCOLS``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from remoteops.errors import HostError, TransferError, UnsupportedError
from remoteops.executor import NullListener
from remoteops.inventory.model import Host
from remoteops.sync.local_tree import scan_tree
from remoteops.sync.model import SyncOptions
from remoteops.sync.run import sync_work
from remoteops.transports import Transport, TransportFactory
from remoteops.transports.file_ops import Received, partial_name
from remoteops.tree import Entry, Kind

#: "ftp-list" is an FTP server without MLSD/MLST: listings come from LIST and MDTM;
#: "ftps" the same server as "ftp" behind explicit TLS (control and data channels);
#: "podman" a container (shell commands and tar streams through ``podman exec``), whose
#: session temporary folder is this machine's, mounted at the same path.
PROTOCOLS = [
    "local",
    "ssh",
    "ftp",
    "ftp-list",
    "ftps",
    pytest.param("podman", marks=pytest.mark.containers),
]


@pytest.fixture(params=PROTOCOLS)
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    if request.param == "local":
        host = Host("localhost", {"protocol": "local"})
    elif request.param == "ftp":
        host = request.getfixturevalue("ftp_host")
    elif request.param == "ftp-list":
        host = request.getfixturevalue("ftp_list_host")
    elif request.param == "ftps":
        host = request.getfixturevalue("ftps_host")
    elif request.param == "podman":
        host = request.getfixturevalue("container_host")
    else:
        host = request.getfixturevalue("ssh_hosts")[0]
    opened = TransportFactory().create(host)
    opened.connect()
    try:
        yield opened
    finally:
        opened.close()


def _file(path: str, data: bytes, mode: int = 0o640, mtime: int = 1_600_000_000) -> Entry:
    return Entry(path, Kind.FILE, size=len(data), mtime=mtime, mode=mode)


def test_put_file_writes_mode_and_mtime_and_leaves_no_temporary(
    transport: Transport, tmp_path: Path
) -> None:
    local, remote = tmp_path / "local", tmp_path / "remote"
    remote.mkdir()
    local.write_bytes(b"content" * 1000)
    (remote / "target").write_text("old")
    sent = transport.put_file(local, str(remote / "target"), _file("target", local.read_bytes()))
    assert sent == 7000
    assert (remote / "target").read_bytes() == local.read_bytes()
    assert (remote / "target").stat().st_mode & 0o7777 == 0o640
    assert int((remote / "target").stat().st_mtime) == 1_600_000_000
    assert os.listdir(remote) == ["target"]


def test_write_entries_creates_folders_files_and_links_then_lists_them_back(
    transport: Transport, tmp_path: Path
) -> None:
    source, remote = tmp_path / "source", tmp_path / "remote" / "made"
    (source / "d").mkdir(parents=True)
    (source / "d" / "f").write_bytes(b"x" * 5000)
    (source / "top").write_bytes(b"")
    entries = [
        Entry("d", Kind.DIR, mtime=1_500_000_000, mode=0o750),
        _file("d/f", b"x" * 5000, 0o600),
        _file("top", b"", 0o644),
    ]
    if transport.fidelity.links:
        entries.append(Entry("d/link", Kind.SYMLINK, target="f"))
    reported: list[tuple[int, int]] = []
    sent = transport.write_entries(
        str(remote),
        [(e, source / e.path if e.kind is Kind.FILE else None) for e in entries],
        lambda files, size: reported.append((files, size)),
    )
    assert sent == 5000
    assert (sum(f for f, _ in reported), sum(s for _, s in reported)) == (2, 5000)
    listed = {e.path: e for e in transport.list_tree(str(remote))}
    assert set(listed) == {e.path for e in entries}
    assert (listed["d"].kind, listed["d"].mode) == (Kind.DIR, 0o750)
    assert (listed["d/f"].size, listed["d/f"].mode, listed["d/f"].mtime) == (
        5000,
        0o600,
        1_600_000_000,
    )
    if not transport.fidelity.links:  # it says so, per entry, never skips
        return
    assert (listed["d/link"].kind, listed["d/link"].target) == (Kind.SYMLINK, "f")
    checked = {e.path: e.digest for e in transport.list_tree(str(remote), checksum=True)}
    assert checked["top"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_listing_a_missing_root_is_empty_and_a_file_root_an_error(
    transport: Transport, tmp_path: Path
) -> None:
    assert transport.list_tree(str(tmp_path / "missing")) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(TransferError, match="not a directory"):
        transport.list_tree(str(tmp_path / "file"))
    assert transport.list_path(str(tmp_path / "missing"), missing_ok=True) == []
    with pytest.raises(TransferError):
        transport.list_path(str(tmp_path / "missing"))


def test_path_kind_follows_links(transport: Transport, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    os.symlink("d", tmp_path / "to-d")
    assert transport.path_kind(str(tmp_path / "d")) is Kind.DIR
    assert transport.path_kind(str(tmp_path / "to-d")) is Kind.DIR
    assert transport.path_kind(str(tmp_path / "f")) is Kind.FILE
    assert transport.path_kind(str(tmp_path / "none")) is None


def test_links_are_made_and_replaced_or_refused_clearly(
    transport: Transport, tmp_path: Path
) -> None:
    link = str(tmp_path / "link")
    if not transport.fidelity.links:  # it says so, per entry, never skips
        with pytest.raises(UnsupportedError, match="cannot make symlinks"):
            transport.make_symlink("one", link)
        assert os.listdir(tmp_path) == []
        return
    transport.make_symlink("one", link)
    transport.make_symlink("two", link)  # replaced, not an error
    assert os.readlink(link) == "two"
    transport.remove(link, Kind.SYMLINK)
    assert os.listdir(tmp_path) == []


def test_attributes_and_removal(transport: Transport, tmp_path: Path) -> None:
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "f").write_text("x")
    (tmp_path / "file").write_text("x")
    transport.set_attributes(str(tmp_path / "file"), mode=0o600, mtime=1_234_567_890)
    info = (tmp_path / "file").stat()
    assert (info.st_mode & 0o777, int(info.st_mtime)) == (0o600, 1_234_567_890)
    transport.remove(str(tmp_path / "tree"), Kind.DIR)
    transport.remove(str(tmp_path / "file"), Kind.FILE)
    transport.remove(str(tmp_path / "file"), Kind.FILE)  # already gone: fine
    assert os.listdir(tmp_path) == []


def test_make_dir_refuses_a_file_in_the_way(transport: Transport, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(TransferError):
        transport.make_dir(str(tmp_path / "file"))
    transport.make_dir(str(tmp_path / "a" / "b"), 0o750)
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o750


def test_get_file_resumes_a_partial_download_of_the_same_file(
    transport: Transport, tmp_path: Path
) -> None:
    content = os.urandom(3 * 1024 * 1024)
    (tmp_path / "remote").write_bytes(content)
    local = tmp_path / "got"
    entry = _file("remote", content, 0o600)
    partial = partial_name(local, str(tmp_path / "remote"), entry)
    # What an earlier, cut-off get left, marked: bytes fetched again would not be these.
    partial.write_bytes(b"R" * 1_234_567)
    got = transport.get_file(str(tmp_path / "remote"), local, entry)
    assert got == Received(len(content) - 1_234_567)
    assert local.read_bytes() == b"R" * 1_234_567 + content[1_234_567:]
    assert sorted(os.listdir(tmp_path)) == ["got", "remote"]


def test_get_file_is_atomic_with_mode_and_mtime(transport: Transport, tmp_path: Path) -> None:
    (tmp_path / "remote").write_bytes(b"y" * 3000)
    local = tmp_path / "got"
    entry = _file("remote", b"y" * 3000, 0o604, 1_111_111_111)
    assert transport.get_file(str(tmp_path / "remote"), local, entry) == Received(3000)
    assert local.read_bytes() == b"y" * 3000
    assert (local.stat().st_mode & 0o777, int(local.stat().st_mtime)) == (0o604, 1_111_111_111)
    assert sorted(os.listdir(tmp_path)) == ["got", "remote"]


@pytest.mark.parametrize("dest_exists", [True, False], ids=["new-subfolder", "new-destination"])
def test_a_sync_failing_inside_a_new_folder_shows_nothing_of_it_under_its_name(
    transport: Transport, tmp_path: Path, dest_exists: bool
) -> None:
    """A file of the new folder vanishes from the source between scan and send (a build
    still running): the sync fails after writing some of that folder, and neither the new
    folder nor a new destination appears, even in part, nor a leftover beside it."""
    source, dest = tmp_path / "source", tmp_path / "dest"
    (source / "www3" / "css").mkdir(parents=True)
    (source / "www3" / "index.html").write_text("home")
    (source / "www3" / "css" / "site.css").write_text("body {}")
    (source / "www3" / "vanishing").write_bytes(os.urandom(5000))  # written last
    if dest_exists:
        dest.mkdir()
    tree = scan_tree(source)
    (source / "www3" / "vanishing").unlink()
    work = sync_work(tree, str(dest), SyncOptions(), dry_run=False)
    with pytest.raises(HostError):
        work(Host("h", {}), transport, NullListener())
    assert sorted(os.listdir(tmp_path)) == (["dest", "source"] if dest_exists else ["source"])
    if dest_exists:
        assert os.listdir(dest) == []


def test_a_file_shorter_than_listed_is_an_error_and_leaves_nothing(
    transport: Transport, tmp_path: Path
) -> None:
    """It shrank between the listing and the fetch: the listed bytes are not all there."""
    (tmp_path / "remote").write_bytes(b"z" * 1000)
    entry = _file("remote", b"z" * 1500)
    with pytest.raises(TransferError, match=r"received 1000 bytes of 1500 \(the file shrank"):
        transport.get_file(str(tmp_path / "remote"), tmp_path / "got", entry)
    assert sorted(os.listdir(tmp_path)) == ["remote"]


def test_a_file_longer_than_listed_arrives_as_listed_with_a_note(
    transport: Transport, tmp_path: Path
) -> None:
    (tmp_path / "remote").write_bytes(b"a" * 1000 + b"b" * 500)  # 500 bytes added since
    got = transport.get_file(str(tmp_path / "remote"), tmp_path / "got", _file("r", b"a" * 1000))
    assert got.received == 1000
    assert got.note is not None
    assert "grew" in got.note
    assert (tmp_path / "got").read_bytes() == b"a" * 1000
    assert sorted(os.listdir(tmp_path)) == ["got", "remote"]


def test_the_home_folder_and_real_paths_as_the_host_resolves_them(
    transport: Transport, tmp_path: Path
) -> None:
    home = transport.home_dir()
    assert home.startswith("/")
    assert transport.path_kind(home) is Kind.DIR
    if transport.protocol != "local":  # local paths start at this process's folder
        assert transport.real_path(".") == home
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "file").write_text("x")
    real = os.path.realpath(tmp_path / "real")
    assert transport.real_path(f"/{tmp_path}/./real/sub/../") == real
    assert transport.real_path(f"{tmp_path}//real/file") == f"{real}/file"
    missing = os.path.join(os.path.dirname(real), "missing")
    assert transport.real_path(str(tmp_path / "missing")) in (None, missing)
    assert transport.real_path(str(tmp_path / "missing" / "deeper")) is None
    assert transport.real_path(str(tmp_path / "real" / "file" / "below")) is None
    if transport.protocol in ("ssh", "local", "podman"):  # FTP may name a link as entered
        os.symlink(real, tmp_path / "link")
        assert transport.real_path(str(tmp_path / "link" / ".")) == real


def test_the_children_of_a_folder_match_a_pattern(transport: Transport, tmp_path: Path) -> None:
    folder = tmp_path / "d"
    (folder / ".site.remoteops-0badc0de.tmp" / "inner").mkdir(parents=True)
    (folder / ".app.conf.remoteops-0123abcd.tmp").write_text("part")
    (folder / "app.conf").write_text("whole")
    (folder / ".app.conf.remoteops-0123abcd.tmp.not").write_text("x")
    found = transport.list_children(str(folder), ".*.remoteops-*.tmp")
    assert sorted((e.path, e.kind) for e in found) == [
        (".app.conf.remoteops-0123abcd.tmp", Kind.FILE),
        (".site.remoteops-0badc0de.tmp", Kind.DIR),
    ]
    assert len(transport.list_children(str(folder))) == 4
    assert transport.list_children(str(tmp_path / "missing")) == []
