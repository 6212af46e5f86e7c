"""Promises of ``run`` that the rest of the suite left unguarded: each test here fails when
the guarantee is broken on purpose (the list is in docs/reliability.md, "Deliberate breaks").

- a timeout sends TERM, then KILL two seconds later, to the command's whole process group,
  over SSH and locally (a command that ignores TERM still ends; one that handles TERM gets
  to run its handler);
- the sudo password is sent only when sudo asks for it;
- the default fan-out lets every host be inside its command at the same time;
- a server that accepts TCP but never sends its SSH banner is given up on at connect_timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.playground import PlaygroundState
from remoteops.results import Status
from remoteops.transports import CommandSpec
from tests.integration.conftest import assert_no_process_left

#: What the README promises between the TERM and the KILL.
KILL_GRACE_S = 2.0


def _pids_of(token: str) -> list[int]:
    """Processes whose command line holds ``token`` (the hosts share our process table)."""
    found = subprocess.run(["pgrep", "-f", token], capture_output=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


@contextlib.contextmanager
def _reaped(token: str) -> Iterator[None]:
    """Whatever the block leaves running under ``token`` is killed afterwards, by pid, so a
    broken build cannot leave the test's endless loop behind."""
    try:
        yield
    finally:
        for pid in _pids_of(token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("kind", ["ssh", "local"])
def test_a_timeout_sends_term_then_kill_to_a_command_that_survives_term(
    kind: str, ssh_hosts: list[Host], tmp_path: Path
) -> None:
    """The command handles TERM (its handler writes a file) and goes on looping: only the
    KILL that follows ends it. The run reports the timeout without waiting out the grace.

    Its output goes to /dev/null once started: the shell reports a child killed by TERM on
    stderr, and over SSH that channel is already closed, so SIGPIPE would end the shell
    before the KILL is needed."""
    host = ssh_hosts[0] if kind == "ssh" else Host("localhost", {"protocol": "local"})
    token = f"ro-survivor-{secrets.token_hex(6)}"
    handled = tmp_path / "term-handled"
    command = (
        f"trap 'echo term >> {handled}' TERM; echo started; exec >/dev/null 2>&1; "
        f"while :; do sleep 0.1; done # {token}"
    )
    with _reaped(token):
        result = run_command([host], CommandSpec(command, timeout=1.5)).results[0]
        assert result.status is Status.TIMEOUT, result
        assert result.stdout == b"started\n"
        still_there = _pids_of(token)  # at once: the KILL is due two seconds after the TERM
        assert_no_process_left(token, within_s=KILL_GRACE_S + 8)
    assert still_there, "the run waited for the KILL instead of returning at the timeout"
    assert handled.read_text().startswith("term\n"), "no TERM came before the KILL"


def test_a_command_that_ignores_term_is_killed_with_its_whole_group_over_ssh(
    ssh_hosts: list[Host],
) -> None:
    """``trap '' TERM`` is inherited: neither the shell nor its background child dies of
    TERM, so only the KILL to the group ends them."""
    marker = "35.5151"
    command = f"trap '' TERM; sleep {marker} & sleep {marker}; echo never"
    with _reaped(f"sleep {marker}"):
        result = run_command(ssh_hosts[:1], CommandSpec(command, timeout=1.5)).results[0]
        assert result.status is Status.TIMEOUT, result
        assert_no_process_left(f"sleep {marker}", within_s=KILL_GRACE_S + 8)


@pytest.mark.usefixtures("requires_root")
def test_sudo_that_does_not_ask_never_gets_the_password_on_stdin(
    ssh_hosts: list[Host],
) -> None:
    """Root's sudo asks for no password: a password sent before sudo asks would be the
    first line ``cat`` reads (and prints)."""
    password = f"pw-{secrets.token_hex(8)}"
    report = run_command(
        ssh_hosts[:2],
        CommandSpec("id -un; cat", sudo=True, sudo_password=password, stdin=b"from stdin\n"),
    )
    for result in report.results:
        assert result.status is Status.OK, result
        assert result.stdout == b"root\nfrom stdin\n"
        assert password.encode() not in result.stdout + result.stderr


def test_the_default_fan_out_has_every_host_inside_its_command_at_once(
    playground: PlaygroundState, tmp_path: Path
) -> None:
    """A barrier, not a stopwatch: each host records its arrival and waits (up to 20 s) until
    every host has arrived. Only hosts running at the same time can all get through."""
    names = [host.name for host in playground.hosts]
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    command = (
        f"mktemp {barrier}/arrived.XXXXXX >/dev/null; n=0; "
        f'while [ "$(ls {barrier} | wc -l)" -lt {len(names)} ] && [ $n -lt 400 ]; '
        f"do sleep 0.05; n=$((n+1)); done; ls {barrier} | wc -l"
    )
    run = subprocess.run(
        [sys.executable, "-m", "remoteops", "run", "-i", str(playground.inventory_path),
         "-o", "json", command],
        capture_output=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
    )  # fmt: skip
    results = [json.loads(line) for line in run.stdout.decode().splitlines()]
    assert sorted(r["host"] for r in results) == sorted(names)
    assert {r["stdout"].strip() for r in results} == {str(len(names))}, results
    assert run.returncode == 0


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (no SSH banner)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def test_a_server_that_never_sends_a_banner_is_given_up_on_at_connect_timeout(
    silent_server: int, tmp_path: Path
) -> None:
    inventory = tmp_path / "silent.yml"
    inventory.write_text(
        f"all:\n  hosts:\n    silent:\n      address: 127.0.0.1\n      port: {silent_server}\n"
    )
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "remoteops", "run", "-i", str(inventory), "-o", "json",
         "--connect-timeout", "2", "true"],
        capture_output=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    result = json.loads(run.stdout)
    assert (result["status"], run.returncode) == ("unreachable", 3), result
    assert "connect timed out after 2 s" in result["error"]
    assert elapsed < 2 + 8, f"took {elapsed:.1f} s with --connect-timeout 2"
