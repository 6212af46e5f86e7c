"""``remoteops run``'s features built apart and merged, tried together: SIGTERM with ``-b``,
the journal and ``-S``; config-file defaults with the text-only flags; the status line with
prompts; ``--diff`` with ``-N``.

Hosts are ``protocol: local`` (no server needed) unless a test is about SSH.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from cli_support import (
    LiveRun,
    cli_env,
    gated_command,
    local_inventory,
    remoteops,
    started_count,
    wait_until,
)

from remoteops.output.status_line import REDRAW_INTERVAL
from remoteops.playground import PlaygroundState


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """Config and journal folders of this test only."""
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}


def _journalled(home: dict[str, str]) -> list[dict[str, object]]:
    """The newest journalled run: its head, then one object per host."""
    runs = sorted((Path(home["XDG_STATE_HOME"]) / "remoteops" / "runs").glob("*.jsonl"))
    assert runs, "no run journalled"
    return [json.loads(line) for line in runs[-1].read_text().splitlines()]


def test_sigterm_still_prints_the_groups_the_summary_and_journals_the_run_for_failed(
    tmp_path: Path, gate: Path, home: dict[str, str]
) -> None:
    """``timeout 60 remoteops run -b ...``: the SIGTERM was re-raised inside the executor, so
    the process ended before ``-b`` printed the output it had, before the summary and before
    the journal; ``-H @failed`` then retried the hosts of the run before this one."""
    inventory = str(local_inventory(tmp_path / "hosts.yml", ["fast", "slow"]))
    remoteops("run", "-i", inventory, "-H", "fast", "true", env=home)  # the run before: all ok
    command = (
        "{% if inventory_hostname == 'fast' %}echo fast-output; touch "
        + str(gate / "fast")
        + "{% else %}"
        + gated_command(gate)
        + "{% endif %}"
    )
    with LiveRun("run", "-i", inventory, "-b", "-T", command, env=home) as run:
        wait_until(lambda: started_count(gate) == 1, "the slow host to start")
        wait_until((gate / "fast").exists, "the fast host's command to end")
        run.proc.send_signal(signal.SIGTERM)
        code, stdout, stderr = run.finish(timeout=30)
    assert code == -signal.SIGTERM  # still ends by the signal
    assert "fast-output" in stdout.decode()
    assert "2 hosts: 1 ok, 0 failed, 1 cancelled" in stderr.decode()
    head, *hosts = _journalled(home)
    assert head["run"]["exit_code"] == 128 + signal.SIGTERM  # type: ignore[index]
    assert {h["host"]: h["status"] for h in hosts} == {"fast": "ok", "slow": "cancelled"}
    retry = remoteops("run", "-i", inventory, "-H", "@failed", "echo retried", env=home)
    assert retry.returncode == 0, retry.stderr
    assert retry.stdout.decode().split() == ["slow", "|", "retried"]


@pytest.mark.parametrize(
    "flag", [["--diff"], ["-N"], ["--prefix-style", "pdsh"]], ids=["diff", "N", "pdsh"]
)
def test_a_text_only_flag_outranks_a_config_file_output_json(
    tmp_path: Path, home: dict[str, str], flag: list[str]
) -> None:
    """``output = "json"`` in a config file made ``run --diff`` (or ``-N``) exit 2 with
    "drop -o json", an option the user never typed: flags outrank the files."""
    inventory = str(local_inventory(tmp_path / "hosts.yml", ["web1", "web2"]))
    config = Path(home["XDG_CONFIG_HOME"]) / "remoteops" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('output = "json"\n')
    result = remoteops("run", "-i", inventory, *flag, "echo same", env=home)
    assert result.returncode == 0, result.stderr
    assert not result.stdout.startswith(b"{")  # text, not JSON lines
    assert b"same" in result.stdout or flag == ["--diff"]  # --diff shows no identical output
    assert b"2 hosts: 2 ok" in result.stderr  # text mode's summary
    explicit = remoteops("run", "-i", inventory, "-o", "json", *flag, "echo same", env=home)
    assert explicit.returncode == 2  # typed together, they still contradict each other


@pytest.mark.parametrize("flag", [["-N"], ["--prefix-style", "pdsh"]], ids=["N", "pdsh"])
def test_a_prefix_flag_with_diff_is_refused_as_with_group(tmp_path: Path, flag: list[str]) -> None:
    """``--diff -N`` printed the diff with its host headers and dropped ``-N`` without a word,
    where ``-b -N`` is refused: neither has live lines for a prefix to apply to."""
    inventory = str(local_inventory(tmp_path / "hosts.yml", ["web1", "web2"]))
    result = remoteops("run", "-i", inventory, "--diff", *flag, "echo same")
    assert result.returncode == 2
    assert b"is for live lines; --diff" in result.stderr


def test_the_status_line_is_not_drawn_over_a_passphrase_prompt(
    inventory: str, names: list[str], playground: PlaygroundState, tmp_path: Path
) -> None:
    """The prompt for an encrypted key comes while the status line runs (getpass writes it to
    /dev/tty, not through sys.stderr): the ticker's redraws wrote the line over the prompt,
    and the user typed a passphrase under ``[0/2 done] 0 running, 2 waiting``."""
    key = tmp_path / "encrypted_key"
    shutil.copy(playground.client_key_path, key)
    key.chmod(0o600)
    subprocess.run(
        ["ssh-keygen", "-q", "-p", "-N", "s3cret phrase", "-f", str(key)],
        check=True, capture_output=True,
    )  # fmt: skip
    env = {k: v for k, v in cli_env({"TERM": "xterm"}).items() if k != "SSH_AUTH_SOCK"}
    argv = ["-m", "remoteops", "run", "-i", inventory, "-H", ":".join(names[:2]),
            "-O", f"IdentityFile={key}", "-O", "IdentitiesOnly=yes", "echo logged-in"]  # fmt: skip
    child = pexpect.spawn(sys.executable, argv, env=env, timeout=30)
    try:
        child.expect("Passphrase for ")
        # 20 redraw intervals: the old ticker drew within the first
        drawn = child.expect(["done]", pexpect.TIMEOUT], timeout=20 * REDRAW_INTERVAL)
        assert drawn == 1, child.before + child.after
        child.sendline("s3cret phrase")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    assert child.before.count(b"| logged-in") == 2


def test_the_journal_records_the_exit_status_of_a_max_exit_code_run(
    tmp_path: Path, home: dict[str, str]
) -> None:
    """``run -S`` exits with the largest remote exit code; its journal said 1 (the 0/1/3/4
    code it did not exit with)."""
    inventory = str(local_inventory(tmp_path / "hosts.yml", ["web1", "web2"]))
    result = remoteops("run", "-i", inventory, "-S", "exit 7", env=home)
    assert result.returncode == 7, result.stderr
    head, *_ = _journalled(home)
    assert head["run"]["exit_code"] == 7  # type: ignore[index]
