"""`remoteops fab`: a fabfile's tasks run as a user runs them, their output as live host lines,
the recap and JSON, rolling batches with the brake, and mistakes refused with exit 2."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.cli.cli_support import (
    LiveRun,
    cli_env,
    gated_command,
    json_lines,
    local_inventory,
    remoteops,
    started_count,
    wait_until,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "fabfile.py"


def write_fabfile(folder: Path, body: str) -> Path:
    path = folder / "fabfile.py"
    path.write_text("from fabric import task\n\n" + textwrap.dedent(body))
    return path


def test_task_output_is_each_hosts_lines_and_nothing_else_reaches_stdout(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    fabfile = write_fabfile(
        tmp_path,
        """
        @task
        def loud(c, word="hi"):
            c.run(f"echo {word}; echo oops >&2", echo=True)
        """,
    )
    result = remoteops("fab", "-f", str(fabfile), "-i", inventory, "loud", "--word", "hello")
    assert result.returncode == 0, result.stderr.decode()
    out, err = result.stdout.decode(), result.stderr.decode()
    width = max(len(n) for n in names)
    for name in names:
        assert f"{name.ljust(width)} | hello\n" in out
        assert f"{name.ljust(width)} | echo hello; echo oops >&2\n" in out
        assert f"{name.ljust(width)} ! oops\n" in err
    assert all(re.match(r"\S+ +\| ", line) for line in out.splitlines()), out
    assert "TASK 1 loud(word='hello')" in err
    assert "RECAP" in err


def test_json_has_one_object_per_host_per_task_then_the_hosts_end(
    inventory: str, names: list[str]
) -> None:
    result = remoteops("fab", "-f", str(EXAMPLE), "-i", inventory, "-o", "json", "whoami")
    assert result.returncode == 0, result.stderr.decode()
    objects = json_lines(result.stdout)
    steps = [o for o in objects if o["step"] is not None]
    assert sorted(o["host"] for o in steps) == sorted(names)
    assert all(o["name"] == "whoami" and o["stdout"].startswith("user=") for o in steps)
    finals = [o for o in objects if o["step"] is None]
    assert all(o["ok"] is True and o["status"] == "ok" for o in finals)


def test_serial_batches_stop_at_max_fail_and_leave_the_rest_cancelled(
    inventory: str, names: list[str]
) -> None:
    result = remoteops(
        "fab", "-f", str(EXAMPLE), "-i", inventory, "-o", "json",
        "--serial", "1", "--max-fail", "1", "fail", "--code", "5",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr.decode()
    finals = {o["host"]: o for o in json_lines(result.stdout) if o["step"] is None}
    first, *rest = names
    assert finals[first]["status"] == "failed"
    assert "exited with 5" in finals[first]["error"]
    for name in rest:
        assert finals[name]["status"] == "cancelled"
        assert "max_fail brake" in finals[name]["error"]


def test_a_raising_task_says_its_message_and_a_traceback_only_with_verbose(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    fabfile = write_fabfile(
        tmp_path,
        """
        @task
        def boom(c):
            raise RuntimeError("no luck")
        """,
    )
    plain = remoteops("fab", "-f", str(fabfile), "-i", inventory, "-H", names[0], "boom")
    assert plain.returncode == 1
    assert "task boom: RuntimeError: no luck" in plain.stderr.decode()
    assert "Traceback" not in plain.stderr.decode()
    verbose = remoteops("-v", "fab", "-f", str(fabfile), "-i", inventory, "-H", names[0], "boom")
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr.decode()
    assert 'raise RuntimeError("no luck")' in verbose.stderr.decode()


def test_a_missing_fabfile_or_an_unknown_task_is_exit_2_before_any_host(
    inventory: str, tmp_path: Path
) -> None:
    missing = remoteops("fab", "-f", str(tmp_path / "nope.py"), "-i", inventory, "deploy")
    assert missing.returncode == 2
    assert f"no fabfile at {tmp_path / 'nope.py'}" in missing.stderr.decode()
    unknown = remoteops("fab", "-f", str(EXAMPLE), "-i", inventory, "deplyo", "--tag", "v2")
    assert unknown.returncode == 2
    assert "did you mean 'deploy'?" in unknown.stderr.decode()
    bad_flag = remoteops("fab", "-f", str(EXAMPLE), "-i", inventory, "deploy", "--tga", "v2")
    assert bad_flag.returncode == 2
    assert "--tga" in bad_flag.stderr.decode()
    broken = write_fabfile(tmp_path, "@task\ndef deploy(c):\n    c.run(\n")
    syntax = remoteops("fab", "-f", str(broken), "-i", inventory, "deploy")
    assert syntax.returncode == 2
    assert f"cannot load {broken}: SyntaxError" in syntax.stderr.decode()


_MODULES_AFTER = """
import sys
from remoteops.cli import main
sys.argv = ["remoteops", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
loaded = [m for m, module in sys.modules.items() if module is not None]
print(sorted({m.split(".")[0] for m in loaded} & {"fabric", "invoke"}), file=sys.stderr)
"""


def test_only_the_fab_command_imports_fabric_and_invoke(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """Fabric is a dependency for `fab`; every other command starts as fast as before."""
    local = str(local_inventory(tmp_path / "local.yml", ["here"]))

    def imported(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _MODULES_AFTER, *argv],
            capture_output=True, stdin=subprocess.DEVNULL, env=cli_env(), timeout=60,
            check=False,
        )  # fmt: skip
        return done.stderr.decode().splitlines()[-1]

    assert imported("run", "-i", local, "true") == "[]"
    assert imported("hosts", "-i", inventory) == "[]"
    assert imported("run", "-i", inventory, "-H", names[0], "true") == "[]"
    assert imported("fab", "-f", str(EXAMPLE), "-i", local, "whoami") == "['fabric', 'invoke']"


def test_a_tasks_own_print_is_its_hosts_line_and_json_stays_json(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    fabfile = write_fabfile(
        tmp_path,
        """
        import sys

        print("the fabfile is loading")

        @task
        def hello(c):
            print("hello from", c.original_host)
            print("to stderr", file=sys.stderr)
        """,
    )
    text = remoteops("fab", "-f", str(fabfile), "-i", inventory, "hello")
    assert text.returncode == 0, text.stderr.decode()
    out, err = text.stdout.decode(), text.stderr.decode()
    width = max(len(n) for n in names)
    for name in names:
        assert f"{name.ljust(width)} | hello from {name}\n" in out
        assert f"{name.ljust(width)} ! to stderr\n" in err
    as_json = remoteops("fab", "-f", str(fabfile), "-i", inventory, "-o", "json", "hello")
    assert as_json.returncode == 0, as_json.stderr.decode()
    steps = [o for o in json_lines(as_json.stdout) if o["step"] is not None]
    assert sorted(o["stdout"] for o in steps) == sorted(f"hello from {n}\n" for n in names)
    assert all(o["stderr"] == "to stderr\n" for o in steps)
    assert "the fabfile is loading" in as_json.stderr.decode()


def test_the_host_timeout_kills_a_fabric_command_and_ends_a_task_stuck_in_python(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """`sleep 60` is killed on its host at 3 s; a `time.sleep(60)` cannot be, but the run
    still ends then (its thread left behind), both hosts `timeout`."""
    remote, stuck = names[:2]
    pid_file = tmp_path / "pid"
    fabfile = write_fabfile(
        tmp_path,
        f"""
        import time

        @task
        def slow(c):
            if c.original_host == {remote!r}:
                c.run("echo $$ > {pid_file}; exec sleep 60")
            else:
                time.sleep(60)
        """,
    )
    result = remoteops(
        "fab", "-f", str(fabfile), "-i", inventory, "-H", f"{remote},{stuck}", "-o", "json",
        "-t", "3", "slow", timeout=40,
    )  # fmt: skip
    finals = {o["host"]: o for o in json_lines(result.stdout) if o["step"] is None}
    assert finals[remote]["status"] == "timeout", result.stderr.decode()
    assert finals[stuck]["status"] == "timeout"
    pid = int(pid_file.read_text())  # in the host's own PID namespace: ask the host
    gone = remoteops(
        "run", "-i", inventory, "-H", remote,
        f"for i in $(seq 50); do kill -0 {pid} 2>/dev/null || exit 0; sleep 0.1; done; exit 1",
    )  # fmt: skip
    assert gone.returncode == 0, "sleep 60 still runs on its host"


def test_twenty_megabytes_of_command_output_are_kept_whole(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """Invoke scans the whole output on every 1000-byte read: quadratic, minutes for this."""
    fabfile = write_fabfile(
        tmp_path,
        """
        @task
        def big(c):
            out = c.run("head -c 20000000 /dev/zero | tr '\\\\0' x | fold -w 99")
            print(len(out.stdout), out.stdout.count("\\n"))
        """,
    )
    result = remoteops(
        "fab", "-f", str(fabfile), "-i", inventory, "-H", names[0], "-o", "json", "big",
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    steps = [o for o in json_lines(result.stdout) if o["step"] is not None]
    (step,) = steps  # the output as it came, then what the task counted in its Result
    assert step["stdout"].endswith("\n" + "x" * 20 + "20202020 202020\n")


def test_a_task_named_right_with_a_wrong_flag_is_not_offered_itself(
    inventory: str, tmp_path: Path
) -> None:
    fabfile = write_fabfile(tmp_path, "@task\ndef pos(c, count=1):\n    pass\n")
    result = remoteops("fab", "-f", str(fabfile), "-i", inventory, "pos", "--nope", "1")
    assert result.returncode == 2
    assert "--nope" in result.stderr.decode()
    assert "did you mean" not in result.stderr.decode()


def test_sigterm_mid_fabfile_still_prints_the_recap_journals_143_and_ends_by_it(
    inventory: str, names: list[str], tmp_path: Path, gate: Path
) -> None:
    """``timeout 60 remoteops fab ...`` ended on the spot, with no recap and no journal entry;
    now the running task is cancelled on every host, the next never starts."""
    fabfile = write_fabfile(
        tmp_path,
        f"""
        @task
        def held(c):
            c.run({gated_command(gate)!r})

        @task
        def after(c):
            c.run("echo never")
        """,
    )
    state = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state)}
    with LiveRun("fab", "-f", str(fabfile), "-i", inventory, "held", "after", env=env) as run:
        wait_until(lambda: started_count(gate) == len(names), "every host to start the task")
        run.proc.send_signal(signal.SIGTERM)
        code, stdout, stderr = run.finish(timeout=30)
    assert code == -signal.SIGTERM
    assert "never" not in stdout.decode()
    assert "RECAP" in stderr.decode(), stderr.decode()
    runs = sorted((state / "remoteops" / "runs").glob("*.jsonl"))
    assert runs, "no run journalled"
    head, *hosts = [json.loads(line) for line in runs[-1].read_text().splitlines()]
    assert head["run"]["exit_code"] == 128 + signal.SIGTERM
    assert {h["host"]: h["status"] for h in hosts} == dict.fromkeys(names, "cancelled")
