"""Helpers for integration tests: the session playground as an inventory, and CLI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
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


def run_cli(
    args: Sequence[str],
    *,
    input_bytes: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    """``python -m remoteops ARGS`` as a user would run it, stdin closed unless given."""
    return subprocess.run(
        [sys.executable, "-m", "remoteops", *args],
        input=input_bytes,
        stdin=subprocess.DEVNULL if input_bytes is None else None,
        capture_output=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
