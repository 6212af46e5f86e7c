"""``remoteops run`` as pssh, pdsh and clush users expect it on day one: the command as several
words, failed hosts shown with their exit code, ``-S``, ``-N``, pdsh's ``host: line`` and a
live status line on a terminal. Real processes against the playground's sshd hosts."""

from __future__ import annotations

import os
import pty
import re
import selectors
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import (
    LOCAL_MARK,
    by_host,
    cli_env,
    remoteops,
    write_inventory,
)

#: How ``dshbak`` splits a pdsh line into its host and text (its Perl: ``^\s*(\S+?)\s*: ?(.*)``).
DSHBAK_LINE = re.compile(r"^\s*(\S+?)\s*: ?(.*)$")


@pytest.fixture
def coded(tmp_path: Path) -> str:
    """Local hosts whose inventory says the code their command exits with (``run -T``), and
    ``closed``, a port nobody listens on."""
    hosts = {
        "seven": {"protocol": "local", "code": 7},
        "three": {"protocol": "local", "code": 3},
        "closed": {"address": "127.0.0.1", "port": 1, "connect_timeout": 5},
    }
    return str(write_inventory(tmp_path / "coded.yml", {"all": {"hosts": hosts}}))


# -- the command as several words -----------------------------------------------------------


def test_the_command_is_its_words_joined_and_options_after_its_first_word_are_its_own(
    inventory: str, names: list[str]
) -> None:
    words = remoteops("run", "-i", inventory, "-H", names[0], "ls", "-ld", "/")
    assert words.returncode == 0, words.stderr.decode()
    (line,) = words.stdout.decode().splitlines()
    assert re.fullmatch(rf"{re.escape(names[0])} \| d\S+ .* /", line), line

    dashed = remoteops(
        "run", "-i", inventory, "-H", names[0], "--", "echo", "-H", "x", "-o", "json"
    )
    assert dashed.stdout.decode().splitlines() == [f"{names[0]} | -H x -o json"]

    quoted = remoteops("run", "-i", inventory, "-H", names[0], "-o", "json", "echo a; echo b")
    assert by_host(quoted.stdout)[names[0]]["stdout"] == "a\nb\n"


# -- failed hosts and -S ----------------------------------------------------------------------


def test_a_failed_host_that_printed_nothing_is_shown_with_its_exit_code(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    local = write_inventory(
        tmp_path / "here.yml", {"all": {"hosts": {"here": {"protocol": "local"}}}}
    )
    command = f'[ -n "${LOCAL_MARK}" ] || exit 3'  # silent: exit 3 over SSH, 0 locally
    sources = ["-i", inventory, "-i", str(local), "-H", f"{names[0]}:here"]

    text = remoteops("run", *sources, command)
    assert text.returncode == 1
    err = text.stderr.decode().splitlines()
    width = len(max(names[0], "here", key=len))
    assert f"{names[0].ljust(width)} ! FAILED: exit code 3" in err
    assert not any(line.startswith("here") and "FAILED" in line for line in err)

    results = by_host(remoteops("run", *sources, "-o", "json", command).stdout)
    assert (results[names[0]]["error"], results["here"]["error"]) == ("exit code 3", None)

    grouped = remoteops("run", *sources, "-b", command).stdout.decode().splitlines()
    title = grouped.index(f"{names[0]} (1) [failed exit 3]")
    assert set(grouped[title + 1]) == {"-"}
    assert "exit code 3" not in grouped  # the title says it once


def test_max_exit_code_exits_with_the_largest_remote_code_and_255_for_a_host_never_reached(
    inventory: str, names: list[str], coded: str
) -> None:
    template = "exit {{ code | default(0) }}"
    sources = ["-i", inventory, "-i", coded, "-T"]

    largest = remoteops("run", *sources, "-H", f"{names[0]}:seven:three", "-S", template)
    assert largest.returncode == 7, largest.stderr.decode()
    assert remoteops("run", *sources, "-H", f"{names[0]}:three", "-S", template).returncode == 3
    assert remoteops("run", *sources, "-H", names[0], "-S", template).returncode == 0
    unreached = remoteops("run", *sources, "-H", "seven:closed", "--max-exit-code", template)
    assert unreached.returncode == 255
    as_json = remoteops("run", *sources, "-H", "three", "-S", "-o", "json", template)
    assert as_json.returncode == 3
    # without -S, remoteops' own codes stay
    assert remoteops("run", *sources, "-H", "seven:closed", template).returncode == 4


# -- prefixes -------------------------------------------------------------------------------


def test_no_prefix_prints_bare_lines_and_pdsh_style_is_what_dshbak_reads(
    inventory: str, names: list[str]
) -> None:
    command = "echo out; echo err >&2"
    bare = remoteops("run", "-i", inventory, "-N", command)
    assert bare.returncode == 0, bare.stderr.decode()
    assert bare.stdout.decode().splitlines() == ["out"] * len(names)
    assert bare.stderr.decode().splitlines().count("err") == len(names)

    pdsh = remoteops("run", "-i", inventory, "--prefix-style", "pdsh", command)
    assert pdsh.returncode == 0, pdsh.stderr.decode()
    for stream, text in ((pdsh.stdout, "out"), (pdsh.stderr, "err")):
        lines = [DSHBAK_LINE.match(line) for line in stream.decode().splitlines()]
        hosts_said = [m.groups() for m in lines if m and m.group(1) in names]
        assert sorted(hosts_said) == sorted((name, text) for name in names)
    assert all(
        line.startswith(tuple(f"{n}: " for n in names))
        for line in pdsh.stdout.decode().splitlines()
    )


@pytest.mark.parametrize("options", [["-N", "-o", "json"], ["--prefix-style", "pdsh", "-b"]])
def test_a_prefix_option_where_there_are_no_live_lines_is_refused(
    tmp_path: Path, options: list[str]
) -> None:
    marker = tmp_path / "ran"
    run = remoteops("run", "-H", "localhost", *options, f"touch {marker}", cwd=tmp_path)
    assert run.returncode == 2
    assert "is for" in run.stderr.decode(), run.stderr.decode()  # says why, not "no such option"
    assert not marker.exists()


# -- the status line ------------------------------------------------------------------------


def _screen(data: bytes) -> list[str]:
    """What a terminal shows after ``data``: a carriage return goes back to the line's start
    and later characters overwrite it (all a status line uses)."""
    lines: list[list[str]] = [[]]
    column = 0
    for char in data.decode("utf-8", errors="replace"):
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append([])
            column = 0
        else:
            line = lines[-1]
            line.extend(" " * (column - len(line) + 1) if column >= len(line) else "")
            line[column] = char
            column += 1
    return ["".join(line).rstrip() for line in lines if "".join(line).strip()]


def _on_terminal(argv: list[str], *, stdout_too: bool) -> tuple[int, bytes, bytes]:
    """Run with stderr (and stdout, if asked) on a pseudo-terminal, read while it runs."""
    leader, follower = pty.openpty()
    out_read, out_write = os.pipe()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=follower if stdout_too else out_write,
        stderr=follower, env=cli_env({"TERM": "xterm"}),
    )  # fmt: skip
    os.close(follower)
    os.close(out_write)
    got = {leader: bytearray(), out_read: bytearray()}
    with selectors.DefaultSelector() as selector:
        for fd in got:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            for key, _ in selector.select(timeout=60):
                try:
                    chunk = os.read(key.fd, 65536)
                except OSError:  # EIO: the terminal's other side is closed
                    chunk = b""
                got[key.fd] += chunk
                if not chunk:
                    selector.unregister(key.fd)
    code = proc.wait(timeout=60)
    os.close(leader)
    os.close(out_read)
    return code, bytes(got[leader]), bytes(got[out_read])


@pytest.mark.parametrize("stdout_too", [False, True], ids=["stdout-piped", "both-on-terminal"])
def test_a_status_line_counts_hosts_on_a_terminal_and_never_mixes_into_output_lines(
    inventory: str, names: list[str], stdout_too: bool
) -> None:
    command = "echo begun; echo warned >&2; sleep 1; echo ended; exit 1"
    argv = [sys.executable, "-m", "remoteops", "run", "-i", inventory, command]
    code, terminal, piped = _on_terminal(argv, stdout_too=stdout_too)
    assert code == 1
    total = len(names)
    assert f"[0/{total} done] {total} running".encode() in terminal, terminal
    width = max(map(len, names))
    host_lines = {
        f"{n.ljust(width)} {mark} {text}"
        for n in names
        for mark, text in (("!", "warned"), ("!", "FAILED: exit code 1"))
    }
    if stdout_too:
        host_lines |= {f"{n.ljust(width)} | {text}" for n in names for text in ("begun", "ended")}
    else:
        assert b"\r" not in piped
        assert b"done]" not in piped
        assert sorted(piped.decode().splitlines()) == sorted(
            f"{n.ljust(width)} | {text}" for n in names for text in ("begun", "ended")
        )
    shown = _screen(terminal)
    summary = [line for line in shown if line.startswith(f"{total} hosts: ")]
    assert len(summary) == 1, shown
    # every line left on screen is an output line or the summary: the status line was wiped
    # before each of them and at the end, never drawn into one
    others = [line for line in shown if line not in host_lines and line != summary[0]]
    assert all(line.startswith("  failed: ") for line in others), shown
    assert host_lines <= set(shown)
    assert not any("done]" in line for line in shown), shown
    # the same run with stderr piped: nothing drawn
    piped_run = remoteops("run", "-i", inventory, command)
    assert b"\r" not in piped_run.stderr
    assert b"running" not in piped_run.stderr
