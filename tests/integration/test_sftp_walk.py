"""The SFTP-walk listing (hosts whose find cannot -printf) against real sshd hosts."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.sync.fetch import fetch_hosts
from remoteops.sync.put import put_hosts
from remoteops.sync.run import sync_hosts
from remoteops.transports import CommandSpec, TransportFactory
from remoteops.transports.sftp_pipeline import walk_tree
from remoteops.transports.ssh import SSHTransport
from tests.integration.conftest import login_shell_runs
from tests.integration.test_sync import ODD, snapshot


def _tree(root: Path) -> Path:
    for folder in range(30):  # more folders and files than requests in flight (256)
        (root / f"f{folder:02d}" / "inner").mkdir(parents=True)
        for number in range(12):
            (root / f"f{folder:02d}" / f"file{number}").write_bytes(os.urandom(number * 10))
    for name in ODD:
        (root / "f00" / name).write_text(name)
    (root / "empty" / "deeper").mkdir(parents=True)
    (root / "setuid").write_text("x")
    (root / "setuid").chmod(0o4755)
    os.symlink("f01/file3", root / "link")
    os.symlink("../../nowhere", root / "f02" / "dangling")
    os.symlink("f03", root / "folder-link")  # listed as a link, never followed
    os.utime(root / "f04" / "file5", (1_400_000_000, 1_400_000_000), follow_symlinks=False)
    return root


@pytest.fixture
def transport(ssh_hosts: list[Host]) -> Iterator[SSHTransport]:
    opened = TransportFactory().create(ssh_hosts[0])
    assert isinstance(opened, SSHTransport)
    opened.connect()
    try:
        yield opened
    finally:
        opened.close()


def test_the_walk_lists_exactly_what_find_lists(transport: SSHTransport, tmp_path: Path) -> None:
    root = _tree(tmp_path / "tree")
    walked = sorted(walk_tree(transport.sftp(), str(root)), key=lambda e: e.path)
    found = sorted(transport.list_tree(str(root)), key=lambda e: e.path)
    assert len(found) > 400
    assert walked == found


def test_the_walk_of_a_missing_root_is_empty_and_of_a_file_an_error(
    transport: SSHTransport, tmp_path: Path
) -> None:
    assert walk_tree(transport.sftp(), str(tmp_path / "missing")) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(Exception, match="not a directory"):
        walk_tree(transport.sftp(), str(tmp_path / "file"))


FAKE_FIND = """#!/bin/sh
for arg in "$@"; do
  [ "$arg" = -printf ] && { echo "find: unrecognized: -printf" >&2; exit 1; }
done
exec REAL "$@"
"""


@contextlib.contextmanager
def busybox_find(target: Host) -> Iterator[None]:
    """A find without -printf on this host (a PATH only it reads), removed afterwards."""
    setup = (
        'mkdir -p /root/busy && sed "s|REAL|$(command -v find)|" > /root/busy/find && '
        "chmod +x /root/busy/find"
    )
    assert run_command([target], CommandSpec(setup, stdin=FAKE_FIND.encode())).exit_code == 0
    try:
        with login_shell_runs(target, "PATH=/root/busy:$PATH"):
            yield
    finally:
        run_command([target], CommandSpec("rm -rf /root/busy"))


@pytest.mark.usefixtures("requires_root")
def test_a_host_whose_find_cannot_printf_is_walked_and_synced_exactly(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    """BusyBox-like find (no -printf) on this host, via a PATH that only this host reads."""
    target = ssh_hosts[-1]
    with busybox_find(target):
        probe = run_command([target], CommandSpec("find . -maxdepth 0 -printf x")).results[0]
        assert b"unrecognized" in probe.stderr, probe  # the host's find really refuses
        source = _tree(tmp_path / "source")
        dest = tmp_path / "dest"
        first = sync_hosts([target], source, str(dest)).results[0]
        assert first.ok, first.error
        assert snapshot(dest) == snapshot(source)
        second = sync_hosts([target], source, str(dest)).results[0]
        assert second.ok, second.error
        assert second.transfer is not None
        assert second.transfer.bytes_sent == 0
        assert second.transfer.files_created + second.transfer.files_updated == 0


@pytest.mark.usefixtures("requires_root")
def test_put_and_get_work_on_a_host_whose_find_cannot_printf(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    target = ssh_hosts[-1]
    with busybox_find(target):
        source = _tree(tmp_path / "source")
        dest = tmp_path / "dest"
        dest.mkdir()
        put = put_hosts([target], [source], str(dest), recursive=True).results[0]
        assert put.ok, put.error
        assert snapshot(dest / "source") == snapshot(source)
        again = put_hosts([target], [source], str(dest), recursive=True).results[0]
        assert again.transfer is not None
        assert again.transfer.bytes_sent == 0  # the walk saw everything already there
        got = fetch_hosts([target], str(dest / "source"), tmp_path / "back").results[0]
        assert got.ok, got.error
        assert snapshot(tmp_path / "back" / target.name / "source") == snapshot(source)
        missing = fetch_hosts([target], str(dest / "nope"), tmp_path / "back").results[0]
        assert "no such file or directory" in (missing.error or "")


@pytest.mark.parametrize("request_size", [1000, 1_000_000])
def test_pipelined_reads_deliver_every_byte_in_order_even_when_answered_short(
    transport: SSHTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request_size: int
) -> None:
    """1 MB requests are more than OpenSSH serves at once (it answers short, and the rest is
    asked for); 1000-byte requests put many replies in flight at once."""
    from remoteops.transports import sftp_pipeline

    monkeypatch.setattr(sftp_pipeline, "_READ_SIZE", request_size)
    content = os.urandom(5_000_123)
    (tmp_path / "remote").write_bytes(content)
    got = bytearray()
    sftp = transport.sftp()
    with sftp.open(str(tmp_path / "remote"), "rb") as source:
        handle = source.handle
        assert isinstance(handle, bytes)
        ended, more = sftp_pipeline.read_range(sftp, handle, 1000, 4_000_000, got.extend)
        assert (ended, more) == (4_000_000, True)
        tail = bytearray()
        ended, more = sftp_pipeline.read_range(sftp, handle, 4_000_000, 6_000_000, tail.extend)
        assert (ended, more) == (5_000_123, False)  # the file ends first
    assert bytes(got) == content[1000:4_000_000]
    assert bytes(tail) == content[4_000_000:]
