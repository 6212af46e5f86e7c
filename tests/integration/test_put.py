"""`put` to real sshd hosts: where copies land (cp/scp rules), modes, mtimes, bad input.

Playground hosts share this machine's file system, so results are checked on disk directly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from remoteops.errors import ConfigurationError
from remoteops.inventory.model import Host
from remoteops.playground import Playground
from remoteops.results import Status
from remoteops.sync.put import put_hosts
from tests.integration.conftest import done_when, kill_sessions
from tests.integration.test_sync import snapshot, sparse_file, temporaries_in


@pytest.fixture
def local(tmp_path: Path) -> Path:
    root = tmp_path / "local"
    (root / "site" / "css").mkdir(parents=True)
    (root / "site" / "index.html").write_text("<h1>hi</h1>")
    (root / "site" / "css" / "main.css").write_bytes(os.urandom(50_000))
    os.symlink("css/main.css", root / "site" / "style")
    (root / "site").chmod(0o750)
    (root / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    (root / "tool.sh").chmod(0o755)
    os.utime(root / "tool.sh", (1_500_000_000, 1_500_000_000))
    (root / "odd name\n'x'").write_text("odd")
    return root


def test_a_file_into_an_existing_folder_keeps_its_name_mode_and_mtime(
    ssh_hosts: list[Host], local: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    report = put_hosts(ssh_hosts[:2], [local / "tool.sh"], str(dest))
    assert [r.status for r in report.results] == [Status.OK, Status.OK]
    copied = dest / "tool.sh"
    assert copied.read_text() == "#!/bin/sh\necho tool\n"
    assert copied.stat().st_mode & 0o777 == 0o755
    assert int(copied.stat().st_mtime) == 1_500_000_000
    again = put_hosts(ssh_hosts[:1], [local / "tool.sh"], str(dest)).results[0]
    assert again.transfer is not None
    assert again.transfer.files_unchanged == 1
    assert again.transfer.bytes_sent == 0


def test_a_single_file_is_copied_as_a_new_name(
    ssh_hosts: list[Host], local: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old.sh").write_text("previous")
    for name in ("renamed.sh", "old.sh"):
        result = put_hosts(ssh_hosts[:1], [local / "tool.sh"], str(dest / name)).results[0]
        assert result.ok, result.error
    assert sorted(p.name for p in dest.iterdir()) == ["old.sh", "renamed.sh"]
    assert (dest / "old.sh").read_text() == "#!/bin/sh\necho tool\n"


def test_a_folder_goes_inside_an_existing_folder_or_becomes_a_new_one(
    ssh_hosts: list[Host], local: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    inside = put_hosts(ssh_hosts[:1], [local / "site"], str(dest), recursive=True).results[0]
    assert inside.ok, inside.error
    assert snapshot(dest / "site") == snapshot(local / "site")
    assert (dest / "site").stat().st_mode & 0o777 == 0o750
    fresh = dest / "copy"
    as_new = put_hosts(ssh_hosts[:1], [local / "site"], str(fresh), recursive=True).results[0]
    assert as_new.ok, as_new.error
    assert snapshot(fresh) == snapshot(local / "site")  # the contents, not copy/site


def test_several_sources_need_a_folder_and_parents_creates_it(
    ssh_hosts: list[Host], local: Path, tmp_path: Path
) -> None:
    sources = [local / "site", local / "tool.sh", local / "odd name\n'x'"]
    target = tmp_path / "dest" / "deep" / "er"
    refused = put_hosts(ssh_hosts[:1], sources, str(target), recursive=True).results[0]
    assert refused.status is Status.FAILED
    assert "--parents" in (refused.error or "")
    assert not (tmp_path / "dest").exists()
    made = put_hosts(ssh_hosts[:1], sources, str(target), recursive=True, parents=True)
    assert made.results[0].ok, made.results[0].error
    assert sorted(p.name for p in target.iterdir()) == sorted(s.name for s in sources)
    assert (target / "odd name\n'x'").read_text() == "odd"


def test_a_missing_parent_fails_the_host_and_parents_makes_it(
    ssh_hosts: list[Host], local: Path, tmp_path: Path
) -> None:
    target = tmp_path / "a" / "b" / "tool"
    refused = put_hosts(ssh_hosts[:1], [local / "tool.sh"], str(target)).results[0]
    assert refused.status is Status.FAILED
    assert "no such folder" in (refused.error or "")
    made = put_hosts(ssh_hosts[:1], [local / "tool.sh"], str(target), parents=True).results[0]
    assert made.ok, made.error
    assert target.read_text() == "#!/bin/sh\necho tool\n"


def test_a_folder_over_a_file_is_refused_and_the_file_kept(
    ssh_hosts: list[Host], local: Path, tmp_path: Path
) -> None:
    existing = tmp_path / "precious"
    existing.write_text("keep")
    result = put_hosts(ssh_hosts[:1], [local / "site"], str(existing), recursive=True).results[0]
    assert result.status is Status.FAILED
    assert "is a file" in (result.error or "")
    assert existing.read_text() == "keep"


def test_local_mistakes_are_refused_before_any_host(local: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="use -r"):
        put_hosts([], [local / "site"], str(tmp_path))
    with pytest.raises(ConfigurationError, match="cannot read"):
        put_hosts([], [local / "missing"], str(tmp_path))


def test_put_refuses_to_replace_a_host_symlink_and_leaves_it(
    ssh_hosts: list[Host], local: Path, tmp_path: Path
) -> None:
    target = tmp_path / "real.sh"
    target.write_text("real")
    os.symlink("real.sh", tmp_path / "tool.sh")
    result = put_hosts(ssh_hosts[:1], [local / "tool.sh"], str(tmp_path)).results[0]
    assert result.status is Status.FAILED
    assert "tool.sh is a symlink on the host" in (result.error or "")
    assert "--delete" not in (result.error or "").split(";")[0]
    assert os.readlink(tmp_path / "tool.sh") == "real.sh"
    assert target.read_text() == "real"


@pytest.mark.usefixtures("leftovers_age_at_once")
@pytest.mark.parametrize("folder", [False, True])
def test_an_interrupted_put_leaves_a_temporary_that_the_next_put_removes(
    ssh_hosts: list[Host], playground_manager: Playground, tmp_path: Path, folder: bool
) -> None:
    """A file has its own temporary beside its real name; a new folder is staged whole
    under one. Either is put's own leftover, and the next put of that name removes it."""
    target = ssh_hosts[0]
    big = sparse_file(tmp_path / "local" / "site" / "big")
    sent = big.parent if folder else big
    dest = tmp_path / "dest"
    dest.mkdir()
    someone_elses = dest / ".other.remoteops-0badc0de.tmp"  # not one of the names put writes
    someone_elses.write_text("not put's")
    with done_when(
        lambda: kill_sessions(playground_manager, target.name),
        lambda: any(n != someone_elses.name for n in temporaries_in(dest)),
    ):
        cut = put_hosts([target], [sent], str(dest), recursive=folder).results[0]
    assert cut.status is Status.UNREACHABLE, cut
    left = [n for n in temporaries_in(dest) if n != someone_elses.name]
    assert len(left) == 1, left
    assert left[0].startswith(f".{sent.name}.remoteops-"), left  # the leftover
    again = put_hosts([target], [sent], str(dest), recursive=folder).results[0]
    assert again.ok, again.error
    assert again.transfer is not None
    assert again.transfer.files_deleted == 1  # the leftover, nothing else
    assert sorted(temporaries_in(dest)) == [someone_elses.name]  # ours gone, theirs kept
    assert (dest / sent.name).exists()
    assert (dest / "site" / "big" if folder else dest / "big").stat().st_size == big.stat().st_size
