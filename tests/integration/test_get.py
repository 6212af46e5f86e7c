"""`get` from real sshd hosts: per-host folders, exact copies, and the escape guard."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.output.live import LiveLines
from remoteops.playground import PlaygroundState
from remoteops.results import Status
from remoteops.sync.fetch import fetch_hosts
from remoteops.transports import CommandSpec
from tests.integration.conftest import with_vars


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
    assert first.files_created == 4
    assert first.bytes_received == sum(
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


@pytest.mark.usefixtures("requires_root")
def test_one_entry_that_cannot_be_fetched_is_named_and_every_other_arrives(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path, reachable: Path
) -> None:
    """One file the login may not read on the host, one folder this machine will not let
    us write in (immutable): each fails alone, by name; the host ends failed."""
    assert playground.sudo_user is not None
    remote = reachable / "tree"
    for folder in ("a", "m", "z"):
        (remote / folder).mkdir(parents=True)
        (remote / folder).chmod(0o755)
        for number in range(5):
            (remote / folder / f"ok{number}").write_text(f"{folder}{number}")
            (remote / folder / f"ok{number}").chmod(0o644)
    (remote / "m" / "secret").write_text("root's only")
    (remote / "m" / "secret").chmod(0o600)
    os.symlink("a/ok1", remote / "link")
    remote.chmod(0o755)
    as_user = with_vars(ssh_hosts[0], user=playground.sudo_user)
    local = tmp_path / "collected"
    frozen = local / as_user.name / "tree" / "z"
    frozen.mkdir(parents=True)
    subprocess.run(["chattr", "+i", str(frozen)], check=True)
    try:
        result = fetch_hosts([as_user], str(remote), local).results[0]
    finally:
        subprocess.run(["chattr", "-i", str(frozen)], check=True)
    assert result.status is Status.FAILED, result
    error = result.error or ""
    assert "could not fetch 6 entries" in error, error
    assert "'tree/m/secret': cannot fetch" in error
    assert "Permission denied" in error
    assert "'tree/z/ok0': cannot write in" in error
    assert "Operation not permitted" in error
    copy = local / as_user.name / "tree"
    arrived = {str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file() or p.is_symlink()}
    assert arrived == {f"{f}/ok{n}" for f in ("a", "m") for n in range(5)} | {"link"}
    assert result.transfer is not None
    assert result.transfer.files_created == 11


@pytest.mark.parametrize("protocol", ["ssh", "local", "ftp"])
def test_a_file_being_appended_to_arrives_as_listed_with_a_note(
    request: pytest.FixtureRequest, ssh_hosts: list[Host], tmp_path: Path, protocol: str
) -> None:
    """A live log: a writer on the host appends all through the get. The copy is the file
    as it was listed (as scp and rsync give), and the growth is a note, not a failure."""
    local_host = Host("localhost", {"protocol": "local"})
    host = {"ssh": ssh_hosts[0], "local": local_host}.get(protocol) or request.getfixturevalue(
        "ftp_host"
    )
    writer_host = ssh_hosts[0] if protocol == "ssh" else local_host
    log = tmp_path / "app.log"
    log.write_bytes(os.urandom(30_000_000))
    stop = tmp_path / "stop"
    writer = threading.Thread(
        target=run_command,
        args=([writer_host], CommandSpec(
            f"cd {tmp_path} && while [ ! -e stop ]; do echo 'GET /index.html 200' >> app.log; done"
        )),
    )  # fmt: skip
    writer.start()
    try:
        deadline = time.monotonic() + 10
        while log.stat().st_size == 30_000_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        err = io.StringIO()
        listener = LiveLines([host.name], out=io.StringIO(), err=err)
        result = fetch_hosts([host], str(log), tmp_path / "got", listener=listener).results[0]
    finally:
        stop.touch()
        writer.join()
    assert result.ok, result.error
    (note,) = result.notes
    assert "app.log grew" in note
    assert "while being fetched" in note
    assert f"{host.name} ! note: {note}" in err.getvalue()
    copy = (tmp_path / "got" / host.name / "app.log").read_bytes()
    assert len(copy) > 30_000_000
    with open(log, "rb") as final:
        assert final.read(len(copy)) == copy  # exactly the bytes there when it was listed
    assert log.stat().st_size > len(copy)
    assert result.transfer is not None
    assert result.transfer.bytes_received == len(copy)
