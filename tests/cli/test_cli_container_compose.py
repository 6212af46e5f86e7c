"""compose.yaml under podman-compose: the playground's topology, an inventory written for it by
``remoteops playground inventory --compose``, and remoteops run with sudo on its SSH hosts."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import assert_password_only_in_a_file, by_host, remoteops

from remoteops.engine import Engine, EngineError, find_engine
from remoteops.playground._images import TARGETS, ensure_images
from remoteops.playground._system import locked, private_dir

pytestmark = pytest.mark.containers

ROOT = Path(__file__).resolve().parents[2]


#: The compose project of this run: its own name, so its network is known and another
#: checkout's compose project on this machine is never touched.
PROJECT = f"ropgtest{os.getpid()}"
#: Where podman-compose records a container's project.
PROJECT_LABEL = "io.podman.compose.project"


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-m", "podman_compose", "-p", PROJECT,
            "-f", str(ROOT / "compose.yaml"), *args]  # fmt: skip
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=900, check=False)


def _compose_containers(podman: Engine) -> list[str]:
    """Every container named like compose.yaml's (``ropg-compose-*``), whoever started it."""
    done = podman.run(["ps", "--all", "--filter", "name=^ropg-compose-", "--format", "{{.Names}}"])
    return done.stdout.decode().split()


def _project_of(podman: Engine, container: str) -> str | None:
    found = _inspect(podman, container)
    return None if found is None else (found["Config"].get("Labels") or {}).get(PROJECT_LABEL)


def _inspect(podman: Engine, container: str) -> dict[str, Any] | None:
    done = podman.run(["container", "inspect", container], check=False)
    return json.loads(done.stdout)[0] if done.returncode == 0 else None


def _down(env: dict[str, str], podman: Engine) -> None:
    """``podman-compose down`` removes by container name, whatever the project: run it only
    when every ``ropg-compose-*`` container is ours, else remove ours by their project label."""
    if all(_project_of(podman, name) == PROJECT for name in _compose_containers(podman)):
        down = _compose("down", env=env)
        assert down.returncode == 0, down.stderr.decode()[-2000:]
        return
    mine = podman.run(["ps", "--all", "--filter", f"label={PROJECT_LABEL}={PROJECT}",
                       "--format", "{{.ID}}"]).stdout.decode().split()  # fmt: skip
    if mine:
        podman.run(["rm", "--force", *mine])
    networks = podman.run(["network", "ls", "--format", "{{.Name}}"]).stdout.decode().split()
    for network in networks:
        if network.startswith(f"{PROJECT}_"):
            podman.run(["network", "rm", network], check=False)
    pytest.fail("another run's ropg-compose-* containers appeared during this test")


@pytest.fixture
def podman() -> Iterator[Engine]:
    """podman, the images, and this machine's compose test lock held for the whole test: the
    container names in compose.yaml are the same for every project."""
    pytest.importorskip("podman_compose")
    try:
        engine = find_engine("podman")
    except EngineError as exc:
        pytest.skip(str(exc))
    with locked(private_dir() / "compose-test.lock"):
        ensure_images(engine, [t for t in TARGETS if t != "remoteops"])  # may wait for a build
        if _compose_containers(engine):
            pytest.skip("a compose playground (ropg-compose-*) is already up on this machine")
        yield engine


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
        _down(env, podman)
    assert _compose_containers(podman) == []
    networks = podman.run(["network", "ls", "--format", "{{.Name}}"]).stdout.decode().split()
    assert [n for n in networks if n.startswith(PROJECT)] == []
