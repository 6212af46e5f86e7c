"""`remoteops run` with floods of output and with piped stdin, as a user runs it: bounded
memory, timeouts on time, input streamed as it arrives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cli_support import cli_env, remoteops

from tests.streams import endless_pipe

MiB = 1024 * 1024

#: Runs its arguments and prints the peak RSS (KiB) of that one child on stderr's last line.
_MEASURED = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _measured(*args: str, stdin: int | None = subprocess.DEVNULL) -> tuple[int, bytes, int, float]:
    """``remoteops ARGS`` under a wrapper: exit code, stdout, peak RSS in MiB, wall seconds."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURED, sys.executable, "-m", "remoteops", *args],
        stdin=stdin,
        capture_output=True,
        env=cli_env(),
        timeout=120,
        check=False,
    )
    peak_kib = int(proc.stderr.decode().strip().splitlines()[-1])
    return proc.returncode, proc.stdout, peak_kib // 1024, time.monotonic() - started


def test_json_output_of_a_flood_is_capped_valid_and_on_time(
    inventory: str, names: list[str]
) -> None:
    """`run -o json -t 4 yes` took 1-1.6 GB and 5-8 s more than its timeout, and with a longer
    timeout printed a cut, invalid JSON line: now 64 MiB kept, the rest counted."""
    code, out, peak_mib, _ = _measured("run", "-i", inventory, "-H", names[0], "-t", "4",
                                       "-o", "json", "yes")  # fmt: skip
    assert code == 3
    result = json.loads(out)  # one complete line
    assert result["status"] == "timeout"
    assert result["truncated"] is True
    assert len(result["stdout"]) == 64 * MiB
    assert result["stdout_bytes"] > 64 * MiB
    assert result["duration_s"] < 4 + 1.5
    assert peak_mib < 700


def test_text_output_of_a_flood_streams_and_keeps_nothing(inventory: str, names: list[str]) -> None:
    code, out, peak_mib, _ = _measured("run", "-i", inventory, "-H", names[0], "-t", "3", "yes")
    assert code == 3
    lines = out.splitlines()
    assert len(lines) > 100_000
    assert set(lines) == {f"{names[0]} | y".encode()}
    assert peak_mib < 150


def test_a_line_without_end_is_shown_in_bounded_pieces(inventory: str, names: list[str]) -> None:
    done = remoteops("run", "-i", inventory, "-H", names[0],
                     "head -c 1000000 /dev/zero | tr '\\0' x")  # fmt: skip
    assert done.returncode == 0
    prefix = f"{names[0]} | ".encode()
    pieces = done.stdout.splitlines()
    assert all(p.startswith(prefix) and len(p) <= len(prefix) + 64 * 1024 for p in pieces)
    assert sum(len(p) - len(prefix) for p in pieces) == 1_000_000


def test_piped_stdin_is_streamed_not_read_to_its_end_first(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """`sleep 30 | remoteops run -t 3 ...` waited for the pipe to close; `head -n 1` hosts
    answer as soon as their line arrived, while the pipe stays open."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"one line\n")
    try:
        with (tmp_path / "out").open("w+b") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "remoteops", "run", "-i", inventory, "-H",
                 ":".join(names[:2]), "-o", "json", "-t", "20", "head -n 1"],
                stdin=read_end, stdout=out, stderr=subprocess.DEVNULL, env=cli_env(),
            )  # fmt: skip
            try:
                proc.wait(timeout=15)
            finally:
                if proc.poll() is None:
                    proc.kill()
            out.seek(0)
            results = [json.loads(line) for line in out.read().splitlines()]
    finally:
        os.close(read_end)
        os.close(write_end)
    assert [(r["status"], r["stdout"]) for r in results] == [("ok", "one line\n")] * 2


def test_a_pipe_that_never_closes_does_not_hold_a_command_that_reads_nothing(
    inventory: str, names: list[str]
) -> None:
    read_end, write_end = os.pipe()
    try:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "remoteops", "run", "-i", inventory, "-H", names[0],
             "-t", "3", "echo done"],
            stdin=read_end, capture_output=True, env=cli_env(), timeout=30, check=False,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    finally:
        os.close(read_end)
        os.close(write_end)
    assert done.returncode == 0
    assert done.stdout == f"{names[0]} | done\n".encode()
    assert elapsed < 10


def test_endless_stdin_costs_a_bounded_window_and_the_timeout_holds(
    inventory: str, names: list[str]
) -> None:
    """`yes | remoteops run -t 3 'wc -c'` grew to 2.2 GB before connecting to anything."""
    with endless_pipe() as stdin:
        _, out, peak_mib, _ = _measured(
            "run", "-i", inventory, "-H", ":".join(names[:2]), "-t", "3", "-o", "json", "wc -c",
            stdin=stdin,
        )  # fmt: skip
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["status"] for r in results] == ["timeout"] * 2
    assert all(r["duration_s"] < 3 + 1.5 for r in results)
    assert peak_mib < 250


def test_env_taken_by_name_from_this_shell(inventory: str, names: list[str]) -> None:
    done = remoteops("run", "-i", inventory, "-H", names[0], "-e", "ROP_SECRET",
                     'printf "%s" "$ROP_SECRET"', env={"ROP_SECRET": "from the shell"})  # fmt: skip
    assert done.stdout == f"{names[0]} | from the shell\n".encode()
    unset = remoteops("run", "-i", inventory, "-H", names[0], "-e", "ROP_NOT_SET_ANYWHERE", "true")
    assert unset.returncode == 2
    assert b"ROP_NOT_SET_ANYWHERE is not set" in unset.stderr


def test_a_timeout_still_kills_the_command_over_a_slow_link(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """0.3 s each way: sending the kill takes two round trips (1.2 s). The run's end waited
    a fixed half second, the process exited first, and the command ran on on the host."""
    from cli_support import write_inventory

    from bench.relay import start_relay, stop_relay
    from remoteops.inventory import load_inventory

    host = load_inventory([inventory]).hosts[names[0]]
    relay, (port,) = start_relay(0.3, [(str(host.vars.get("address", host.name)), host.port or 22)])
    marker = str(170 + os.getpid() % 800)  # a sleep nobody else runs: `sleep 1xx.5`
    try:
        slow = {**host.vars, "address": "127.0.0.1", "port": port, "connect_timeout": 20,
                "known_hosts_file": str(tmp_path / "known_hosts")}  # fmt: skip
        slow_inventory = write_inventory(tmp_path / "slow.yml", {"all": {"hosts": {"slow": slow}}})
        done = remoteops("run", "-i", str(slow_inventory), "--accept-new-host-keys", "-t", "3",
                         f"sleep {marker}.5")  # fmt: skip
        assert done.returncode == 3, done.stderr
        assert b"TIMEOUT" in done.stderr
        deadline = time.monotonic() + 5  # TERM ends sleep at once; KILL would 2 s later
        while time.monotonic() < deadline and _running(f"sleep {marker}.5"):
            time.sleep(0.1)
        assert not _running(f"sleep {marker}.5")
    finally:
        stop_relay(relay)
        subprocess.run(["pkill", "-f", f"^sleep {marker}.5$"], check=False)


def _running(command: str) -> bool:
    found = subprocess.run(["pgrep", "-f", f"^{command}$"], capture_output=True, check=False)
    return found.returncode == 0


def test_a_local_command_that_ignores_term_is_killed_after_the_run_exits(
    tmp_path: Path,
) -> None:
    """The KILL two seconds after the TERM came from a thread that inherited the worker's
    daemon flag: the program exited first and the command ran on."""
    from cli_support import local_inventory

    inventory = local_inventory(tmp_path / "local.yml", ["here"])
    marker = str(300 + os.getpid() % 800)
    try:
        done = remoteops("run", "-i", str(inventory), "-t", "1",
                         f"trap '' TERM; sleep {marker}.5; true")  # fmt: skip
        assert done.returncode == 3
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _running(f"sleep {marker}.5"):
            time.sleep(0.1)
        assert not _running(f"sleep {marker}.5")
    finally:
        subprocess.run(["pkill", "-f", f"^sleep {marker}.5$"], check=False)


def test_a_host_result_is_on_time_while_its_input_is_still_being_written(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """`yes | run -t 2 ...` on a command that stops reading: the stdin thread sits in a write
    that only the kill ends, and waiting for it added a second (ssh) or two (local)."""
    from cli_support import local_inventory

    local = local_inventory(tmp_path / "local.yml", ["here"])
    command = "trap '' TERM; sleep 0.5; kill -STOP $$; sleep 60"
    for sources in (["-i", inventory, "-H", names[0]], ["-i", str(local)]):
        with endless_pipe() as stdin:
            done = subprocess.run(
                [sys.executable, "-m", "remoteops", "run", *sources, "-t", "2", "-o", "json",
                 command],
                stdin=stdin, capture_output=True, env=cli_env(), timeout=60, check=False,
            )  # fmt: skip
        (result,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert result["status"] == "timeout"
        assert result["duration_s"] < 2 + 0.8, sources


def test_a_closed_stdin_is_no_input_not_a_crash(tmp_path: Path) -> None:
    from cli_support import local_inventory

    inventory = str(local_inventory(tmp_path / "local.yml", ["here"]))
    argv = [sys.executable, "-m", "remoteops", "run", "-i", inventory, "cat; echo end"]
    closed = subprocess.run(argv, capture_output=True, env=cli_env(), timeout=60, check=False,
                            preexec_fn=lambda: os.close(0))  # fmt: skip
    assert closed.returncode == 0, closed.stderr
    assert closed.stdout == b"here | end\n"
    asked = subprocess.run([*argv[:-1], "--stdin", "-", "true"], capture_output=True,
                           env=cli_env(), timeout=60, check=False,
                           preexec_fn=lambda: os.close(0))  # fmt: skip
    assert asked.returncode == 2
    assert b"no standard input" in asked.stderr
