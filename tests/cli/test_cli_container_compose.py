"""compose.yaml under podman-compose: the playground's topology, an inventory written for it by
``remoteops playground inventory --compose``, and remoteops run with sudo on its SSH hosts."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import assert_password_only_in_a_file, by_host, remoteops

from remoteops.engine import Engine, EngineError, find_engine
from remoteops.playground._images import TARGETS, ensure_images

pytestmark = pytest.mark.containers

ROOT = Path(__file__).resolve().parents[2]


#: The compose project of this run: its own name, so its network is known and another
#: checkout's compose project on this machine is never touched.
PROJECT = f"ropgtest{os.getpid()}"


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-m", "podman_compose", "-p", PROJECT,
            "-f", str(ROOT / "compose.yaml"), *args]  # fmt: skip
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=900, check=False)


def _compose_containers(podman: Engine) -> list[str]:
    done = podman.run(["ps", "--all", "--filter", "label=remoteops.playground=compose",
                       "--format", "{{.Names}}"])  # fmt: skip
    return done.stdout.decode().split()


@pytest.fixture
def podman() -> Engine:
    pytest.importorskip("podman_compose")
    try:
        engine = find_engine("podman")
    except EngineError as exc:
        pytest.skip(str(exc))
    if _compose_containers(engine):
        pytest.skip("a compose playground (ropg-compose-*) is already up on this machine")
    ensure_images(engine, [t for t in TARGETS if t != "remoteops"])
    return engine


def test_compose_yaml_serves_the_playground_topology_to_remoteops(
    podman: Engine, tmp_path: Path
) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")],
                   check=True)  # fmt: skip
    password = secrets.token_urlsafe(12)
    (tmp_path / "password").write_text(password + "\n")
    (tmp_path / "password").chmod(0o600)
    env = {
        **{k: v for k, v in os.environ.items() if k != "TESTHOST_PASSWORD"},
        "TESTHOST_PASSWORD_FILE": str(tmp_path / "password"),
        "TESTHOST_AUTHORIZED_KEY": (tmp_path / "key.pub").read_text().strip(),
    }
    up = _compose("up", "-d", env=env)
    try:
        assert up.returncode == 0, up.stderr.decode()[-2000:]
        written = remoteops(
            "playground", "inventory", "--compose", "--engine", "podman",
            "--identity-file", str(tmp_path / "key"), "--state-dir", str(tmp_path / "pg"),
            timeout=180,
        )  # fmt: skip
        assert written.returncode == 0, written.stderr.decode()
        inventory = written.stdout.decode().strip()
        run = remoteops(
            "run", "-i", inventory, "--hosts", "ssh", "-o", "json", "--sudo", "id -un",
            env={"TESTHOST_PASSWORD": password},
        )  # fmt: skip
        results = {h: r["stdout"] for h, r in by_host(run.stdout).items()}
        assert results == dict.fromkeys(("ssh01", "ssh02", "ssh03"), "root\n"), run.stderr
        telnet = remoteops(
            "run", "-i", inventory, "--hosts", "telnet", "-o", "json", "id -un",
            env={"TESTHOST_PASSWORD": password},
        )  # fmt: skip
        assert by_host(telnet.stdout)["telnet01"]["stdout"] == "tester\n", telnet.stderr
        # A compose secret: a mounted file, not an `environment:` entry on podman's argv.
        assert_password_only_in_a_file(podman, _compose_containers(podman), password)
    finally:
        down = _compose("down", env=env)
    assert down.returncode == 0, down.stderr.decode()[-2000:]
    assert _compose_containers(podman) == []
    networks = podman.run(["network", "ls", "--format", "{{.Name}}"]).stdout.decode().split()
    assert [n for n in networks if n.startswith(PROJECT)] == []
