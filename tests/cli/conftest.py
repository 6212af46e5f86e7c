"""Fixtures for command-line tests; the helpers they use live in ``cli_support``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from remoteops.playground import PlaygroundState


@pytest.fixture(scope="session")
def names(playground: PlaygroundState) -> list[str]:
    """The session playground's host names, in inventory order."""
    return [host.name for host in playground.hosts]


@pytest.fixture(scope="session")
def inventory(playground: PlaygroundState) -> str:
    return str(playground.inventory_path)


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """A folder where commands record that they started and wait for a ``release`` file.

    Every host (local or playground, which shares this machine's files outside /tmp and
    /root; tmp_path is kept off /tmp by tests/conftest.py) can reach it. The
    release file is always created at the end, so no remote loop outlives the test.
    """
    folder = tmp_path / "gate"
    folder.mkdir()
    yield folder
    (folder / "release").touch()
