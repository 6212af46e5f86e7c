"""The container engine lookup: clear errors for an unknown or missing engine; the settings
podman runs with."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import remoteops.engine as engine_module
from remoteops.engine import Engine, EngineError, find_engine


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


def test_podman_commands_use_the_checkouts_containers_conf_when_the_machine_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in engine binary that reports the one variable podman reads its settings from.
    binary = tmp_path / "podman"
    binary.write_text('#!/bin/sh\nprintf %s "${CONTAINERS_CONF:-unset}"\n')
    binary.chmod(0o755)
    monkeypatch.delenv("CONTAINERS_CONF", raising=False)
    monkeypatch.setattr(engine_module, "SYSTEM_CONTAINERS_CONF", tmp_path / "absent.conf")
    checkout_conf = Path(engine_module.__file__).resolve().parents[1] / "containers"
    assert Engine("podman", str(binary)).run(["info"]).stdout.decode() == str(
        checkout_conf / "containers.conf"
    )
    assert Engine("docker", str(binary)).run(["info"]).stdout == b"unset"
    monkeypatch.setattr(engine_module, "SYSTEM_CONTAINERS_CONF", binary)  # the machine has one
    assert Engine("podman", str(binary)).run(["info"]).stdout == b"unset"
    monkeypatch.setenv("CONTAINERS_CONF", "/mine.conf")  # and the caller's own always wins
    assert Engine("podman", str(binary)).run(["info"], env={"X": "1"}).stdout == b"/mine.conf"
