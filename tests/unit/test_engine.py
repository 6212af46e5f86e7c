"""The container engine lookup: clear errors for an unknown or missing engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from remoteops.engine import EngineError, find_engine


def test_an_unknown_engine_is_refused_by_name() -> None:
    with pytest.raises(EngineError, match=r"unknown container engine 'lxc'.*podman, docker"):
        find_engine("lxc")


def test_a_missing_engine_says_which_package_provides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineError, match=r"apt-get install docker\.io"):
        find_engine("docker")
    with pytest.raises(EngineError, match=r"podman, docker.*podman`? or `apt-get install docker"):
        find_engine("auto")


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_a_failing_engine_command_names_the_command_and_the_engines_message() -> None:
    engine = find_engine("podman")
    assert engine.name == "podman"
    assert engine.run(["--version"]).stdout.startswith(b"podman version")
    with pytest.raises(EngineError, match=r"`podman inspect no-such-container-ro` failed"):
        engine.run(["inspect", "no-such-container-ro"])
