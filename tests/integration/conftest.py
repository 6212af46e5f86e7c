"""Helpers for integration tests: the session playground as an inventory, and CLI runs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remoteops.inventory import Inventory, load_inventory
from remoteops.inventory.model import Host
from remoteops.playground import PlaygroundState


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
_FTP_SERVER = """
import os, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

authorizer = DummyAuthorizer()
authorizer.add_user("tester", os.environ["FTP_PASSWORD"], homedir="/", perm="elradfmwMT")
FTPHandler.authorizer = authorizer
server = FTPServer(("127.0.0.1", 0), FTPHandler)
print(server.address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture(scope="session")
def ftp_host() -> Iterator[Host]:
    """A real pyftpdlib server on a loopback port (whole file system, user ``tester``), as an
    inventory host with ``protocol: ftp`` and its password in an environment variable."""
    import os
    import secrets
    import sys

    password = secrets.token_hex(8)
    os.environ[FTP_PASSWORD_ENV] = password
    server = subprocess.Popen(
        [sys.executable, "-c", _FTP_SERVER],
        stdout=subprocess.PIPE,
        env={**os.environ, "FTP_PASSWORD": password},
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield Host(
            "ftp1",
            {"protocol": "ftp", "address": "127.0.0.1", "port": port, "user": "tester",
             "password_env": FTP_PASSWORD_ENV},
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
