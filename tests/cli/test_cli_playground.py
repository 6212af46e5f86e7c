"""``remoteops playground up``: its host count is ``--count/-n``; the old ``--hosts N`` warns."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from cli_support import remoteops

_HAS_SSHD = shutil.which("sshd") is not None or Path("/usr/sbin/sshd").exists()
pytestmark = pytest.mark.skipif(not _HAS_SSHD, reason="needs OpenSSH's sshd")


def _up(state_dir: Path, *count: str) -> tuple[int, list[str], str]:
    """``up`` in loopback mode (cheap, any user); the exit code, host names, stderr."""
    prefix = f"c{os.getpid():x}"
    run = remoteops(
        "playground", "up", *count, "--mode", "loopback", "--prefix", prefix,
        "--state-dir", str(state_dir),
    )  # fmt: skip
    names: list[str] = []
    if run.returncode == 0:
        inventory = yaml.safe_load(Path(run.stdout.decode().strip()).read_text())
        names = list(inventory["all"]["children"]["playground"]["hosts"])
    return run.returncode, names, run.stderr.decode()


def test_up_count_starts_that_many_hosts_and_hosts_is_a_deprecated_alias(tmp_path: Path) -> None:
    state_dir = tmp_path / "pg"
    try:
        code, names, err = _up(state_dir, "--count", "2")
        assert (code, len(names)) == (0, 2), err
        assert "deprecated" not in err
        code, names, err = _up(state_dir, "-n", "1")
        assert (code, len(names)) == (0, 1), err
        code, names, err = _up(state_dir, "--hosts", "2")  # scripts written before --count
        assert (code, len(names)) == (0, 2), err
        assert "--hosts N is deprecated: use --count/-n N" in err
    finally:
        remoteops("playground", "down", "--state-dir", str(state_dir))


def test_up_refuses_count_and_hosts_that_disagree(tmp_path: Path) -> None:
    code, _, err = _up(tmp_path / "never", "--count", "2", "--hosts", "3")
    assert code == 2
    assert "--count 2 and --hosts 3 disagree" in err
    assert not (tmp_path / "never").exists()


def test_up_help_names_count_not_hosts() -> None:
    shown = remoteops("playground", "up", "--help").stdout.decode()
    assert "--count" in shown
    assert "-n" in shown
    assert "--hosts" not in shown


def test_up_with_engine_refuses_the_process_options_before_starting_anything(
    tmp_path: Path,
) -> None:
    for extra in (("--mode", "loopback"), ("--prefix", "x")):
        run = remoteops(
            "playground", "up", "--engine", "podman", *extra, "--state-dir", str(tmp_path / "pg")
        )
        assert run.returncode == 2, run.stderr.decode()
        assert b"--mode and --prefix are for process hosts" in run.stderr
    assert not (tmp_path / "pg").exists()


def test_up_with_engine_in_an_unusable_state_dir_fails_cleanly_before_the_engine_runs(
    tmp_path: Path,
) -> None:
    # A stand-in engine that records being called: the state dir is checked first.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "podman").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/called\nexit 1\n')
    (tmp_path / "bin" / "podman").chmod(0o755)
    (tmp_path / "file").write_text("")
    for command in ("up", "down", "status", "inventory"):
        extra = ("--engine", "podman") if command == "up" else ()
        run = remoteops(
            "playground", command, *extra, "--state-dir", str(tmp_path / "file" / "sub"),
            env={"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
        )  # fmt: skip
        assert b"Traceback" not in run.stderr, run.stderr.decode()
        if command == "up":
            assert run.returncode == 2, run.stderr.decode()
            assert b"cannot use" in run.stderr
            assert b"Not a directory" in run.stderr
        else:  # nothing is up there
            assert run.returncode in (0, 3), (command, run.stderr.decode())
    assert not (tmp_path / "called").exists()
