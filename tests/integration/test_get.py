"""`get` from real sshd hosts: per-host folders, exact copies, and the escape guard."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from remoteops.inventory.model import Host
from remoteops.results import Status
from remoteops.sync.fetch import fetch_hosts


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def _remote_tree(tmp_path: Path) -> Path:
    remote = tmp_path / "remote" / "logs"
    (remote / "app").mkdir(parents=True)
    (remote / "app" / "app.log").write_bytes(os.urandom(200_000))
    (remote / "odd name\n.txt").write_text("odd")
    (remote / "run.sh").write_text("#!/bin/sh\n")
    (remote / "run.sh").chmod(0o750)
    os.utime(remote / "run.sh", (1_500_000_000, 1_500_000_000))
    os.symlink("app/app.log", remote / "latest")
    return remote


def test_each_host_lands_in_its_own_folder_exactly(ssh_hosts: list[Host], tmp_path: Path) -> None:
    remote = _remote_tree(tmp_path)
    local = tmp_path / "collected"
    report = fetch_hosts(ssh_hosts[:2], str(remote), local)
    assert [r.status for r in report.results] == [Status.OK, Status.OK]
    for host in ssh_hosts[:2]:
        copy = local / host.name / "logs"
        assert _digests(copy) == _digests(remote)
        assert (copy / "run.sh").stat().st_mode & 0o777 == 0o750
        assert int((copy / "run.sh").stat().st_mtime) == 1_500_000_000
        assert os.readlink(copy / "latest") == "app/app.log"
    first = report.results[0].transfer
    assert first is not None
    assert first["files_created"] == 4
    assert first["bytes_received"] == sum(
        p.stat().st_size for p in remote.rglob("*") if p.is_file() and not p.is_symlink()
    )


def test_a_single_file_and_a_missing_path(ssh_hosts: list[Host], tmp_path: Path) -> None:
    remote = _remote_tree(tmp_path)
    local = tmp_path / "collected"
    one = fetch_hosts(ssh_hosts[:1], str(remote / "run.sh"), local).results[0]
    assert one.ok
    assert (local / ssh_hosts[0].name / "run.sh").read_text() == "#!/bin/sh\n"
    missing = fetch_hosts(ssh_hosts[:1], str(remote / "nope"), local).results[0]
    assert missing.status is Status.FAILED
    assert "no such file or directory" in (missing.error or "")


def test_links_pointing_out_of_the_host_folder_are_refused_and_said(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    remote = _remote_tree(tmp_path)
    os.symlink("/etc/passwd", remote / "absolute")
    os.symlink("../../../../outside", remote / "app" / "climb")
    local = tmp_path / "collected"
    result = fetch_hosts(ssh_hosts[:1], str(remote), local).results[0]
    assert result.status is Status.FAILED
    assert "refused 2 entries" in (result.error or "")
    assert "'logs/absolute'" in (result.error or "")
    copy = local / ssh_hosts[0].name / "logs"
    assert not (copy / "absolute").is_symlink()
    assert not (copy / "app" / "climb").is_symlink()
    assert _digests(copy) == _digests(remote)  # everything else still arrived


def test_nothing_is_written_through_a_symlink_even_one_made_by_an_earlier_get(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    remote = tmp_path / "remote" / "tree"
    remote.mkdir(parents=True)
    os.symlink(".", remote / "here")  # inside on its own ...
    os.symlink("here/..", remote / "up")  # ... and so is this, lexically: "." - but not really
    local = tmp_path / "collected"
    fetch_hosts(ssh_hosts[:1], str(remote), local)
    # The host now turns "up" into a folder with a file: following the local link would put
    # it in local/<host>/, outside the copy of the tree. The link is replaced by a real folder
    # first (the copy follows the host), so the file lands inside the tree's copy.
    (remote / "up").unlink()
    (remote / "up").mkdir()
    (remote / "up" / "planted").write_text("x")
    result = fetch_hosts(ssh_hosts[:1], str(remote), local).results[0]
    assert result.ok, result.error
    copy = local / ssh_hosts[0].name / "tree"
    assert not (copy / "up").is_symlink()
    assert (copy / "up" / "planted").read_text() == "x"
    assert not (local / ssh_hosts[0].name / "planted").exists()


def test_a_chain_of_links_that_leads_out_is_removed_and_reported(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    remote = tmp_path / "remote" / "top"
    (remote / "b").mkdir(parents=True)
    os.symlink("..", remote / "b" / "c")  # alone: top
    os.symlink("b/c/../..", remote / "a")  # alone, as text: top/.. -> but through c: outside
    local = tmp_path / "collected"
    result = fetch_hosts(ssh_hosts[:1], str(remote), local).results[0]
    assert result.status is Status.FAILED
    assert "'top/a': symlink leads outside" in (result.error or "")
    assert not (local / ssh_hosts[0].name / "top" / "a").is_symlink()
    assert (local / ssh_hosts[0].name / "top" / "b" / "c").is_symlink()  # harmless: kept


def test_a_second_get_follows_entries_that_changed_kind(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    remote = _remote_tree(tmp_path)
    local = tmp_path / "collected"
    first = fetch_hosts(ssh_hosts[:1], str(remote), local).results[0]
    assert first.ok, first.error
    shutil.rmtree(remote / "app")  # folder -> link, link -> folder, file -> folder
    os.symlink("run.sh", remote / "app")
    (remote / "latest").unlink()
    (remote / "latest").mkdir()
    (remote / "odd name\n.txt").unlink()
    (remote / "odd name\n.txt").mkdir()
    second = fetch_hosts(ssh_hosts[:1], str(remote), local).results[0]
    assert second.ok, second.error
    copy = local / ssh_hosts[0].name / "logs"
    assert os.readlink(copy / "app") == "run.sh"
    assert (copy / "latest").is_dir()
    assert not (copy / "latest").is_symlink()
    assert (copy / "odd name\n.txt").is_dir()


def test_a_remote_path_that_is_a_link_to_a_folder_is_followed(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    remote = _remote_tree(tmp_path)
    os.symlink(str(remote), tmp_path / "current")
    local = tmp_path / "collected"
    result = fetch_hosts(ssh_hosts[:1], str(tmp_path / "current"), local).results[0]
    assert result.ok, result.error
    copy = local / ssh_hosts[0].name / "current"
    assert copy.is_dir()
    assert not copy.is_symlink()
    assert (copy / "run.sh").read_text() == "#!/bin/sh\n"
