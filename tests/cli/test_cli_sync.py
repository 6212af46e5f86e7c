"""`remoteops sync` and `get` from the command line: JSON, exit codes, guards, dry runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from cli_support import cli_env, remoteops, run_on_terminal

from remoteops.playground import PlaygroundState

TRANSFER_KEYS = {
    "host", "ok", "status", "files_created", "files_updated", "files_deleted",
    "files_unchanged", "bytes_sent", "bytes_received", "notes", "error", "duration_s",
}  # fmt: skip


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "site"
    (source / "css").mkdir(parents=True)
    (source / "index.html").write_text("<h1>hi</h1>\n")
    (source / "css" / "site.css").write_text("body {}\n")
    return source


def test_sync_json_has_the_transfer_schema_for_every_host_and_exit_codes(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    source, dest = _source(tmp_path), tmp_path / "dest"
    pattern = f"{names[0]}:unreachable-host"
    extra = tmp_path / "extra.yml"
    extra.write_text(
        "all:\n  hosts:\n    unreachable-host:\n      address: 127.0.0.1\n      port: 1\n"
    )
    run = remoteops("sync", str(source), str(dest), "-i", inventory, "-i", str(extra),
                    "-H", pattern, "-o", "json")  # fmt: skip
    assert run.returncode == 3, run.stderr
    lines = [json.loads(line) for line in run.stdout.decode().splitlines()]
    assert {line["host"] for line in lines} == {names[0], "unreachable-host"}
    for line in lines:
        assert set(line) == TRANSFER_KEYS
    ok = next(line for line in lines if line["host"] == names[0])
    assert (ok["status"], ok["files_created"], ok["bytes_sent"]) == ("ok", 3, 20)
    failed = next(line for line in lines if line["host"] == "unreachable-host")
    assert failed["status"] == "unreachable"
    assert failed["files_created"] == 0
    assert (dest / "css" / "site.css").read_text() == "body {}\n"


def test_dry_run_prints_the_plan_and_changes_nothing(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    source, dest = _source(tmp_path), tmp_path / "dest"
    run = remoteops("sync", str(source), str(dest), "-i", inventory, "-H", names[0], "--dry-run")
    assert run.returncode == 0, run.stderr
    out = run.stdout.decode()
    assert f"{names[0]} | mkdir css: new" in out
    assert f"{names[0]} | upload index.html: new" in out
    assert not dest.exists()


def test_a_dry_run_gives_every_host_a_plan_key_null_where_no_plan_was_made(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """One JSON shape per command: an unreachable host's line has ``plan`` too (null), and a
    host with nothing to change has an empty one (the key was left out of both)."""
    source, dest = _source(tmp_path), tmp_path / "dest"
    extra = tmp_path / "extra.yml"
    extra.write_text("all:\n  hosts:\n    gone:\n      address: 127.0.0.1\n      port: 1\n")

    def dry_run() -> dict[str, dict[str, object]]:
        run = remoteops("sync", str(source), str(dest), "-n", "-o", "json", "-i", inventory,
                        "-i", str(extra), "-H", f"{names[0]}:gone")  # fmt: skip
        assert run.returncode == 3, run.stderr
        lines = [json.loads(line) for line in run.stdout.decode().splitlines()]
        assert all(set(line) == TRANSFER_KEYS | {"plan"} for line in lines), lines
        return {str(line["host"]): line for line in lines}

    first = dry_run()
    assert "upload index.html: new\n" in str(first[names[0]]["plan"])
    assert (first["gone"]["status"], first["gone"]["plan"]) == ("unreachable", None)
    assert not dest.exists()
    assert (
        remoteops("sync", str(source), str(dest), "-i", inventory, "-H", names[0]).returncode == 0
    )
    assert dry_run()[names[0]]["plan"] == ""


def _said(stdout: bytes, host: str) -> list[str]:
    """What text mode said about ``host`` on stdout, its name and mark taken off."""
    found = (
        re.match(rf"{re.escape(host)} +\| (.*)", line) for line in stdout.decode().splitlines()
    )
    return [match.group(1) for match in found if match]


def test_text_mode_ends_each_host_with_one_line_of_what_its_transfer_changed(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """sync (dry run, first run, an update with --delete, a run that changes nothing), put
    and get each say per host what changed; an unreachable host says its error only."""
    source, dest = _source(tmp_path), tmp_path / "dest"
    extra = tmp_path / "extra.yml"
    extra.write_text("all:\n  hosts:\n    gone:\n      address: 127.0.0.1\n      port: 1\n")
    hosts = ["-i", inventory, "-i", str(extra), "-H", f"{names[0]}:gone"]
    changes = "{} created, {} updated, {} deleted, {} unchanged"

    def sync(*extra_args: str) -> list[str]:
        run = remoteops("sync", str(source), str(dest), *hosts, *extra_args)
        assert run.returncode == 3, run.stderr
        assert _said(run.stdout, "gone") == []
        assert re.search(rb"^gone +! UNREACHABLE: ", run.stderr, re.MULTILINE), run.stderr
        return _said(run.stdout, names[0])

    assert sync("-n")[-1] == "would change (dry run): " + changes.format(3, 0, 0, 0)
    assert not dest.exists()
    assert sync() == ["changed: " + changes.format(3, 0, 0, 0) + "; 20 B sent, 0 B received"]
    (source / "css" / "site.css").unlink()
    (source / "index.html").write_text("<h1>hello</h1>\n")
    assert sync("--delete") == [
        "changed: " + changes.format(0, 1, 1, 1) + "; 15 B sent, 0 B received"
    ]
    assert sync() == ["unchanged: " + changes.format(0, 0, 0, 2) + "; 0 B sent, 0 B received"]
    put = remoteops("put", str(source / "index.html"), str(tmp_path / "put.html"), *hosts)
    assert _said(put.stdout, names[0]) == [
        "changed: " + changes.format(1, 0, 0, 0) + "; 15 B sent, 0 B received"
    ]
    got = remoteops("get", str(dest), str(tmp_path / "got"), *hosts)
    assert _said(got.stdout, names[0]) == [
        "changed: " + changes.format(1, 0, 0, 0) + "; 0 B sent, 15 B received"
    ]
    assert (put.returncode, got.returncode) == (3, 3)


def test_dash_n_is_the_dry_run_as_in_rsync_and_dash_capital_n_still_is(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    source, dest = _source(tmp_path), tmp_path / "dest"
    for flag in ("-n", "-N", "--dry-run"):
        run = remoteops("sync", flag, str(source), str(dest), "-i", inventory, "-H", names[0])
        assert run.returncode == 0, (flag, run.stderr)
        assert f"{names[0]} | upload index.html: new" in run.stdout.decode()
        assert not dest.exists()
    shown = remoteops("sync", "--help", env={"COLUMNS": "200"}).stdout.decode()
    assert re.search(r"--dry-run\s+-n,-N\b.*rsync", shown), shown


def test_risky_destination_fails_the_host_unless_forced_and_bad_input_is_exit_2(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    source = _source(tmp_path)
    for dest in ("/", "/etc/.", "//usr", "~"):  # dry runs: nothing is written, even if let in
        run = remoteops("sync", str(source), dest, "-i", inventory, "-H", names[0], "-N")
        assert run.returncode == 1, (dest, run.stderr)
        assert b"use --force" in run.stderr, run.stderr
        assert b"upload" not in run.stdout  # refused before any plan
    for dest in ("/etc/.", "~"):  # (not / itself: its listing would read the whole disk)
        forced = remoteops("sync", str(source), dest, "-i", inventory, "-H", names[0], "-N",
                           "--force")  # fmt: skip
        assert forced.returncode == 0, (dest, forced.stderr)
        assert b"upload index.html" in forced.stdout
    for dest, said in (("", b"empty"), ("~nobody/x", b"not expanded")):
        refused = remoteops("sync", str(source), dest, "-i", inventory, "-H", names[0])
        assert refused.returncode == 2
        assert said in refused.stderr
    missing = remoteops("sync", str(tmp_path / "nope"), "/tmp/x", "-i", inventory, "-H", names[0])
    assert missing.returncode == 2
    assert b"cannot be read" in missing.stderr


def test_every_line_of_a_transfer_command_has_the_same_keys_whatever_the_outcome(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """ok, failed and unreachable lines of sync, put and get: one shape per command."""
    source = _source(tmp_path)
    extra = tmp_path / "extra.yml"
    extra.write_text("all:\n  hosts:\n    gone:\n      address: 127.0.0.1\n      port: 1\n")
    common = ["-i", inventory, "-i", str(extra), "-o", "json"]
    (tmp_path / "dest").mkdir()
    runs = {
        "sync ok": ["sync", str(source), str(tmp_path / "dest" / "a"), "-H", names[0]],
        "sync failed": ["sync", str(source), "/etc/.", "-N", "-H", names[0]],
        "put ok": ["put", "-r", str(source), str(tmp_path / "dest" / "b"), "-H", names[0]],
        "put failed": ["put", str(source / "index.html"), str(tmp_path / "no" / "x"),
                       "-H", names[0]],
        "get ok": ["get", str(source), str(tmp_path / "got"), "-H", names[0]],
        "get failed": ["get", str(tmp_path / "missing"), str(tmp_path / "got"), "-H", names[0]],
        "get unreachable": ["get", str(source), str(tmp_path / "got"), "-H", "gone"],
    }  # fmt: skip
    keys: dict[str, set[str]] = {}
    for label, argv in runs.items():
        run = remoteops(*argv, *common)
        (line,) = [json.loads(x) for x in run.stdout.decode().splitlines()]
        assert line["status"] == label.split()[1], (label, line)
        assert line["notes"] == []
        keys[label] = set(line)
    for label, found in keys.items():
        assert found == TRANSFER_KEYS | ({"plan"} if "-N" in runs[label] else set()), label


def test_max_delete_refusal_is_a_failed_host(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    source, dest = _source(tmp_path), tmp_path / "dest"
    dest.mkdir()
    for number in range(3):
        (dest / f"old{number}").write_text("x")
    run = remoteops("sync", str(source), str(dest), "-i", inventory, "-H", names[0],
                    "--delete", "--max-delete", "2", "-o", "json")  # fmt: skip
    assert run.returncode == 1
    (line,) = [json.loads(x) for x in run.stdout.decode().splitlines()]
    assert line["status"] == "failed"
    assert "more than --max-delete 2" in line["error"]
    assert sorted(os.listdir(dest)) == ["old0", "old1", "old2"]


def test_get_json_and_refusing_an_empty_path(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    source = _source(tmp_path)
    out = tmp_path / "out"
    run = remoteops("get", str(source), str(out), "-i", inventory, "-H", names[0], "-o", "json")
    assert run.returncode == 0, run.stderr
    (line,) = [json.loads(x) for x in run.stdout.decode().splitlines()]
    assert (line["status"], line["files_created"], line["bytes_received"]) == ("ok", 2, 20)
    assert (out / names[0] / "site" / "css" / "site.css").read_text() == "body {}\n"
    refused = remoteops("get", "/", str(out), "-i", inventory, "-H", names[0])
    assert refused.returncode == 2


def test_put_json_exit_codes_and_local_mistakes(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    source, dest = _source(tmp_path), tmp_path / "dest"
    dest.mkdir()
    # One host: playground hosts share this file system, so two would race on one folder.
    run = remoteops("put", "-r", str(source), str(dest), "-i", inventory,
                    "-H", names[0], "-o", "json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    (line,) = [json.loads(line) for line in run.stdout.decode().splitlines()]
    assert set(line) == TRANSFER_KEYS
    assert (line["files_created"], line["bytes_sent"]) == (4, 20)
    assert (dest / "site" / "css" / "site.css").read_text() == "body {}\n"
    folder = remoteops("put", str(source), str(dest), "-i", inventory, "-H", names[0])
    assert folder.returncode == 2
    assert b"use -r" in folder.stderr
    missing = remoteops("put", str(source / "index.html"), str(tmp_path / "no" / "x"),
                        "-i", inventory, "-H", names[0])  # fmt: skip
    assert missing.returncode == 1
    assert b"--parents" in missing.stdout + missing.stderr


def test_progress_bars_only_on_a_terminal(inventory: str, names: list[str], tmp_path: Path) -> None:
    source = _source(tmp_path)
    argv = [sys.executable, "-m", "remoteops", "sync", str(source), str(tmp_path / "tty"),
            "-i", inventory, "-H", names[0]]  # fmt: skip
    code, shown = run_on_terminal(argv, cli_env(None))
    assert code == 0, shown
    assert re.search(rb"total.*2/2 files", shown), shown
    assert re.search(rb"\n" + names[0].encode() + rb" .*files", shown), shown  # the host's bar
    piped = remoteops("sync", str(source), str(tmp_path / "pipe"), "-i", inventory, "-H", names[0])
    assert piped.returncode == 0, piped.stderr
    assert b"files" not in piped.stdout + piped.stderr


def test_transfer_timeout_must_be_positive(inventory: str, tmp_path: Path) -> None:
    source = _source(tmp_path)
    for command in (["sync", str(source), "/tmp/x"], ["put", str(source), "/tmp/x"],
                    ["get", "/tmp/x", str(tmp_path)]):  # fmt: skip
        run = remoteops(*command, "-i", inventory, "--timeout", "0")
        assert run.returncode == 2, (command, run.stderr)
        assert b"positive" in run.stderr


@pytest.mark.usefixtures("requires_root")
def test_put_with_sudo_writes_into_a_root_folder_and_never_shows_the_password(
    inventory: str, names: list[str], playground: PlaygroundState, tmp_path: Path
) -> None:
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    source = _source(tmp_path)
    base = Path(tempfile.mkdtemp(prefix="remoteops-test-", dir="/var/tmp"))
    try:
        base.chmod(0o755)  # root's, and the login user may look in but not write
        argv = ["put", "-r", str(source), str(base), "-i", inventory, "-H", names[0],
                "-u", playground.sudo_user, "-o", "json"]  # fmt: skip
        refused = remoteops(*argv)
        assert refused.returncode == 1, refused.stderr
        assert not (base / "site").exists()
        run = remoteops(
            *argv, "--sudo", "--sudo-password-env", "ROPTEST_SUDO_PW",
            env={"ROPTEST_SUDO_PW": password},
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert password.encode() not in run.stdout + run.stderr
        (line,) = [json.loads(line) for line in run.stdout.decode().splitlines()]
        assert (line["status"], line["files_created"]) == ("ok", 4)
        assert (base / "site" / "css" / "site.css").read_text() == "body {}\n"
        assert {p.stat().st_uid for p in (base / "site").rglob("*")} == {0}
        lonely = remoteops(*argv, "--sudo-password-env", "ROPTEST_SUDO_PW")
        assert lonely.returncode == 2
        assert b"--sudo-password-env needs --sudo" in lonely.stderr
    finally:
        shutil.rmtree(base)
