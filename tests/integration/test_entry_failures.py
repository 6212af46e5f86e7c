"""One entry a host cannot take fails alone on every write path, not only SSH's tar stream.

Hosts here write one entry at a time (the default ``write_entries``): local hosts, FTP and FTPS
(pyftpdlib), vsftpd, and an SSH host without tar (each file over SFTP). The entry is refused
for real: a folder made immutable (``chattr +i``: even root may not write in it) or a server
whose upload filter refuses some names.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from remoteops.inventory.model import Host
from remoteops.results import HostResult, Status
from remoteops.sync.put import put_hosts
from remoteops.sync.run import sync_hosts
from tests.integration.conftest import ftp_inventory_host, served_ftp, tar_hidden

ONE_AT_A_TIME = ["local", "ftp", "ftps", "vsftpd", "ssh-without-tar"]


@dataclass(frozen=True)
class Place:
    """A host and a folder on it the test may write in (this machine's disk: hosts share it)."""

    host: Host
    folder: Path
    owner: str | None = None  # the login user, where it is not root (vsftpd)

    def hand_over(self) -> None:
        """Give what the test made in the folder to the login user, as its own files."""
        if self.owner is not None:
            subprocess.run(["chown", "-R", self.owner, str(self.folder)], check=True)


@pytest.fixture(params=ONE_AT_A_TIME)
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    kind = request.param
    if kind == "local":
        yield Place(Host("localhost", {"protocol": "local"}), tmp_path / "host")
    elif kind in ("ftp", "ftps"):
        yield Place(request.getfixturevalue(f"{kind}_host"), tmp_path / "host")
    elif kind == "vsftpd":
        daemon = request.getfixturevalue("vsftpd")
        folder = daemon.home / f"entries-{secrets.token_hex(4)}"
        try:
            yield Place(daemon.host, folder, str(daemon.host.vars["user"]))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        host = request.getfixturevalue("ssh_hosts")[-1]
        with tar_hidden(host):
            yield Place(host, tmp_path / "host")


def files_below(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def temporaries_below(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if ".remoteops-" in p.name]


@dataclass
class Frozen:
    """A folder on the host that nobody may write in (immutable) for the test's length."""

    path: Path

    def __enter__(self) -> Frozen:
        subprocess.run(["chattr", "+i", str(self.path)], check=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        subprocess.run(["chattr", "-i", str(self.path)], check=True)


@pytest.mark.usefixtures("requires_root")
@pytest.mark.parametrize("command", ["sync", "put"])
def test_an_entry_that_cannot_be_written_fails_alone_and_every_other_arrives(
    place: Place, tmp_path: Path, command: str
) -> None:
    """One new file goes into a folder of the host nobody may write in: that file fails,
    named; every other file, in existing folders and in new ones, takes its real name; the
    host ends ``failed`` with the counts of what arrived, and no temporary is left."""
    source = tmp_path / "source"
    for folder in ("frozen", "a", "fresh/deep"):
        (source / folder).mkdir(parents=True)
    (source / "frozen" / "new.txt").write_text("refused")
    (source / "a" / "1.txt").write_text("one")
    (source / "a" / "2.txt").write_bytes(os.urandom(300_000))
    (source / "fresh" / "deep" / "x.txt").write_text("deep")
    (source / "top.txt").write_text("top")
    dest = place.folder / "dest"
    target = dest if command == "sync" else dest / "source"  # put copies the folder into DEST
    (target / "frozen").mkdir(parents=True)
    (target / "a").mkdir()
    (target / "frozen" / "kept").write_text("there before")
    for folder in (source, target):  # the frozen folder is the same on both sides: no fixes
        for name in ("frozen", "a"):
            (folder / name).chmod(0o755)
            os.utime(folder / name, (1_600_000_000, 1_600_000_000))
    place.hand_over()
    with Frozen(target / "frozen"):
        if command == "sync":
            result = sync_hosts([place.host], source, str(dest)).results[0]
        else:
            result = put_hosts([place.host], [source], str(dest), recursive=True).results[0]
    assert result.status is Status.FAILED, result
    error = result.error or ""
    assert "could not write 1 of" in error, error
    named = "frozen/new.txt" if command == "sync" else "source/frozen/new.txt"  # below DEST
    assert f"'{named}'" in error, error
    expected = files_below(source)
    del expected["frozen/new.txt"]
    expected["frozen/kept"] = b"there before"
    assert files_below(target) == expected
    assert temporaries_below(place.folder) == []
    assert result.transfer is not None
    assert result.transfer.files_created == 6  # a/1.txt a/2.txt fresh fresh/deep …/x.txt top.txt


@pytest.fixture(scope="module")
def filtering_ftp() -> Iterator[Host]:
    """An FTP server (pyftpdlib) whose upload filter refuses names holding ``.bad``."""
    with served_ftp("--refuse=.bad", without="-") as (_, port):
        yield ftp_inventory_host("ftp-filter1", port)


def refused_in_a_new_folder(tmp_path: Path) -> Path:
    """A source with a refused file in a new folder, one at the top, and files that pass."""
    source = tmp_path / "source"
    (source / "fresh" / "sub").mkdir(parents=True)
    (source / "kept").mkdir()
    (source / "fresh" / "ok.txt").write_text("ok")
    (source / "fresh" / "sub" / "nope.bad").write_text("refused")
    (source / "top.bad").write_text("refused too")
    (source / "other.txt").write_text("other")
    (source / "kept" / "new.txt").write_text("new")
    return source


def test_a_new_folder_holding_a_refused_file_stays_out_whole_and_the_rest_arrives(
    filtering_ftp: Host, tmp_path: Path
) -> None:
    """A new folder appears complete or not at all, as on the tar path: the one holding the
    refused file is left out whole and said so; files elsewhere take their real names."""
    source = refused_in_a_new_folder(tmp_path)
    dest = tmp_path / "dest"
    (dest / "kept").mkdir(parents=True)
    result: HostResult = sync_hosts([filtering_ftp], source, str(dest)).results[0]
    assert result.status is Status.FAILED, result
    error = result.error or ""
    assert "could not write 2 of 7 entries" in error, error
    assert "'fresh/sub/nope.bad', 'top.bad'" in error, error
    assert "new folders left out, incomplete: 'fresh'" in error, error
    assert "refused by the upload filter" in error, error
    assert files_below(dest) == {"other.txt": b"other", "kept/new.txt": b"new"}
    assert sorted(os.listdir(dest)) == ["kept", "other.txt"]  # no temporary either
    assert result.transfer is not None
    assert result.transfer.files_created == 2


def test_a_new_destination_with_a_refused_file_is_left_out_whole(
    filtering_ftp: Host, tmp_path: Path
) -> None:
    """DEST itself new: nothing of it appears (it is a new folder too), and the host fails
    saying what could not be written and that DEST was left out, having changed nothing."""
    source = refused_in_a_new_folder(tmp_path)
    dest = tmp_path / "dest"
    result = sync_hosts([filtering_ftp], source, str(dest)).results[0]
    assert result.status is Status.FAILED, result
    error = result.error or ""
    assert "'top.bad'" in error, error
    assert f"{dest} left out whole, incomplete" in error, error
    assert ".dest.remoteops-" not in error, error  # not the hidden name it was filled under
    assert sorted(os.listdir(tmp_path)) == ["source"]
    assert result.transfer is None or result.transfer.files_created == 0
