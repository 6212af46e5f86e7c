"""Which hosts go together in one Dask task, and where that task may run (pure logic)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from remoteops.cluster import RESOURCE_VAR
from remoteops.errors import InventoryError
from remoteops.inventory.model import Host
from remoteops.transports.settings import settings_for


@dataclass(frozen=True)
class Chunk:
    """Hosts one Dask worker runs together, ``forks`` at a time, with the same executor code
    as a local run; ``resource`` restricts it to workers that advertise it."""

    index: int
    hosts: tuple[Host, ...]
    resource: str | None
    forks: int


def resource_of(host: Host) -> str | None:
    """The Dask resource the host is pinned to (``dask_worker_resource``), if any."""
    value = settings_for(host).dask_worker_resource
    if value is not None and (not value.strip() or value != value.strip()):
        origin = host.origins.get(RESOURCE_VAR)
        where = f" ({origin})" if origin is not None else ""
        raise InventoryError(
            f"host {host.name}: {RESOURCE_VAR} must be a resource name such as site-a, "
            f"got {value!r}{where}"
        )
    return value


def plan_chunks(
    hosts: Sequence[Host],
    *,
    forks: int,
    threads: Mapping[str | None, int],
    chunk_size: int | None = None,
    first_index: int = 0,
) -> list[Chunk]:
    """Cut ``hosts`` into chunks, grouped by resource (inventory order kept in each group).

    ``threads`` is how many worker threads can take each group's chunks (None: unpinned
    hosts, which any worker takes). ``forks`` stays the run's total of hosts in flight: each
    chunk runs ``forks / threads`` of its hosts at a time. Without a ``chunk_size``, a group
    gets about four chunks per thread, so a slow chunk does not hold up the end of the run.
    """
    groups: dict[str | None, list[Host]] = {}
    for host in hosts:
        groups.setdefault(resource_of(host), []).append(host)
    chunks: list[Chunk] = []
    for resource, members in groups.items():
        slots = max(1, threads.get(resource, 1))
        per_chunk_forks = max(1, math.ceil(forks / slots))
        size = chunk_size or max(per_chunk_forks, math.ceil(len(members) / (4 * slots)))
        for start in range(0, len(members), size):
            part = tuple(members[start : start + size])
            chunks.append(
                Chunk(first_index + len(chunks), part, resource, min(per_chunk_forks, len(part)))
            )
    return chunks


__all__ = ["Chunk", "plan_chunks", "resource_of"]
