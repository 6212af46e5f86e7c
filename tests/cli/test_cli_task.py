"""`remoteops task`: the README's example file run as a user runs it, its recap and JSON, and
a malformed file refused with its file and line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.cli_support import (
    LiveRun,
    cli_env,
    gated_command,
    json_lines,
    remoteops,
    started_count,
    wait_until,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "deploy-site.yml"


def test_the_example_deploys_then_changes_nothing_the_second_time(
    inventory: str, names: list[str]
) -> None:
    """The hosts' /tmp is their own: each gets its page, rendered with its own name."""
    common = ["task", str(EXAMPLE), "-i", inventory, "-e", "site_root=/tmp/example-site"]
    first = remoteops(*common)
    assert first.returncode == 0, first.stderr.decode()
    out = first.stdout.decode()
    for name in names:
        assert f"{name} | 1" in out  # the page holds the host's own name
    recap = first.stderr.decode()
    assert "RECAP" in recap
    assert "STEP 2 the home page, rendered per host" in recap
    second = remoteops(*common, "-o", "json")
    assert second.returncode == 0, second.stderr.decode()
    objects = json_lines(second.stdout)
    finals = [o for o in objects if o["step"] is None]
    assert sorted(o["host"] for o in finals) == sorted(names)
    assert all(o["ok"] is True and o["failed_steps"] == 0 for o in finals)
    pages = [o for o in objects if o.get("name") == "the home page, rendered per host"]
    assert pages
    assert all(not o["changed"] for o in pages)  # the same bytes: nothing uploaded again
    guarded = [o for o in objects if o.get("name") == "make the site folder"]
    assert all(o["step_status"] == "skipped" for o in guarded)  # creates: it exists


def test_a_malformed_task_file_is_exit_2_naming_file_and_line(
    inventory: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("steps:\n  - name: one\n    run: 'true'\n  - name: two\n    shel: ls\n")
    result = remoteops("task", str(broken), "-i", inventory)
    assert result.returncode == 2
    error = result.stderr.decode()
    assert f"{broken}:4" in error or f"{broken}:5" in error, error
    assert "two" in error
    assert "did you mean" in error


def test_free_prints_each_hosts_step_ends_instead_of_step_headers(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """Under free, steps have no common start: each host says each step as it ends there."""
    free = tmp_path / "free.yml"
    free.write_text(
        "strategy: free\nsteps:\n  - {name: hello, run: echo hi}\n"
        "  - {name: quiet, run: 'true', when: false}\n"
    )
    result = remoteops("task", str(free), "-i", inventory)
    assert result.returncode == 0, result.stderr.decode()
    err = result.stderr.decode()
    assert "STEP 1" not in err
    for name in names:
        assert re.search(rf"^{name} +> step 1 hello: changed$", err, re.MULTILINE), err
        assert re.search(rf"^{name} +> step 2 quiet: skipped$", err, re.MULTILINE), err
        assert re.search(rf"^{name} +\| hi$", result.stdout.decode(), re.MULTILINE)


@pytest.mark.parametrize("strategy", ["linear", "free"])
def test_json_prints_each_step_on_each_host_as_it_ends(
    inventory: str, names: list[str], gate: Path, tmp_path: Path, strategy: str
) -> None:
    """Step 2 waits for a file this test creates only once it has read every host's step 1
    object: printed at the end (as before), they came after step 2 had timed out waiting."""
    path = tmp_path / "task.yml"
    release = gate / "release"
    path.write_text(
        f"strategy: {strategy}\n"
        "steps:\n"
        "  - {name: first, run: echo one}\n"
        f"  - name: waits for the reader\n"
        f"    run: while [ ! -e {release} ]; do sleep 0.05; done; echo two\n"
        "    timeout: 20\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "remoteops", "task", str(path), "-i", inventory, "-o", "json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=cli_env(None),
    )
    assert process.stdout is not None
    firsts = [json.loads(process.stdout.readline()) for _ in names]
    release.touch()
    rest = json_lines(process.stdout.read())
    assert process.wait(timeout=30) == 0
    assert [(o["step"], o["step_status"]) for o in firsts] == [(0, "changed")] * len(names)
    assert sorted(o["host"] for o in firsts) == sorted(names)
    seconds = [o for o in rest if o["step"] == 1]
    assert sorted(o["host"] for o in seconds) == sorted(names)
    assert all(o["stdout"] == "two\n" and o["step_status"] == "changed" for o in seconds)
    finals = [o for o in rest if o["step"] is None]
    assert sorted(o["host"] for o in finals) == sorted(names)
    assert rest[-len(names) :] == finals  # the hosts' ends come last


def _interrupted(
    inventory: str, task_text: str, folder: Path, starts: int
) -> tuple[int, list[dict[str, object]]]:
    """Run the task with -o json, press Ctrl-C once ``starts`` commands ran ``{started}``
    (a marker file each: a fixed wait was too short on a loaded machine, the Ctrl-C came
    before the step), return the exit code and what was printed."""
    path = folder / "task.yml"
    marks = folder / "started"
    marks.mkdir()
    path.write_text(task_text.replace("{started}", f"mktemp {marks}/s.XXXXXX"))
    process = subprocess.Popen(
        [sys.executable, "-m", "remoteops", "task", str(path), "-i", inventory, "-o", "json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(None),
    )
    wait_until(lambda: len(list(marks.iterdir())) == starts, "the step to start")
    os.kill(process.pid, signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    return process.returncode, json_lines(out)


@pytest.mark.parametrize("strategy", ["linear", "free"])
def test_ctrl_c_between_steps_ends_the_unfinished_hosts_cancelled(
    inventory: str, names: list[str], tmp_path: Path, strategy: str
) -> None:
    """Hosts whose later steps never ran were reported ok; under free, each host ends the
    step it is in and starts no other."""
    code, objects = _interrupted(
        inventory,
        f"strategy: {strategy}\nsteps:\n  - run: '{{started}}; sleep 3'\n  - run: 'true'\n",
        tmp_path,
        len(names),
    )
    assert code == 130
    finals = {o["host"]: o for o in objects if o["step"] is None}
    assert sorted(finals) == sorted(names)
    assert all(o["status"] == "cancelled" for o in finals.values()), finals


@pytest.mark.parametrize("strategy", ["linear", "free"])
def test_ctrl_c_in_a_local_step_still_prints_every_hosts_end(
    inventory: str, names: list[str], tmp_path: Path, strategy: str
) -> None:
    """The KeyboardInterrupt escaped from the local command: nothing was printed at all.
    Under free the local step runs on a host's thread: the first Ctrl-C ends it there."""
    code, objects = _interrupted(
        inventory,
        f"strategy: {strategy}\nsteps:\n  - local: '{{started}}; sleep 10'\n  - run: 'true'\n",
        tmp_path,
        1,
    )
    assert code == 130
    finals = [o for o in objects if o["step"] is None]
    assert sorted(o["host"] for o in finals) == sorted(names)
    assert all(o["status"] == "cancelled" for o in finals)
    ended = [o for o in objects if o["step"] == 0]  # the local command itself was stopped
    assert sorted(o["host"] for o in ended) == sorted(names)
    assert all(o["status"] == "cancelled" for o in ended), ended


def test_run_renders_a_command_per_host_only_when_asked(inventory: str, names: list[str]) -> None:
    """-T: each host gets its own name; without it the braces go to the shell as typed."""
    templated = remoteops(
        "run", "-i", inventory, "-T", "-o", "json", "echo {{ inventory_hostname }}"
    )
    assert templated.returncode == 0, templated.stderr.decode()
    said = {o["host"]: o["stdout"] for o in json_lines(templated.stdout)}
    assert said == {name: f"{name}\n" for name in names}
    typed = remoteops("run", "-i", inventory, "-o", "json", "echo '{{ inventory_hostname }}'")
    assert {o["stdout"] for o in json_lines(typed.stdout)} == {"{{ inventory_hostname }}\n"}


def test_run_template_errors_name_the_problem(inventory: str, names: list[str]) -> None:
    """A syntax error stops the run before any host (exit 2); an undefined name fails each
    host naming it (exit 1), never renders empty."""
    broken = remoteops("run", "-i", inventory, "-T", "-o", "json", "echo {{ oops")
    assert broken.returncode == 2
    assert "template syntax error" in broken.stderr.decode()
    undefined = remoteops("run", "-i", inventory, "-T", "-o", "json", "echo {{ no_such_var }}")
    assert undefined.returncode == 1
    results = json_lines(undefined.stdout)
    assert len(results) == len(names)
    assert all("no_such_var" in (o["error"] or "") for o in results)


def _journalled(state: Path) -> list[dict[str, Any]]:
    """The newest journalled run under XDG_STATE_HOME ``state``: its head, then its hosts."""
    runs = sorted((state / "remoteops" / "runs").glob("*.jsonl"))
    assert runs, "no run journalled"
    return [json.loads(line) for line in runs[-1].read_text().splitlines()]


@pytest.mark.parametrize("where", ["run", "local"])
def test_sigterm_mid_task_still_prints_the_recap_journals_143_and_ends_by_it(
    inventory: str, names: list[str], tmp_path: Path, gate: Path, where: str
) -> None:
    """``timeout 60 remoteops task ...``: the SIGTERM ended the process on the spot, with no
    recap and no journal entry (``-H @failed`` then retried the run before), and a ``local:``
    step's shell was killed alone, its children left running. Now the step is cancelled on
    every host, the next never starts, the recap prints, the journal says 143."""
    child = tmp_path / "child.pid"
    step = (
        f'run: "{gated_command(gate)}"'
        if where == "run"
        else f'local: "({gated_command(gate)}) & echo $! > {child}; wait"'
    )
    task = tmp_path / "task.yml"
    task.write_text(
        f"steps:\n  - run: echo first\n  - {{name: held, {step}}}\n  - run: echo never\n"
    )
    state = tmp_path / "state"
    with LiveRun("task", str(task), "-i", inventory, env={"XDG_STATE_HOME": str(state)}) as run:
        wanted = len(names) if where == "run" else 1
        wait_until(lambda: started_count(gate) == wanted, "the held step to start")
        run.proc.send_signal(signal.SIGTERM)
        code, stdout, stderr = run.finish(timeout=30)
    assert code == -signal.SIGTERM  # still ends by the signal
    assert "never" not in stdout.decode()
    recap = stderr.decode()
    assert "RECAP" in recap, recap
    for name in names:
        assert re.search(rf"{name} +: ok=1 changed=1 failed=1 .*cancelled: step 'held'", recap)
    head, *hosts = _journalled(state)
    assert head["run"]["exit_code"] == 128 + signal.SIGTERM
    assert {h["host"]: h["status"] for h in hosts} == dict.fromkeys(names, "cancelled")
    if where == "local":  # the gated loop, a child of the step's shell, was killed with it
        pid = int(child.read_text())
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), "the local step's child to end")
