"""`remoteops task`: the README's example file run as a user runs it, its recap and JSON, and
a malformed file refused with its file and line."""

from __future__ import annotations

from pathlib import Path

from tests.cli.cli_support import json_lines, remoteops

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


def test_an_unsupported_strategy_is_exit_2(inventory: str, tmp_path: Path) -> None:
    free = tmp_path / "free.yml"
    free.write_text("strategy: free\nsteps:\n  - run: 'true'\n")
    result = remoteops("task", str(free), "-i", inventory)
    assert result.returncode == 2
    assert "strategy 'free' is not supported yet" in result.stderr.decode()


def _interrupted(
    inventory: str, task_text: str, folder: Path
) -> tuple[int, list[dict[str, object]]]:
    """Run the task with -o json, press Ctrl-C once a second in, return the exit code and
    what was printed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.cli.cli_support import cli_env

    path = folder / "task.yml"
    path.write_text(task_text)
    process = subprocess.Popen(
        [sys.executable, "-m", "remoteops", "task", str(path), "-i", inventory, "-o", "json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(None),
    )
    time.sleep(1.5)
    os.kill(process.pid, signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    return process.returncode, json_lines(out)


def test_ctrl_c_between_steps_ends_the_unfinished_hosts_cancelled(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """Hosts whose later steps never ran were reported ok."""
    code, objects = _interrupted(
        inventory,
        "steps:\n  - run: sleep 3\n  - run: 'true'\n",
        tmp_path,
    )
    assert code == 130
    finals = {o["host"]: o for o in objects if o["step"] is None}
    assert sorted(finals) == sorted(names)
    assert all(o["status"] == "cancelled" for o in finals.values()), finals


def test_ctrl_c_in_a_local_step_still_prints_every_hosts_end(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """The KeyboardInterrupt escaped from the local command: nothing was printed at all."""
    code, objects = _interrupted(
        inventory, "steps:\n  - local: sleep 10\n  - run: 'true'\n", tmp_path
    )
    assert code == 130
    finals = [o for o in objects if o["step"] is None]
    assert sorted(o["host"] for o in finals) == sorted(names)
    assert all(o["status"] == "cancelled" for o in finals)


def test_run_renders_a_command_per_host_only_when_asked(inventory: str, names: list[str]) -> None:
    """-T: each host gets its own name; without it the braces go to the shell as typed."""
    templated = remoteops(
        "run", "-i", inventory, "-T", "echo {{ inventory_hostname }}", "-o", "json"
    )
    assert templated.returncode == 0, templated.stderr.decode()
    said = {o["host"]: o["stdout"] for o in json_lines(templated.stdout)}
    assert said == {name: f"{name}\n" for name in names}
    typed = remoteops("run", "-i", inventory, "echo '{{ inventory_hostname }}'", "-o", "json")
    assert {o["stdout"] for o in json_lines(typed.stdout)} == {"{{ inventory_hostname }}\n"}


def test_run_template_errors_name_the_problem(inventory: str, names: list[str]) -> None:
    """A syntax error stops the run before any host (exit 2); an undefined name fails each
    host naming it (exit 1), never renders empty."""
    broken = remoteops("run", "-i", inventory, "-T", "echo {{ oops", "-o", "json")
    assert broken.returncode == 2
    assert "template syntax error" in broken.stderr.decode()
    undefined = remoteops("run", "-i", inventory, "-T", "echo {{ no_such_var }}", "-o", "json")
    assert undefined.returncode == 1
    results = json_lines(undefined.stdout)
    assert len(results) == len(names)
    assert all("no_such_var" in (o["error"] or "") for o in results)
