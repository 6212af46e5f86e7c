"""The container playground's state dir without containers: a record it cannot read, its lock,
and a rootless engine, each met before any container is touched. The engine is a stand-in
script that logs its command lines (and says whether it is rootless)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from remoteops.engine import Engine
from remoteops.playground import ContainerPlayground, PlaygroundError
from remoteops.playground._container_files import ContainerState, plan_hosts
from remoteops.playground._system import acquire_lock


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """A stand-in podman: logs each command line to ``calls``; ``info`` prints the content of
    ``rootless`` (``false`` unless a test writes ``true``); everything else fails."""
    (tmp_path / "rootless").write_text("false")
    script = tmp_path / "podman"
    script.write_text(
        f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n'
        f'[ "$1" = info ] && {{ cat {tmp_path}/rootless; exit 0; }}\nexit 1\n'
    )
    script.chmod(0o755)
    return Engine("podman", str(script))


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls"
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize(
    "text", ["", "{not json", '{"version": 99, "hosts": []}', '{"version": 1, "hosts": [7]}']
)
def test_a_corrupt_record_fails_down_and_status_naming_the_file(
    tmp_path: Path, engine: Engine, text: str
) -> None:
    state_dir = tmp_path / "pg"
    state_dir.mkdir()
    (state_dir / "containers.json").write_text(text)
    playground = ContainerPlayground(state_dir, engine=engine)
    for action in (playground.down, playground.status):
        with pytest.raises(PlaygroundError, match=r"containers\.json is not a container playgr"):
            action()
    with pytest.raises(PlaygroundError, match=r"remove those labelled remoteops\.playground"):
        playground.up(1)
    assert (state_dir / "containers.json").read_text() == text  # kept: the only map there is


def test_a_rootless_engine_fails_up_at_once_before_building_or_starting_anything(
    tmp_path: Path, engine: Engine
) -> None:
    (tmp_path / "rootless").write_text("true")
    started = time.monotonic()
    with pytest.raises(PlaygroundError, match=r"podman runs rootless here: .* cannot be reached"):
        ContainerPlayground(tmp_path / "pg", engine=engine).up(1)
    assert time.monotonic() - started < 10  # not the 90 s wait for a banner that never comes
    assert _calls(tmp_path) == ["info --format {{.Host.Security.Rootless}}"]
    with pytest.raises(PlaygroundError, match=r"rootless"):
        ContainerPlayground(tmp_path / "compose", engine=engine).compose_inventory(tmp_path / "k")


def test_down_waits_for_the_state_dir_lock_another_process_holds(
    tmp_path: Path, engine: Engine
) -> None:
    state_dir = tmp_path / "pg"
    state_dir.mkdir()
    record = ContainerState("feedf00d", "podman", "ropg-feedf00d", plan_hosts("feedf00d", 1))
    (state_dir / "containers.json").write_text(record.dumps())
    held = acquire_lock(state_dir / ".lock")  # an `up` of this state dir still running
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (ContainerPlayground(state_dir, engine=engine).down(), done.set())
    )
    try:
        thread.start()
        assert not done.wait(1.0)
        assert _calls(tmp_path) == []  # it has not even looked at the engine
    finally:
        os.close(held)
    thread.join(30)
    assert done.is_set()
    assert _calls(tmp_path)  # then it did its work: inspect (nothing is ours), files removed
    assert not state_dir.exists()


def test_a_symlink_in_place_of_the_state_dir_lock_is_refused(
    tmp_path: Path, engine: Engine
) -> None:
    state_dir = tmp_path / "pg"
    state_dir.mkdir()
    (state_dir / ".lock").symlink_to(tmp_path / "victim")
    with pytest.raises(PlaygroundError, match=r"\.lock is a symbolic link"):
        ContainerPlayground(state_dir, engine=engine).up(1)
    assert not (tmp_path / "victim").exists()
    assert _calls(tmp_path) == []


def test_up_replacing_a_recorded_playground_keeps_holding_the_same_lock_file(
    tmp_path: Path, engine: Engine
) -> None:
    # `up` first tears down what the state dir recorded: removing the lock file then would let
    # a second `up` lock a new one and run alongside.
    state_dir = tmp_path / "pg"
    state_dir.mkdir()
    record = ContainerState("feedf00d", "podman", "ropg-feedf00d", plan_hosts("feedf00d", 1))
    (state_dir / "containers.json").write_text(record.dumps())
    playground = ContainerPlayground(state_dir, engine=engine)
    with playground._locked():
        held = (state_dir / ".lock").stat().st_ino
        assert playground._down(release=False)
        assert not (state_dir / "containers.json").exists()
        assert (state_dir / ".lock").stat().st_ino == held
        lock = str(state_dir / ".lock")
        probe = subprocess.run(["flock", "--nonblock", lock, "true"], check=False)
        assert probe.returncode != 0  # still locked
