"""FTP hosts against a real pyftpdlib server: the same sync, put and get as over SSH, and a
mixed SSH + FTP run in which each protocol does what it can."""

from __future__ import annotations

import ftplib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.results import Status
from remoteops.sync import SyncOptions
from remoteops.sync.fetch import fetch_hosts
from remoteops.sync.put import put_hosts
from remoteops.sync.run import sync_hosts
from remoteops.transports import CommandSpec
from tests.integration.conftest import (
    ftp_inventory_host,
    killed_when,
    running,
    served_ftp,
    with_vars,
)
from tests.integration.test_sync import snapshot


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    (root / "css" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    for number in range(30):
        (root / "css" / f"f{number:02d}.css").write_bytes(os.urandom(number * 200))
    (root / "css" / "deep" / "big").write_bytes(os.urandom(2_000_000))
    (root / "with space ünï").write_text("odd")
    (root / ".hidden").write_text("listed by LIST -a only")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o750)
    return root


@pytest.fixture(params=["mlsd", "list"])
def any_ftp_host(request: pytest.FixtureRequest) -> Host:
    """A server with MLSD, and one that lists only with LIST (times from MDTM)."""
    host: Host = request.getfixturevalue("ftp_host" if request.param == "mlsd" else "ftp_list_host")
    return host


def test_sync_to_an_ftp_host_is_exact_and_a_second_sync_sends_nothing(
    any_ftp_host: Host, tree: Path, tmp_path: Path
) -> None:
    ftp_host = any_ftp_host
    dest = tmp_path / "dest"
    first = sync_hosts([ftp_host], tree, str(dest)).results[0]
    assert first.ok, first.error
    assert snapshot(dest) == snapshot(tree)  # content, modes and mtimes
    again = sync_hosts([ftp_host], tree, str(dest)).results[0]
    assert again.ok, again.error
    assert again.transfer is not None
    assert again.transfer["bytes_sent"] == 0
    assert again.transfer["files_unchanged"] == len(snapshot(tree))
    (tree / "css" / "f03.css").write_bytes(b"changed")
    (tree / "run.sh").unlink()
    changed = sync_hosts([ftp_host], tree, str(dest), SyncOptions(delete=True)).results[0]
    assert changed.ok, changed.error
    assert changed.transfer is not None
    assert (changed.transfer["files_updated"], changed.transfer["files_deleted"]) == (1, 1)
    assert snapshot(dest) == snapshot(tree)


def test_active_mode_transfers_as_passive_does(ftp_host: Host, tree: Path, tmp_path: Path) -> None:
    """``ftp_passive: false``: the server connects back to us (PORT/EPRT) for every file.

    One connection: pyftpdlib 2.2 mixes up active data connections of concurrent sessions
    from one client (its ActiveDTP of one session is closed by another's; seen in its debug
    log), so several time out. That is the test server's fault, not the client's."""
    active = with_vars(ftp_host, ftp_passive=False, ftp_connections=1)
    dest = tmp_path / "dest"
    sent = sync_hosts([active], tree, str(dest)).results[0]
    assert sent.ok, sent.error
    assert snapshot(dest) == snapshot(tree)
    got = fetch_hosts([active], str(dest / "css"), tmp_path / "back").results[0]
    assert got.ok, got.error
    assert snapshot(tmp_path / "back" / ftp_host.name / "css") == snapshot(tree / "css")


def test_put_and_get_on_an_ftp_host(any_ftp_host: Host, tree: Path, tmp_path: Path) -> None:
    ftp_host = any_ftp_host
    dest = tmp_path / "dest"
    dest.mkdir()
    put = put_hosts([ftp_host], [tree], str(dest), recursive=True).results[0]
    assert put.ok, put.error
    assert snapshot(dest / "source") == snapshot(tree)
    got = fetch_hosts([ftp_host], str(dest / "source"), tmp_path / "back").results[0]
    assert got.ok, got.error
    assert snapshot(tmp_path / "back" / ftp_host.name / "source") == snapshot(tree)


def test_a_server_that_keeps_no_modes_nor_times_is_synced_by_size_and_age(
    tree: Path, tmp_path: Path
) -> None:
    """No MLSD, no MFMT, no SITE CHMOD: a second sync still sends nothing, and a file edited
    here since (same size, newer) is sent again; modes are not compared."""
    with served_ftp(without="MLST,MLSD,MFMT,SITE CHMOD") as (_, port):
        host = ftp_inventory_host("old-ftp", port)
        dest = tmp_path / "dest"
        first = sync_hosts([host], tree, str(dest)).results[0]
        assert first.ok, first.error
        assert (dest / "css" / "deep" / "big").read_bytes() == (tree / "css/deep/big").read_bytes()
        assert (dest / ".hidden").exists()
        again = sync_hosts([host], tree, str(dest)).results[0]
        assert again.ok, again.error
        assert again.transfer is not None
        assert (again.transfer["bytes_sent"], again.transfer["files_updated"]) == (0, 0)
        edited = tree / "css" / "f01.css"
        edited.write_bytes(os.urandom(200))
        os.utime(edited, (time.time() + 60, time.time() + 60))  # later than the upload
        third = sync_hosts([host], tree, str(dest)).results[0]
        assert third.ok, third.error
        assert third.transfer is not None
        assert third.transfer["files_updated"] == 1
        assert (dest / "css" / "f01.css").read_bytes() == edited.read_bytes()


def test_a_server_answering_450_for_a_missing_path_is_not_taken_for_a_lost_connection(
    tree: Path, tmp_path: Path
) -> None:
    """ProFTPD answers LIST of a missing path with 450 (a 4xx): a first sync to a new folder
    must still see it as missing."""
    with served_ftp("--missing-450", without="MLST,MLSD") as (_, port):
        host = ftp_inventory_host("proftpd-like", port)
        dest = tmp_path / "new" / "dest"
        result = sync_hosts([host], tree, str(dest)).results[0]
        assert result.ok, result.error
        assert snapshot(dest) == snapshot(tree)
        missing = fetch_hosts([host], str(tmp_path / "nothing"), tmp_path / "back").results[0]
        assert missing.status is Status.FAILED
        assert "no such file or directory" in str(missing.error)


def test_a_server_whose_clock_runs_ahead_still_gets_edits_made_after_the_upload(
    tree: Path, tmp_path: Path
) -> None:
    """No MFMT, times an hour ahead: an edit made after the upload but before the server's
    stamp is sent (the skew is measured), and an untouched file is not."""
    with served_ftp("--clock-ahead=3600", without="MLST,MLSD,MFMT") as (_, port):
        host = ftp_inventory_host("ahead", port)
        dest = tmp_path / "dest"
        assert sync_hosts([host], tree, str(dest)).results[0].ok
        edited = tree / "css" / "f01.css"
        edited.write_bytes(os.urandom(200))  # same size, now: before the server's stamp
        os.utime(edited, (time.time() + 5, time.time() + 5))
        again = sync_hosts([host], tree, str(dest)).results[0]
        assert again.ok, again.error
        assert again.transfer is not None
        assert again.transfer["files_updated"] == 1
        assert (dest / "css" / "f01.css").read_bytes() == edited.read_bytes()
        assert not list(dest.rglob("*.tmp"))  # the clock probe is gone


def test_a_server_refusing_list_options_is_read_with_a_plain_list(
    tree: Path, tmp_path: Path
) -> None:
    with served_ftp("--no-list-options", without="MLST,MLSD") as (_, port):
        host = ftp_inventory_host("plain-list", port)
        dest = tmp_path / "dest"
        assert sync_hosts([host], tree, str(dest)).results[0].ok
        again = sync_hosts([host], tree, str(dest)).results[0]
        assert again.ok, again.error
        assert again.transfer is not None
        assert again.transfer["bytes_sent"] == 0
        assert snapshot(dest) == snapshot(tree)


def test_a_new_folder_cut_off_mid_upload_never_shows_under_its_name(tmp_path: Path) -> None:
    """New folders are filled under a temporary name: a server killed while one is filled
    leaves that, not a half folder under the real name; the next sync completes it."""
    source, dest = tmp_path / "source", tmp_path / "dest"
    (source / "new" / "deeper").mkdir(parents=True)
    (source / "new" / "first").write_bytes(b"small")
    (source / "new" / "deeper" / "huge").write_bytes(os.urandom(4_000_000))
    dest.mkdir()
    with (
        served_ftp("--rate-limit", "1M") as (server, port),
        killed_when(server, lambda: any(p.stat().st_size > 1_000_000 for p in dest.rglob("huge"))),
    ):
        broken = sync_hosts([ftp_inventory_host("cut", port)], source, str(dest)).results[0]
    assert not broken.ok
    assert not (dest / "new").exists()
    [staged] = dest.iterdir()
    assert staged.name.startswith(".new.remoteops-")
    with served_ftp() as (_, port):
        fixed = sync_hosts([ftp_inventory_host("cut", port)], source, str(dest)).results[0]
    assert fixed.ok, fixed.error
    assert [p.name for p in dest.iterdir()] == ["new"]
    assert snapshot(dest) == snapshot(source)


def test_a_mixed_run_does_per_host_what_each_protocol_can(
    ftp_host: Host, ssh_hosts: list[Host], tree: Path, tmp_path: Path
) -> None:
    commands = run_command([ftp_host, ssh_hosts[0]], CommandSpec("echo hi"))
    assert commands.by_host[ftp_host.name].status is Status.UNSUPPORTED
    assert "FTP hosts cannot run commands" in (commands.by_host[ftp_host.name].error or "")
    assert commands.by_host[ssh_hosts[0].name].ok
    os.symlink("run.sh", tree / "link")
    synced = sync_hosts([ftp_host], tree, str(tmp_path / "dest")).results[0]
    assert synced.status is Status.FAILED
    assert "FTP cannot make symlinks" in (synced.error or "")


def test_a_wrong_ftp_password_is_an_auth_failure(
    ftp_host: Host, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMOTEOPS_TEST_WRONG_PASSWORD", "not-it")
    wrong = with_vars(ftp_host, password_env="REMOTEOPS_TEST_WRONG_PASSWORD")
    result = sync_hosts([wrong], tree, str(tmp_path / "dest")).results[0]
    assert result.status is Status.AUTH
    assert "not-it" not in (result.error or "")
    closed = with_vars(ftp_host, port=1)
    assert sync_hosts([closed], tree, str(tmp_path / "x")).results[0].status is Status.UNREACHABLE


def test_ftps_syncs_over_tls_and_refuses_a_certificate_it_cannot_verify(
    ftps_host: Host, tree: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    result = sync_hosts([ftps_host], tree, str(dest)).results[0]
    assert result.ok, result.error
    assert snapshot(dest) == snapshot(tree)
    untrusted = Host(
        ftps_host.name, {k: v for k, v in ftps_host.vars.items() if k != "tls_ca_file"}
    )
    refused = sync_hosts([untrusted], tree, str(tmp_path / "never")).results[0]
    assert refused.status is Status.HOSTKEY
    assert "not trusted" in (refused.error or "")
    assert not (tmp_path / "never").exists()
    unverified = with_vars(untrusted, tls_verify=False)  # the explicit, warned opt-out
    assert sync_hosts([unverified], tree, str(tmp_path / "opt-out")).results[0].ok


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "remoteops", *args],
        capture_output=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
    )  # fmt: skip


def test_cli_sync_over_a_mixed_ssh_and_ftp_inventory(
    ftp_host: Host, ftps_host: Host, ssh_hosts: list[Host], tree: Path, tmp_path: Path
) -> None:
    ssh = ssh_hosts[0]
    hosts = {h.name: dict(h.vars) for h in (ftp_host, ssh)}
    hosts["ftps-unverified"] = {**ftps_host.vars, "tls_verify": False}
    del hosts["ftps-unverified"]["tls_ca_file"]
    inventory = tmp_path / "mixed.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    dest = tmp_path / "dest"  # one folder: the hosts share this machine's file system
    run = _cli("sync", str(tree), str(dest), "-i", str(inventory), "-H", f"{ftp_host.name}",
               "-o", "json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    (line,) = [json.loads(text) for text in run.stdout.decode().splitlines()]
    assert (line["host"], line["status"]) == (ftp_host.name, "ok")
    both = _cli("sync", str(tree), str(dest), "-i", str(inventory),
                "-H", f"{ftp_host.name}:{ssh.name}", "-o", "json")  # fmt: skip
    assert both.returncode == 0, both.stderr
    lines = [json.loads(text) for text in both.stdout.decode().splitlines()]
    assert {(x["host"], x["status"], x["bytes_sent"]) for x in lines} == {
        (ftp_host.name, "ok", 0),
        (ssh.name, "ok", 0),
    }
    warned = _cli("sync", str(tree), str(tmp_path / "w"), "-i", str(inventory),
                  "-H", "ftps-unverified", "-o", "json")  # fmt: skip
    assert warned.returncode == 0, warned.stderr
    assert b"WARNING: TLS certificates are NOT verified for ftps-unverified" in warned.stderr


def test_serve_ftp_anonymous_is_read_only(tree: Path, tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "remoteops", "serve", "ftp", str(tree), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    with running(server):
        assert server.stdout is not None
        port = int(server.stdout.readline())
        anonymous = Host("anon", {"protocol": "ftp", "address": "127.0.0.1", "port": port})
        got = fetch_hosts([anonymous], "/css", tmp_path / "back").results[0]
        assert got.ok, got.error
        assert snapshot(tmp_path / "back" / "anon" / "css") == snapshot(tree / "css")
        (tmp_path / "new.txt").write_text("new")
        refused = put_hosts([anonymous], [tmp_path / "new.txt"], "/").results[0]
        assert refused.status is Status.FAILED
        assert "privileges" in (refused.error or "").lower()
        assert not (tree / "new.txt").exists()
    no_password = _cli("serve", "ftp", str(tree), "--user", "u")
    assert no_password.returncode == 2
    assert b"--password-env" in no_password.stderr


def test_a_server_killed_mid_upload_leaves_no_partial_file_and_the_next_sync_completes(
    tmp_path: Path,
) -> None:
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    dest.mkdir()
    (source / "huge").write_bytes(os.urandom(4_000_000))

    def writing() -> bool:
        return any(p.name.endswith(".tmp") and p.stat().st_size > 1_000_000 for p in dest.iterdir())

    # throttled: it is cut mid-file for sure
    with served_ftp("--rate-limit", "1M") as (server, port), killed_when(server, writing):
        broken = sync_hosts([ftp_inventory_host("ftpk", port)], source, str(dest)).results[0]
    assert broken.status in (Status.UNREACHABLE, Status.FAILED), broken
    assert not (dest / "huge").exists()  # never a truncated file under the real name
    assert [p.name for p in dest.iterdir() if p.name.endswith(".tmp")]  # the leftover
    with served_ftp() as (_, port):
        fixed = sync_hosts([ftp_inventory_host("ftpk", port)], source, str(dest)).results[0]
    assert fixed.ok, fixed.error
    assert sorted(p.name for p in dest.iterdir()) == ["huge"]  # the leftover is gone
    assert (dest / "huge").read_bytes() == (source / "huge").read_bytes()


def test_a_download_cut_off_resumes_where_it_stopped(tmp_path: Path) -> None:
    """get over a throttled server killed mid-file: no file under the real name, the partial
    is kept, and the next get sends only the rest (REST) and removes it."""
    content = os.urandom(4_000_000)
    (tmp_path / "big.iso").write_bytes(content)
    back = tmp_path / "back"

    def partials() -> list[Path]:
        return list((back / "slow").glob(".big.iso.remoteops-*.tmp"))

    def half_there() -> bool:
        return any(p.stat().st_size > 1_500_000 for p in partials())

    with served_ftp("--rate-limit", "1M") as (server, port), killed_when(server, half_there):
        cut = fetch_hosts([ftp_inventory_host("slow", port)], str(tmp_path / "big.iso"), back)
    assert not cut.results[0].ok
    assert not (back / "slow" / "big.iso").exists()
    [partial] = partials()
    kept = partial.stat().st_size
    assert 1_500_000 <= kept < len(content)
    assert partial.read_bytes() == content[:kept]
    partial.write_bytes(b"R" * kept)  # marked: resumed bytes stay, fetched ones would not
    stale = back / "slow" / ".big.iso.remoteops-0badc0de.tmp"  # of an older version
    stale.write_bytes(b"old")
    with served_ftp() as (_, port):
        again = fetch_hosts([ftp_inventory_host("slow", port)], str(tmp_path / "big.iso"), back)
    result = again.results[0]
    assert result.ok, result.error
    assert result.transfer is not None
    assert result.transfer["bytes_received"] == len(content) - kept
    assert (back / "slow" / "big.iso").read_bytes() == b"R" * kept + content[kept:]
    assert partials() == []


def test_names_that_are_not_utf8_travel_as_their_bytes(any_ftp_host: Host, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / os.fsdecode(b"d\xe9j\xe0")).mkdir(parents=True)
    (source / os.fsdecode(b"d\xe9j\xe0") / os.fsdecode(b"caf\xe9.txt")).write_text("latin-1")
    dest = tmp_path / "dest"
    first = sync_hosts([any_ftp_host], source, str(dest)).results[0]
    assert first.ok, first.error
    assert os.listdir(os.fsencode(dest / os.fsdecode(b"d\xe9j\xe0"))) == [b"caf\xe9.txt"]
    again = sync_hosts([any_ftp_host], source, str(dest)).results[0]
    assert again.transfer is not None
    assert (again.transfer["bytes_sent"], again.transfer["files_unchanged"]) == (0, 2)


def test_a_server_allowing_fewer_connections_than_asked_is_shared_not_failed(
    tree: Path, tmp_path: Path
) -> None:
    """``ftp_connections: 4`` against a server that takes 2 per address: the refused ones
    are not errors, the work goes over the two it allows."""
    with served_ftp("--max-connections", "2") as (_, port):
        host = ftp_inventory_host("few", port, ftp_connections=4)
        dest = tmp_path / "dest"
        result = sync_hosts([host], tree, str(dest)).results[0]
        assert result.ok, result.error
        assert snapshot(dest) == snapshot(tree)
        got = fetch_hosts([host], str(dest), tmp_path / "back").results[0]
        assert got.ok, got.error
    # the first connection refused is the host's only one: that is unreachable
    with served_ftp("--max-connections", "1") as (_, port):
        blocker = ftplib.FTP()  # noqa: S321 - a test server on loopback
        blocker.connect("127.0.0.1", port)
        refused = sync_hosts([ftp_inventory_host("none", port)], tree, str(dest)).results[0]
        blocker.close()
    assert refused.status is Status.UNREACHABLE
    assert "refused a connection" in str(refused.error)


def test_one_connection_per_host_is_enough_for_every_operation(
    ftp_host: Host, tree: Path, tmp_path: Path
) -> None:
    """``ftp_connections: 1``: listings that walk folders in parallel, removing a folder and
    fetching one all need a connection while another operation might hold the only one."""
    single = with_vars(ftp_host, ftp_connections=1)
    dest = tmp_path / "dest"
    assert sync_hosts([single], tree, str(dest)).results[0].ok
    (tree / "css" / "deep" / "big").unlink()
    (tree / "css" / "deep").rmdir()
    pruned = sync_hosts([single], tree, str(dest), SyncOptions(delete=True)).results[0]
    assert pruned.ok, pruned.error
    assert not (dest / "css" / "deep").exists()
    got = fetch_hosts([single], str(dest / "css"), tmp_path / "back").results[0]
    assert got.ok, got.error
    assert snapshot(tmp_path / "back" / ftp_host.name / "css") == snapshot(tree / "css")


def test_a_server_without_rest_starts_a_cut_off_download_over(tmp_path: Path) -> None:
    from remoteops.sync.model import Entry, Kind
    from remoteops.transports import TransportFactory
    from remoteops.transports.file_ops import partial_name

    content = os.urandom(2 * 1024 * 1024)
    (tmp_path / "remote").write_bytes(content)
    entry = Entry("remote", Kind.FILE, len(content), 1_600_000_000, 0o644)
    local = tmp_path / "got"
    partial_name(local, str(tmp_path / "remote"), entry).write_bytes(b"R" * 1_500_000)
    with served_ftp(without="REST") as (_, port):
        transport = TransportFactory().create(ftp_inventory_host("norest", port))
        transport.connect()
        try:
            received = transport.get_file(str(tmp_path / "remote"), local, entry).received
        finally:
            transport.close()
    assert received == len(content)  # counted from where it really started
    assert local.read_bytes() == content
