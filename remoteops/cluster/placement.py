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


def chunk_forks(forks: int, threads: int) -> int:
    """Hosts each chunk runs at once: ``forks`` stays the run's total in flight, and every
    worker thread may be running a chunk (fewer forks than threads: one host per chunk, and
    the controller sends only ``forks`` chunks at a time)."""
    return max(1, forks // max(1, threads))


def plan_chunks(
    hosts: Sequence[Host],
    *,
    forks: int,
    threads: Mapping[str | None, int],
    chunk_size: int | None = None,
    first_index: int = 0,
) -> list[Chunk]:
    """Cut ``hosts`` into chunks, grouped by resource (inventory order kept in each group).

    ``threads`` is how many worker threads can take each group's chunks (None: every thread
    of the cluster). Without a ``chunk_size``, a group is spread over the threads that can
    take it, each chunk as big as it may run at once (:func:`chunk_forks`): a big run is many
    chunks, so a worker that finishes early takes the next.
    """
    per_chunk = chunk_forks(forks, threads.get(None, 1))
    groups: dict[str | None, list[Host]] = {}
    for host in hosts:
        groups.setdefault(resource_of(host), []).append(host)
    chunks: list[Chunk] = []
    for resource, members in groups.items():
        slots = max(1, threads.get(resource, 1))
        size = chunk_size or max(1, min(per_chunk, math.ceil(len(members) / slots)))
        for start in range(0, len(members), size):
            part = tuple(members[start : start + size])
            chunks.append(
                Chunk(first_index + len(chunks), part, resource, min(per_chunk, len(part)))
            )
    return chunks


__all__ = ["Chunk", "chunk_forks", "plan_chunks", "resource_of"]
