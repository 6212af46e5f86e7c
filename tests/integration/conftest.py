"""Helpers for integration tests: the session playground as an inventory, and CLI runs."""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from remoteops.executor import run_command
from remoteops.inventory import Inventory, load_inventory
from remoteops.inventory.model import Host
from remoteops.playground import Playground, PlaygroundState
from remoteops.transports import CommandSpec


@pytest.fixture(scope="session")
def fleet(playground: PlaygroundState) -> Inventory:
    """The session playground loaded through the real inventory loader."""
    return load_inventory([str(playground.inventory_path)])


@pytest.fixture(scope="session")
def ssh_hosts(fleet: Inventory) -> list[Host]:
    return fleet.select("all")


def with_vars(host: Host, **changes: object) -> Host:
    """A copy of a host with some variables changed (e.g. a closed port)."""
    return Host(host.name, {**host.vars, **changes}, host.groups)


@contextlib.contextmanager
def login_shell_runs(host: Host, line: str) -> Iterator[None]:
    """``line`` in the root login shell's .bashrc of the SSH ``host`` for the block (each host
    has a /root of its own); the playground's own .bashrc comes back afterwards, since later
    tests read the home as the playground made it. Absolute paths: ``line`` may set PATH."""
    save = "/bin/cp -p /root/.bashrc /root/.bashrc.saved && printf '%s\\n' "
    save += shlex.quote(line) + " > /root/.bashrc"
    assert run_command([host], CommandSpec(save)).exit_code == 0
    try:
        yield
    finally:
        restore = CommandSpec("/bin/mv -f /root/.bashrc.saved /root/.bashrc")
        assert run_command([host], restore).exit_code == 0


@contextlib.contextmanager
def tar_hidden(host: Host) -> Iterator[None]:
    """The SSH ``host`` without tar for the block (its PATH lacks it), so batches of writes go
    file by file over SFTP."""
    tools = "find sha256sum xargs rm sleep kill cat"
    links = "mkdir -p /root/notar && for t in " + tools
    links += '; do ln -sf "$(command -v $t)" /root/notar/$t; done'
    assert run_command([host], CommandSpec(links)).exit_code == 0
    try:
        with login_shell_runs(host, "PATH=/root/notar"):
            probe = run_command([host], CommandSpec("tar --version")).results[0]
            assert probe.exit_code == 127, probe  # the host really has no tar now
            yield
    finally:
        run_command([host], CommandSpec("rm -rf /root/notar"))


class Agent:
    """A real ssh-agent on a socket in a temp dir; ``add`` loads a key into it."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    def add(self, key: Path) -> None:
        env = {"SSH_AUTH_SOCK": str(self.socket_path), "PATH": "/usr/bin:/bin"}
        subprocess.run(["ssh-add", str(key)], env=env, check=True, capture_output=True)


@pytest.fixture
def ssh_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Agent]:
    """An ssh-agent for this test, exported as SSH_AUTH_SOCK; stopped afterwards."""
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        yield Agent(socket_path)
    finally:
        agent.terminate()
        agent.wait()


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A folder every user can reach (pytest's own temp folders are root-only, 0700)."""
    base = Path(tempfile.mkdtemp(prefix="remoteops-test-", dir="/var/tmp"))
    base.chmod(0o777)
    try:
        yield base
    finally:
        for folder, dirs, _ in os.walk(base):
            for name in dirs:
                Path(folder, name).chmod(0o755)
        shutil.rmtree(base)


def assert_no_process_left(pattern: str, within_s: float = 5.0) -> None:
    """Wait for every process matching ``pattern`` to go (hosts share our process table)."""
    deadline = time.monotonic() + within_s
    while True:
        left = subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False)
        if not left.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left.stdout == b"", f"still running: {pattern}"


FTP_PASSWORD_ENV = "REMOTEOPS_TEST_FTP_PASSWORD"


def serve_ftp(*extra: str, without: str = "") -> tuple[subprocess.Popen[str], int]:
    """``remoteops serve ftp /`` for user ``tester`` on a free loopback port; ``without``
    (e.g. "MLST,MLSD") serves with those commands unknown, like an older server, and "-"
    with all of them (for legacy_ftpd.py's other options)."""
    import sys

    os.environ.setdefault(FTP_PASSWORD_ENV, secrets.token_hex(8))
    command = [sys.executable, "-m", "remoteops", "serve", "ftp", "/", "--port", "0",
               "--user", "tester", "--password-env", FTP_PASSWORD_ENV, *extra]  # fmt: skip
    if without:  # then ``extra`` are legacy_ftpd.py's options
        command = [sys.executable, str(Path(__file__).with_name("legacy_ftpd.py")), without,
                   *extra]  # fmt: skip
    server = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    assert server.stdout is not None
    return server, int(server.stdout.readline())


@contextlib.contextmanager
def served_ftp(*extra: str, without: str = "") -> Iterator[tuple[subprocess.Popen[str], int]]:
    """:func:`serve_ftp` for the block: the server and its port, stopped at the end."""
    server, port = serve_ftp(*extra, without=without)
    with running(server):
        yield server, port


@contextlib.contextmanager
def running(process: subprocess.Popen[Any]) -> Iterator[None]:
    """``process`` until the block ends, then stopped (unless it ended already) and reaped."""
    try:
        yield
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(10)


@contextlib.contextmanager
def done_when(
    action: Callable[[], None], ready: Callable[[], bool], within_s: float = 30
) -> Iterator[None]:
    """While the block runs, call ``action`` once ``ready()`` holds, or after ``within_s``
    (say, a server dying in the middle of a transfer); the block's end waits for it."""

    def watch() -> None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline and not ready():
            time.sleep(0.005)
        action()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield
    finally:
        watcher.join()


def killed_when(process: subprocess.Popen[Any], ready: Callable[[], bool]) -> Any:
    """:func:`done_when` that kills ``process`` (SIGKILL: no goodbye)."""
    return done_when(process.kill, ready)


def kill_sessions(manager: Playground, host: str) -> None:
    """Kill every sshd session process of ``host`` (not its listener): each connection to it
    drops mid-word, as when a session's sshd is killed or crashes."""
    from remoteops.playground._system import descendants, processes

    state = manager.status()
    assert state is not None
    listener = state.host(host).pid
    assert listener is not None
    for pid in descendants([listener], processes()) - {listener}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def ftp_inventory_host(name: str, port: int, **extra: object) -> Host:
    return Host(
        name,
        {"protocol": "ftp", "address": "127.0.0.1", "port": port, "user": "tester",
         "password_env": FTP_PASSWORD_ENV, **extra},
    )  # fmt: skip


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections the kernel accepts and nobody ever answers (a frozen
    daemon): the handshake's wait, not the TCP connect, is what times out."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as silent:
        yield silent.getsockname()[1]


@pytest.fixture(scope="session")
def ftp_host() -> Iterator[Host]:
    """A real FTP server (``remoteops serve ftp``, pyftpdlib) on a loopback port serving the
    whole file system to user ``tester``, as an inventory host with ``protocol: ftp``."""
    with served_ftp() as (_, port):
        yield ftp_inventory_host("ftp1", port)


@pytest.fixture(scope="session")
def ftp_list_host() -> Iterator[Host]:
    """An FTP server without MLSD and MLST, read through LIST (and MDTM) as older ones are."""
    with served_ftp(without="MLST,MLSD") as (_, port):
        yield ftp_inventory_host("ftp-list1", port)


@pytest.fixture(scope="session")
def ftps_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """The same over explicit TLS, with a certificate from a CA made for the test (trustme);
    the host trusts that CA through ``tls_ca_file``."""
    import trustme

    folder = tmp_path_factory.mktemp("ftps")
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    certificate.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    certificate.private_key_pem.write_to_path(str(folder / "key.pem"))
    with served_ftp(
        "--tls-cert", str(folder / "cert.pem"), "--tls-key", str(folder / "key.pem")
    ) as (_, port):
        yield ftp_inventory_host("ftps1", port, protocol="ftps", tls_ca_file=str(folder / "ca.pem"))


VSFTPD_PASSWORD_ENV = "REMOTEOPS_TEST_VSFTPD_PASSWORD"


@dataclass(frozen=True)
class Daemon:
    """An FTP daemon of the test session: its inventory host, and a folder on it (owned by
    the login user) that tests may read and write."""

    host: Host
    home: Path


@pytest.fixture(scope="session")
def vsftpd() -> Iterator[Daemon]:
    """A real vsftpd (Debian's package) on a free loopback port: LIST only (no MLSD, no
    MFMT), links shown as ``name -> target``. apt does not start daemons here, so it runs
    from a config of its own, for a login user made for this session (PAM checks its
    password; vsftpd refuses root), whose home is the folder tests work in."""
    if os.geteuid() != 0:
        pytest.skip("vsftpd needs root: it logs in system users and makes one for the test")
    binary = shutil.which("vsftpd") or "/usr/sbin/vsftpd"
    if not os.path.exists(binary):
        pytest.fail("vsftpd is not installed: scripts/test installs it (apt package vsftpd)")
    user = f"rovs{os.getpid():x}"  # per session: sessions of other worktrees run at once
    os.environ.setdefault(VSFTPD_PASSWORD_ENV, secrets.token_hex(12))
    base = Path(tempfile.mkdtemp(prefix="remoteops-vsftpd-"))
    home, empty = base / "home", base / "empty"
    subprocess.run(["userdel", user], capture_output=True, check=False)
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", user], check=True)
    try:
        subprocess.run(
            ["chpasswd"], input=f"{user}:{os.environ[VSFTPD_PASSWORD_ENV]}".encode(), check=True
        )
        base.chmod(0o755)
        empty.mkdir(mode=0o755)  # vsftpd's secure_chroot_dir: empty, root's, not writable
        home.mkdir()
        shutil.chown(home, user)
        port = free_port()
        config = base / "vsftpd.conf"
        config.write_text(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\n"
            f"listen_port={port}\nbackground=NO\n"
            "anonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\nlocal_umask=022\n"
            "chroot_local_user=NO\npasv_enable=YES\npasv_address=127.0.0.1\n"
            "connect_from_port_20=NO\nmax_per_ip=0\nmax_clients=0\nuse_localtime=NO\n"
            "xferlog_enable=NO\nsyslog_enable=NO\npam_service_name=vsftpd\n"
            f"secure_chroot_dir={empty}\n"
            # its seccomp filter kills the session on some kernels and sandboxes
            "seccomp_sandbox=NO\n"
        )
        daemon = subprocess.Popen(
            [binary, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its sessions are processes of their own: one group
        )
        try:
            _wait_for_banner(port, b"220")
            host = Host(
                "vsftpd1",
                {"protocol": "ftp", "address": "127.0.0.1", "port": port, "user": user,
                 "password_env": VSFTPD_PASSWORD_ENV},
            )  # fmt: skip
            yield Daemon(host, home)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(10)
    finally:
        subprocess.run(["userdel", user], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _wait_for_banner(port: int, banner: bytes) -> None:
    """Until the server at ``port`` greets with ``banner`` (at most 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
                if probe.recv(64).startswith(banner):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {banner!r} banner on port {port} within 10 s")
        time.sleep(0.05)


# -- containers (issue 14): real podman containers as hosts ----------------------------------

#: The image container hosts run: the base image scripts/test builds offline (mmdebstrap).
DEFAULT_CONTAINER_IMAGE = "debian:12-slim"
#: How many containers the session starts (fan-out needs more than one).
CONTAINER_COUNT = 3


@pytest.fixture(scope="session")
def container_engine() -> Any:
    """podman; its absence fails the test (container tests run only when asked for with
    ``--containers``, so a skip would hide that they never ran)."""
    from remoteops.engine import EngineError, find_engine

    try:
        return find_engine("podman")
    except EngineError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def container_image(container_engine: Any) -> str:
    """The image container hosts run (``REMOTEOPS_TEST_CONTAINER_IMAGE`` overrides); it
    needs sh, coreutils, findutils and tar."""
    from remoteops.playground._images import ensure_base

    image = os.environ.get("REMOTEOPS_TEST_CONTAINER_IMAGE")
    if image is None:
        # Pulled (docker.io/library/...) or made from Debian's packages (localhost/...):
        # the short name finds either in the engine's storage.
        ensure_base(container_engine)
        image = DEFAULT_CONTAINER_IMAGE
    if container_engine.run(["image", "exists", image], check=False).returncode != 0:
        pytest.fail(f"no image {image} in podman's storage")
    return image


#: The label on every container a test session creates, and the one naming its pytest's PID.
TEST_LABEL, OWNER_LABEL = "remoteops.test", "remoteops.test.pid"


def container_test_labels() -> list[str]:
    """``run``/``create`` options marking a container as this session's: one a session
    killed before its teardown left behind is removed by the next (see
    :func:`remove_orphaned_test_containers`)."""
    return ["--label", f"{TEST_LABEL}=1", "--label", f"{OWNER_LABEL}={os.getpid()}"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_orphaned_test_containers(engine: Any) -> list[str]:
    """Remove the labelled test containers whose session's process is gone (other
    sessions', running at the same time, are theirs); returns their ids."""
    listed = engine.run(
        [
            "ps",
            "-a",
            "--filter",
            f"label={TEST_LABEL}=1",
            "--format",
            f'{{{{.ID}}}} {{{{index .Labels "{OWNER_LABEL}"}}}}',
        ],
        check=False,
    )
    orphans = [
        fields[0]
        for fields in (line.split() for line in listed.stdout.decode().splitlines())
        if len(fields) == 2 and fields[1].isdigit() and not _alive(int(fields[1]))
    ]
    if orphans:
        engine.run(["rm", "-f", "-t", "0", *orphans], check=False)
    return orphans


@pytest.fixture(scope="session")
def started_containers(
    container_engine: Any, container_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """:data:`CONTAINER_COUNT` running containers named ``rotr-<pid>-N`` (``sleep infinity``),
    removed at the end, and only they; those a killed session left are removed first. The
    session's temporary root is mounted at the same path inside, so a test writes with the
    host's tools and looks with its own, as the playground's hosts allow."""
    remove_orphaned_test_containers(container_engine)
    shared = str(tmp_path_factory.getbasetemp())
    names = [f"rotr-{os.getpid()}-{n}" for n in range(1, CONTAINER_COUNT + 1)]
    try:
        for name in names:
            mount = f"{shared}:{shared}"
            labels = container_test_labels()
            run = ["run", "-d", "--name", name, *labels, "-v", mount, container_image]
            container_engine.run([*run, "sleep", "infinity"])
        yield names
    finally:
        container_engine.run(["rm", "-f", "-t", "0", *names], check=False)


@pytest.fixture(scope="session")
def container_hosts(started_containers: list[str]) -> list[Host]:
    """An inventory of the started containers: ``protocol: podman``, address the name."""
    return [
        Host(f"box{n}", {"protocol": "podman", "address": name})
        for n, name in enumerate(started_containers, start=1)
    ]


@pytest.fixture(scope="session")
def container_host(container_hosts: list[Host]) -> Host:
    return container_hosts[0]
