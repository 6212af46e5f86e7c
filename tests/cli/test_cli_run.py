"""``remoteops run`` end to end: real processes, real sshd hosts, real exit codes and output."""

from __future__ import annotations

import base64
import hashlib
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cli_support import (
    JSON_KEYS,
    LOCAL_MARK,
    STATUSES,
    LiveRun,
    by_host,
    cli_env,
    gated_command,
    local_inventory,
    remoteops,
    run_on_terminal,
    started_count,
    wait_until,
    write_inventory,
)

from remoteops.inventory.ranges import expand_hosts
from remoteops.playground import PlaygroundState

#: A host name range the grouped output must fold back to.
LOCAL_HOSTS = ("web01", "web02")
ANSI = re.compile(rb"\x1b\[")


@pytest.fixture
def extra_inventory(tmp_path: Path) -> str:
    """A second inventory source: ``here`` (protocol local) and ``closed`` (port 1, refused)."""
    return str(
        write_inventory(
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
    )


@pytest.fixture
def sources(inventory: str, extra_inventory: str) -> list[str]:
    """``-i`` options for the playground plus ``here`` and ``closed``."""
    return ["-i", inventory, "-i", extra_inventory]


def _fails_locally(code: int) -> str:
    """Shell that exits ``code`` on a local host and succeeds over SSH (see LOCAL_MARK)."""
    return f'[ -z "${LOCAL_MARK}" ] || exit {code}'


def _printf(data: bytes) -> str:
    """A shell ``printf`` that writes exactly ``data``."""
    return "printf '" + "".join(f"\\{byte:03o}" for byte in data) + "'"


# -- JSON output and exit codes -------------------------------------------------------------


def test_json_lines_schema_on_a_mixed_run(sources: list[str], names: list[str]) -> None:
    command = f"echo out; echo err >&2; {_fails_locally(7)}"
    run = remoteops("run", *sources, "-H", f"{names[0]}:here:closed", "-o", "json", command)

    assert run.returncode == 4, run.stderr
    assert run.stderr == b""  # JSON mode: no summary, no colour, nothing else
    results = by_host(run.stdout)
    assert set(results) == {names[0], "here", "closed"}
    for obj in results.values():
        assert set(obj) == JSON_KEYS
        assert isinstance(obj["host"], str)
        assert isinstance(obj["ok"], bool)
        assert obj["status"] in STATUSES
        assert obj["ok"] is (obj["status"] == "ok")
        assert obj["exit_code"] is None or type(obj["exit_code"]) is int
        assert isinstance(obj["stdout"], str)
        assert isinstance(obj["stderr"], str)
        assert obj["error"] is None or isinstance(obj["error"], str)
        assert isinstance(obj["duration_s"], (int, float))
        assert obj["duration_s"] >= 0

    ok, failed, closed = results[names[0]], results["here"], results["closed"]
    assert (ok["status"], ok["exit_code"], ok["stdout"], ok["stderr"]) == (
        "ok",
        0,
        "out\n",
        "err\n",
    )
    assert ok["error"] is None
    assert (failed["status"], failed["exit_code"], failed["stdout"]) == ("failed", 7, "out\n")
    assert (closed["status"], closed["exit_code"], closed["stdout"]) == ("unreachable", None, "")
    assert "127.0.0.1:1" in closed["error"]
    assert "refused" in closed["error"].lower()


@pytest.mark.parametrize(
    ("targets", "command", "code", "expected"),
    [
        pytest.param((0, 1), "true", 0, [("ok", 0), ("ok", 0)], id="0-all-ok"),
        pytest.param((0, 1), "exit 3", 1, [("failed", 3), ("failed", 3)], id="1-command-failed"),
        pytest.param(
            (0, "closed"), "true", 3, [("ok", 0), ("unreachable", None)], id="3-unreachable"
        ),
        pytest.param(
            ("here", "closed"), _fails_locally(5), 4, [("failed", 5), ("unreachable", None)],
            id="4-both",
        ),
    ],
)  # fmt: skip
def test_exit_code(  # noqa: PLR0917 (parametrized)
    sources: list[str],
    names: list[str],
    targets: tuple[int | str, ...],
    command: str,
    code: int,
    expected: list[tuple[str, int | None]],
) -> None:
    hosts = [names[t] if isinstance(t, int) else t for t in targets]
    run = remoteops("run", *sources, "-H", ":".join(hosts), "-o", "json", command)
    assert run.returncode == code, run.stderr
    results = by_host(run.stdout)
    assert [(results[h]["status"], results[h]["exit_code"]) for h in hosts] == expected


@pytest.mark.parametrize(
    ("stdout", "stderr"),
    [
        pytest.param(b"caf\xe9\xff\x00end\n", b"\xfe bad\n", id="invalid-utf8"),
        pytest.param("héllo ✓\n".encode(), "ünïcode\n".encode(), id="valid-utf8"),
    ],
)
def test_json_keeps_exact_bytes_of_non_utf8_output(
    inventory: str, names: list[str], stdout: bytes, stderr: bytes
) -> None:
    command = f"{_printf(stdout)}; {_printf(stderr)} >&2"
    run = remoteops("run", "-i", inventory, "-H", names[0], "-o", "json", command)
    assert run.returncode == 0, run.stderr
    (result,) = by_host(run.stdout).values()
    for stream, data in (("stdout", stdout), ("stderr", stderr)):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            assert base64.b64decode(result[f"{stream}_base64"]) == data
            assert result[stream] == data.decode("utf-8", errors="replace")
        else:
            assert f"{stream}_base64" not in result
            assert result[stream] == text


def test_timeout_ends_the_host_as_timeout_with_partial_output(
    inventory: str, names: list[str]
) -> None:
    started = time.monotonic()
    run = remoteops(
        "run", "-i", inventory, "-H", names[0], "-t", "1", "-o", "json", "echo begun; sleep 30"
    )
    assert time.monotonic() - started < 25
    assert run.returncode == 3, run.stderr
    (result,) = by_host(run.stdout).values()
    assert (result["status"], result["exit_code"], result["stdout"]) == ("timeout", None, "begun\n")
    assert "timed out" in result["error"]


def test_forks_bounds_the_hosts_worked_on_at_once(inventory: str, names: list[str]) -> None:
    # Each host prints when its command starts and ends; one fork means no two overlap.
    command = "date +%s.%N; sleep 1; date +%s.%N"
    started = time.monotonic()
    run = remoteops(
        "run", "-i", inventory, "-H", ":".join(names[:2]), "-f", "1", "-o", "json", command
    )
    assert time.monotonic() - started >= 2
    assert run.returncode == 0, run.stderr
    spans = sorted(tuple(map(float, r["stdout"].split())) for r in by_host(run.stdout).values())
    assert len(spans) == 2
    assert spans[0][1] <= spans[1][0], spans


# -- text output ----------------------------------------------------------------------------


def test_text_output_prefixes_lines_and_ends_with_a_summary(
    sources: list[str], names: list[str]
) -> None:
    hosts = [names[0], names[1], "here", "closed"]
    command = f"echo first; echo second; echo oops >&2; {_fails_locally(5)}"
    run = remoteops("run", *sources, "-H", ":".join(hosts), command)
    assert run.returncode == 4
    assert not ANSI.search(run.stdout + run.stderr)  # NO_COLOR and not a terminal
    width = max(map(len, hosts))
    out = run.stdout.decode().splitlines()
    err = run.stderr.decode().splitlines()

    for host in hosts[:3]:
        prefix = host.ljust(width)
        assert [line for line in out if line.startswith(prefix + " ")] == [
            f"{prefix} | first",
            f"{prefix} | second",
        ]
        assert f"{prefix} ! oops" in err
    assert len(out) == 6  # nothing but host lines on stdout
    assert any(line.startswith(f"{'closed'.ljust(width)} ! UNREACHABLE: ") for line in err)
    summary = [line for line in err if re.fullmatch(r"4 hosts: .* in \d+\.\d\d s", line)]
    assert len(summary) == 1, err
    assert "2 ok, 1 failed, 1 unreachable" in summary[0]
    assert "  failed: here" in err
    assert "  unreachable: closed" in err


def test_group_folds_identical_output(inventory: str, tmp_path: Path, names: list[str]) -> None:
    local = local_inventory(tmp_path / "web.yml", LOCAL_HOSTS)
    command = f'if [ -n "${LOCAL_MARK}" ]; then echo local-out; exit 3; fi; echo remote-out'
    run = remoteops("run", "-i", inventory, "-i", str(local), "--group", command)
    assert run.returncode == 1
    assert not ANSI.search(run.stdout)

    blocks: dict[str, list[str]] = {}
    lines = run.stdout.decode().splitlines()
    index = 0
    while index < len(lines):  # ----- / title / ----- / body lines
        assert set(lines[index]) == {"-"}, lines
        title = lines[index + 1]
        assert set(lines[index + 2]) == {"-"}, lines
        index += 3
        body: list[str] = []
        while index < len(lines) and set(lines[index]) != {"-"}:
            body.append(lines[index])
            index += 1
        blocks[title] = body

    assert blocks.pop("web[01-02] (2) [failed exit 3]") == ["local-out"]
    ((title, body),) = blocks.items()
    folded, count = re.fullmatch(r"(\S+) \((\d+)\)", title).groups()  # type: ignore[union-attr]
    assert int(count) == len(names)
    assert sorted(expand_hosts(folded)) == sorted(names)
    assert body == ["remote-out"]
    assert "failed: web[01-02]" in run.stderr.decode()


@pytest.mark.parametrize("output", ["text", "json"])
def test_closed_stdout_does_not_stop_the_hosts_work(
    sources: list[str], names: list[str], tmp_path: Path, output: str
) -> None:
    """``remoteops run ... | head -1``: the reader leaves, every command still runs to its end."""
    hosts = [*names[:2], "here"]
    command = f"seq 1 200000; mktemp {tmp_path}/done.XXXXXX >/dev/null"
    argv = [sys.executable, "-m", "remoteops", "run", *sources, "-H", ":".join(hosts)]
    proc = subprocess.Popen(
        [*argv, "-o", output, command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline()  # what `head -1` reads before it exits
        proc.stdout.close()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len(list(tmp_path.glob("done.*"))) == len(hosts)
    if output == "text":
        assert "3 hosts: 3 ok, 0 failed" in err.decode()


# -- inventory: local hosts, errors ---------------------------------------------------------


def test_local_protocol_host_needs_no_sshd(tmp_path: Path) -> None:
    inv = local_inventory(tmp_path / "box.yml", ["box"])
    run = remoteops("run", "-i", str(inv), "echo $((6 * 7)); echo warn >&2")
    assert run.returncode == 0, run.stderr
    assert run.stdout == b"box | 42\n"
    assert b"box ! warn\n" in run.stderr
    assert b"1 host: 1 ok, 0 failed" in run.stderr


def test_without_inventory_the_implicit_localhost_runs_locally(tmp_path: Path) -> None:
    run = remoteops("run", "echo hi", cwd=tmp_path)  # no -i, no $REMOTEOPS_INVENTORY
    assert run.returncode == 0, run.stderr
    assert run.stdout == b"localhost | hi\n"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        pytest.param(
            "all:\n  hosts:\n    a:\n      port: 22\n     b: 1\n", 5, "invalid YAML", id="indent"
        ),
        pytest.param("all:\n  hosts:\n    a: {port: 22\n    c:\n", 4, "invalid YAML", id="flow"),
        pytest.param("all:\n  hosts:\n    a:\n\tport: 22\n", 4, "invalid YAML", id="tab"),
        pytest.param(
            "all:\n  hosts:\n    a:\n      port: 99999\n", 4, "all.hosts.a.port", id="bad-port"
        ),
        pytest.param(
            "all:\n  hosts:\n    a:\n      password: x\n", 4, "never stored", id="password"
        ),
    ],
)
@pytest.mark.parametrize("command", ["run", "hosts"])
def test_malformed_inventory_names_file_and_line(
    tmp_path: Path, text: str, line: int, reason: str, command: str
) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(text)
    run = remoteops(command, "-i", str(inv), *(["true"] if command == "run" else []))
    assert run.returncode == 2
    assert run.stdout == b""
    err = run.stderr.decode()
    assert f"{inv}:{line}" in err
    assert reason in err


@pytest.mark.parametrize("command", ["run", "hosts"])
@pytest.mark.parametrize(
    ("pattern", "suggestion"),
    [("playgrund", "playground"), ("!playgrund", "playground")],
)
def test_unknown_pattern_suggests_the_closest_name(
    inventory: str, command: str, pattern: str, suggestion: str
) -> None:
    selection = ["-H", f"all:{pattern}", "true"] if command == "run" else [f"all:{pattern}"]
    run = remoteops(command, "-i", inventory, *selection)
    assert run.returncode == 2
    assert run.stdout == b""
    assert f"did you mean: {suggestion}" in run.stderr.decode()


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(["-e", "NOEQUALS"], id="env-no-equals"),
        pytest.param(["-e", "=value"], id="env-no-name"),
        pytest.param(["-e", "1ABC=x"], id="env-digit-first"),
        pytest.param(["-e", "café=1"], id="env-non-ascii"),
        pytest.param(["-t", "0"], id="timeout-zero"),
        pytest.param(["--connect-timeout", "-1"], id="connect-timeout-negative"),
        pytest.param(["-p", "0"], id="port-zero"),
        pytest.param(["-p", "70000"], id="port-too-big"),
        pytest.param(["-u", ""], id="user-empty"),
        pytest.param(["-f", "0"], id="forks-zero"),
        pytest.param(["--stdin", "/nonexistent/input"], id="stdin-missing"),
        pytest.param(["--stdin", "-", "--no-stdin"], id="stdin-and-no-stdin"),
        pytest.param(["--sudo", "--sudo-password-env", "ROPTEST_UNSET"], id="sudo-env-unset"),
    ],
)
def test_bad_options_exit_2_and_run_nothing(tmp_path: Path, options: list[str]) -> None:
    marker = tmp_path / "ran"
    run = remoteops("run", "-H", "localhost", *options, f"touch {marker}", cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stdout == b""
    assert run.stderr.strip()
    assert not marker.exists()


def test_env_values_reach_the_command_quoted(inventory: str, names: list[str]) -> None:
    run = remoteops(
        "run", "-i", inventory, "-H", names[0], "-e", "GREETING=a b;$(x)", 'echo "$GREETING"'
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.decode().split(" | ", 1)[1] == "a b;$(x)\n"


# -- stdin ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["piped", "stdin-dash"])
def test_piped_stdin_is_broadcast_to_every_host(
    sources: list[str], names: list[str], how: str
) -> None:
    payload = b"line one\n" + bytes(range(256)) * 64
    hosts = [*names[:2], "here"]
    flags = ["--stdin", "-"] if how == "stdin-dash" else []
    run = remoteops(
        "run", *sources, "-H", ":".join(hosts), *flags, "-o", "json", "sha256sum",
        input_bytes=payload,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    digest = hashlib.sha256(payload).hexdigest()
    results = by_host(run.stdout)
    assert {host: results[host]["stdout"].split()[0] for host in hosts} == dict.fromkeys(
        hosts, digest
    )


@pytest.mark.parametrize("flag", ["-n", "--no-stdin"])
def test_no_stdin_keeps_piped_input_away(inventory: str, names: list[str], flag: str) -> None:
    run = remoteops(
        "run", "-i", inventory, "-H", ":".join(names[:2]), flag, "-o", "json", "cat; echo end",
        input_bytes=b"must not arrive\n",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert [r["stdout"] for r in by_host(run.stdout).values()] == ["end\n", "end\n"]


def test_stdin_file_is_sent_instead_of_piped_input(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    data = tmp_path / "input.bin"
    data.write_bytes(b"from the file\n\x00\xff")
    run = remoteops(
        "run", "-i", inventory, "-H", names[0], "--stdin", str(data), "-o", "json", "cat",
        input_bytes=b"from the pipe\n",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (result,) = by_host(run.stdout).values()
    assert base64.b64decode(result["stdout_base64"]) == data.read_bytes()


# -- sudo and host keys ---------------------------------------------------------------------


@pytest.mark.usefixtures("requires_root")
def test_sudo_password_from_env_never_shows(
    inventory: str, names: list[str], playground: PlaygroundState
) -> None:
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    # ps shows every process of the machine: the remote sudo and shell, and this CLI itself.
    run = remoteops(
        "run", "-i", inventory, "-H", ":".join(names[:2]), "-u", playground.sudo_user,
        "--sudo", "--sudo-password-env", "ROPTEST_SUDO_PW", "-o", "json",
        # ps itself exited 1 once in CI (a busy machine's processes coming and going): its
        # status is not what this test is about, the password in its output is.
        'id -un; ps -eo args || echo "ps exited $?"',
        env={"ROPTEST_SUDO_PW": password},
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert password.encode() not in run.stdout + run.stderr
    for result in by_host(run.stdout).values():
        first, *processes = result["stdout"].splitlines()
        assert first == "root"
        assert any("ps -eo args" in line for line in processes)  # the remote argv is visible
        assert any("--sudo-password-env" in line for line in processes)  # and so is ours
        assert all(password not in line for line in processes)

    unset = remoteops(
        "run", "-i", inventory, "-H", names[0], "-u", playground.sudo_user, "--sudo", "id -un"
    )
    assert unset.returncode == 1
    assert b"sudo asked for a password and none was given" in unset.stderr


@pytest.mark.usefixtures("requires_root")
def test_a_sudo_password_with_a_line_break_is_refused_before_sending_and_one_line_end_dropped(
    inventory: str, names: list[str], playground: PlaygroundState, tmp_path: Path
) -> None:
    """sudo reads one line: the rest of a password would reach the command's input (and its
    output); a trailing line end (CI secret variables) is the password's end, not a break."""
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    login = ["-i", inventory, "-H", names[0], "-u", playground.sudo_user]
    sudo = ["--sudo", "--sudo-password-env", "ROPTEST_SUDO_PW"]
    broken = remoteops(
        "run", *login, *sudo, "cat", env={"ROPTEST_SUDO_PW": f"{password}\nSECRETTAIL"}
    )
    assert broken.returncode == 2, broken.stderr
    assert b"line break" in broken.stderr, broken.stderr
    assert b"SECRETTAIL" not in broken.stdout + broken.stderr

    source = tmp_path / "motd"
    source.write_text("hello\n")
    for ending in ("\n", "\r\n"):
        put = remoteops(
            "put", *login, *sudo, str(source), f"/tmp/remoteops-{tmp_path.name}-motd",
            env={"ROPTEST_SUDO_PW": password + ending},
        )  # fmt: skip
        assert put.returncode == 0, put.stderr


@pytest.mark.usefixtures("requires_root")
def test_sudo_refusing_a_file_operation_says_sudos_own_reason(
    inventory: str, names: list[str], playground: PlaygroundState, tmp_path: Path
) -> None:
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    source = tmp_path / "f"
    source.write_text("x\n")
    put = remoteops(
        "put", "-i", inventory, "-H", names[0], "-u", playground.sudo_user,
        "--sudo-user", "nosuchuser", "--sudo-password-env", "ROPTEST_SUDO_PW",
        str(source), "/var/tmp/never-written",
        env={"ROPTEST_SUDO_PW": password},
    )  # fmt: skip
    assert put.returncode == 1, put.stderr
    assert b"unknown user nosuchuser" in put.stdout + put.stderr, put.stdout + put.stderr


def test_accept_new_host_keys_records_keys_in_a_fresh_known_hosts(
    playground: PlaygroundState, names: list[str], tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    home = tmp_path / "home"
    home.mkdir()

    def swap(node: object) -> object:
        if isinstance(node, dict):
            return {k: str(known) if k == "known_hosts_file" else swap(v) for k, v in node.items()}
        return node

    copied = write_inventory(
        tmp_path / "inventory.yml",
        swap(yaml.safe_load(playground.inventory_path.read_text())),  # type: ignore[arg-type]
    )
    args = ["run", "-i", str(copied), "-H", ":".join(names[:2]), "-o", "json"]
    env = {"HOME": str(home)}

    strict = remoteops(*args, "true", env=env)
    assert strict.returncode == 3
    refused = by_host(strict.stdout)
    assert [r["status"] for r in refused.values()] == ["hostkey", "hostkey"]
    fingerprints = {h: re.search(r"SHA256:[A-Za-z0-9+/]+", r["error"]) for h, r in refused.items()}
    assert all(fingerprints.values()), refused

    accepted = remoteops(*args, "--accept-new-host-keys", "true", env=env)
    assert accepted.returncode == 0, accepted.stderr
    recorded = known.read_text().splitlines()
    assert len(recorded) == 2
    real_keys = playground.known_hosts_path.read_text()
    shown = {m.group(0) for m in fingerprints.values() if m is not None}
    for line in recorded:
        _, _, blob = line.split()
        assert blob in real_keys  # the host's real key, the one OpenSSH trusts
        digest = base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest())
        assert "SHA256:" + digest.decode().rstrip("=") in shown  # what the refusal showed
    assert not (home / ".ssh" / "known_hosts").exists()

    again = remoteops(*args, "true", env=env)
    assert again.returncode == 0, again.stderr
    assert known.read_text().splitlines() == recorded


# -- Ctrl-C ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["text", "group", "json"])
def test_ctrl_c_once_lists_running_hosts_twice_exits_130(
    inventory: str, names: list[str], gate: Path, mode: str
) -> None:
    output = {"text": [], "group": ["--group"], "json": ["-o", "json"]}[mode]
    hosts = names[:2]
    with LiveRun(
        "run", "-i", inventory, "-H", ":".join(hosts), *output, gated_command(gate)
    ) as run:
        wait_until(lambda: started_count(gate) == 2, "both hosts to start")
        run.interrupt()
        err = run.wait_for("stderr", "press Ctrl-C again")
        match = re.search(r"interrupted: .* still running \((\d+)\): (\S+)", err)
        assert match is not None, err
        assert int(match.group(1)) == 2
        assert sorted(expand_hosts(match.group(2))) == sorted(hosts)
        assert run.proc.poll() is None  # the first Ctrl-C waits for the running hosts

        run.interrupt()
        cancelled_at = time.monotonic()
        code, out, _ = run.finish(timeout=15)
    assert code == 130
    assert time.monotonic() - cancelled_at < 10
    assert b"released" not in out
    if mode == "json":
        assert set(by_host(out)) == set(hosts)


@pytest.mark.parametrize("protocol", ["local", "ssh"])
def test_second_ctrl_c_reports_cut_short_hosts_as_cancelled(
    inventory: str, names: list[str], gate: Path, tmp_path: Path, protocol: str
) -> None:
    if protocol == "local":
        hosts = list(LOCAL_HOSTS)
        sources = ["-i", str(local_inventory(tmp_path / "web.yml", hosts))]
    else:
        hosts, sources = names[:2], ["-i", inventory]
    with LiveRun("run", *sources, "-H", ":".join(hosts), "-o", "json", gated_command(gate)) as run:
        wait_until(lambda: started_count(gate) == 2, "both hosts to start")
        run.interrupt()
        run.wait_for("stderr", "press Ctrl-C again")
        run.interrupt()
        code, out, _ = run.finish(timeout=15)
    assert code == 130
    results = by_host(out)
    assert set(results) == set(hosts)
    statuses = {(r["status"], r["exit_code"]) for r in results.values()}
    assert statuses == {("cancelled", None)}
    assert all(r["error"] == "interrupted" for r in results.values())


def test_ctrl_c_with_one_fork_cancels_hosts_not_started(
    inventory: str, names: list[str], gate: Path
) -> None:
    hosts = names[:3]
    args = ["run", "-i", inventory, "-H", ":".join(hosts), "-f", "1", "-o", "json"]
    with LiveRun(*args, gated_command(gate)) as run:
        wait_until(lambda: started_count(gate) == 1, "the first host to start")
        run.interrupt()
        err = run.wait_for("stderr", "press Ctrl-C again")
        assert f"still running (1): {hosts[0]}" in err
        (gate / "release").touch()  # the running host may now finish on its own
        code, out, _ = run.finish(timeout=30)
    assert code == 130
    assert started_count(gate) == 1  # nothing started after the Ctrl-C
    results = by_host(out)
    assert set(results) == set(hosts)
    first = results[hosts[0]]
    assert (first["status"], first["exit_code"], first["stdout"]) == (
        "ok",
        0,
        "started\nreleased\n",
    )
    for host in hosts[1:]:
        assert (results[host]["status"], results[host]["exit_code"]) == ("cancelled", None)
        assert results[host]["error"] == "interrupted before it started"


def test_ctrl_c_while_hosts_wait_for_endless_stdin_exits_130_without_traceback(
    tmp_path: Path,
) -> None:
    """Piped stdin is streamed, not read to its end first: the host starts at once and waits
    for input that never comes; two Ctrl-C end the run."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "remoteops", "run", "-H", "localhost", "cat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
        cwd=tmp_path,
    )
    try:
        wait_until(lambda: _blocked_reading_stdin(proc.pid), "the CLI to read stdin")
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        assert b"press Ctrl-C again" in proc.stderr.readline() + proc.stderr.readline() + (
            proc.stderr.readline()
        )
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert out == b""
    assert b"Traceback" not in err


def _blocked_reading_stdin(pid: int) -> bool:
    """True while a thread of the process sits in read(0, ...)."""
    read = {"x86_64": "0", "aarch64": "63"}.get(platform.machine())
    if read is None:
        pytest.skip("unknown syscall numbers on this architecture")
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            fields = (task / "syscall").read_text().split()
        except OSError:
            continue
        if fields[:2] == [read, "0x0"]:
            return True
    return False


# -- colour ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tty", "no_color", "output", "escapes"),
    [
        pytest.param(True, False, "text", True, id="tty-colour"),
        pytest.param(True, True, "text", False, id="tty-NO_COLOR"),
        pytest.param(False, False, "text", False, id="pipe"),
        pytest.param(True, False, "json", False, id="tty-json"),
    ],
)
def test_colour_only_on_a_terminal_without_no_color(
    tmp_path: Path, tty: bool, no_color: bool, output: str, escapes: bool
) -> None:
    inv = local_inventory(tmp_path / "web.yml", LOCAL_HOSTS)
    env = cli_env({"TERM": "xterm-256color"}, colour=not no_color)
    argv = [sys.executable, "-m", "remoteops", "run", "-i", str(inv), "-o", output]
    argv.append("echo hi; echo err >&2; exit 1")
    if tty:
        code, written = run_on_terminal(argv, env)
    else:
        run = subprocess.run(
            argv, capture_output=True, env=env, stdin=subprocess.DEVNULL, check=False, timeout=60
        )
        code, written = run.returncode, run.stdout + run.stderr
    assert code == 1
    assert b"hi" in written
    assert bool(ANSI.search(written)) is escapes, written
