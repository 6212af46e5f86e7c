"""FTP promises of the README that the rest of the suite left unguarded, against real
pyftpdlib servers (``remoteops serve ftp``):

- ``--checksum`` is refused on FTP hosts (nothing written) while SSH hosts go on;
- a cut-off download keeps its partial file owner-only (0600), whatever the file's mode;
- ``serve ftp --read-only``, ``--passive-ports``, ``--public-address`` and ``--bind`` do
  what they say.
"""

from __future__ import annotations

import ftplib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from remoteops.inventory.model import Host
from remoteops.playground import PlaygroundState
from remoteops.results import Status
from remoteops.sync.fetch import fetch_hosts
from remoteops.sync.put import put_hosts
from tests.integration.conftest import (
    FTP_PASSWORD_ENV,
    ftp_inventory_host,
    killed_when,
    served_ftp,
)


def test_checksum_is_refused_on_ftp_hosts_and_the_ssh_hosts_go_on(
    ftp_host: Host, playground: PlaygroundState, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "file").write_text("data\n")
    ssh_name = playground.hosts[0].name
    ftp_inventory = tmp_path / "ftp.yml"
    ftp_inventory.write_text(json.dumps({"all": {"hosts": {ftp_host.name: ftp_host.vars}}}))
    dest = tmp_path / "dest"
    run = subprocess.run(
        [sys.executable, "-m", "remoteops", "sync", "--checksum", "-i", str(ftp_inventory),
         "-i", str(playground.inventory_path), "-H", f"{ssh_name}:{ftp_host.name}",
         "-o", "json", str(source), str(dest)],
        capture_output=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
    )  # fmt: skip
    results = {r["host"]: r for r in map(json.loads, run.stdout.decode().splitlines())}
    assert results[ftp_host.name]["status"] == "unsupported", results
    assert "--checksum" in results[ftp_host.name]["error"]
    assert results[ftp_host.name]["files_created"] == 0
    assert results[ssh_name]["status"] == "ok", results
    assert (dest / "file").read_text() == "data\n"  # written by the SSH host only
    assert run.returncode == 3  # a host that cannot do it, not a failed command


def test_a_cut_off_download_keeps_an_owner_only_partial(tmp_path: Path) -> None:
    content = os.urandom(4_000_000)
    remote = tmp_path / "public.iso"
    remote.write_bytes(content)
    remote.chmod(0o644)
    back = tmp_path / "back"

    def partials() -> list[Path]:
        return list((back / "slow").glob(".public.iso.remoteops-*.tmp"))

    def started() -> bool:
        return any(p.stat().st_size > 1_200_000 for p in partials())

    previous = os.umask(0o022)
    try:
        with served_ftp("--rate-limit", "1M") as (server, port), killed_when(server, started):
            cut = fetch_hosts([ftp_inventory_host("slow", port)], str(remote), back)
    finally:
        os.umask(previous)
    assert not cut.results[0].ok
    [partial] = partials()
    assert partial.stat().st_mode & 0o777 == 0o600
    assert not (back / "slow" / "public.iso").exists()


def _login(port: int, address: str = "127.0.0.1") -> ftplib.FTP:
    client = ftplib.FTP()  # noqa: S321 - our own test server, on loopback
    client.connect(address, port, timeout=10)
    client.login("tester", os.environ[FTP_PASSWORD_ENV])
    return client


def test_serve_read_only_lets_the_user_read_but_not_write(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "there.txt").write_text("readable\n")
    (tmp_path / "new.txt").write_text("new\n")
    with served_ftp("--read-only") as (_, port):
        host = ftp_inventory_host("ro1", port)
        got = fetch_hosts([host], str(served / "there.txt"), tmp_path / "back").results[0]
        refused = put_hosts([host], [tmp_path / "new.txt"], str(served) + "/").results[0]
    assert got.ok, got.error
    assert (tmp_path / "back" / "ro1" / "there.txt").read_text() == "readable\n"
    assert refused.status is Status.FAILED
    assert "privileges" in (refused.error or "").lower()
    assert sorted(p.name for p in served.iterdir()) == ["there.txt"]


def test_serve_passive_ports_and_public_address_shape_the_pasv_reply(tmp_path: Path) -> None:
    with served_ftp("--passive-ports", "41100-41109", "--public-address", "127.0.0.9") as (
        _,
        port,
    ):
        client = _login(port)
        try:
            replies = [client.sendcmd("PASV") for _ in range(3)]
            client.set_pasv(True)
            listed = client.nlst(str(tmp_path))  # a data connection really works
        finally:
            client.close()
    for reply in replies:
        numbers = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", reply)
        assert numbers is not None, reply
        a, b, c, d, high, low = (int(n) for n in numbers.groups())
        assert f"{a}.{b}.{c}.{d}" == "127.0.0.9"
        assert 41100 <= high * 256 + low <= 41109
    assert listed == []


def test_serve_bind_listens_on_that_address_only() -> None:
    with served_ftp("--bind", "127.0.0.2") as (_, port):
        _login(port, "127.0.0.2").close()
        with pytest.raises(ConnectionRefusedError):
            _login(port, "127.0.0.1")
    bad = subprocess.run(
        [sys.executable, "-m", "remoteops", "serve", "ftp", "/", "--port", "0",
         "--passive-ports", "9-3"],
        capture_output=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert b"--passive-ports must be FIRST-LAST" in bad.stderr
