"""Promises of ``get`` and ``sync`` that the rest of the suite left unguarded (see
docs/reliability.md, "Deliberate breaks"), against the session's real sshd hosts:

- a ``get`` cut off mid-file over SSH leaves no truncated file under the real name, and an
  older complete copy there is kept as it was;
- a dry run with ``--delete`` deletes nothing, and its plan (text and JSON) lists every
  deletion;
- ``--exclude-from`` and ``-L`` (copy what links point to) end to end through the CLI.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from remoteops.inventory.model import Host
from remoteops.playground import Playground, PlaygroundState
from remoteops.results import Status
from remoteops.sync.fetch import fetch_hosts
from tests.integration.conftest import done_when, kill_sessions

#: Large enough that a get is still running when the session is killed (sparse: no disk).
BIG_FILE_BYTES = 768 * 1024 * 1024


@pytest.mark.parametrize("older_copy", [True, False], ids=["older-copy", "first-copy"])
def test_a_get_cut_off_over_ssh_leaves_no_truncated_file_under_the_real_name(
    older_copy: bool,
    ssh_hosts: list[Host],
    playground_manager: Playground,
    tmp_path: Path,
) -> None:
    target = ssh_hosts[0]
    remote = tmp_path / "remote" / "big.img"
    remote.parent.mkdir()
    with open(remote, "wb") as handle:
        handle.truncate(BIG_FILE_BYTES)
    local = tmp_path / "collected"
    copy = local / target.name / "big.img"
    copy.parent.mkdir(parents=True)
    old = b"the older, complete copy\n" * 1000
    if older_copy:
        copy.write_bytes(old)
    before = {p.name: p.stat().st_size for p in copy.parent.iterdir()}

    def arriving() -> bool:
        """Some file in the host's folder is new or changed and already holds 4 MiB."""
        for path in copy.parent.iterdir():
            with contextlib.suppress(FileNotFoundError):
                size = path.stat().st_size
                if before.get(path.name) != size and size >= 4 * 1024 * 1024:
                    return True
        return False

    kill = functools.partial(kill_sessions, playground_manager, target.name)
    with done_when(kill, arriving, within_s=60):
        result = fetch_hosts([target], str(remote), local).results[0]
    assert result.status is not Status.OK, result
    if older_copy:
        assert copy.read_bytes() == old  # never opened for writing, let alone truncated
    else:
        assert not copy.exists()
    leftovers = [p for p in copy.parent.iterdir() if p.name != "big.img"]
    for partial in leftovers:  # kept to resume from: hidden, and the owner's only
        assert partial.name.startswith(".big.img.")
        assert partial.name.endswith(".tmp")
        assert partial.stat().st_mode & 0o777 == 0o600


def _tree(root: Path) -> dict[str, str]:
    """Every entry below ``root``: files by content, links by target, folders as '/'."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[name] = "/"
        else:
            found[name] = path.read_text()
    return found


def _remoteops(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "remoteops", *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=120,
        check=False,
    )


def test_a_dry_run_with_delete_deletes_nothing_and_plans_every_deletion(
    playground: PlaygroundState, tmp_path: Path
) -> None:
    host = playground.hosts[0].name
    source = tmp_path / "source"
    source.mkdir()
    (source / "kept.txt").write_text("new content\n")
    (source / "added.txt").write_text("added\n")
    dest = tmp_path / "dest"
    (dest / "old-folder" / "deeper").mkdir(parents=True)
    (dest / "old-folder" / "deeper" / "file").write_text("extra in a folder\n")
    (dest / "kept.txt").write_text("older content\n")
    (dest / "extra.log").write_text("extra\n")
    os.symlink("kept.txt", dest / "extra-link")
    before = _tree(dest)
    common = ["sync", "-i", str(playground.inventory_path), "-H", host, "--delete", "--dry-run"]

    text = _remoteops(*common, str(source), str(dest))
    assert text.returncode == 0, text.stderr
    planned = text.stdout.decode()
    for line in ("delete extra.log", "delete extra-link", "delete old-folder",
                 "upload added.txt: new", "upload kept.txt"):  # fmt: skip
        assert f"{host} | {line}" in planned, planned
    assert _tree(dest) == before

    as_json = _remoteops(*common, "-o", "json", str(source), str(dest))
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert (result["status"], result["files_created"]) == ("ok", 1)
    deletions = [ln.removeprefix(f"{host} | ") for ln in planned.splitlines() if "| delete " in ln]
    assert len(deletions) == 5  # the two files, the folder and the two entries it holds
    assert result["files_deleted"] == len(deletions)
    assert [ln for ln in result["plan"].splitlines() if ln.startswith("delete ")] == deletions
    assert _tree(dest) == before


def test_exclude_from_and_copy_links_end_to_end(
    playground: PlaygroundState, tmp_path: Path
) -> None:
    """``--exclude-from`` patterns (comments and blank lines skipped) are neither sent nor
    deleted; ``-L`` sends what a link points to, links are sent as links without it."""
    host = playground.hosts[0].name
    source = tmp_path / "source"
    (source / "build").mkdir(parents=True)
    (source / "app.py").write_text("print('hi')\n")
    (source / "debug.log").write_text("noise\n")
    (source / "build" / "out.bin").write_text("artefact\n")
    (tmp_path / "real.conf").write_text("setting = 1\n")
    os.symlink(tmp_path / "real.conf", source / "app.conf")
    excludes = tmp_path / "excludes"
    excludes.write_text("# build products\n*.log\n\nbuild/\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "local.log").write_text("the host's own log\n")
    common = ["sync", "-i", str(playground.inventory_path), "-H", host, "--delete",
              "--exclude-from", str(excludes)]  # fmt: skip

    as_links = _remoteops(*common, str(source), str(dest))
    assert as_links.returncode == 0, as_links.stderr
    assert _tree(dest) == {
        "app.conf": f"-> {tmp_path / 'real.conf'}",
        "app.py": "print('hi')\n",
        "local.log": "the host's own log\n",  # excluded: not deleted either
    }
    followed = _remoteops(*common, "-L", str(source), str(dest))
    assert followed.returncode == 0, followed.stderr
    assert _tree(dest) == {
        "app.conf": "setting = 1\n",
        "app.py": "print('hi')\n",
        "local.log": "the host's own log\n",
    }
    assert not (dest / "app.conf").is_symlink()

    nowhere = str(tmp_path / "nope")
    missing = _remoteops(*common[:5], "--exclude-from", nowhere, str(source), str(dest))
    assert missing.returncode == 2
    assert b"cannot read --exclude-from" in missing.stderr
