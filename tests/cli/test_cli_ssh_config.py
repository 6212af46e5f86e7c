"""``-F FILE`` and ``-O Key=Value`` (ssh's ``-F`` and ``-o``) on the commands that connect.

The ad-hoc host ``alias-cli`` exists only in the ssh_config given with ``-F``: without it, or
with the known_hosts file missing, the host cannot be reached or verified.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import by_host, remoteops

from remoteops.playground import PlaygroundState


def _config(tmp_path: Path, playground: PlaygroundState) -> Path:
    host = playground.hosts[0]
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host alias-cli\n    HostName {host.address}\n    Port {host.port}\n"
        f"    User {playground.user}\n    IdentityFile {playground.client_key_path}\n"
    )
    return config


@pytest.mark.parametrize("command", [["run", "true"], ["get", "/etc/hostname", "OUT"]])
def test_ssh_config_file_and_ssh_options_reach_every_connecting_command(
    command: list[str], playground: PlaygroundState, tmp_path: Path
) -> None:
    config = _config(tmp_path, playground)
    args = [a.replace("OUT", str(tmp_path / "out")) for a in command]
    known = f"UserKnownHostsFile={playground.known_hosts_path}"
    verb, words = args[0], args[1:]  # options first: run takes every word after as the command
    result = remoteops(verb, "-i", "alias-cli,", "-H", "alias-cli", "-o", "json",
                       "-F", str(config), "-O", known, *words)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert by_host(result.stdout)["alias-cli"]["status"] == "ok"
    # the same run without the option: the key is not in any known_hosts file searched
    unknown = remoteops(verb, "-i", "alias-cli,", "-H", "alias-cli", "-o", "json",
                        "-F", str(config), "-O", "UserKnownHostsFile=/nonexistent",
                        *words)  # fmt: skip
    assert by_host(unknown.stdout)["alias-cli"]["status"] == "hostkey"


def test_an_unknown_ssh_option_is_exit_2_naming_it(tmp_path: Path) -> None:
    result = remoteops("run", "-H", "localhost", "-O", "NoSuchOption=yes", "true")
    assert result.returncode == 2
    assert b"NoSuchOption" in result.stderr


def test_an_ssh_option_remoteops_does_not_use_is_warned_about_and_the_run_goes_on() -> None:
    result = remoteops("run", "-H", "localhost", "-O", "ServerAliveInterval=5", "true")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(b"ServerAliveInterval is not used by remoteops") == 1


def test_a_missing_ssh_config_file_is_exit_2(tmp_path: Path) -> None:
    result = remoteops("run", "-H", "localhost", "-F", str(tmp_path / "nope"), "true")
    assert result.returncode == 2
    assert b"no such file" in result.stderr


def test_the_interactive_shell_takes_the_ssh_config_and_ssh_options_too(
    playground: PlaygroundState, tmp_path: Path
) -> None:
    """Lines piped to ``shell`` run without a prompt; the alias exists only in the -F file and
    the host key only in the -O known_hosts file."""
    config = _config(tmp_path, playground)
    known = f"UserKnownHostsFile={playground.known_hosts_path}"
    result = remoteops(
        "shell", "-i", "alias-cli,", "-H", "alias-cli", "-F", str(config), "-O", known,
        input_bytes=b"echo via-shell\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert b"via-shell" in result.stdout, result
