"""FTP hosts against a real pyftpdlib server: the same sync, put and get as over SSH, and a
mixed SSH + FTP run in which each protocol does what it can."""

from __future__ import annotations

import ftplib
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.results import HostResult, Status
from remoteops.sync import SyncOptions
from remoteops.sync.fetch import fetch_hosts
from remoteops.sync.put import put_hosts
from remoteops.sync.run import sync_hosts
from remoteops.transports import CommandSpec
from tests.integration.conftest import (
    FTP_PASSWORD_ENV,
    Daemon,
    ftp_inventory_host,
    killed_when,
    running,
    served_ftp,
    with_vars,
)
from tests.integration.test_sync import snapshot

T = TypeVar("T")


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
    assert again.transfer.bytes_sent == 0
    assert again.transfer.files_unchanged == len(snapshot(tree))
    (tree / "css" / "f03.css").write_bytes(b"changed")
    (tree / "run.sh").unlink()
    changed = sync_hosts([ftp_host], tree, str(dest), SyncOptions(delete=True)).results[0]
    assert changed.ok, changed.error
    assert changed.transfer is not None
    assert (changed.transfer.files_updated, changed.transfer.files_deleted) == (1, 1)
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
        assert (again.transfer.bytes_sent, again.transfer.files_updated) == (0, 0)
        edited = tree / "css" / "f01.css"
        edited.write_bytes(os.urandom(200))
        os.utime(edited, (time.time() + 60, time.time() + 60))  # later than the upload
        third = sync_hosts([host], tree, str(dest)).results[0]
        assert third.ok, third.error
        assert third.transfer is not None
        assert third.transfer.files_updated == 1
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
        assert again.transfer.files_updated == 1
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
        assert again.transfer.bytes_sent == 0
        assert snapshot(dest) == snapshot(tree)


@pytest.mark.usefixtures("leftovers_age_at_once")
@pytest.mark.parametrize("new", ["subfolder", "destination"])
def test_a_new_folder_cut_off_mid_upload_never_shows_under_its_name(
    new: str, tmp_path: Path
) -> None:
    """New folders, a new destination too, are filled under a temporary name: a server
    killed while one is filled leaves that, not a half folder under the real name; the
    next sync completes it and removes the leftover."""
    source = tmp_path / "source"
    (source / "new" / "deeper").mkdir(parents=True)
    (source / "new" / "first").write_bytes(b"small")
    (source / "new" / "deeper" / "huge").write_bytes(os.urandom(4_000_000))
    above = tmp_path / "above"  # where the new folder appears
    above.mkdir()
    if new == "subfolder":
        dest, source_of_new = above, source
    else:
        dest, source_of_new = above / "new", source / "new"
    with (
        served_ftp("--rate-limit", "1M") as (server, port),
        killed_when(server, lambda: any(p.stat().st_size > 1_000_000 for p in above.rglob("huge"))),
    ):
        host = ftp_inventory_host("cut", port)
        broken = sync_hosts([host], source_of_new, str(dest)).results[0]
    assert not broken.ok
    assert not (above / "new").exists()
    [staged] = above.iterdir()
    assert staged.name.startswith(".new.remoteops-")
    with served_ftp() as (_, port):
        fixed = sync_hosts([ftp_inventory_host("cut", port)], source_of_new, str(dest)).results[0]
    assert fixed.ok, fixed.error
    assert [p.name for p in above.iterdir()] == ["new"]
    assert snapshot(above / "new") == snapshot(source / "new")


def test_a_mixed_run_does_per_host_what_each_protocol_can(
    ftp_host: Host, ssh_hosts: list[Host], tree: Path, tmp_path: Path
) -> None:
    commands = run_command([ftp_host, ssh_hosts[0]], CommandSpec("echo hi"))
    assert commands.by_host[ftp_host.name].status is Status.UNSUPPORTED
    assert "FTP hosts cannot run commands" in (commands.by_host[ftp_host.name].error or "")
    assert commands.by_host[ssh_hosts[0].name].ok
    os.symlink("run.sh", tree / "link")
    synced = sync_hosts([ftp_host], tree, str(tmp_path / "dest")).results[0]
    assert synced.status is Status.UNSUPPORTED  # what the protocol cannot do, not a failure
    assert "this host cannot make symlinks: link (-L copies" in (synced.error or "")


def test_what_the_run_would_refuse_the_dry_run_refuses_and_the_run_writes_nothing(
    any_ftp_host: Host, tree: Path, tmp_path: Path
) -> None:
    """A link in a new folder of the source: FTP cannot make it. The dry run says so and
    fails; the run fails the same way before writing anything, into a new destination or
    into an existing one, and ``-L`` sends what the link points to."""
    (tree / "www3").mkdir()
    (tree / "www3" / "index.html").write_text("home")
    os.symlink("index.html", tree / "www3" / "latest")
    new, existing = tmp_path / "new", tmp_path / "existing"
    existing.mkdir()
    dry = sync_hosts([any_ftp_host], tree, str(existing), dry_run=True).results[0]
    assert dry.status is Status.UNSUPPORTED
    assert "this host cannot make symlinks: www3/latest" in (dry.error or "")
    for dest in (new, existing):
        real = sync_hosts([any_ftp_host], tree, str(dest)).results[0]
        assert (real.status, real.error) == (dry.status, dry.error)
    assert sorted(os.listdir(tmp_path)) == ["existing", "source"]
    assert os.listdir(existing) == []
    copied = sync_hosts([any_ftp_host], tree, str(new), copy_links=True).results[0]
    assert copied.ok, copied.error
    assert (new / "www3" / "latest").read_text() == "home"


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


@pytest.mark.usefixtures("leftovers_age_at_once")
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
    assert result.transfer.bytes_received == len(content) - kept
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
    assert (again.transfer.bytes_sent, again.transfer.files_unchanged) == (0, 2)


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
    from remoteops.transports import TransportFactory
    from remoteops.transports.file_ops import partial_name
    from remoteops.tree import Entry, Kind

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


def _ended_within(seconds: float, call: Callable[[], T]) -> T:
    """``call()`` on a thread of its own: its value, or a test failure if it still runs after
    ``seconds`` (what was stuck is then ended by the test server's exit)."""
    done: list[T] = []
    thread = threading.Thread(target=lambda: done.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert done, f"still running after {seconds:g} s"
    return done[0]


@pytest.mark.parametrize("operation", ["get", "put", "mlsd", "list"])
def test_a_host_timeout_cuts_a_data_connection_that_trickles(
    operation: str, ftp_host: Host, tmp_path: Path
) -> None:
    """A server that sends (or reads) a byte a second on the data connection, and goes on
    after the control connection is closed: ``-t 3`` ends that host ``timeout`` on time,
    whether it was fetching, storing or listing, and a host beside it is unaffected."""
    source = tmp_path / "source"
    (source / "folder").mkdir(parents=True)
    (source / "folder" / "file").write_bytes(os.urandom(100_000))
    big = tmp_path / "big"
    with open(big, "wb") as sparse:  # more than the socket buffers hold on both sides
        sparse.truncate(64 * 1024 * 1024)
    dest = tmp_path / "dest"
    dest.mkdir()
    without = "MLST,MLSD" if operation == "list" else "-"
    with served_ftp("--trickle=1", without=without) as (_, port):
        hosts = [ftp_inventory_host("trickle", port), ftp_host]

        def run() -> list[HostResult]:
            if operation == "put":
                return put_hosts(hosts, [big], str(dest), host_timeout=3).results
            what = source / "folder" / ("file" if operation == "get" else "")
            return fetch_hosts(hosts, str(what), tmp_path / "back", host_timeout=3).results

        slow, other = _ended_within(30, run)
    assert slow.status is Status.TIMEOUT, slow
    assert slow.duration_s < 3 + 7  # the budget and a generous slack: it overran 10+ min
    assert other.ok, other.error


def test_a_stalled_data_connection_without_a_timeout_is_unreachable_after_connect_timeout(
    tmp_path: Path,
) -> None:
    """No ``-t``: a data connection on which nothing moves is given up after the host's
    ``connect_timeout`` (ftplib's socket timeout), not waited on for ever: the server
    stopped answering, so the host is unreachable (``timeout`` is only for ``-t``)."""
    (tmp_path / "file").write_bytes(os.urandom(10_000))
    with served_ftp("--trickle=3600", without="-") as (_, port):
        host = ftp_inventory_host("stalled", port, connect_timeout=2)
        run = functools.partial(fetch_hosts, [host], str(tmp_path / "file"), tmp_path / "back")
        [result] = _ended_within(30, lambda: run().results)
    assert result.status is Status.UNREACHABLE, result
    assert "stopped answering" in str(result.error)
    assert result.duration_s < 2 + 7


def test_a_host_timeout_cuts_a_server_that_never_sends_its_banner(tmp_path: Path) -> None:
    """A port that accepts connections and says nothing: ``-t 2`` ends the host on time,
    though its ``connect_timeout`` would wait a minute for the banner."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; no one talks
        port = silent.getsockname()[1]
        host = Host("silent", {"protocol": "ftp", "address": "127.0.0.1", "port": port,
                               "connect_timeout": 60})  # fmt: skip
        run = functools.partial(fetch_hosts, [host], "/etc/hostname", tmp_path / "back")
        [result] = _ended_within(30, lambda: run(host_timeout=2).results)
    assert result.status is Status.TIMEOUT, result
    assert result.duration_s < 2 + 7


@pytest.fixture(params=["vsftpd", "pyftpdlib-list", "serve-mlsd"])
def link_server(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Host, Path]:
    """A server that shows links with their targets, and a folder on it to work in: vsftpd
    (LIST), pyftpdlib through LIST, ``remoteops serve ftp`` through MLSD."""
    if request.param == "vsftpd":
        daemon: Daemon = request.getfixturevalue("vsftpd")
        folder = Path(tempfile.mkdtemp(dir=daemon.home))
        folder.chmod(0o755)
        return daemon.host, folder
    fixture = "ftp_list_host" if request.param == "pyftpdlib-list" else "ftp_host"
    host: Host = request.getfixturevalue(fixture)
    return host, tmp_path


def test_get_brings_links_with_their_targets_and_refuses_escaping_ones_by_name(
    link_server: tuple[Host, Path], tmp_path: Path
) -> None:
    host, folder = link_server
    site = folder / "site"
    (site / "docs").mkdir(parents=True)
    (site / "index.html").write_text("home")
    (site / "docs" / "guide.txt").write_text("guide")
    os.symlink("docs/guide.txt", site / "latest")
    os.symlink("docs", site / "current")  # a link to a folder stays a link
    os.symlink("../site/index.html", site / "docs" / "home")  # out and back in: fine
    os.symlink("../../../../../../etc/passwd", site / "passwd")
    os.symlink("/etc/hostname", site / "absolute")
    back = tmp_path / "back"
    result = fetch_hosts([host], str(site), back).results[0]
    assert result.status is Status.FAILED, result
    assert "'site/passwd': symlink pointing outside" in str(result.error)
    assert "'site/absolute': symlink to an absolute path" in str(result.error)
    copy = back / host.name / "site"
    assert {p.name for p in copy.iterdir()} == {"index.html", "docs", "latest", "current"}
    assert os.readlink(copy / "latest") == "docs/guide.txt"
    assert os.readlink(copy / "current") == "docs"
    assert os.readlink(copy / "docs" / "home") == "../site/index.html"
    assert (copy / "latest").read_text() == "guide"
    assert not (copy / "docs").is_symlink()


def test_get_of_a_link_follows_it_to_the_file(
    link_server: tuple[Host, Path], tmp_path: Path
) -> None:
    """A REMOTE_PATH that is a link is followed, as scp does: the file arrives, not a link
    (LIST shows the link itself when asked for it)."""
    host, folder = link_server
    (folder / "real.sh").write_text("#!/bin/sh\n")
    (folder / "real.sh").chmod(0o755)
    os.symlink("real.sh", folder / "run")
    result = fetch_hosts([host], str(folder / "run"), tmp_path / "back").results[0]
    assert result.ok, result.error
    got = tmp_path / "back" / host.name / "run"
    assert not got.is_symlink()
    assert (got.read_text(), got.stat().st_mode & 0o777) == ("#!/bin/sh\n", 0o755)


def test_a_link_whose_target_the_server_hides_is_refused_by_name(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "file").write_text("x")
    os.symlink("file", site / "link")
    with served_ftp("--hide-link-targets", without="MLST,MLSD") as (_, port):
        host = ftp_inventory_host("hidden", port)
        result = fetch_hosts([host], str(site), tmp_path / "back").results[0]
    assert result.status is Status.FAILED
    assert "the server does not show where they point ('site/link')" in str(result.error)
    assert not (tmp_path / "back" / "hidden" / "site" / "link").is_symlink()


def test_sync_delete_removes_a_link_not_the_folder_it_points_to(
    any_ftp_host: Host, tmp_path: Path
) -> None:
    """A folder gone from the source holds a link to a folder outside: the link goes, what
    it points to stays (a listing that followed it deleted the files out there)."""
    source, dest, precious = tmp_path / "source", tmp_path / "dest", tmp_path / "precious"
    source.mkdir()
    (dest / "old").mkdir(parents=True)
    precious.mkdir()
    (precious / "data").write_text("keep me")
    os.symlink(precious, dest / "old" / "link")
    result = sync_hosts([any_ftp_host], source, str(dest), SyncOptions(delete=True)).results[0]
    assert result.ok, result.error
    assert list(dest.iterdir()) == []
    assert (precious / "data").read_text() == "keep me"


def test_cli_warns_of_plain_ftp_with_a_password_unless_the_host_says_it_knows(
    ftp_host: Host, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("x")
    anonymous_server = subprocess.Popen(
        [sys.executable, "-m", "remoteops", "serve", "ftp", "/", "--port", "0"],  # read-only
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    with running(anonymous_server):
        assert anonymous_server.stdout is not None
        port = int(anonymous_server.stdout.readline())
        hosts = {
            "ftp-pw": dict(ftp_host.vars),
            "ftp-known": {**ftp_host.vars, "ftp_plaintext_ok": True},
            "ftp-anon": {"protocol": "ftp", "address": "127.0.0.1", "port": port},
        }
        inventory = tmp_path / "ftp.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
        got = _cli("get", str(tmp_path / "file"), str(tmp_path / "back"), "-i", str(inventory),
                   "-o", "json")  # fmt: skip
    assert got.returncode == 0, got.stderr
    warnings = [line for line in got.stderr.decode().splitlines() if "WARNING" in line]
    assert warnings == [
        "WARNING: FTP is plaintext: the password and files of ftp-pw cross the network "
        "readable (protocol: ftps encrypts them; ftp_plaintext_ok: true says you know)."
    ]
    assert os.environ[FTP_PASSWORD_ENV].encode() not in got.stderr + got.stdout


def test_sync_put_and_get_with_vsftpd(vsftpd: Daemon, tree: Path, tmp_path: Path) -> None:
    """vsftpd: LIST (no MLSD), MDTM but no MFMT, SITE CHMOD: a second sync sends nothing, an
    edit is sent, and get brings the tree back."""
    dest = Path(tempfile.mkdtemp(dir=vsftpd.home)) / "site"
    shutil.chown(dest.parent, vsftpd.host.vars["user"])
    first = sync_hosts([vsftpd.host], tree, str(dest)).results[0]
    assert first.ok, first.error
    assert _untimed(dest) == _untimed(tree)
    again = sync_hosts([vsftpd.host], tree, str(dest)).results[0]
    assert again.ok, again.error
    assert again.transfer is not None
    assert (again.transfer.bytes_sent, again.transfer.files_updated) == (0, 0)
    edited = tree / "css" / "f01.css"
    edited.write_bytes(os.urandom(200))
    os.utime(edited, (time.time() + 60, time.time() + 60))  # later than the upload
    third = sync_hosts([vsftpd.host], tree, str(dest)).results[0]
    assert third.ok, third.error
    assert third.transfer is not None
    assert third.transfer.files_updated == 1
    got = fetch_hosts([vsftpd.host], str(dest), tmp_path / "back").results[0]
    assert got.ok, got.error
    assert _untimed(tmp_path / "back" / vsftpd.host.name / "site") == _untimed(tree)


def _untimed(root: Path) -> dict[str, tuple[str, int, str]]:
    """:func:`snapshot` without mtimes: vsftpd has no MFMT to set them."""
    return {
        path: (kind, mode, data.partition(":")[0])
        for path, (kind, mode, data) in snapshot(root).items()
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs: needs root")
def test_a_full_local_disk_fails_that_file_and_the_connection_is_not_lent_again_mid_retr(
    ftp_host: Host, tmp_path: Path
) -> None:
    """The disk here fills up during a RETR: that file fails as our write error, not the
    host's. The connection was in the middle of the RETR; lent again as it was, the next
    file read the server's "426 Transfer aborted" as its answer and failed as a lost
    connection."""
    from remoteops.transports.file_ops import LocalWriteError
    from remoteops.transports.ftp import FTPTransport
    from remoteops.tree import Entry, Kind

    size = 64 * 1024 * 1024  # still being sent when the disk is full
    (tmp_path / "big.bin").write_bytes(os.urandom(size))
    (tmp_path / "small.txt").write_text("small\n")
    local = tmp_path / "local"
    local.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(local)], check=True)
    transport = FTPTransport(with_vars(ftp_host, ftp_connections=1), None, tls=False)
    try:
        transport.connect()
        big = Entry("big.bin", Kind.FILE, size)
        with pytest.raises(LocalWriteError, match="No space left"):
            transport.get_file(str(tmp_path / "big.bin"), local / "big.bin", big)
        small = Entry("small.txt", Kind.FILE, 6)
        transport.get_file(str(tmp_path / "small.txt"), local / "small.txt", small)
        assert (local / "small.txt").read_text() == "small\n"
    finally:
        transport.close()
        subprocess.run(["umount", str(local)], check=True)
