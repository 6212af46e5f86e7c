"""``-A, --forward-agent`` end to end: a real ssh-agent, ``python -m remoteops run``
on a real sshd host. The agent is off unless asked for, as in ssh."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import by_host, cli_env, remoteops


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """An ssh-agent holding one fresh key: the CLI's environment and the key's fingerprint."""
    socket_path = tmp_path / "agent.sock"
    process = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 5
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        key = tmp_path / "forwarded"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        env = cli_env({"SSH_AUTH_SOCK": str(socket_path)})
        subprocess.run(["ssh-add", str(key)], env=env, check=True, capture_output=True)
        listed = subprocess.run(
            ["ssh-keygen", "-l", "-f", str(key)], check=True, capture_output=True
        )
        yield env, listed.stdout.decode().split()[1]
    finally:
        process.terminate()
        process.wait()


def test_run_forward_agent_lets_the_host_use_the_local_agent(
    inventory: str, names: list[str], agent: tuple[dict[str, str], str]
) -> None:
    env, fingerprint = agent
    listed = remoteops("run", "-i", inventory, "-H", names[0], "-o", "json", "ssh-add -l", env=env)
    assert listed.returncode == 1  # without -A the host has no agent to ask
    assert fingerprint.encode() not in listed.stdout
    for flag in ("-A", "--forward-agent"):
        run = remoteops(
            "run", "-i", inventory, "-H", names[0], flag, "-o", "json", "ssh-add -l", env=env
        )
        assert run.returncode == 0, run.stderr
        assert fingerprint in by_host(run.stdout)[names[0]]["stdout"]
        assert env["SSH_AUTH_SOCK"].encode() not in run.stdout + run.stderr
