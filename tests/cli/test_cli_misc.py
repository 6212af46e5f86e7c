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


def test_help_before_a_command_is_the_roots_and_lists_every_command() -> None:
    """Only the sub-command run is imported; the root's help must still list them all."""
    for args in (("-h", "run"), ("--help", "serve"), ("--help",)):
        run = remoteops(*args)
        text = run.stdout.decode()
        assert run.returncode == 0, args
        for command in ("run", "sync", "put", "get", "hosts", "playground", "serve"):
            assert f" {command} " in text, (args, command)


def test_a_command_after_version_still_gets_the_version() -> None:
    run = remoteops("--version", "run")
    assert run.stdout.decode().strip() == f"remoteops {__version__}"
