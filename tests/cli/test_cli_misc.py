"""Top-level options of the command line."""

from __future__ import annotations

from cli_support import remoteops

from remoteops import __version__


def test_version_prints_the_package_version() -> None:
    run = remoteops("--version")
    assert run.returncode == 0
    assert run.stdout.decode().strip() == f"remoteops {__version__}"


def test_no_arguments_shows_help_with_every_command() -> None:
    run = remoteops()
    text = (run.stdout + run.stderr).decode()
    assert "Usage" in text
    for command in ("run", "hosts", "playground"):
        assert command in text
