"""``remoteops --persist``: the background process that keeps host connections between
commands. Against the session playground's sshd hosts: the same output and exit codes as a
direct run, connections reused, a host gone between two commands noticed, Ctrl-C, the
folder's and socket's permissions, another user refused, and the idle exit."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import LiveRun, by_host, gated_command, remoteops, started_count, wait_until

from remoteops.persist.client import option_value, parse_duration
from remoteops.playground import Playground

#: What differs between two runs of the same command whatever the path: timings.
_TIMING_KEYS = ("duration_s", "started", "ended", "elapsed_s")


@pytest.fixture
def runtime() -> Iterator[dict[str, str]]:
    """A runtime folder of this test's own (short: a socket path holds 107 bytes), and the
    persistent process started in it stopped at the end."""
    folder = tempfile.mkdtemp(prefix="rp", dir="/tmp")
    env = {"XDG_RUNTIME_DIR": folder}
    yield env
    found = _status(env)
    remoteops("persist", "stop", env=env)
    if found is not None:
        _wait_gone(int(found["pid"]))
    shutil.rmtree(folder, ignore_errors=True)


def _status(env: dict[str, str]) -> dict[str, Any] | None:
    done = remoteops("persist", "status", "--json", env=env)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _wait_gone(pid: int, timeout: float = 15) -> None:
    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"

    wait_until(gone, f"process {pid} to exit", timeout=timeout)


def _persisted(*args: str, env: dict[str, str], duration: str = "60s", **kw: Any) -> Any:
    return remoteops("--persist", duration, *args, env=env, **kw)


def _without_timings(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        host: {k: v for k, v in result.items() if k not in _TIMING_KEYS}
        for host, result in results.items()
    }


def _untimed(stderr: bytes) -> list[bytes]:
    """The lines, in order of host, with the summary's time taken out."""
    return sorted(re.sub(rb" in \d+(\.\d+)? s", b" in T s", stderr).splitlines())


# -- same results ---------------------------------------------------------------------------


def test_a_persisted_command_prints_and_exits_as_a_direct_run(
    inventory: str, names: list[str], runtime: dict[str, str]
) -> None:
    hosts = ":".join(names[:3])
    command = 'echo "out $(uname -n)"; echo "err" >&2; read line; echo "in $line"; exit 3'
    cases = [
        ("run", "-i", inventory, "-H", hosts, "-o", "json", command),
        ("run", "-i", inventory, "-H", hosts, command),
        ("run", "-i", inventory, "-H", hosts, "true"),
    ]
    for args in cases:
        direct = remoteops(*args, input_bytes=b"piped\n")
        first = _persisted(*args, env=runtime, input_bytes=b"piped\n")
        again = _persisted(*args, env=runtime, input_bytes=b"piped\n")
        for persisted in (first, again):
            assert persisted.returncode == direct.returncode, persisted.stderr
            if "json" in args:
                assert _without_timings(by_host(persisted.stdout)) == _without_timings(
                    by_host(direct.stdout)
                )
            else:
                assert sorted(persisted.stdout.splitlines()) == sorted(direct.stdout.splitlines())
                assert _untimed(persisted.stderr) == _untimed(direct.stderr)
    assert direct.returncode == 0
    assert _status(runtime) is not None


def test_a_repeat_command_reuses_the_kept_connections(
    inventory: str, names: list[str], runtime: dict[str, str]
) -> None:
    args = ("-v", "run", "-i", inventory, "-H", ":".join(names[:2]), "true")
    first = _persisted(*args, env=runtime)
    second = _persisted(*args, env=runtime)
    assert (first.returncode, second.returncode) == (0, 0), second.stderr
    assert b"reusing its kept connection" not in first.stderr
    for name in names[:2]:
        assert f"host {name}: reusing its kept connection".encode() in second.stderr
    found = _status(runtime)
    assert found is not None
    assert set(names[:2]) <= set(found["hosts_kept"])
    assert found["commands_served"] == 2


def test_a_sync_through_the_process_sends_then_finds_nothing_to_change(
    inventory: str, names: list[str], runtime: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "site"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "a.txt").write_text("alpha\n")
    dest = f"/srv/persist-sync-{os.getpid()}"
    args = ("sync", "-i", inventory, "-H", names[0], "-o", "json", "--delete", str(source), dest)
    try:
        first = _persisted(*args, env=runtime)
        second = _persisted(*args, env=runtime)
        assert (first.returncode, second.returncode) == (0, 0), second.stderr
        sent, again = by_host(first.stdout)[names[0]], by_host(second.stdout)[names[0]]
        assert (sent["files_created"], sent["bytes_sent"]) == (2, 6)  # the folder and a.txt
        assert (again["files_created"], again["files_unchanged"], again["bytes_sent"]) == (0, 2, 0)
        shown = remoteops("run", "-i", inventory, "-H", names[0], f"cat {dest}/sub/a.txt")
        assert shown.stdout.strip().endswith(b"alpha")
    finally:
        remoteops("run", "-i", inventory, "-H", names[0], f"rm -rf {dest}")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_the_files_a_sync_read_are_not_kept_after_it(
    inventory: str, names: list[str], runtime: dict[str, str], tmp_path: Path
) -> None:
    """A sync keeps small files' bytes for its other hosts (up to 64 MiB); in the process
    they stayed after the command, for as long as it lived."""
    source = tmp_path / "many"
    source.mkdir()
    for index in range(100):
        (source / f"f{index}").write_bytes(os.urandom(200_000))  # 20 MB, each file kept
    time.sleep(2.1)  # older than the cache's racy window: every file is kept
    dest = f"/srv/persist-rss-{os.getpid()}"
    assert _persisted("run", "-i", inventory, "-H", names[0], "true", env=runtime).returncode == 0
    found = _status(runtime)
    assert found is not None
    before = _rss_kib(int(found["pid"]))
    try:
        done = _persisted("sync", "-i", inventory, "-H", names[0], str(source), dest, env=runtime)
        assert done.returncode == 0, done.stderr
        grown = _rss_kib(int(found["pid"])) - before
    finally:
        remoteops("run", "-i", inventory, "-H", names[0], f"rm -rf {dest}")
    assert grown < 10_000, f"{grown} KiB more after the sync"


def test_a_refused_config_file_does_not_outlive_its_command(
    inventory: str, names: list[str], runtime: dict[str, str], tmp_path: Path
) -> None:
    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.mkdir()
    good.mkdir()
    (bad / "remoteops.toml").write_text("[run]\nno-such-key = 1\n")
    args = ("run", "-i", inventory, "-H", names[0], "echo fine")
    refused = _persisted(*args, env=runtime, cwd=bad)
    assert refused.returncode == 2
    assert b"no-such-key" in refused.stderr
    after = _persisted(*args, env=runtime, cwd=good)  # the same process, another folder
    assert after.returncode == 0, after.stderr
    assert b"fine" in after.stdout
    assert _status(runtime)["commands_served"] == 2  # type: ignore[index]


def test_a_commands_warnings_read_as_a_direct_runs_and_the_log_keeps_its_own(
    inventory: str, names: list[str], runtime: dict[str, str], tmp_path: Path
) -> None:
    """The process's log handler sat on the root logger and on descriptor 2: each warning
    of a command was shown twice (the second with a time stamp), and after the first command
    the log file got nothing more (descriptor 2 was /dev/null), not even the exit."""
    typo = tmp_path / "typo.yml"
    typo.write_text(
        Path(inventory)
        .read_text()
        .replace("connect_timeout:", "identiy_file: x\n        connect_timeout:", 1)
    )
    args = ("run", "-i", str(typo), "-H", names[0], "true")
    direct = remoteops(*args)
    assert b"did you mean identity_file" in direct.stderr
    for _ in range(2):
        persisted = _persisted(*args, env=runtime, duration="2s")
        assert persisted.returncode == direct.returncode == 0
        assert _untimed(persisted.stderr) == _untimed(direct.stderr)
    found = _status(runtime)
    assert found is not None
    _wait_gone(int(found["pid"]), timeout=20)
    (log,) = (Path(runtime["XDG_RUNTIME_DIR"]) / "remoteops").glob("persist-*.log")
    text = log.read_text()
    assert "listening on" in text
    assert "exiting" in text
    assert "identity_file" not in text


def test_a_host_key_removed_from_the_inventorys_known_hosts_file_refuses_the_kept_connection(
    inventory: str, names: list[str], runtime: dict[str, str], tmp_path: Path
) -> None:
    """The inventory's ``known_hosts_file`` was not part of what a kept connection is kept
    for (only ~/.ssh's files were): a host whose key was taken out of it (distrusted, or
    changed) still ran commands through the kept connection, where a direct run refused it."""
    import yaml

    data = yaml.safe_load(Path(inventory).read_text())
    group = data["all"]["children"]["playground"]
    known = tmp_path / "known_hosts"
    shutil.copy(group["vars"]["known_hosts_file"], known)
    group["vars"]["known_hosts_file"] = str(known)
    own = tmp_path / "inventory.yml"
    own.write_text(yaml.safe_dump(data))
    address = group["hosts"][names[0]]["address"]
    args = ("run", "-i", str(own), "-H", names[0], "-o", "json", "echo hi")
    assert _persisted(*args, env=runtime).returncode == 0
    trusted = known.read_text()
    known.write_text(
        "".join(line for line in trusted.splitlines(True) if not line.startswith(address + " "))
    )
    direct = remoteops(*args)
    persisted = _persisted(*args, env=runtime)
    assert direct.returncode == 3
    assert persisted.returncode == 3, persisted.stdout
    assert by_host(persisted.stdout)[names[0]]["status"] == "hostkey"
    known.write_text(trusted)
    assert _persisted(*args, env=runtime).returncode == 0


def test_a_commands_secrets_are_not_blanked_in_the_next_commands_journal(
    inventory: str, names: list[str], runtime: dict[str, str], tmp_path: Path
) -> None:
    """``--env TOKEN=...`` registers the value as a secret: it stayed registered in the
    process, so a later command's journal showed ``echo ********`` for ``echo`` of it."""
    env = {**runtime, "XDG_STATE_HOME": str(tmp_path / "state")}
    run = ("run", "-i", inventory, "-H", names[0])
    assert _persisted(*run, "--env", "TOKEN=zebra42", "true", env=env).returncode == 0
    assert _persisted(*run, "echo zebra42", env=env).returncode == 0
    journals = sorted((tmp_path / "state" / "remoteops" / "runs").glob("*.jsonl"))
    assert len(journals) == 2
    first, second = (json.loads(path.read_text().splitlines()[0])["run"] for path in journals)
    if "true" not in first["argv"]:
        first, second = second, first
    assert "TOKEN=********" in first["argv"]
    assert second["argv"][-1] == "echo zebra42"


# -- hosts that go away ---------------------------------------------------------------------


def test_a_host_gone_between_commands_is_noticed_and_tried_again_later(
    inventory: str,
    names: list[str],
    runtime: dict[str, str],
    playground_manager: Playground,
    requires_root: None,
) -> None:
    target, other = names[0], names[1]
    args = (
        "run",
        "-i",
        inventory,
        "-H",
        f"{target}:{other}",
        "-o",
        "json",
        "--connect-timeout",
        "3",
        "echo up",
    )
    assert _persisted(*args, env=runtime).returncode == 0
    playground_manager.stop_host(target)  # its kept connection dies with its sshd
    try:
        gone = _persisted(*args, env=runtime)
    finally:
        playground_manager.start_host(target)
    results = by_host(gone.stdout)
    assert gone.returncode == 3, gone.stderr
    assert results[target]["status"] == "unreachable"
    assert results[other]["status"] == "ok"
    back = _persisted(*args, env=runtime)  # not remembered: tried again, and it answers
    assert back.returncode == 0, back.stderr
    assert {r["status"] for r in by_host(back.stdout).values()} == {"ok"}


# -- signals and concurrency ----------------------------------------------------------------


def _held_on_both(inventory: str, hosts: list[str], gate: Path, runtime: dict[str, str]) -> LiveRun:
    """A persisted JSON run of a command held on both ``hosts`` until the gate opens,
    returned once both have started."""
    run = LiveRun(
        "--persist", "60s", "run", "-i", inventory, "-H", ":".join(hosts), "-o", "json",
        gated_command(gate), env=runtime,
    )  # fmt: skip
    try:
        wait_until(lambda: started_count(gate) == 2, "both hosts to start")
    except BaseException:
        run.__exit__()
        raise
    return run


def test_ctrl_c_reaches_the_command_in_the_process_and_it_keeps_serving(
    inventory: str, names: list[str], runtime: dict[str, str], gate: Path
) -> None:
    hosts = names[:2]
    with _held_on_both(inventory, hosts, gate, runtime) as run:
        run.interrupt()
        run.wait_for("stderr", "press Ctrl-C again")
        assert run.proc.poll() is None  # the first Ctrl-C waits, as in a direct run
        run.interrupt()
        code, out, _ = run.finish(timeout=15)
    assert code == 130
    assert {(r["status"], r["error"]) for r in by_host(out).values()} == {
        ("cancelled", "interrupted")
    }
    after = _persisted("run", "-i", inventory, "-H", hosts[0], "echo fine", env=runtime)
    assert after.returncode == 0
    assert b"fine" in after.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_cancels_the_command_ends_the_caller_by_it_and_the_process_lives_on(
    inventory: str, names: list[str], runtime: dict[str, str], gate: Path, signum: int
) -> None:
    """``timeout 60 remoteops --persist ...``: as in a direct run, every host is cancelled and
    the caller ends by the SIGTERM. The run re-raised the SIGTERM it held under the default
    action, which ended the persistent process with every kept connection (caller: 1).
    A hang-up (the terminal closed) ends a direct run at once: it was a first Ctrl-C, the
    command left running for no one."""
    assert _persisted("run", "-i", inventory, "-H", names[0], "true", env=runtime).returncode == 0
    before = _status(runtime)
    assert before is not None
    hosts = names[:2]
    with _held_on_both(inventory, hosts, gate, runtime) as run:
        run.proc.send_signal(signum)
        code, out, err = run.finish(timeout=30)
    assert code == -signum, err
    assert {r["status"] for r in by_host(out).values()} == {"cancelled"}
    after = _status(runtime)
    assert after is not None, "the persistent process died with the command"
    assert after["pid"] == before["pid"]
    again = _persisted("run", "-i", inventory, "-H", names[0], "echo fine", env=runtime)
    assert again.returncode == 0
    assert b"fine" in again.stdout


def test_a_caller_killed_mid_command_cancels_it(
    inventory: str, names: list[str], runtime: dict[str, str], gate: Path
) -> None:
    """No one is left to see the first Ctrl-C's wait nor to press Ctrl-C again: the command
    is cancelled at once. Taken as one Ctrl-C, it ran on until the host's command ended by
    itself (here never), and the process stayed busy: every later command ran directly."""
    with LiveRun(
        "--persist", "60s", "run", "-i", inventory, "-H", names[0], gated_command(gate),
        env=runtime,
    ) as run:  # fmt: skip
        wait_until(lambda: started_count(gate) == 1, "the command to start")
        run.proc.kill()
        run.proc.wait(timeout=10)

    def served() -> bool:
        found = _status(runtime)
        return found is not None and not found["busy"] and found["commands_served"] == 1

    wait_until(served, "the process to end the command", timeout=15)
    assert not (gate / "release").exists()


def test_ctrl_c_before_the_process_answers_is_an_interruption_not_a_traceback(
    inventory: str, names: list[str], runtime: dict[str, str]
) -> None:
    """Ctrl-C while the caller waits for the process's first answer (a busy machine, a
    process starting): the caller's Python traceback, not ``interrupted`` and 130."""
    from remoteops.persist.paths import socket_path

    path = socket_path(runtime)
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(str(path))  # takes the command, never answers
    silent.listen(1)
    try:
        with LiveRun(
            "--persist", "60s", "run", "-i", inventory, "-H", names[0], "true", env=runtime
        ) as run:
            conn, _ = silent.accept()
            with conn:
                conn.recv(65536)  # the request is sent: the caller waits for the answer
                run.interrupt()
                code, _out, err = run.finish(timeout=15)
    finally:
        silent.close()
        path.unlink()
    assert code == 130, err
    assert err.decode().strip() == "interrupted"


def test_a_command_while_the_process_is_busy_runs_directly(
    inventory: str, names: list[str], runtime: dict[str, str], gate: Path
) -> None:
    with LiveRun(
        "--persist", "60s", "run", "-i", inventory, "-H", names[0], gated_command(gate),
        env=runtime,
    ) as held:  # fmt: skip
        wait_until(lambda: started_count(gate) == 1, "the first command to start")
        second = _persisted("run", "-i", inventory, "-H", names[1], "echo second", env=runtime)
        assert second.returncode == 0
        assert b"second" in second.stdout
        assert held.proc.poll() is None  # the held command is still being served
        (gate / "release").touch()
        code, out, _ = held.finish(timeout=30)
    assert code == 0
    assert b"released" in out


# -- who may use it -------------------------------------------------------------------------


def test_the_folder_and_socket_are_the_users_alone(
    inventory: str, names: list[str], runtime: dict[str, str]
) -> None:
    assert _persisted("run", "-i", inventory, "-H", names[0], "true", env=runtime).returncode == 0
    folder = Path(runtime["XDG_RUNTIME_DIR"]) / "remoteops"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    (sock,) = folder.glob("persist-*.sock")
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    for other in folder.glob("persist-*.l*"):  # the log and the start lock
        assert stat.S_IMODE(other.stat().st_mode) == 0o600


@pytest.mark.parametrize("problem", ["open", "link"])
def test_an_unsafe_folder_is_refused_and_the_command_runs_directly(
    inventory: str, names: list[str], runtime: dict[str, str], tmp_path: Path, problem: str
) -> None:
    folder = Path(runtime["XDG_RUNTIME_DIR"]) / "remoteops"
    if problem == "open":
        folder.mkdir(mode=0o700)
        folder.chmod(0o777)
    else:
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        folder.symlink_to(tmp_path / "elsewhere")
    done = _persisted("run", "-i", inventory, "-H", names[0], "echo direct", env=runtime)
    assert done.returncode == 0
    assert b"direct" in done.stdout
    expected = b"must be 0700" if problem == "open" else b"not a folder"
    assert expected in done.stderr
    assert b"running directly" in done.stderr
    assert not list(folder.glob("persist-*.sock"))


_CONNECT_AS_NOBODY = """
import json, socket, struct, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    sock.connect(sys.argv[1])
except OSError as exc:
    print(json.dumps({"connect": exc.__class__.__name__})); sys.exit()
body = json.dumps({"control": "status"}).encode()
sock.sendall(struct.pack("!I", len(body)) + body)
size = struct.unpack("!I", sock.recv(4))[0]
print(sock.recv(size).decode())
"""


def test_another_user_cannot_connect_and_is_refused_by_credentials(
    inventory: str, names: list[str], runtime: dict[str, str], requires_root: None
) -> None:
    assert _persisted("run", "-i", inventory, "-H", names[0], "true", env=runtime).returncode == 0
    folder = Path(runtime["XDG_RUNTIME_DIR"]) / "remoteops"
    (sock,) = folder.glob("persist-*.sock")

    def as_nobody() -> dict[str, Any]:
        done = subprocess.run(
            ["/usr/bin/python3", "-c", _CONNECT_AS_NOBODY, str(sock)],
            capture_output=True, user=65534, group=65534, extra_groups=[],
            timeout=30, check=True, cwd="/",
        )  # fmt: skip
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    Path(runtime["XDG_RUNTIME_DIR"]).chmod(0o755)
    assert as_nobody() == {"connect": "PermissionError"}  # the 0700 folder stops it
    folder.chmod(0o711)  # were the folder and socket opened up, the process still refuses
    sock.chmod(0o666)
    try:
        answer = as_nobody()
    finally:
        folder.chmod(0o700)
        sock.chmod(0o600)
    assert "refused" in answer
    assert "serves uid 0 only" in answer["refused"]
    assert "hosts_kept" not in answer


# -- lifetime -------------------------------------------------------------------------------


def test_the_process_exits_when_idle_and_removes_its_socket(
    inventory: str, names: list[str], runtime: dict[str, str]
) -> None:
    done = _persisted("run", "-i", inventory, "-H", names[0], "true", env=runtime, duration="2s")
    ended = time.monotonic()  # the idle clock started before: the command ended in there
    assert done.returncode == 0
    found = _status(runtime)  # over a second on a loaded machine: not the time to measure from
    assert found is not None
    assert found["idle_exit_s"] == 2.0
    _wait_gone(int(found["pid"]), timeout=20)
    assert time.monotonic() - ended >= 1.5  # not at once: after the idle time
    folder = Path(runtime["XDG_RUNTIME_DIR"]) / "remoteops"
    assert not list(folder.glob("persist-*.sock"))
    assert _status(runtime) is None


def test_stop_ends_the_process_and_no_process_runs_the_command_directly(
    inventory: str, names: list[str], runtime: dict[str, str]
) -> None:
    assert _persisted("run", "-i", inventory, "-H", names[0], "true", env=runtime).returncode == 0
    found = _status(runtime)
    assert found is not None
    assert remoteops("persist", "stop", env=runtime).returncode == 0
    _wait_gone(int(found["pid"]))
    direct = remoteops("--persist", "no", "run", "-i", inventory, "-H", names[0], "echo x",
                       env=runtime)  # fmt: skip
    assert direct.returncode == 0
    assert _status(runtime) is None


def test_the_config_file_asks_for_it_and_the_flag_or_variable_outrank_it(
    inventory: str, names: list[str], runtime: dict[str, str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "remoteops.toml").write_text('persist = "1m"\n')
    args = ("run", "-i", inventory, "-H", names[0], "echo kept")
    by_file = remoteops(*args, env=runtime, cwd=project)
    assert by_file.returncode == 0, by_file.stderr
    found = _status(runtime)
    assert found is not None
    assert (found["commands_served"], found["idle_exit_s"]) == (1, 60.0)
    off = remoteops(*args, env={**runtime, "REMOTEOPS_PERSIST": "no"}, cwd=project)
    flag_off = remoteops("--persist", "no", *args, env=runtime, cwd=project)
    assert (off.returncode, flag_off.returncode) == (0, 0)
    assert _status(runtime)["commands_served"] == 1  # type: ignore[index]  # both ran directly
    shown = remoteops("config", env=runtime, cwd=project)
    assert b"persist" in shown.stdout
    assert b"1m" in shown.stdout


def test_a_bad_duration_is_a_usage_error(inventory: str, names: list[str]) -> None:
    done = remoteops(
        "--persist", "soon", "run", "-i", inventory, "-H", names[0], "true", env={"COLUMNS": "300"}
    )
    assert done.returncode == 2
    assert b"not a duration" in done.stderr


# -- pure logic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0), ("1d", 86400.0),
     ("no", None), ("off", None), ("0", None)],
)  # fmt: skip
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5m", "10x", "0s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_only_a_root_option_asks_for_persistence() -> None:
    assert option_value(["--persist", "5m", "run", "uptime"]) == "5m"
    assert option_value(["-v", "--persist=5m", "run", "uptime"]) == "5m"
    assert option_value(["--log-file", "x", "--persist", "1h", "sync"]) == "1h"
    assert option_value(["run", "-H", "web", "echo", "--persist", "5m"]) is None


def test_the_socket_address_refuses_a_long_folder(tmp_path: Path) -> None:
    from remoteops.persist.paths import PersistError, socket_path

    deep = tmp_path / ("x" * 100)
    deep.mkdir(mode=0o700)
    with pytest.raises(PersistError, match="too long"):
        socket_path({"XDG_RUNTIME_DIR": str(deep)})
    assert socket.AF_UNIX  # the test machine speaks Unix sockets


def test_a_key_passphrase_is_asked_on_the_callers_terminal_without_echo(
    inventory: str, names: list[str], runtime: dict[str, str], tmp_path: Path
) -> None:
    import pexpect
    import yaml
    from cli_support import cli_env

    data = yaml.safe_load(Path(inventory).read_text())
    key = tmp_path / "encrypted_key"
    shutil.copy(data["all"]["children"]["playground"]["vars"]["identity_file"], key)
    key.chmod(0o600)
    subprocess.run(
        ["ssh-keygen", "-q", "-p", "-N", "s3cret phrase", "-f", str(key)],
        check=True, capture_output=True,
    )  # fmt: skip
    data["all"]["children"]["playground"]["vars"]["identity_file"] = str(key)
    encrypted = tmp_path / "encrypted.yml"
    encrypted.write_text(yaml.safe_dump(data))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "remoteops", "--persist", "60s", "run", "-i", str(encrypted), "-H", names[0],
         "echo logged-in"],
        env=cli_env(runtime), timeout=60,
    )  # fmt: skip
    child.expect("Passphrase for .*encrypted_key: ")
    child.sendline("s3cret phrase")
    child.expect(pexpect.EOF)
    child.close()
    before = child.before
    shown = before.decode() if isinstance(before, bytes) else str(before or "")
    assert child.exitstatus == 0, shown
    assert "logged-in" in shown
    assert "s3cret" not in shown  # no echo: the terminal's echo was turned off for the answer
    served = _status(runtime)
    assert served is not None
    assert served["commands_served"] == 1  # it went through the persistent process


def test_the_process_keeps_its_own_log_lines_out_of_a_commands_stderr(
    inventory: str, names: list[str], runtime: dict[str, str]
) -> None:
    args = ("-v", "run", "-i", inventory, "-H", names[0], "true")
    assert _persisted(*args, env=runtime).returncode == 0
    again = _persisted(*args, env=runtime)
    lines = [line for line in again.stderr.splitlines() if b"reusing its kept connection" in line]
    assert lines == [f"host {names[0]}: reusing its kept connection".encode()]  # once, bare
    (log,) = (Path(runtime["XDG_RUNTIME_DIR"]) / "remoteops").glob("persist-*.log")
    logged = log.read_text()
    assert "listening on" in logged
    assert "reusing" not in logged  # a command's -v lines are the command's alone
