"""Helpers for integration tests: the session playground as an inventory, and CLI runs."""

from __future__ import annotations

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
