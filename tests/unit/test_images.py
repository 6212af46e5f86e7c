"""The image build's pure logic: names, targets, which files an image depends on, and which
images a build must (re)make."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from remoteops.engine import EngineError
from remoteops.playground._images import (
    TARGETS,
    ImageBuildError,
    _build_lock,
    build_inputs,
    check_targets,
    image_name,
    inputs_hash,
    plan_builds,
    source_root,
)
from remoteops.playground._model import PlaygroundError
from remoteops.playground._system import private_dir


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A minimal source checkout: what the Dockerfile copies, plus files it must not count."""
    files = {
        "Dockerfile": "FROM debian:12-slim AS testhost\n",
        ".dockerignore": "*\n",
        "pyproject.toml": "[project]\nname = 'remoteops'\n",
        "README.md": "# remoteops\n",
        "containers/testhost-init": "#!/bin/sh\n",
        "containers/vsftpd.conf": "listen=YES\n",
        "containers/containers.conf": "[engine]\n",
        "containers/wheels/paramiko-3.5.0-py3-none-any.whl": "wheel",
        "remoteops/__init__.py": "__version__ = '1'\n",
        "remoteops/__pycache__/__init__.cpython-311.pyc": "bytecode",
        "tests/test_x.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_image_names_are_local_tags_named_after_the_target() -> None:
    assert [image_name(t) for t in TARGETS] == [
        "localhost/remoteops:latest",
        "localhost/remoteops-testhost-ssh:latest",
        "localhost/remoteops-testhost-ftp:latest",
        "localhost/remoteops-testhost-telnet:latest",
    ]


def test_an_unknown_target_is_an_engine_error_naming_the_known_ones() -> None:
    with pytest.raises(ImageBuildError, match=r"'testhost-smtp'.*testhost-telnet"):
        image_name("testhost-smtp")
    assert issubclass(ImageBuildError, EngineError)


def test_targets_come_back_in_build_order_without_repeats() -> None:
    assert check_targets(["testhost-telnet", "remoteops", "testhost-telnet"]) == (
        "remoteops",
        "testhost-telnet",
    )
    assert check_targets("testhost-ssh") == ("testhost-ssh",)  # one name, not its letters


def test_test_hosts_depend_on_the_dockerfile_and_containers_files_only(checkout: Path) -> None:
    assert build_inputs(checkout, "testhost-ssh") == [
        ".dockerignore",
        "Dockerfile",
        "containers/testhost-init",
        "containers/vsftpd.conf",
    ]


def test_images_holding_the_package_also_depend_on_its_sources(checkout: Path) -> None:
    inputs = build_inputs(checkout, "testhost-ftp")
    assert inputs == build_inputs(checkout, "remoteops")
    assert {"pyproject.toml", "README.md", "remoteops/__init__.py"} <= set(inputs)
    assert not [name for name in inputs if "__pycache__" in name or "wheels" in name]
    assert "containers/containers.conf" not in inputs
    assert "tests/test_x.py" not in inputs


def test_the_hash_follows_each_images_own_inputs(checkout: Path) -> None:
    before = {t: inputs_hash(checkout, t) for t in TARGETS}
    assert len(set(before.values())) == len(TARGETS)  # the target is part of the hash

    (checkout / "remoteops/__init__.py").write_text("__version__ = '2'\n")
    after_code = {t: inputs_hash(checkout, t) for t in TARGETS}
    assert [t for t in TARGETS if after_code[t] != before[t]] == ["remoteops", "testhost-ftp"]

    (checkout / "containers/containers.conf").write_text("[engine]\nruntime = 'runc'\n")
    (checkout / "containers/wheels/extra-1.0-py3-none-any.whl").write_text("wheel")
    assert {t: inputs_hash(checkout, t) for t in TARGETS} == after_code

    (checkout / "Dockerfile").write_text("FROM debian:12-slim AS other\n")
    after_dockerfile = {t: inputs_hash(checkout, t) for t in TARGETS}
    assert all(after_dockerfile[t] != after_code[t] for t in TARGETS)


def test_a_build_makes_the_missing_and_stale_images_and_rebuild_makes_all() -> None:
    wanted = {t: f"hash-{t}" for t in TARGETS}
    built: dict[str, str | None] = {
        "remoteops": "hash-remoteops",
        "testhost-ssh": None,
        "testhost-ftp": "an-older-hash",
        "testhost-telnet": "hash-testhost-telnet",
    }
    assert plan_builds(TARGETS, built, wanted) == ["testhost-ssh", "testhost-ftp"]
    assert plan_builds(["remoteops"], built, wanted) == []
    assert plan_builds(["remoteops"], built, wanted, rebuild=True) == ["remoteops"]
    assert plan_builds(TARGETS, wanted, wanted) == []


def test_the_source_root_is_the_checkout_holding_the_package() -> None:
    root = source_root()
    assert (root / "Dockerfile").is_file()
    assert (root / "remoteops" / "playground" / "_images.py").is_file()


def test_a_package_outside_a_checkout_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "site-packages" / "remoteops").mkdir(parents=True)
    with pytest.raises(ImageBuildError, match="source checkout"):
        source_root(tmp_path / "site-packages" / "remoteops")


def test_the_build_lock_refuses_a_symlink_in_its_place_and_creates_nothing(tmp_path: Path) -> None:
    # As root, opening a planted link for writing would create (or append to) any file at all.
    victim = tmp_path / "etc-cron.d-job"
    (tmp_path / "images.lock").symlink_to(victim)
    with (
        pytest.raises(PlaygroundError, match=r"images\.lock is a symbolic link"),
        _build_lock(print, tmp_path / "images.lock"),
    ):
        pytest.fail("the lock was taken through a link")
    assert not victim.exists()


def test_the_build_lock_lives_in_a_private_directory_and_is_held_once(tmp_path: Path) -> None:
    lock = private_dir() / "images.lock"
    assert stat.S_IMODE(os.lstat(lock.parent).st_mode) == 0o700
    waited: list[str] = []
    with _build_lock(waited.append, tmp_path / "images.lock"):
        assert stat.S_IMODE((tmp_path / "images.lock").stat().st_mode) == 0o600
        # Another process asking for it now has to wait (flock is per open file).
        probe = subprocess.run(
            ["flock", "--nonblock", str(tmp_path / "images.lock"), "true"], check=False
        )
        assert probe.returncode != 0
    assert waited == []
