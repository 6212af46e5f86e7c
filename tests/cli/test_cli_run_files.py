"""``remoteops run --outdir/--errdir/--json-results`` and ``--diff`` against real sshd hosts.

The files: one per host named exactly after it (pssh's naming), the bytes as received, replaced
whole or not at all; the diffs: clush's ``--diff`` layout, grouped by identical output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_support import (
    LOCAL_MARK,
    LiveRun,
    gated_command,
    json_lines,
    remoteops,
    started_count,
    wait_until,
    write_inventory,
)

from remoteops import load_inventory
from remoteops.executor import run_command
from remoteops.inventory.ranges import fold_hosts
from remoteops.transports import CommandSpec

#: Bytes that are not UTF-8, a NUL and a carriage return: kept as they are, never decoded.
RAW = b"caf\xe9\x00\r\nlast line without newline \xff"


def _printf(data: bytes) -> str:
    return "printf '" + "".join(f"\\{byte:03o}" for byte in data) + "'"


@pytest.fixture
def sources(inventory: str, tmp_path: Path) -> list[str]:
    """The playground plus ``here`` (protocol local) and ``closed`` (port 1, refused)."""
    extra = write_inventory(
        tmp_path / "extra.yml",
        {
            "all": {
                "hosts": {
                    "here": {"protocol": "local"},
                    "closed": {"address": "127.0.0.1", "port": 1, "connect_timeout": 5},
                }
            }
        },
    )
    return ["-i", inventory, "-i", str(extra)]


# -- --outdir / --errdir ---------------------------------------------------------------------


def test_outdir_and_errdir_hold_each_hosts_bytes_exactly(
    sources: list[str], names: list[str], tmp_path: Path
) -> None:
    hosts = names[:2]
    out, err = tmp_path / "new" / "out", tmp_path / "err"  # a missing folder is created
    command = f'{_printf(RAW)}; echo on-stderr >&2; printf %s "$(hostname)" >&2'
    run = remoteops(
        "run", *sources, "-H", ":".join(hosts), "--outdir", str(out), "--errdir", str(err),
        command,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(hosts)  # no temporary file left
    assert sorted(p.name for p in err.iterdir()) == sorted(hosts)
    for host in hosts:
        assert (out / host).read_bytes() == RAW
        assert (err / host).read_bytes().startswith(b"on-stderr\n")


def test_json_results_beside_the_output_for_every_host_failed_ones_included(
    sources: list[str], names: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = remoteops(
        "run", *sources, "-H", f"{names[0]}:closed", "--outdir", str(out), "--json-results",
        "-o", "json", f"{_printf(RAW)}; exit 3",
    )  # fmt: skip
    assert run.returncode == 4  # a failed command and an unreachable host
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [names[0], f"{names[0]}.json", "closed.json"]
    )
    saved = json.loads((out / f"{names[0]}.json").read_text())
    printed = {json.loads(line)["host"]: json.loads(line) for line in run.stdout.splitlines()}
    assert saved["stdout_base64"] == printed[names[0]]["stdout_base64"]
    assert (saved["status"], saved["exit_code"]) == ("failed", 3)
    assert (out / names[0]).read_bytes() == RAW  # a failed command's output is still whole
    closed = json.loads((out / "closed.json").read_text())
    assert closed["status"] == "unreachable"


def test_an_earlier_file_is_replaced_whole_and_one_without_new_output_removed(
    sources: list[str], names: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / names[0]).write_bytes(b"an older and much longer output\n" * 100)
    (out / "closed").write_bytes(b"from an earlier run\n")
    run = remoteops("run", *sources, "-H", f"{names[0]}:closed", "--outdir", str(out), "echo new")
    assert run.returncode == 3
    assert (out / names[0]).read_bytes() == b"new\n"  # no tail of the older file left
    assert not (out / "closed").exists()  # every file in the folder is from this run
    assert sorted(p.name for p in out.iterdir()) == [names[0]]


def test_a_host_that_printed_nothing_gets_an_empty_file(
    sources: list[str], names: list[str], tmp_path: Path
) -> None:
    out, err = tmp_path / "out", tmp_path / "err"
    run = remoteops(
        "run", *sources, "-H", names[0], "--outdir", str(out), "--errdir", str(err), "echo x"
    )
    assert run.returncode == 0
    assert (out / names[0]).read_bytes() == b"x\n"
    assert (err / names[0]).read_bytes() == b""


def test_ctrl_c_mid_run_leaves_no_partial_file_under_the_real_name(
    inventory: str, names: list[str], tmp_path: Path, gate: Path
) -> None:
    """The host has written ``started`` (it is on disk, under the temporary name) when two
    Ctrl-C end the run: the real name never holds that half output, nor does anything stay."""
    out = tmp_path / "out"
    out.mkdir()
    (out / names[0]).write_bytes(b"whole output of an earlier run\n")
    args = ["run", "-i", inventory, "-H", names[0], "--outdir", str(out)]
    with LiveRun(*args, gated_command(gate)) as run:
        wait_until(lambda: started_count(gate) == 1, "the host to start")
        run.wait_for("stdout", "started")

        def partial_on_disk() -> bool:
            return any(p.read_bytes() == b"started\n" for p in out.glob(f".{names[0]}.*.part"))

        wait_until(partial_on_disk, "the partial output in its temporary file")
        assert (out / names[0]).read_bytes() == b"whole output of an earlier run\n"
        run.interrupt()
        run.wait_for("stderr", "press Ctrl-C again")
        run.interrupt()
        code, _, _ = run.finish(timeout=30)
    assert code == 130
    assert list(out.iterdir()) == []  # neither the half output nor the earlier run's file


def test_sigterm_mid_run_cancels_every_host_then_ends_by_it(
    sources: list[str], names: list[str], tmp_path: Path, gate: Path
) -> None:
    """``timeout 60 remoteops ...``, systemd and CI runners stop a run with SIGTERM, not Ctrl-C.
    Python's default would end the process on the spot: the commands left running on every
    host (local ones orphaned) and each host's temporary file left in the folder."""
    out = tmp_path / "out"
    hosts = [names[0], "here"]
    command = f"echo $$ > {gate}/pid.$(mktemp -u XXXXXX); " + gated_command(gate)
    args = ["run", *sources, "-H", ":".join(hosts), "--outdir", str(out), "-o", "json"]
    with LiveRun(*args, command) as run:
        wait_until(lambda: started_count(gate) == 2, "both hosts to start")
        wait_until(lambda: len(list(out.glob(".*.part"))) == 2, "both temporary files")
        pids = [int(p.read_text()) for p in gate.glob("pid.*")]
        run.proc.send_signal(signal.SIGTERM)
        code, stdout, _ = run.finish(timeout=30)
    assert code == -signal.SIGTERM
    assert {r["host"]: r["status"] for r in json_lines(stdout)} == dict.fromkeys(hosts, "cancelled")
    assert list(out.iterdir()) == []
    wait_until(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids), "the commands to end"
    )


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 1 MiB tmpfs filled to the last byte: every write there fails ENOSPC."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        (mount / "out").mkdir()
        with (mount / "filler").open("wb") as filler, contextlib.suppress(OSError):
            filler.write(b"\0" * (2 << 20))
        yield mount / "out"
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_stream_that_cannot_be_written_makes_the_json_result_say_failed(
    inventory: str, names: list[str], tmp_path: Path, full_disk: Path
) -> None:
    """stderr's folder is full, stdout's and the JSON's is not: the run says the host failed,
    so must its JSON result (it said ``ok`` beside the run's exit 1)."""
    out = tmp_path / "out"
    run = remoteops(
        "run", "-i", inventory, "-H", names[0], "--outdir", str(out), "--errdir",
        str(full_disk), "--json-results", "echo out; echo err >&2",
    )  # fmt: skip
    assert run.returncode == 1
    assert f"error: {names[0]}: output file not written".encode() in run.stderr
    saved = json.loads((out / f"{names[0]}.json").read_text())
    assert saved["status"] == "failed"
    assert saved["error"].startswith("output file not written:")
    assert "No space left on device" in saved["error"]
    assert sorted(p.name for p in out.iterdir()) == [f"{names[0]}.json"]
    assert list(full_disk.iterdir()) == []


def test_a_full_disk_leaves_no_earlier_runs_file_that_looks_current(
    inventory: str, names: list[str], full_disk: Path
) -> None:
    """The earlier run's ``HOST`` and ``HOST.json`` (``ok``) stayed when this run's JSON could
    not be written either: a script reading them after a failed run saw the old success."""
    host = names[0]
    (full_disk / host).write_bytes(b"")  # fits: an empty file takes no block
    (full_disk / f"{host}.json").write_bytes(b"")
    run = remoteops(
        "run", "-i", inventory, "-H", host, "--outdir", str(full_disk), "--json-results",
        "echo this run",
    )  # fmt: skip
    assert run.returncode == 1
    message = f"error: {host}: output file not written: {full_disk}"
    assert message.encode() in run.stderr
    assert b"No space left on device" in run.stderr
    assert list(full_disk.iterdir()) == []


def test_command_timeout_leaves_no_file_under_the_real_name(
    sources: list[str], names: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = remoteops(
        "run", *sources, "-H", names[0], "--outdir", str(out), "--json-results", "-t", "1",
        "echo started; sleep 30",
    )  # fmt: skip
    assert run.returncode == 3
    assert sorted(p.name for p in out.iterdir()) == [f"{names[0]}.json"]
    saved = json.loads((out / f"{names[0]}.json").read_text())
    assert (saved["status"], saved["stdout"]) == ("timeout", "started\n")


@pytest.mark.parametrize("bad", ["../escaped", "sub/dir", ".hidden", ".."])
def test_host_names_that_would_leave_or_hide_in_the_folder_are_refused(
    tmp_path: Path, bad: str
) -> None:
    inv = write_inventory(tmp_path / "inv.yml", {"all": {"hosts": {bad: {"protocol": "local"}}}})
    out = tmp_path / "deep" / "out"
    run = remoteops("run", "-i", str(inv), "--outdir", str(out), f"touch {tmp_path}/ran")
    assert run.returncode == 2
    assert b"cannot name a file in the output folder" in run.stderr
    assert not (tmp_path / "deep").exists()  # refused before any folder or host was touched
    assert not (tmp_path / "ran").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inv.yml"]


def test_json_results_refuse_a_host_whose_name_is_anothers_json_file(tmp_path: Path) -> None:
    inv = write_inventory(
        tmp_path / "inv.yml",
        {"all": {"hosts": {"web": {"protocol": "local"}, "web.json": {"protocol": "local"}}}},
    )
    out = tmp_path / "out"
    run = remoteops("run", "-i", str(inv), "--outdir", str(out), "--json-results", "echo")
    assert run.returncode == 2
    assert b"would share the file 'web.json'" in run.stderr
    ok = remoteops("run", "-i", str(inv), "--outdir", str(out), "echo hi")  # without: fine
    assert ok.returncode == 0
    assert (out / "web.json").read_bytes() == b"hi\n"


def test_same_outdir_and_errdir_is_refused(tmp_path: Path) -> None:
    run = remoteops(
        "run", "-H", "localhost", "--outdir", str(tmp_path), "--errdir", str(tmp_path), "echo"
    )
    assert run.returncode == 2
    assert b"are the same folder" in run.stderr


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Callable[..., None]]:
    """``mount(*args)`` as root, every mount undone at the end (last first)."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    targets: list[str] = []

    def mount(*args: str) -> None:
        subprocess.run(["mount", *args], check=True)
        targets.append(args[-1])

    yield mount
    for target in reversed(targets):
        subprocess.run(["umount", target], check=True)


def test_a_folder_that_cannot_be_written_is_refused_before_any_host_runs(
    tmp_path: Path, mounted: Callable[..., None]
) -> None:
    """The folder exists but is read-only: the command ran on every host and each output was
    then lost; now exit 2 before anything runs, as for a folder that cannot be made."""
    readonly = tmp_path / "ro"
    readonly.mkdir()
    mounted("-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(readonly))
    run = remoteops("run", "-H", "localhost", "--outdir", str(readonly), f"touch {tmp_path}/ran")
    assert run.returncode == 2
    assert f"cannot write in {readonly}: Read-only file system".encode() in run.stderr
    assert not (tmp_path / "ran").exists()


def test_outdir_and_errdir_that_are_one_folder_under_two_paths_are_refused(
    tmp_path: Path, mounted: Callable[..., None]
) -> None:
    """A bind mount is the same folder under another path that no path arithmetic sees: each
    host's stderr silently replaced its stdout."""
    out, err = tmp_path / "out", tmp_path / "err"
    out.mkdir()
    err.mkdir()
    mounted("--bind", str(out), str(err))
    run = remoteops(
        "run", "-H", "localhost", "--outdir", str(out), "--errdir", str(err),
        f"touch {tmp_path}/ran",
    )  # fmt: skip
    assert run.returncode == 2
    assert b"are the same folder" in run.stderr
    assert not (tmp_path / "ran").exists()


def test_a_file_given_as_the_folder_is_named_as_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("keep me")
    run = remoteops("run", "-H", "localhost", "--outdir", str(tmp_path / "notes"), "echo")
    assert run.returncode == 2
    assert f"{tmp_path / 'notes'} is not a folder".encode() in run.stderr
    assert (tmp_path / "notes").read_text() == "keep me"


def test_output_past_the_capture_limit_reaches_the_file_whole(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    """The executor keeps ``capture_limit`` bytes per stream in the result; the file gets every
    byte, streamed from the output events (here 1 KiB kept of 3 MB written)."""
    from remoteops.output.files import OutputFiles

    host = load_inventory([inventory]).select(names[0])
    files = OutputFiles(tmp_path, None)
    spec = CommandSpec("head -c 3000000 /dev/zero | tr '\\0' x", capture_limit=1024)
    report = run_command(host, spec, listener=files)
    (result,) = report.results
    assert result.ok
    assert result.truncated
    assert len(result.stdout) == 1024
    assert (tmp_path / names[0]).read_bytes() == b"x" * 3_000_000


# -- --diff -----------------------------------------------------------------------------------

#: Prints ``remote`` over SSH and ``1`` on the local host (see LOCAL_MARK).
DIFFERING = f"echo first; echo ${{{LOCAL_MARK}:-remote}}; echo last"


def test_diff_shows_the_odd_host_against_the_most_common_output(
    sources: list[str], names: list[str]
) -> None:
    hosts = names[:2]
    run = remoteops("run", *sources, "-H", f"{hosts[0]}:{hosts[1]}:here", "--diff", DIFFERING)
    assert run.returncode == 0, run.stderr
    assert run.stdout.decode() == (
        f"--- {fold_hosts(hosts)} (2)\n+++ here\n@@ -1,3 +1,3 @@\n first\n-remote\n+1\n last\n"
    )


def test_diff_against_a_named_host_groups_hosts_with_the_same_diff(
    sources: list[str], names: list[str]
) -> None:
    hosts = names[:2]
    run = remoteops(
        "run", *sources, "-H", f"{hosts[0]}:{hosts[1]}:here", "--diff-against", "here", DIFFERING
    )
    assert run.returncode == 0, run.stderr
    text = run.stdout.decode()
    assert text.count("--- here\n") == 1  # one diff for both SSH hosts, not one each
    assert f"+++ {fold_hosts(hosts)} (2)\n" in text
    assert "-1\n+remote\n" in text


def test_diff_prints_nothing_when_every_output_is_the_same(
    sources: list[str], names: list[str]
) -> None:
    run = remoteops("run", *sources, "-H", ":".join(names[:2]), "--diff", "echo same")
    assert (run.returncode, run.stdout) == (0, b"")


def test_diff_with_json_output_is_a_usage_error(sources: list[str], names: list[str]) -> None:
    run = remoteops("run", *sources, "-H", names[0], "--diff", "-o", "json", "echo")
    assert run.returncode == 2
    assert b"--diff shows text" in run.stderr
    assert run.stdout == b""


def test_diff_against_a_host_not_selected_is_a_usage_error(
    sources: list[str], names: list[str]
) -> None:
    run = remoteops("run", *sources, "-H", names[0], "--diff-against", "here", "echo")
    assert run.returncode == 2
    assert b"not among the selected hosts" in run.stderr
