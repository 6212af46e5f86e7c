"""Top-level options of the command line."""

from __future__ import annotations

from pathlib import Path

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


def test_help_names_the_protocols_the_exit_codes_and_what_each_value_is() -> None:
    """A newcomer from pssh or Ansible reads --help first: the protocols, the exit codes of
    every command that works on hosts, metavars that say what is expected, and the flags
    that mean something else in a popular peer."""

    def help_of(*args: str) -> str:  # wide enough that no help line wraps inside its box
        return " ".join(remoteops(*args, "--help", env={"COLUMNS": "400"}).stdout.decode().split())

    top = help_of()
    for protocol in ("SSH", "FTP", "Telnet", "local"):
        assert protocol in top
    for command in ("run", "sync", "put", "get", "task", "fab"):
        text = help_of(command)
        assert "Exit: 0 every host ok; 1 a command failed" in text, command
        assert "130 interrupted" in text, command
        assert "143 terminated (SIGTERM)" in text, command  # README "Exit codes"
        assert "Default: 10." in text, command  # --connect-timeout's, which rich once ate
    assert "How many hosts to start. Default: 5." in help_of("playground", "up")
    sync = help_of("sync")
    for metavar in ("{SOURCE} {DEST}", "PATTERN", "FILE|DIR|LIST", "SECONDS", " N "):
        assert metavar in sync, metavar
    assert "pssh calls it -p" in sync
    assert "pssh's -p is parallelism" in sync
    assert "Exit: 0" not in help_of("hosts")


def test_an_open_files_limit_too_low_for_the_fan_out_is_said_before_the_run(
    tmp_path: Path,
) -> None:
    import resource
    import subprocess
    import sys

    from cli_support import cli_env, local_inventory

    inventory = local_inventory(tmp_path / "many.yml", [f"l{i:02d}" for i in range(40)])

    def run_with_limit(limit: int, forks: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "remoteops", "run", "-i", str(inventory), "-f", forks, "true"],
            capture_output=True, env=cli_env(), timeout=60, check=False, stdin=subprocess.DEVNULL,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)),
        )  # fmt: skip

    low = run_with_limit(128, "40")
    assert b"open-files limit (128" in low.stderr
    assert b"allows about 16 hosts at once; 40 are asked for" in low.stderr
    fits = run_with_limit(128, "10")  # 10 hosts at once fit in 128
    assert fits.returncode == 0, fits.stderr
    assert b"open-files limit" not in fits.stderr
