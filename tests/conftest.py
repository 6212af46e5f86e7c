"""Shared fixtures: one real sshd playground per test session, for every integration test.

``playground`` brings up four hosts (network namespaces as root, 127.0.0.1 ports otherwise)
the first time a test asks for it and always tears them down at the end of the session. Tests
that break a host on purpose (pause, stop, blackhole, new host key) go through
``playground_manager`` and must put the host back before they finish: the playground is shared.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from remoteops.playground import Playground, PlaygroundState

#: Enough hosts for fan-out and for one host per destructive test, few enough to start fast.
PLAYGROUND_HOSTS = 4


#: Where pytest's temporary folders go when the system's is /tmp (see pytest_configure).
SHARED_TEMP_ROOT = Path("/var/tmp")


def pytest_configure(config: pytest.Config) -> None:
    """Keep ``tmp_path`` on a file system the playground hosts share with the tests.

    netns playground hosts each have a private /tmp (as real hosts do), while the rest of the
    file system is the machine's: tests write a tree under ``tmp_path``, sync or fetch it
    through a host, and look at the result locally, so ``tmp_path`` must not be under /tmp.
    ``PYTEST_DEBUG_TEMPROOT`` moves only pytest's own folders (still one numbered folder per
    session, so concurrent sessions do not clash); an explicit ``--basetemp`` or temp root
    is left alone.
    """
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    system = Path(tempfile.gettempdir()).resolve()
    if (system == Path("/tmp") or Path("/tmp") in system.parents) and SHARED_TEMP_ROOT.is_dir():
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(SHARED_TEMP_ROOT)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--containers",
        action="store_true",
        help="also run the tests marked `containers` (podman, the project's images built)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that use ``requires_root`` get the ``root`` marker, so ``-m 'not root'`` works.

    Tests marked ``containers`` run only with ``--containers``: they need images that take
    minutes to build on a fresh machine, so scripts/test builds them and runs that suite on
    its own, after the main one.
    """
    skip_containers = pytest.mark.skip(reason="container test: run with --containers")
    for item in items:
        if "requires_root" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.root)
        if "containers" in item.keywords and not config.getoption("--containers"):
            item.add_marker(skip_containers)


@pytest.fixture(scope="session")
def playground_manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Playground]:
    """The session's Playground, already up: for tests that pause, stop or change hosts.

    Host names carry this process's pid, so they never clash with a playground another session
    or the CLI has up; ``owner_pid`` lets the next ``up`` reap ours if this session is killed.
    """
    manager = Playground(tmp_path_factory.mktemp("playground"))
    try:
        manager.up(PLAYGROUND_HOSTS, prefix=f"t{os.getpid():x}", owner_pid=os.getpid())
        yield manager
    finally:
        manager.down()


@pytest.fixture(scope="session")
def playground(playground_manager: Playground) -> PlaygroundState:
    """The session playground as it was right after ``up``: hosts, inventory, key, known_hosts."""
    state = playground_manager.status()
    assert state is not None
    return state


@pytest.fixture
def leftovers_age_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every temporary counts as an old leftover at once (in this process): for tests of
    leftover cleanup, which would otherwise wait LEFTOVER_AGE_S for one to age."""
    monkeypatch.setattr("remoteops.sync.plan.LEFTOVER_AGE_S", 0)


@pytest.fixture
def requires_root(playground: PlaygroundState) -> None:
    """Skip unless the playground has its root-only features (netns mode: blackhole, sudo)."""
    if playground.mode != "netns":
        pytest.skip("needs root: the playground runs in loopback mode")


@dataclass(frozen=True)
class DaskCluster:
    """A real Dask cluster of worker processes on this machine (distributed's SpecCluster):
    worker ``a`` advertises the resource ``site-a``, worker ``b`` none."""

    address: str
    #: Each worker's name -> its address (for pinning and for killing one).
    workers: dict[str, str]


#: The resource worker ``a`` of :func:`dask_cluster` advertises (as many as its threads).
DASK_SITE = "site-a"


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[DaskCluster]:
    """Two Nanny-managed worker processes (2 threads each) and a scheduler on 127.0.0.1; a
    killed worker is restarted by its nanny. Session-wide: it takes about 2 s to start."""
    distributed = pytest.importorskip("distributed")
    import dask.config
    from distributed.deploy.spec import SpecCluster

    def worker(resources: dict[str, int]) -> dict[str, object]:
        options = {"nthreads": 2, "resources": resources, "host": "127.0.0.1", "dashboard": False}
        return {"cls": distributed.Nanny, "options": options}

    # SpecCluster closes a worker's nanny when, 15 s after the worker left, none of its name
    # is back: two kills within 15 s (the worker-killed tests) lost worker b for good
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}):
        cluster = SpecCluster(
            scheduler={
                "cls": distributed.Scheduler,
                "options": {"dashboard": False, "host": "127.0.0.1"},
            },
            workers={"a": worker({DASK_SITE: 2}), "b": worker({})},
            silence_logs=40,  # the nannies' INFO lines are noise in a test report
        )
        try:
            with distributed.Client(cluster, set_as_default=False) as client:
                client.wait_for_workers(2, timeout=60)
                info = client.scheduler_info(n_workers=-1)["workers"]
                names = {str(w["name"]): addr for addr, w in info.items()}
            yield DaskCluster(cluster.scheduler_address, names)
        finally:
            cluster.close()
