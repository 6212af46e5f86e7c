"""Telnet promises of the README that the rest of the suite left unguarded, against BusyBox
telnetd running the test login programs (tests/integration/test_telnet.py has the others):

- passwords are masked in timeout and idle messages (and in the partial output kept);
- the settings ``telnet_shell``, ``telnet_prompt`` and ``telnet_error_patterns`` are obeyed;
- ``sync``, ``put`` and ``get`` are ``unsupported`` on Telnet hosts; ``--sudo`` and stdin work on
  shells, and devices refuse them (and ``-e``) before anything is typed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.results import HostResult, Status
from remoteops.transports import CommandSpec
from tests.integration.conftest import running, with_vars
from tests.integration.test_telnet import HERE, PASSWORD_ENV, _host, _telnetd

pytestmark = pytest.mark.skipif(
    shutil.which("busybox") is None or shutil.which("telnet") is None,
    reason="needs busybox (telnetd) and a telnet client: scripts/test installs them",
)


@pytest.fixture(scope="module")
def shell_host() -> Iterator[Host]:
    daemon, port = _telnetd(HERE / "telnet_login.py")
    with running(daemon):
        yield _host("shell1", port, "tester")


@pytest.fixture(scope="module")
def odd_device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Host, Path]]:
    """A device whose prompt ends in ``]`` (no default pattern knows it) and which logs
    every command line it receives."""
    log = tmp_path_factory.mktemp("device") / "commands.log"
    daemon, port = _telnetd(
        HERE / "telnet_device.py",
        TELNET_TEST_DEVICE="router1",
        TELNET_TEST_PROMPT_END="]",
        TELNET_TEST_LOG=str(log),
    )
    with running(daemon):
        yield _host("router1", port, "admin", connect_timeout=4), log


def _run(host: Host, command: str, **spec: object) -> HostResult:
    return run_command([host], CommandSpec(command, **spec)).results[0]  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", ["timeout", "idle"])
def test_timeout_and_idle_messages_mask_the_password(limit: str, shell_host: Host) -> None:
    """The command prints the login password (typed in two halves, so only its output holds
    it whole) and then hangs: the message's last bytes seen, and the output kept, show
    ``****`` instead."""
    password = os.environ[PASSWORD_ENV]
    half = len(password) // 2
    command = f"printf 'seen: %s%s\\n' '{password[:half]}' '{password[half:]}'; sleep 30"
    if limit == "idle":
        result = _run(with_vars(shell_host, telnet_idle_timeout=1), command)
        assert "no output for 1 s" in (result.error or ""), result
        assert "seen: ****" in (result.error or "")  # the last bytes seen
    else:  # the command's own timeout, said as for every transport; the output tells
        result = _run(shell_host, command, timeout=3)
        assert result.error == "command timed out after 3 s", result
    assert result.status is Status.TIMEOUT
    assert b"seen: ****" in result.stdout
    assert password not in (result.error or "")
    assert password.encode() not in result.stdout


def test_telnet_prompt_names_a_prompt_the_default_pattern_does_not_know(
    odd_device: tuple[Host, Path],
) -> None:
    device, _ = odd_device
    unknown = _run(device, "show clock")
    assert unknown.status is Status.UNREACHABLE, unknown  # never logged in: a connect timeout
    assert "waiting for a login or password prompt" in (unknown.error or "")
    told = _run(with_vars(device, telnet_prompt=r"router1\]\s*$"), "show clock")
    assert (told.status, told.exit_code, told.error) == (Status.OK, None, None), told
    assert told.stdout == b"12:00:00.000 UTC Fri Nov 27 2026\n"


def test_telnet_shell_device_skips_the_shell_probe(odd_device: tuple[Host, Path]) -> None:
    device, log = odd_device
    told = with_vars(device, telnet_prompt=r"router1\]\s*$")
    log.write_text("")
    assert _run(told, "show users").status is Status.OK
    assert "PROBE" in log.read_text()  # auto: the device was asked $((6*7)) first
    log.write_text("")
    result = _run(with_vars(told, telnet_shell="device"), "show users")
    assert (result.status, result.stdout) == (Status.OK, b"admin vty 0\n"), result
    assert "PROBE" not in log.read_text()
    assert log.read_text().splitlines()[-1] == "show users"


def test_telnet_shell_device_on_a_shell_has_no_exit_code(shell_host: Host) -> None:
    result = _run(with_vars(shell_host, telnet_shell="device"), "echo hello; false")
    assert (result.status, result.exit_code) == (Status.OK, None), result
    assert b"hello" in result.stdout
    posix = _run(with_vars(shell_host, telnet_shell="posix"), "echo hello; false")
    assert (posix.status, posix.exit_code, posix.stdout) == (Status.FAILED, 1, b"hello\n")


def test_telnet_error_patterns_replace_the_default_ones(odd_device: tuple[Host, Path]) -> None:
    device = with_vars(odd_device[0], telnet_prompt=r"router1\]\s*$", telnet_shell="device")
    assert _run(device, "show users").status is Status.OK  # by default: no error in it
    strict = with_vars(device, telnet_error_patterns=[r"vty \d+"])
    refused = _run(strict, "show users")
    assert (refused.status, refused.exit_code) == (Status.FAILED, None), refused
    assert refused.error == "the device refused 'show users': admin vty 0"
    invalid = _run(strict, "show bogus")  # "% Invalid input" is not in the new list
    assert invalid.status is Status.OK, invalid
    assert b"% Invalid input" in invalid.stdout


def _cli(
    inventory: Path, *args: str, stdin: bytes | None = None, exit_code: int = 3
) -> dict[str, object]:
    run = subprocess.run(
        # run's options come before its command, whose words are its own
        [sys.executable, "-m", "remoteops", args[0], "-i", str(inventory), "-o", "json", *args[1:]],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=120,
        check=False,
    )
    assert run.returncode == exit_code, (args, run.stdout, run.stderr)
    result: dict[str, object] = json.loads(run.stdout)
    return result


def _inventory(tmp_path: Path, host: Host) -> Path:
    inventory = tmp_path / "telnet.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {host.name: dict(host.vars)}}}))
    return inventory


def test_transfers_are_unsupported_on_telnet(shell_host: Host, tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, shell_host)
    source = tmp_path / "source"
    source.mkdir()
    (source / "file").write_text("data\n")
    attempts = {
        "sync": ["sync", str(source), str(tmp_path / "dest")],
        "put": ["put", str(source / "file"), str(tmp_path / "put-here")],
        "get": ["get", str(source / "file"), str(tmp_path / "got")],
    }
    for what, args in attempts.items():
        result = _cli(inventory, *args)
        assert result["status"] == "unsupported", (what, result)
        assert "Telnet" in str(result["error"]) or "TELNET" in str(result["error"]), result
    assert not (tmp_path / "dest").exists()
    assert not (tmp_path / "put-here").exists()
    assert not (tmp_path / "got").exists()


def test_sudo_and_stdin_reach_a_command_on_a_telnet_shell(shell_host: Host, tmp_path: Path) -> None:
    """Through the runner every exec transport shares: sudo's prompt (which a terminal
    shows in stdout) is answered there, and the input is typed encoded for a reader on the
    host. Before, both were refused as unsupported."""
    inventory = _inventory(tmp_path, shell_host)
    sudo = _cli(
        inventory, "run", "--sudo", "--sudo-password-env", PASSWORD_ENV, "id -u", exit_code=0
    )
    assert (sudo["status"], sudo["stdout"]) == ("ok", "0\n"), sudo
    piped = _cli(inventory, "run", "cat; echo end", stdin=b"input\n", exit_code=0)
    assert (piped["status"], piped["stdout"]) == ("ok", "input\nend\n"), piped


def test_a_device_refuses_stdin_env_and_sudo_before_typing_anything(
    odd_device: tuple[Host, Path],
) -> None:
    device, log = odd_device
    told = with_vars(device, telnet_prompt=r"router1\]\s*$", telnet_shell="device")
    log.write_text("")
    for spec in ({"stdin": b"x\n"}, {"env": {"A": "1"}}, {"sudo": True}):
        result = _run(told, "show users", **spec)
        assert result.status is Status.UNSUPPORTED, (spec, result)
        assert "device CLIs take no stdin" in (result.error or "")
    assert "show users" not in log.read_text()
