"""Which status a failure ends in, per transport, against real servers: each transport's
error translator decides it, never a guess from the exception's type.

- a host that does not answer within ``connect_timeout`` is ``unreachable`` ("connect timed
  out after N s"); ``timeout`` is kept for a command or a host's overall time running out;
- a local file that cannot be read (put, sync) or written (get) fails the host (``failed``)
  naming the LOCAL path: the host and the connection are fine;
- what a protocol cannot do is ``unsupported``.

An error no translator knows is an internal error: see tests/unit/test_executor_errors.py.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from remoteops.errors import UnsupportedError
from remoteops.executor import Executor, HostWork
from remoteops.inventory.model import Host
from remoteops.playground import Playground
from remoteops.results import HostResult, Status
from remoteops.sync import SyncOptions
from remoteops.sync.fetch import fetch_hosts
from remoteops.sync.local_tree import scan_tree
from remoteops.sync.put import put_work, read_source
from remoteops.sync.run import sync_hosts, sync_work
from remoteops.transports import TransportFactory
from remoteops.transports.file_ops import partial_name
from remoteops.tree import Entry, Kind

_CONNECT_TIMEOUT_S = 1.5
_PROTOCOLS = ["ssh", "ftp", "telnet"]


def _host(protocol: str, address: str, port: int) -> Host:
    """A host of ``protocol`` at ``address:port`` that gives up connecting after 1.5 s."""
    return Host(
        f"{protocol}-silent",
        {"protocol": protocol, "address": address, "port": port, "user": "tester",
         "connect_timeout": _CONNECT_TIMEOUT_S, "telnet_plaintext_ok": True},
    )  # fmt: skip


def _connect_only(host: Host) -> HostResult:
    """Connect to the host and do nothing else: the status is the connect's."""
    report = Executor().run([host], lambda h, transport, listener: HostResult(h.name, Status.OK))
    return report.results[0]


@pytest.mark.parametrize("protocol", _PROTOCOLS)
def test_a_host_that_accepts_but_never_answers_is_unreachable_at_connect_timeout(
    protocol: str, silent_port: int
) -> None:
    started = time.monotonic()
    result = _connect_only(_host(protocol, "127.0.0.1", silent_port))
    assert result.status is Status.UNREACHABLE, result
    assert f"connect timed out after {_CONNECT_TIMEOUT_S:g} s" in (result.error or ""), result
    assert time.monotonic() - started < _CONNECT_TIMEOUT_S + 8


@pytest.mark.usefixtures("requires_root")
@pytest.mark.parametrize("protocol", _PROTOCOLS)
def test_a_black_holed_host_is_unreachable_at_connect_timeout(
    protocol: str, ssh_hosts: list[Host], playground_manager: Playground
) -> None:
    """Every packet to the port is dropped: the TCP connect itself never completes."""
    victim = ssh_hosts[0]
    host = _host(protocol, str(victim.vars.get("address", victim.name)), victim.port or 22)
    playground_manager.blackhole(victim.name)
    try:
        result = _connect_only(host)
    finally:
        playground_manager.unblackhole(victim.name)
    assert result.status is Status.UNREACHABLE, result
    assert f"connect timed out after {_CONNECT_TIMEOUT_S:g} s" in (result.error or ""), result


@pytest.mark.usefixtures("requires_root")
def test_a_host_timeout_ends_a_tcp_connect_to_a_black_holed_host_on_time(
    ssh_hosts: list[Host], playground_manager: Playground
) -> None:
    """A blocking connect cannot be woken from another thread: it is made in slices that
    look whether the host's --timeout closed the connection (it waited connect_timeout)."""
    victim = ssh_hosts[0]
    host = Host(victim.name, {**victim.vars, "connect_timeout": 8})
    playground_manager.blackhole(victim.name)
    try:
        started = time.monotonic()
        report = Executor(host_timeout=1).run(
            [host], lambda h, transport, listener: HostResult(h.name, Status.OK)
        )
        took = time.monotonic() - started
    finally:
        playground_manager.unblackhole(victim.name)
    assert report.results[0].status is Status.TIMEOUT, report.results[0]
    assert took < 4, took


# -- local files --------------------------------------------------------------------------------


@pytest.fixture(
    params=["local", "ssh", "ftp", pytest.param("podman", marks=pytest.mark.containers)]
)
def file_host(request: pytest.FixtureRequest) -> Host:
    if request.param == "local":
        return Host("localhost", {"protocol": "local"})
    if request.param == "podman":  # the session temporary folder is mounted inside
        container: Host = request.getfixturevalue("container_host")
        return container
    if request.param == "ftp":
        host: Host = request.getfixturevalue("ftp_host")
        return host
    hosts: list[Host] = request.getfixturevalue("ssh_hosts")
    return hosts[0]


def _spoil(path: Path, how: str) -> None:
    """Make the local file ``path`` unreadable after it was scanned."""
    path.unlink()
    if how == "folder":  # a folder where a file is expected: open() says EISDIR
        path.mkdir()
    elif how == "dangling-link":  # scanned as a file, now a link to nothing
        path.symlink_to(path.with_name("nowhere"))


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    (source / "kept").write_bytes(os.urandom(20_000))
    (source / "lost").write_bytes(os.urandom(20_000))
    return source


def _put(source: Path, dest: str, spoil: Callable[[], None]) -> HostWork:
    sources = [read_source(source, recursive=True)]
    spoil()
    return put_work(sources, dest)


def _sync(source: Path, dest: str, spoil: Callable[[], None]) -> HostWork:
    tree = scan_tree(source)
    spoil()
    return sync_work(tree, dest, SyncOptions(), dry_run=False)


@pytest.mark.parametrize("engine", [_put, _sync], ids=["put", "sync"])
@pytest.mark.parametrize("how", ["vanished", "folder", "dangling-link"])
def test_a_local_file_that_cannot_be_read_fails_the_host_naming_it(
    engine: Callable[[Path, str, Callable[[], None]], HostWork],
    how: str,
    file_host: Host,
    tmp_path: Path,
) -> None:
    source = _source(tmp_path)
    lost = source / "lost"
    dest = tmp_path / "dest"
    work = engine(source, str(dest), lambda: _spoil(lost, how))
    [result] = Executor().run([file_host], work).results
    assert result.status is Status.FAILED, result
    assert str(lost) in (result.error or ""), result


@pytest.mark.parametrize("blocked", ["host-folder", "partial"])
def test_a_get_whose_local_destination_cannot_be_written_fails_naming_it(
    blocked: str, file_host: Host, tmp_path: Path
) -> None:
    """Nothing can be written where the copy goes: the host's folder under the destination
    is a file here, or a folder sits under the name of the download's partial file."""
    remote = tmp_path / "remote"
    remote.write_text("data")
    local_dir = tmp_path / "back"
    (local_dir / file_host.name).mkdir(parents=True)
    if blocked == "host-folder":
        blocking = local_dir / file_host.name
        blocking.rmdir()
        blocking.write_text("in the way")
    else:
        found = remote.stat()
        listed = Entry("remote", Kind.FILE, found.st_size, int(found.st_mtime), 0o644)
        blocking = partial_name(local_dir / file_host.name / "remote", str(remote), listed)
        (blocking / "inside").mkdir(parents=True)
    [result] = fetch_hosts([file_host], str(remote), local_dir).results
    assert result.status is Status.FAILED, result
    assert str(blocking) in (result.error or ""), result


# -- what a protocol cannot do ------------------------------------------------------------------


def test_checksum_on_an_ftp_host_is_unsupported(ftp_host: Host, tmp_path: Path) -> None:
    source = _source(tmp_path)
    [result] = sync_hosts(
        [ftp_host], source, str(tmp_path / "dest"), SyncOptions(checksum=True)
    ).results
    assert result.status is Status.UNSUPPORTED, result
    assert "--checksum" in (result.error or "")


def test_a_symlink_on_an_ftp_host_is_unsupported(ftp_host: Host, tmp_path: Path) -> None:
    transport = TransportFactory().create(ftp_host)
    transport.connect()
    try:
        with pytest.raises(UnsupportedError, match="cannot make symlinks"):
            transport.make_symlink("target", str(tmp_path / "link"))  # type: ignore[attr-defined]
    finally:
        transport.close()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_sync_that_needs_a_symlink_on_an_ftp_host_is_unsupported(
    ftp_host: Host, tmp_path: Path, dry_run: bool
) -> None:
    """Through the sync engine, not only the transport: it said failed, exit 1."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "file").write_text("x")
    os.symlink("file", source / "link")
    result = sync_hosts([ftp_host], source, str(tmp_path / "dest"), dry_run=dry_run).results[0]
    assert result.status is Status.UNSUPPORTED, result
    assert "cannot make symlinks: link" in (result.error or "")
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("ca", ["missing", "not-pem"])
def test_an_ftps_ca_bundle_that_cannot_be_read_fails_naming_it(
    ftps_host: Host, tmp_path: Path, ca: str
) -> None:
    """It was an internal error without the path (ssl's FileNotFoundError untranslated)."""
    bundle = tmp_path / "ca.pem"
    if ca == "not-pem":
        bundle.write_text("this is no certificate")
    host = Host(ftps_host.name, {**ftps_host.vars, "tls_ca_file": str(bundle)})
    result = fetch_hosts([host], "/etc/hostname", tmp_path / "got").results[0]
    assert result.status is Status.FAILED, result
    assert f"tls_ca_file {bundle}" in (result.error or "")
    assert "internal error" not in (result.error or "")


@pytest.mark.usefixtures("requires_root")
def test_a_black_holed_first_address_moves_on_to_the_next(
    ssh_hosts: list[Host], playground_manager: Playground, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name with two addresses, the first dropping every packet: as socket.create_connection
    and OpenSSH do, the second is tried (a broken IPv6 route must not fail a working host)."""
    from remoteops.transports import tcp

    dead, alive = ssh_hosts[0], ssh_hosts[1]
    dead_address = str(dead.vars.get("address", dead.name))
    live_address = str(alive.vars.get("address", alive.name))
    both = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", (dead_address, dead.port or 22)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", (live_address, alive.port or 22)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: both)
    playground_manager.blackhole(dead.name)
    try:
        sock = tcp.connect_tcp("two-addresses", 22, 1.0, None)
    finally:
        playground_manager.unblackhole(dead.name)
    try:
        assert sock.getpeername()[0] == live_address
    finally:
        sock.close()
