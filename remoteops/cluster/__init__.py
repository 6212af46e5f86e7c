"""Running the executor on a Dask distributed cluster: hosts split into chunks, each chunk run
by a Dask worker through the same :class:`~remoteops.executor.Executor` as a local run, its
per-host events streamed back to the controller as they happen.

Nothing here imports ``distributed`` until a run uses it (``pip install remoteops[dask]``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The address schemes Dask's client speaks.
SCHEMES = ("tcp", "tls", "ucx", "inproc")

#: The inventory variable that pins a host to the workers advertising that Dask resource
#: (``dask worker --resources "site-a=2"``): workers inside a site reach its hosts.
RESOURCE_VAR = "dask_worker_resource"


@dataclass(frozen=True)
class DaskSettings:
    """Where the cluster is and how a run is cut up for it."""

    #: The scheduler's address, ``tcp://HOST:8786``.
    scheduler: str
    #: Hosts per chunk (one Dask task); None: sized from the workers' threads and ``forks``.
    chunk_size: int | None = None
    #: Seconds to wait for the scheduler to answer before the run fails (exit 2).
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.scheduler.strip():
            raise ValueError("the Dask scheduler address is empty (tcp://HOST:8786)")
        scheme, found, rest = self.scheduler.partition("://")
        if found and scheme not in SCHEMES:
            raise ValueError(
                f"the Dask scheduler address {self.scheduler} is not tcp://HOST:PORT or "
                f"{', '.join(f'{s}://' for s in SCHEMES if s != 'tcp')}"
            )
        if not (rest if found else self.scheduler).strip("/"):
            raise ValueError(f"the Dask scheduler address {self.scheduler} names no host")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")

    def host_port(self) -> tuple[str | None, int]:
        """The TCP host and port of a ``tcp://`` (or scheme-less) address; (None, 0) for
        another scheme or an address without a port."""
        scheme, found, rest = self.scheduler.partition("://")
        if found and scheme != "tcp":
            return None, 0
        host, _, port = (rest if found else self.scheduler).rstrip("/").rpartition(":")
        if not host or not port.isdigit():
            return None, 0
        return host.strip("[]"), int(port)


def settings_from_env(environ: dict[str, str] | None = None) -> DaskSettings | None:
    """The scheduler named by ``REMOTEOPS_DASK_SCHEDULER``, if any."""
    address = (environ if environ is not None else os.environ).get("REMOTEOPS_DASK_SCHEDULER")
    return DaskSettings(address) if address else None


__all__ = ["RESOURCE_VAR", "DaskSettings", "settings_from_env"]
