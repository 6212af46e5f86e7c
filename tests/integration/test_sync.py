"""`sync` over SSH against real sshd hosts: exact copies, deltas, deletes, failures.

Playground hosts share this machine's file system (network namespaces only), so every test
syncs to its own temporary folder and checks the result on disk directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from remoteops.errors import TransferError
from remoteops.executor import Executor, run_command
from remoteops.fleet import Fleet
from remoteops.inventory.model import Host
from remoteops.playground import Playground, PlaygroundState
from remoteops.results import Status, TransferStats
from remoteops.sync import SyncOptions
from remoteops.sync.fetch import fetch_hosts
from remoteops.sync.local_tree import scan_tree
from remoteops.sync.put import put_hosts
from remoteops.sync.run import sync_hosts, sync_work
from remoteops.transports import CommandSpec, TransportFactory
from remoteops.transports.ssh import SSHTransport
from remoteops.transports.ssh_batch import BatchWrites
from remoteops.tree import Entry, Kind
from tests.integration.conftest import (
    Daemon,
    done_when,
    kill_sessions,
    login_shell_runs,
    tar_hidden,
    with_vars,
)

ODD = ["with space", "quote'single", 'quote"double', "new\nline", "ünïcode", "tab\there"]


def snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry below root: kind, permission bits, content hash or link target."""
    found: dict[str, tuple[str, int, str]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            relative = str(path.relative_to(root))
            info = path.lstat()
            if path.is_symlink():
                found[relative] = ("link", 0, os.readlink(path))
            elif path.is_dir():
                found[relative] = ("dir", info.st_mode & 0o7777, "")
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[relative] = ("file", info.st_mode & 0o7777, f"{digest}:{int(info.st_mtime)}")
    return found


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    (root / "dir" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    for number in range(40):
        (root / "dir" / f"small{number:02d}").write_bytes(os.urandom(1 + number * 300))
    for name in ODD:
        (root / "dir" / name).write_text(name)
    (root / "dir" / "deeper" / "big").write_bytes(os.urandom(3_000_000))
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o750)
    os.symlink("dir/small01", root / "link")
    os.symlink("../nowhere", root / "dangling")
    return root


def test_round_trip_is_exact_and_a_second_sync_sends_nothing(
    ssh_hosts: list[Host], source: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    first = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert first.status is Status.OK, first.error
    assert snapshot(dest) == snapshot(source)
    assert first.transfer is not None
    assert first.transfer.files_created == len(snapshot(source))
    again = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert again.transfer == TransferStats(files_unchanged=len(snapshot(source)))


@pytest.mark.parametrize("checksum", [False, True])
def test_a_one_byte_change_sends_one_file(
    ssh_hosts: list[Host], source: Path, tmp_path: Path, checksum: bool
) -> None:
    dest = tmp_path / "dest"
    options = SyncOptions(checksum=checksum)
    sync_hosts(ssh_hosts[:1], source, str(dest), options)
    big = source / "dir" / "deeper" / "big"
    data = bytearray(big.read_bytes())
    data[1234] ^= 0xFF
    stamp = big.stat().st_mtime
    big.write_bytes(bytes(data))
    os.utime(big, (stamp, stamp))  # same size and time: only --checksum can see it
    os.utime(source / "run.sh", (1_500_000_000, 1_500_000_000))  # time only
    result = sync_hosts(ssh_hosts[:1], source, str(dest), options).results[0]
    assert result.transfer is not None
    if checksum:
        assert result.transfer.bytes_sent == len(data)  # the big file, content changed
        assert snapshot(dest) == snapshot(source)
    else:
        assert result.transfer.bytes_sent == (source / "run.sh").stat().st_size
        assert snapshot(dest)["run.sh"] == snapshot(source)["run.sh"]
    # run.sh's new time: re-sent by size+mtime, only touched with --checksum (plus big)
    assert result.transfer.files_updated == (2 if checksum else 1)


def test_delete_and_max_delete(ssh_hosts: list[Host], source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    sync_hosts(ssh_hosts[:1], source, str(dest))
    (dest / "extra").mkdir()
    (dest / "extra" / "a").write_text("a")
    (dest / "stray").write_text("s")
    kept = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert (dest / "stray").exists()
    assert kept.ok
    blocked = sync_hosts(
        ssh_hosts[:1], source, str(dest), SyncOptions(delete=True, max_delete=2)
    ).results[0]
    assert blocked.status is Status.FAILED
    assert "more than --max-delete 2" in (blocked.error or "")
    assert (dest / "stray").exists()
    done = sync_hosts(ssh_hosts[:1], source, str(dest), SyncOptions(delete=True)).results[0]
    assert done.transfer is not None
    assert done.transfer.files_deleted == 3
    assert snapshot(dest) == snapshot(source)


def test_excludes_skip_and_protect(ssh_hosts: list[Host], source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "local.cfg").write_text("host-only")
    options = SyncOptions(delete=True, excludes=("dir/deeper/", "*.cfg"))
    result = sync_hosts(ssh_hosts[:1], source, str(dest), options).results[0]
    assert result.ok, result.error
    assert not (dest / "dir" / "deeper").exists()
    assert (dest / "local.cfg").read_text() == "host-only"


def test_dry_run_changes_nothing_and_itemizes(
    ssh_hosts: list[Host], source: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    result = sync_hosts(ssh_hosts[:1], source, str(dest), dry_run=True).results[0]
    assert not dest.exists()
    assert result.plan is not None
    plan = "".join(f"{change}\n" for change in result.plan)
    assert "mkdir dir: new\n" in plan
    assert "upload dir/new\\nline: new\n" in plan
    assert "symlink link: new\n" in plan


@pytest.mark.usefixtures("leftovers_age_at_once")
@pytest.mark.parametrize("where", ["huge", "new/folder/huge"])
def test_an_sshd_killed_mid_upload_leaves_no_partial_file_and_the_next_sync_completes(
    ssh_hosts: list[Host], playground_manager: Playground, tmp_path: Path, where: str
) -> None:
    """A file in an existing folder has its own temporary name; a new folder is written whole
    under one and renamed at the end: either way nothing partial shows under a real name."""
    source = tmp_path / "source"
    (source / where).parent.mkdir(parents=True, exist_ok=True)
    (source / where).write_bytes(os.urandom(300_000_000))
    dest = tmp_path / "dest"
    dest.mkdir()  # (a new DEST is staged whole beside it: see test_transport_files.py)
    target = ssh_hosts[0]

    def kill_soon() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # once a temporary file is being written
            if dest.exists() and any(p.name.endswith(".tmp") for p in dest.iterdir()):
                break
            time.sleep(0.02)
        time.sleep(0.2)
        playground_manager.stop_host(target.name)

    killer = threading.Thread(target=kill_soon)
    killer.start()
    try:
        broken = sync_hosts([target], source, str(dest)).results[0]
    finally:
        killer.join()
        playground_manager.start_host(target.name)
    assert broken.status is Status.UNREACHABLE, broken  # one status for a lost connection
    top = where.split("/", maxsplit=1)[0]
    assert not (dest / top).exists()  # no truncated file, no half folder, under a real name
    assert [p.name for p in dest.iterdir() if p.name.endswith(".tmp")]  # the leftover is there
    fixed = sync_hosts([target], source, str(dest)).results[0]
    assert fixed.ok, fixed.error
    assert sorted(p.name for p in dest.iterdir()) == [top]  # the leftover is gone
    assert (dest / where).stat().st_size == 300_000_000


@pytest.mark.parametrize("new", [False, True], ids=["existing-folder", "new-folder"])
def test_two_syncs_into_one_folder_at_once_both_complete(
    ssh_hosts: list[Host], tmp_path: Path, new: bool
) -> None:
    """The second sync lists the folder while the first is writing a big file under its
    temporary name: that temporary is young, so it is not taken for a leftover of an
    interrupted sync (it was deleted under the first sync, which then failed). Into a new
    folder, the first one's staged folder is young too and left alone (it was removed as
    "cut off"); the second is staged under a name of its own and renamed first, and the
    first, finding the folder there, fills it."""
    big, small = tmp_path / "big", tmp_path / "small"
    big.mkdir()
    (big / "big.img").write_bytes(os.urandom(200_000_000))
    small.mkdir()
    for index in range(50):
        (small / f"small{index}.txt").write_text(f"{index}\n")
    dest = tmp_path / "dest"
    if not new:
        dest.mkdir()
    writing = tmp_path if new else dest  # where the first one's temporary appears
    results = {}

    def sync(tree: Path) -> None:
        results[tree.name] = sync_hosts(ssh_hosts[:1], tree, str(dest)).results[0]

    first = threading.Thread(target=sync, args=(big,))
    first.start()
    try:
        deadline = time.monotonic() + 30
        while not any(p.name.endswith(".tmp") for p in writing.iterdir()):
            assert first.is_alive(), results
            assert time.monotonic() < deadline
            time.sleep(0.01)
        sync(small)  # while the first writes its temporary
    finally:
        first.join()
    assert results["small"].ok, results["small"].error
    assert results["big"].ok, results["big"].error
    assert (dest / "big.img").read_bytes() == (big / "big.img").read_bytes()
    assert snapshot(small).items() <= snapshot(dest).items()
    assert not [p for p in [*dest.iterdir(), *tmp_path.iterdir()] if p.name.endswith(".tmp")]


@pytest.mark.usefixtures("requires_root")
def test_read_only_destination_fails_that_host_only(
    ssh_hosts: list[Host], playground: PlaygroundState, source: Path, reachable: Path
) -> None:
    assert playground.sudo_user is not None
    locked = reachable / "locked"
    locked.mkdir()
    (locked / "precious").write_text("keep me")
    locked.chmod(0o555)
    as_user = with_vars(ssh_hosts[0], user=playground.sudo_user)
    report = sync_hosts([as_user], source, str(locked))
    result = report.results[0]
    assert result.status is Status.FAILED
    assert "Permission denied" in (result.error or "")
    assert (locked / "precious").read_text() == "keep me"
    assert report.exit_code == 1


@pytest.mark.usefixtures("requires_root")
def test_read_only_folders_in_the_source_are_filled_then_locked(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path, reachable: Path
) -> None:
    """As a normal user: a 0555 folder must be writable while its files arrive."""
    assert playground.sudo_user is not None
    source = tmp_path / "source"
    (source / "frozen" / "inner").mkdir(parents=True)
    (source / "frozen" / "inner" / "file").write_text("data")
    (source / "frozen" / "inner").chmod(0o555)
    (source / "frozen").chmod(0o555)
    dest = reachable / "dest"
    as_user = with_vars(ssh_hosts[0], user=playground.sudo_user)
    try:
        result = sync_hosts([as_user], source, str(dest)).results[0]
    finally:
        (source / "frozen").chmod(0o755)
        (source / "frozen" / "inner").chmod(0o755)
    assert result.ok, result.error
    assert (dest / "frozen" / "inner" / "file").read_text() == "data"
    assert (dest / "frozen").stat().st_mode & 0o777 == 0o555
    assert (dest / "frozen" / "inner").stat().st_mode & 0o777 == 0o555
    # Later syncs add to, change and delete from the locked folders (rsync unlocks them too).
    (source / "frozen" / "inner").chmod(0o755)
    (source / "frozen" / "inner" / "added").write_text("new")
    (source / "frozen" / "inner" / "file").write_text("changed")
    (source / "frozen" / "inner").chmod(0o555)
    (source / "frozen").chmod(0o555)
    (dest / "frozen" / "stray").mkdir()  # made by root despite the 0555: --delete removes it
    try:
        again = sync_hosts([as_user], source, str(dest), SyncOptions(delete=True)).results[0]
    finally:
        (source / "frozen").chmod(0o755)
        (source / "frozen" / "inner").chmod(0o755)
    assert again.ok, again.error
    assert (dest / "frozen" / "inner" / "added").read_text() == "new"
    assert (dest / "frozen" / "inner" / "file").read_text() == "changed"
    assert not (dest / "frozen" / "stray").exists()
    assert (dest / "frozen").stat().st_mode & 0o777 == 0o555
    assert (dest / "frozen" / "inner").stat().st_mode & 0o777 == 0o555


@pytest.mark.usefixtures("requires_root")
def test_full_destination_fails_cleanly(
    ssh_hosts: list[Host], playground_manager: Playground, tmp_path: Path
) -> None:
    """A 1 MiB tmpfs mounted inside the host's own mount namespace (each host has one)."""
    target = ssh_hosts[0]
    state = playground_manager.status()  # now: an earlier test may have restarted the host
    assert state is not None
    pid = state.host(target.name).pid
    assert pid is not None

    def on_host(*argv: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["nsenter", "-t", str(pid), "-m", *argv], capture_output=True, check=False
        )

    mount = tmp_path / "small"
    mount.mkdir()
    on_host("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)).check_returncode()
    try:
        on_host("sh", "-c", f"echo old content > {mount}/existing").check_returncode()
        source = tmp_path / "source"
        source.mkdir()
        (source / "existing").write_bytes(os.urandom(2_000_000))
        result = sync_hosts([target], source, str(mount)).results[0]
        assert result.status is Status.FAILED
        assert "existing" in (result.error or "")
        assert on_host("cat", f"{mount}/existing").stdout == b"old content\n"
        assert on_host("ls", "-A", str(mount)).stdout == b"existing\n"  # no temporary left
    finally:
        on_host("umount", str(mount))


def test_names_that_are_not_utf8_travel_over_sftp(ssh_hosts: list[Host], tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    raw = os.fsencode(source) + b"/caf\xe9-\xff.bin"
    with open(raw, "wb") as handle:
        handle.write(b"latin-1 name")
    dest = tmp_path / "dest"
    result = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert result.ok, result.error
    assert Path(os.fsdecode(os.fsencode(dest) + b"/caf\xe9-\xff.bin")).read_bytes() == (
        b"latin-1 name"
    )
    again = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert again.transfer is not None
    assert again.transfer.files_unchanged == 1


def test_a_symlinked_destination_is_synced_through_the_link(
    ssh_hosts: list[Host], source: Path, tmp_path: Path
) -> None:
    real = tmp_path / "release-2"
    real.mkdir()
    os.symlink(real, tmp_path / "current")
    sync_hosts(ssh_hosts[:1], source, str(tmp_path / "current"))
    again = sync_hosts(ssh_hosts[:1], source, str(tmp_path / "current"), SyncOptions(delete=True))
    assert again.results[0].transfer is not None
    assert again.results[0].transfer.files_created == 0
    assert again.results[0].transfer.files_deleted == 0
    assert snapshot(real) == snapshot(source)


@pytest.mark.usefixtures("requires_root")
def test_a_host_without_tar_gets_every_file_over_sftp(
    ssh_hosts: list[Host], source: Path, tmp_path: Path
) -> None:
    """The bulk path needs tar; without it (PATH lacks it on this host) files go one by one."""
    target = ssh_hosts[-1]
    with tar_hidden(target):
        dest = tmp_path / "dest"
        first = sync_hosts([target], source, str(dest)).results[0]
        assert first.ok, first.error
        assert snapshot(dest) == snapshot(source)
        (source / "dir" / "small03").write_bytes(b"changed")
        second = sync_hosts([target], source, str(dest)).results[0]
        assert second.ok, second.error
        assert second.transfer is not None
        assert second.transfer.files_updated == 1
        assert snapshot(dest) == snapshot(source)


def test_an_empty_source_still_makes_the_destination(ssh_hosts: list[Host], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    dest = tmp_path / "new" / "dest"
    result = sync_hosts(ssh_hosts[:1], empty, str(dest)).results[0]
    assert result.ok, result.error
    assert dest.is_dir()
    assert list(dest.iterdir()) == []


def test_checksum_verifies_content_on_the_host_before_the_real_name(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    """With --checksum the digest scanned is checked on the host before the rename: a file
    that changed after the scan (same size) is caught and never takes its real name."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "stable").write_text("same")
    (source / "moving").write_text("before")
    options = SyncOptions(checksum=True)
    tree = scan_tree(source, checksum=True)
    (source / "moving").write_text("after!")  # same size, other content, after the scan
    dest = tmp_path / "dest"
    dest.mkdir()
    report = Executor().run(ssh_hosts[:1], sync_work(tree, str(dest), options, dry_run=False))
    result = report.results[0]
    assert result.status is Status.FAILED
    assert "content differs after writing: moving" in (result.error or "")
    assert not (dest / "moving").exists()
    assert sorted(os.listdir(dest)) == []  # nothing renamed, temporaries removed
    fixed = sync_hosts(ssh_hosts[:1], source, str(dest), options).results[0]
    assert fixed.ok, fixed.error
    assert (dest / "moving").read_text() == "after!"


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 1]))


def test_a_changed_big_file_sends_only_its_changed_blocks(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    big = source / "image.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024 + 123))
    big.chmod(0o600)
    assert sync_hosts(ssh_hosts[:1], source, str(dest)).results[0].ok
    _flip(big, 5 * 1024 * 1024 + 7)  # one byte in the middle ...
    with open(big, "ab") as handle:  # ... and an append, as a growing log
        handle.write(os.urandom(1000))
    os.utime(big, (1_700_000_000, 1_700_000_000))
    grown = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert grown.ok, grown.error
    assert grown.transfer is not None
    assert grown.transfer.files_updated == 1
    assert grown.transfer.bytes_sent == 32 * 1024 + 1123  # 2 blocks of 32 KiB, one cut short
    assert snapshot(dest) == snapshot(source)  # content, mode and mtime
    with open(big, "r+b") as handle:  # shrinks: the host's copy is cut to the new size
        handle.truncate(6 * 1024 * 1024)
    shrunk = sync_hosts(ssh_hosts[:1], source, str(dest), SyncOptions(checksum=True))
    assert shrunk.results[0].ok, shrunk.results[0].error
    assert snapshot(dest) == snapshot(source)
    assert sorted(os.listdir(dest)) == ["image.bin"]  # no temporary left


BIG = 9 * 1024 * 1024 + 123  # 288 blocks of 32 KiB and a last one of 123 bytes
BLOCK = 32 * 1024


def _flip_boundary(path: Path) -> None:
    _flip(path, 100 * BLOCK - 1)
    _flip(path, 100 * BLOCK)


def _grow(path: Path) -> None:
    with open(path, "ab") as handle:
        handle.write(os.urandom(1000))


def _shrink(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(6 * 1024 * 1024 + 5)


@pytest.mark.parametrize(
    ("change", "sent"),
    [
        pytest.param(lambda p: _flip(p, 0), BLOCK, id="first-byte"),
        pytest.param(lambda p: _flip(p, 5 * 1024 * 1024 + 7), BLOCK, id="middle"),
        pytest.param(lambda p: _flip(p, BIG - 1), 123, id="last-byte"),
        pytest.param(_flip_boundary, 2 * BLOCK, id="both-sides-of-a-block-boundary"),
        pytest.param(_grow, 1123, id="grown"),  # the last block, now 1,123 bytes
        pytest.param(_shrink, 5, id="shrunk"),  # the new last block; the rest is cut off
    ],
)
def test_a_big_file_delta_sends_the_32_kib_blocks_changed_and_copies_exactly(
    ssh_hosts: list[Host], tmp_path: Path, change: Callable[[Path], object], sent: int
) -> None:
    """One changed byte costs one small block, wherever it is; the copy is byte-identical,
    with the source's mode and mtime, and no temporary is left."""
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    big = source / "image.bin"
    big.write_bytes(os.urandom(BIG))
    big.chmod(0o640)
    assert sync_hosts(ssh_hosts[:1], source, str(dest)).results[0].ok
    change(big)
    os.utime(big, (1_700_000_000, 1_700_000_000))
    result = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert result.ok, result.error
    assert result.transfer is not None
    assert (result.transfer.files_updated, result.transfer.bytes_sent) == (1, sent)
    assert (dest / "image.bin").read_bytes() == big.read_bytes()
    assert snapshot(dest) == snapshot(source)
    assert sorted(os.listdir(dest)) == ["image.bin"]


def test_a_resync_without_change_asks_the_host_one_command_and_opens_no_sftp(
    ssh_hosts: list[Host], source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The destination check (home, links resolved) rides on the listing: no SFTP session,
    whose opening costs round trips and a process on the host."""
    dest = tmp_path / "dest"
    assert sync_hosts(ssh_hosts[:1], source, str(dest)).results[0].ok
    commands: list[str] = []
    run = SSHTransport.run

    def counted(self: SSHTransport, spec: CommandSpec, *args: Any, **kwargs: Any) -> Any:
        commands.append(spec.command)
        return run(self, spec, *args, **kwargs)

    def no_sftp(self: SSHTransport) -> None:
        raise AssertionError("an SFTP session was opened")

    monkeypatch.setattr(SSHTransport, "run", counted)
    monkeypatch.setattr(SSHTransport, "sftp", no_sftp)
    monkeypatch.setattr(SSHTransport, "prepare_sftp", no_sftp)
    again = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert again.ok, again.error
    assert again.transfer is not None
    assert (again.transfer.files_created, again.transfer.files_updated) == (0, 0)
    assert len(commands) == 1, commands


def _no_sftp(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sftp(self: SSHTransport) -> None:
        raise AssertionError("an SFTP session was opened")

    monkeypatch.setattr(SSHTransport, "sftp", no_sftp)
    monkeypatch.setattr(SSHTransport, "prepare_sftp", no_sftp)


def test_a_few_changed_files_are_renamed_by_their_tar_command_without_sftp(
    ssh_hosts: list[Host], source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-sync of a few files: the tar command renames them into place itself, so no SFTP
    session is opened (three round trips and a process on the host) and none is waited for."""
    dest = tmp_path / "dest"
    assert sync_hosts(ssh_hosts[:1], source, str(dest)).results[0].ok
    (source / "dir" / "small03").write_bytes(os.urandom(500))
    (source / "dir" / "with space").write_text("changed, longer")
    (source / "-fresh").write_text("a new file whose name looks like an option")
    _no_sftp(monkeypatch)
    again = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert again.ok, again.error
    assert again.transfer is not None
    assert (again.transfer.files_created, again.transfer.files_updated) == (1, 2)
    assert snapshot(dest) == snapshot(source)
    assert not [n for n in os.listdir(dest / "dir") if ".remoteops-" in n]


def test_a_rename_the_tar_command_cannot_make_is_said_as_sftp_says_it(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    """A rename the host refuses (a folder in the way of a file) fails with the reason SFTP
    gives, as before the tar command made renames, and leaves no temporary."""
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    (source / "a").write_text("a file")
    (dest / "a" / "inside").mkdir(parents=True)
    transport = TransportFactory().create(ssh_hosts[0])
    transport.connect()
    try:
        with pytest.raises(TransferError, match="cannot rename a"):
            transport.write_entries(str(dest), [(Entry("a", Kind.FILE, size=6), source / "a")])
    finally:
        transport.close()
    assert os.listdir(dest) == ["a"]
    assert os.listdir(dest / "a") == ["inside"]


def test_a_stream_cut_between_files_puts_none_of_them_in_place(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    """tar takes an archive cut at a member boundary for complete; renames made by the tar
    command must then wait for the last member, or the files before the cut would land."""
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    dest.mkdir()
    # Each header and its file fill the writer's 256 KiB buffer exactly: cut between members.
    sizes = {"a": 256 * 1024 - 512, "b": 256 * 1024 - 512, "c": 1000}
    for name, size in sizes.items():
        (source / name).write_bytes(os.urandom(size))
    items = [
        (Entry(n, Kind.FILE, size=size, mtime=1_600_000_000), source / n)
        for n, size in sizes.items()
    ]
    done: list[int] = []

    def breaks_after_two(files: int, size: int) -> None:
        done.append(files)
        if sum(done) == 2:
            raise RuntimeError("a bug in a progress display")

    transport = TransportFactory().create(ssh_hosts[0])
    transport.connect()
    try:
        with pytest.raises(TransferError, match="stopped early"):
            transport.write_entries(str(dest), items, breaks_after_two)
    finally:
        transport.close()
    assert os.listdir(dest) == []  # neither a nor b in place, no temporary left


def test_big_files_travel_in_streams_of_their_own_and_arrive_exactly(
    ssh_hosts: list[Host], source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big files (4 MiB up) in folders already there go in tar streams beside the main
    one: into a new destination and into an existing one, all arrive exact."""
    for number in range(3):
        (source / f"big{number}").write_bytes(os.urandom(4 * 1024 * 1024 + number))
    (source / "dir" / "bigger").write_bytes(os.urandom(5 * 1024 * 1024))
    tars: list[str] = []
    run = SSHTransport.run

    def counted(self: SSHTransport, spec: CommandSpec, *args: Any, **kwargs: Any) -> Any:
        if "tar -x" in spec.command:
            tars.append(spec.command)
        return run(self, spec, *args, **kwargs)

    monkeypatch.setattr(SSHTransport, "run", counted)
    dest = tmp_path / "dest"
    first = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert first.ok, first.error
    assert snapshot(dest) == snapshot(source)
    assert len(tars) == 4  # the main stream, and three for the four big files
    for number in range(2):  # new there (changed ones would go as deltas)
        (source / f"added{number}").write_bytes(os.urandom(4 * 1024 * 1024 + 7))
    (source / "small").write_text("beside them")
    tars.clear()
    again = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert again.ok, again.error
    assert snapshot(dest) == snapshot(source)
    assert len(tars) == 3
    assert not [n for n in os.listdir(dest) if ".remoteops-" in n]


def test_a_first_copy_into_a_missing_destination_asks_no_more_than_the_listing(
    ssh_hosts: list[Host], source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing says when nothing is at the destination: no other look before writing."""

    def no_look(self: SSHTransport, path: str) -> None:
        raise AssertionError(f"looked at {path} again")

    monkeypatch.setattr(SSHTransport, "path_kind", no_look)
    dest = tmp_path / "dest"
    first = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert first.ok, first.error
    assert snapshot(dest) == snapshot(source)


def test_a_big_file_that_changes_on_the_host_after_the_listing_is_hashed_again(
    ssh_hosts: list[Host], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing hashed the host's copy; if the copy changed before the delta (its token
    differs), the delta hashes it again rather than patch what it did not hash."""
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    big = source / "image.bin"
    big.write_bytes(os.urandom(BIG))
    assert sync_hosts(ssh_hosts[:1], source, str(dest)).results[0].ok
    scanned = BatchWrites._scanned
    seen: list[bytes] = []

    def stale(self: BatchWrites, root: str, output: bytes) -> None:
        seen.append(output)
        scanned(self, root, output)
        for key, hashed in (self._prehashed or {}).items():  # as if the file changed since
            (self._prehashed or {})[key] = dataclasses.replace(hashed, token="1:2:3:4")

    monkeypatch.setattr(BatchWrites, "_scanned", stale)
    _flip(big, 1234567)
    os.utime(big, (1_700_000_000, 1_700_000_000))
    result = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert result.ok, result.error
    assert len(seen) == 1  # the listing did hash it
    assert b"image.bin" in seen[0]
    assert result.transfer is not None
    assert result.transfer.bytes_sent == BLOCK
    assert (dest / "image.bin").read_bytes() == big.read_bytes()
    assert sorted(os.listdir(dest)) == ["image.bin"]


FAKE_SPLIT = """#!/bin/sh
echo "split: unrecognized option: --filter" >&2
exit 1
"""
FAKE_PYTHON = """#!/bin/sh
echo "python3: not found" >&2
exit 127
"""


@pytest.mark.usefixtures("requires_root")
def test_a_host_without_python_gets_1_mib_blocks_through_split(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    target = ssh_hosts[-1]
    setup = "mkdir -p /root/nopy && cat > /root/nopy/python3 && chmod +x /root/nopy/python3"
    assert run_command([target], CommandSpec(setup, stdin=FAKE_PYTHON.encode())).exit_code == 0
    try:
        with login_shell_runs(target, "PATH=/root/nopy:$PATH"):
            source, dest = tmp_path / "source", tmp_path / "dest"
            source.mkdir()
            big = source / "image.bin"
            big.write_bytes(os.urandom(5 * 1024 * 1024 + 10))
            assert sync_hosts([target], source, str(dest)).results[0].ok
            _flip(big, 3 * 1024 * 1024 + 100)
            os.utime(big, (1_700_000_000, 1_700_000_000))
            result = sync_hosts([target], source, str(dest)).results[0]
            assert result.ok, result.error
            assert result.transfer is not None
            assert result.transfer.bytes_sent == 1024 * 1024  # one of split's blocks
            assert snapshot(dest) == snapshot(source)
            assert sorted(os.listdir(dest)) == ["image.bin"]
    finally:
        run_command([target], CommandSpec("rm -rf /root/nopy"))


@pytest.mark.usefixtures("requires_root")
def test_a_host_without_python_or_gnu_split_gets_a_changed_big_file_whole(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    target = ssh_hosts[-1]
    setup = "mkdir -p /root/nosplit && cat > /root/nosplit/split && chmod +x /root/nosplit/split"
    assert run_command([target], CommandSpec(setup, stdin=FAKE_SPLIT.encode())).exit_code == 0
    no_python = "cat > /root/nosplit/python3 && chmod +x /root/nosplit/python3"
    assert run_command([target], CommandSpec(no_python, stdin=FAKE_PYTHON.encode())).exit_code == 0
    try:
        with login_shell_runs(target, "PATH=/root/nosplit:$PATH"):
            source, dest = tmp_path / "source", tmp_path / "dest"
            source.mkdir()
            big = source / "image.bin"
            big.write_bytes(os.urandom(5 * 1024 * 1024))
            assert sync_hosts([target], source, str(dest)).results[0].ok
            _flip(big, 100)
            os.utime(big, (1_700_000_000, 1_700_000_000))
            result = sync_hosts([target], source, str(dest)).results[0]
            assert result.ok, result.error
            assert result.transfer is not None
            assert result.transfer.bytes_sent == 5 * 1024 * 1024  # whole, not a delta
            assert snapshot(dest) == snapshot(source)
            assert sorted(os.listdir(dest)) == ["image.bin"]
    finally:
        run_command([target], CommandSpec("rm -rf /root/nosplit"))


class _FreezeWhenPlanned:
    """A progress sink that freezes one host (every process in its namespace) just after its
    transfer starts: a host that stays connected and never answers again."""

    def __init__(self, target: str, netns: str) -> None:
        self.target, self.netns = target, netns
        self.frozen: list[int] = []

    def planned(self, host: str, files: int, size: int) -> Callable[[int, int], None]:
        if host == self.target:
            threading.Timer(0.3, self.freeze).start()
        return lambda files, sent: None

    def freeze(self) -> None:
        listed = subprocess.run(
            ["ip", "netns", "pids", self.netns], capture_output=True, check=True
        )
        self.frozen = [int(pid) for pid in listed.stdout.split()]
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@pytest.mark.usefixtures("requires_root")
def test_a_host_that_freezes_mid_transfer_times_out_and_the_others_finish(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    frozen, healthy = ssh_hosts[0], ssh_hosts[1]
    source = tmp_path / "source"
    source.mkdir()
    (source / "big").write_bytes(os.urandom(300_000_000))
    dest = f"freeze-test-{os.getpid()}"  # relative: each namespaced host's own /root
    netns = playground.host(frozen.name).netns
    assert netns is not None
    sink = _FreezeWhenPlanned(frozen.name, netns)
    options = SyncOptions()
    tree = scan_tree(source)
    started = time.monotonic()
    try:
        report = Executor(host_timeout=8).run(
            [frozen, healthy], sync_work(tree, dest, options, dry_run=False, progress=sink)
        )
    finally:
        sink.thaw()
    took = time.monotonic() - started
    assert sink.frozen  # the host really was frozen during its transfer
    by_host = report.by_host
    assert by_host[frozen.name].status is Status.TIMEOUT
    assert "gave up after 8 s" in (by_host[frozen.name].error or "")
    assert by_host[healthy.name].ok, by_host[healthy.name].error
    assert took < 20, took  # not held up by the frozen host
    listing = run_command([frozen], CommandSpec(f"ls -A {dest} 2>/dev/null"))
    assert b"big\n" not in listing.results[0].stdout  # no partial file under the real name
    # The frozen host's staged folder stays until the next sync into that folder clears it.
    run_command([frozen, healthy], CommandSpec(f"rm -rf {dest} .{dest}.remoteops-*.tmp"))


def test_a_stream_that_stops_between_members_is_not_taken_for_complete(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    """tar exits 0 on an archive cut at a member boundary; a new folder staged whole would
    then be renamed into place with files missing. The writer must say it finished."""
    source = tmp_path / "source"
    (source / "new").mkdir(parents=True)
    # Sizes that end members a and b exactly where the writer's 256 KiB buffer fills (the
    # folder's header and each file's take 512 bytes): the stream is then cut between members.
    sizes = {"a": 256 * 1024 - 1024, "b": 256 * 1024 - 512, "c": 1000}
    for name, size in sizes.items():
        (source / "new" / name).write_bytes(os.urandom(size))
    items = [(Entry("new", Kind.DIR, mode=0o755), None)] + [
        (Entry(f"new/{n}", Kind.FILE, size=size, mtime=1_600_000_000), source / "new" / n)
        for n, size in sizes.items()
    ]
    done: list[int] = []

    def breaks_after_two(files: int, size: int) -> None:
        done.append(files)
        if sum(done) == 2:
            raise RuntimeError("a bug in a progress display")

    dest = tmp_path / "dest"
    transport = TransportFactory().create(ssh_hosts[0])
    transport.connect()
    try:
        with pytest.raises(TransferError, match="stopped early"):
            transport.write_entries(str(dest), items, breaks_after_two)
    finally:
        transport.close()
    assert not (dest / "new").exists()
    assert os.listdir(dest) == []  # the staged folder was removed too


def test_delete_removes_read_only_host_folders(ssh_hosts: list[Host], tmp_path: Path) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    (source / "keep").write_text("k")
    (dest / "ro" / "inner").mkdir(parents=True)
    (dest / "ro" / "inner" / "x").write_text("x")
    (dest / "ro" / "inner").chmod(0o555)
    (dest / "ro").chmod(0o555)
    result = sync_hosts(ssh_hosts[:1], source, str(dest), SyncOptions(delete=True)).results[0]
    assert result.ok, result.error
    assert sorted(os.listdir(dest)) == ["keep"]


@pytest.mark.usefixtures("requires_root")
def test_a_relative_destination_is_not_redirected_by_cdpath(
    ssh_hosts: list[Host], source: Path, tmp_path: Path
) -> None:
    """With CDPATH set in the login shell, `cd dest` could land in another folder of the same
    name; every cd of ours is `cd ./dest`, so the copy lands in the home folder."""
    target = ssh_hosts[-1]
    decoy = tmp_path / "decoy"
    name = f"cdpath-test-{os.getpid()}"
    (decoy / name).mkdir(parents=True)
    try:
        with login_shell_runs(target, f"export CDPATH={decoy}"):
            first = sync_hosts([target], source, name, SyncOptions(checksum=True)).results[0]
            assert first.ok, first.error
            _flip(source / "dir" / "deeper" / "big", 10)  # under 4 MiB: whole, not a delta
            second = sync_hosts([target], source, name, SyncOptions(checksum=True)).results[0]
            assert second.ok, second.error
            assert list((decoy / name).iterdir()) == []  # nothing went to the CDPATH folder
            home = run_command([target], CommandSpec(f"cd ~/{name} && sha256sum dir/deeper/big"))
            expected = hashlib.sha256((source / "dir" / "deeper" / "big").read_bytes()).hexdigest()
            assert home.results[0].stdout.split()[0].decode() == expected
    finally:
        run_command([target], CommandSpec(f"rm -rf ~/{name}"))


SYSTEM_SPELLINGS = ["/etc/.", "//etc", "/./etc", "/usr/../etc", "/etc/./", "/boot/.", "/.",
                    "/tmp/..", "/var/lib/..", "/sbin", "/lib64", "/opt", "/srv", "/usr/local",
                    "/var/log", "/home", "/root", "~", ".", "~/"]  # fmt: skip


@pytest.mark.parametrize("dest", SYSTEM_SPELLINGS)
def test_every_spelling_of_a_system_or_home_folder_is_refused_on_the_host(
    ssh_hosts: list[Host], tmp_path: Path, dest: str
) -> None:
    """A dry run with --delete from an empty source: let in, it would plan to delete the
    folder's contents (as `sync --delete EMPTY /etc/.` planned 1,345 deletions)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    options = SyncOptions(delete=True)
    result = sync_hosts(ssh_hosts[:1], empty, dest, options, dry_run=True).results[0]
    assert result.status is Status.FAILED, result
    assert "use --force" in (result.error or "")
    assert result.plan is None  # refused before the listing: no plan at all


@pytest.mark.parametrize("spelled", ["{link}", "{link}/", "{link}/.", "~/{name}", "{link}/../etc"])
def test_a_link_on_the_host_to_a_system_folder_is_refused_and_nothing_is_written(
    ssh_hosts: list[Host], tmp_path: Path, spelled: str
) -> None:
    target = ssh_hosts[0]
    name = f"etc-link-{os.getpid()}"
    made = run_command([target], CommandSpec(f"ln -sfn /etc ~/{name} && echo ~/{name}"))
    link = made.results[0].stdout.decode().strip()
    assert made.exit_code == 0, made.results[0]
    assert link
    source = tmp_path / "source"
    source.mkdir()
    marker = f"remoteops-guard-test-{os.getpid()}"
    (source / marker).write_text("must not land in /etc")
    try:
        dest = spelled.format(link=link, name=name)
        result = sync_hosts([target], source, dest).results[0]
        assert result.status is Status.FAILED, result
        assert "/etc" in (result.error or "")
        assert "use --force" in (result.error or "")
    finally:
        run_command([target], CommandSpec(f"rm -f ~/{name} /etc/{marker}"))
    assert not Path("/etc", marker).exists()  # the hosts share this machine's /etc


def test_a_harmless_destination_is_accepted_and_force_lets_a_system_folder_through(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "a").write_text("a")
    inside = sync_hosts(ssh_hosts[:1], source, str(tmp_path / "dest" / "..") + "/dest2")
    assert inside.results[0].ok, inside.results[0].error
    assert (tmp_path / "dest2" / "a").read_text() == "a"
    forced = sync_hosts(ssh_hosts[:1], source, "/etc/.", dry_run=True, force=True).results[0]
    assert forced.ok, forced.error
    assert "upload a: new" in map(str, forced.plan or ())


@pytest.mark.usefixtures("requires_root")
def test_the_login_users_home_is_protected_for_that_user(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    """roplay's home is not under /home: it is protected because it is the login's home."""
    assert playground.sudo_user is not None
    as_user = with_vars(ssh_hosts[0], user=playground.sudo_user)
    home = run_command([as_user], CommandSpec("echo ~")).results[0].stdout.decode().strip()
    assert home.startswith("/")
    assert not home.startswith("/home/")
    empty = tmp_path / "empty"
    empty.mkdir()
    for dest in (home, home + "/.", "~", ".", str(Path(home).parent)):
        result = sync_hosts([as_user], empty, dest, SyncOptions(delete=True), dry_run=True)
        assert result.results[0].status is Status.FAILED, dest
        assert "home" in (result.results[0].error or ""), dest


def test_names_of_255_bytes_sync_completely(ssh_hosts: list[Host], tmp_path: Path) -> None:
    """NAME_MAX names (ext4, tmpfs): the temporaries next to them must fit too."""
    source = tmp_path / "source"
    source.mkdir()
    long_file, long_folder, multibyte = "f" * 255, "d" * 255, "é" * 127 + "x"
    (source / long_file).write_text("long file")
    (source / long_folder / "inner").mkdir(parents=True)
    (source / long_folder / "inner" / multibyte).write_text("long multibyte")
    (source / multibyte).write_text("top multibyte")
    (source / "short").write_text("short")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / long_folder).mkdir()  # an existing folder: its new files get temporaries of their own
    first = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert first.ok, first.error
    assert snapshot(dest) == snapshot(source)
    (source / long_file).write_text("long file, changed")  # replaced through a temporary
    (source / ("n" * 255) / "x").mkdir(parents=True)  # a new folder, staged whole
    (source / ("n" * 255) / "x" / long_file).write_text("deep")
    again = sync_hosts(ssh_hosts[:1], source, str(dest)).results[0]
    assert again.ok, again.error
    assert snapshot(dest) == snapshot(source)
    new_dest = tmp_path / ("D" * 255)  # a new destination is staged beside it under a cut name
    into_new = sync_hosts(ssh_hosts[:1], source, str(new_dest)).results[0]
    assert into_new.ok, into_new.error
    assert snapshot(new_dest) == snapshot(source)


@pytest.mark.usefixtures("requires_root")
def test_an_entry_the_host_refuses_fails_alone_and_everything_else_arrives(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path, reachable: Path
) -> None:
    """As a normal user, one new file goes into a folder of root's: tar cannot write it,
    goes on and exits 2; every other entry must still take its real name."""
    assert playground.sudo_user is not None
    source = tmp_path / "source"
    for folder in ("rootonly", "a", "fresh/deep"):
        (source / folder).mkdir(parents=True)
        (source / folder).chmod(0o755)
    (source / "rootonly" / "new.txt").write_text("refused")
    (source / "a" / "1.txt").write_text("one")
    (source / "a" / "2.txt").write_bytes(os.urandom(300_000))
    (source / "fresh" / "deep" / "x.txt").write_text("deep")
    (source / "top.txt").write_text("top")
    dest = reachable / "dest"
    (dest / "rootonly").mkdir(parents=True)
    dest.chmod(0o777)
    (dest / "rootonly").chmod(0o755)  # root's: the sync user may not write in it
    (dest / "rootonly" / "kept").write_text("root's")
    as_user = with_vars(ssh_hosts[0], user=playground.sudo_user)
    result = sync_hosts([as_user], source, str(dest)).results[0]
    assert result.status is Status.FAILED, result
    assert "could not write 1 of" in (result.error or "")
    assert "'rootonly/new.txt'" in (result.error or "")
    assert "Permission denied" in (result.error or "")
    delivered = snapshot(dest)
    expected = snapshot(source)
    del expected["rootonly/new.txt"]
    expected["rootonly/kept"] = delivered["rootonly/kept"]
    assert delivered == expected  # every other entry, with modes and mtimes
    assert result.transfer is not None
    assert result.transfer.files_created == 7
    assert not [p for p in dest.rglob("*") if ".remoteops-" in p.name]  # no temporary left


def sparse_file(path: Path, size: int = 300_000_000) -> Path:
    """A big file that costs no disk and no time to make (zeros still travel in full)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


def temporaries_in(folder: Path) -> list[str]:
    try:
        return [p.name for p in folder.iterdir() if ".remoteops-" in p.name]
    except FileNotFoundError:
        return []


@pytest.mark.parametrize("command", ["sync", "put", "get"])
def test_a_session_killed_mid_transfer_is_unreachable_for_sync_put_and_get(
    ssh_hosts: list[Host], playground_manager: Playground, tmp_path: Path, command: str
) -> None:
    """One cause, one status: the connection was lost, whichever command was running."""
    target = ssh_hosts[0]
    big = sparse_file(tmp_path / "source" / "big")
    dest, local = tmp_path / "dest", tmp_path / "local"
    dest.mkdir()
    landing = local / target.name if command == "get" else dest
    with done_when(
        lambda: kill_sessions(playground_manager, target.name),
        lambda: bool(temporaries_in(landing)),
    ):
        if command == "sync":
            result = sync_hosts([target], big.parent, str(dest)).results[0]
        elif command == "put":
            result = put_hosts([target], [big], str(dest)).results[0]
        else:
            result = fetch_hosts([target], str(big), local).results[0]
    assert result.status is Status.UNREACHABLE, result
    assert not (dest / "big").exists()
    assert not (local / target.name / "big").exists()


@pytest.mark.parametrize("login", ["playground user", "sudo user"])
def test_tilde_is_the_login_home_for_put_sync_and_get(
    request: pytest.FixtureRequest,
    ssh_hosts: list[Host],
    playground: PlaygroundState,
    tmp_path: Path,
    login: str,
) -> None:
    target = ssh_hosts[0]
    if login == "sudo user":
        request.getfixturevalue("requires_root")
        assert playground.sudo_user is not None
        target = with_vars(target, user=playground.sudo_user)
    home = run_command([target], CommandSpec("echo ~")).results[0].stdout.decode().strip()
    assert home.startswith("/")
    name = f"tilde-test-{os.getpid()}"
    (tmp_path / "app.conf").write_text("conf")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hi")
    try:
        put = put_hosts([target], [tmp_path / "app.conf"], f"~/{name}/x/app.conf", parents=True)
        assert put.results[0].ok, put.results[0].error
        synced = sync_hosts([target], tmp_path / "site", f"~/{name}/site")
        assert synced.results[0].ok, synced.results[0].error
        got = fetch_hosts([target], f"~/{name}", tmp_path / "got").results[0]
        assert got.ok, got.error
        copy = tmp_path / "got" / target.name / name
        assert (copy / "x" / "app.conf").read_text() == "conf"
        assert (copy / "site" / "index.html").read_text() == "hi"
        shown = run_command([target], CommandSpec(f"cd ~/{name} && find . | sort"))
        assert shown.results[0].stdout.decode().split() == [
            ".", "./site", "./site/index.html", "./x", "./x/app.conf",
        ]  # fmt: skip
        literal = run_command([target], CommandSpec("ls -d ./~ ~/~ 2>/dev/null"))
        assert literal.results[0].stdout == b""  # no folder named ~ anywhere
    finally:  # (./~ is where a literal ~ went)
        run_command([target], CommandSpec(f"rm -rf ~/{name} ./~/{name}; rmdir ./~ 2>/dev/null"))


@pytest.fixture(params=["local", "vsftpd"])
def home_host(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Host, Path]:
    """A host whose home is a folder of the test's: a local host (``$HOME``, as the shell's
    ``~``), or vsftpd (the FTP login folder, which is what ``~`` means over FTP)."""
    if request.param == "local":
        home = tmp_path / "home"
        home.mkdir()
        monkeypatch.setenv("HOME", str(home))
        return Host("local1", {"protocol": "local"}), home
    daemon: Daemon = request.getfixturevalue("vsftpd")
    return daemon.host, daemon.home


def test_tilde_is_the_local_home_and_the_ftp_login_folder_and_guarded_as_such(
    home_host: tuple[Host, Path], tmp_path: Path
) -> None:
    """Fleet.put/sync/get with ~ land in the home; sync --delete of an empty folder into the
    home itself (however ~ spells it) is refused, naming the spelling, and deletes nothing."""
    host, home = home_host
    name = f"tilde-{os.getpid()}"
    (tmp_path / "app.conf").write_text("conf")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hi")
    (tmp_path / "empty").mkdir()
    try:
        with Fleet([host]) as fleet:
            put = fleet.put(tmp_path / "app.conf", f"~/{name}/x/app.conf", parents=True)
            assert put.results[0].ok, put.results[0].error
            synced = fleet.sync(tmp_path / "site", f"~/{name}/site")
            assert synced.results[0].ok, synced.results[0].error
            got = fleet.get(f"~/{name}", tmp_path / "got").results[0]
            assert got.ok, got.error
            for dest in ("~", "~/", f"~/{name}/.."):
                refused = fleet.sync(tmp_path / "empty", dest, delete=True).results[0]
                assert refused.status is Status.FAILED, dest
                assert (
                    f"refusing to sync into {home} (which {dest!r} is on this host): "
                    "the login's home folder" in (refused.error or "")
                ), refused.error
        assert (home / name / "x" / "app.conf").read_text() == "conf"
        assert (home / name / "site" / "index.html").read_text() == "hi"
        copy = tmp_path / "got" / host.name / name
        assert (copy / "x" / "app.conf").read_text() == "conf"
        assert (copy / "site" / "index.html").read_text() == "hi"
        assert not (home / "~").exists()
    finally:
        shutil.rmtree(home / name, ignore_errors=True)


def test_tilde_user_forms_are_refused_before_any_host(tmp_path: Path) -> None:
    from remoteops.errors import ConfigurationError

    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigurationError, match="not expanded"):
        put_hosts([], [tmp_path / "f"], "~root/f")
    with pytest.raises(ConfigurationError, match="not expanded"):
        fetch_hosts([], "~root/f", tmp_path)
    with pytest.raises(ConfigurationError, match="not expanded"):
        sync_hosts([], tmp_path, "~root/x")


def test_sftps_bare_failure_says_what_is_in_the_way(ssh_hosts: list[Host], tmp_path: Path) -> None:
    """OpenSSH answers FAILURE (paramiko: "Failure") for every errno it has no status for;
    the message must say what the host shows instead."""
    (tmp_path / "full" / "x").mkdir(parents=True)
    (tmp_path / "staged" / "y").mkdir(parents=True)
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "local").write_text("content")
    transport = TransportFactory().create(ssh_hosts[0])
    transport.connect()
    try:
        with pytest.raises(TransferError) as renamed:
            transport.rename_path(str(tmp_path / "staged"), str(tmp_path / "full"))
        entry = Entry("folder", Kind.FILE, 7, 1_600_000_000, 0o644)
        with pytest.raises(TransferError) as written:
            transport.put_file(tmp_path / "local", str(tmp_path / "folder"), entry)
        with pytest.raises(TransferError) as linked:
            transport.make_symlink("elsewhere", str(tmp_path / "folder"))
    finally:
        transport.close()
    assert f"{tmp_path}/full exists and is a folder that is not empty" in str(renamed.value)
    assert f"{tmp_path}/folder exists and is a folder" in str(written.value)
    assert f"cannot link {tmp_path}/folder: Failure ({tmp_path}/folder exists and is a folder" in (
        str(linked.value)
    )
    assert sorted(os.listdir(tmp_path)) == ["file", "folder", "full", "local", "staged"]


def test_a_new_folder_made_by_another_transfer_meanwhile_is_said_as_such(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    """Five hosts sharing /tmp each put site/ there: all but the first find site/ made and
    filled when they rename their staged copy ("cannot rename site: Failure" before)."""
    source = tmp_path / "source"
    (source / "site").mkdir(parents=True)
    (source / "site" / "index.html").write_text("hi")
    dest = tmp_path / "dest"
    dest.mkdir()

    def another_transfer_wins(files: int, size: int) -> None:
        (dest / "site").mkdir(exist_ok=True)
        (dest / "site" / "index.html").write_text("theirs")

    items = [
        (Entry("site", Kind.DIR, mode=0o755), None),
        (Entry("site/index.html", Kind.FILE, 2, 1_600_000_000), source / "site" / "index.html"),
    ]
    transport = TransportFactory().create(ssh_hosts[0])
    transport.connect()
    try:
        with pytest.raises(TransferError) as lost:
            transport.write_entries(str(dest), items, another_transfer_wins)
    finally:
        transport.close()
    assert "cannot rename site: Failure" in str(lost.value)
    assert "exists and is a folder that is not empty (another transfer" in str(lost.value)
    assert os.listdir(dest) == ["site"]  # our staged copy was removed


@pytest.mark.parametrize("protocol", ["local", "ftp"])
def test_local_and_ftp_hosts_judge_destinations_the_same_way(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    protocol: str,
) -> None:
    host = (
        Host("localhost", {"protocol": "local"})
        if protocol == "local"
        else request.getfixturevalue("ftp_host")
    )
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # the local host's ~ (the FTP one is its login folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "real").mkdir()
    os.symlink("/etc", tmp_path / "etc-link")
    refused = ["/etc/.", "//usr/../etc", "/var/lib/..", "~"]
    if protocol == "local":  # pyftpdlib names a link as entered (PWD): only the spelling counts
        refused.append(str(tmp_path / "etc-link" / "."))
    for dest in refused:
        result = sync_hosts([host], empty, dest, SyncOptions(delete=True), dry_run=True)
        assert result.results[0].status is Status.FAILED, dest
        assert "use --force" in (result.results[0].error or ""), dest
    fine = sync_hosts([host], empty, f"{tmp_path}//real/./sub", dry_run=True).results[0]
    assert fine.ok, fine.error
