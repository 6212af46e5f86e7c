"""Hostile inventories through the real CLI: each ends in seconds, in bounded memory, exit 2.

Each file here once crashed (``RecursionError``, exit 1), ran for minutes or took gigabytes:
deep YAML or JSON nesting, huge host ranges, "billion laughs" aliases, a long chain of child
groups. The command runs under a 1 GiB address-space limit, so ballooning fails the test fast
instead of starving the machine; the time bound is generous (only a hang or a blow-up hits it).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import cli_env

MEMORY_LIMIT = 1 << 30
TIME_LIMIT_S = 30.0


def _hosts_vars(inventory: Path) -> tuple[subprocess.CompletedProcess[bytes], float]:
    """``remoteops hosts --vars -i INVENTORY`` under the memory limit; the run and its time."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "remoteops", "hosts", "--vars", "-i", str(inventory)],
        stdin=subprocess.DEVNULL, capture_output=True, env=cli_env(), timeout=120,
        preexec_fn=limit_memory, check=False,
    )  # fmt: skip
    return run, time.monotonic() - started


def _laughs(indent: str) -> list[str]:
    """Nine anchors, each a list of nine aliases of the previous: 9**9 values once expanded."""
    lines = [f'{indent}a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{indent}{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return lines


def _deep_block(tmp: Path) -> Path:
    lines = ["all:", "  hosts:", "    h1:", "  vars:", "    x:"]
    lines += ["  " * (level + 3) + f"k{level}:" for level in range(5000)]
    return _write(tmp / "hosts.yml", "\n".join(lines) + " 1\n")


def _deep_flow(tmp: Path) -> Path:
    return _write(tmp / "hosts.yml", "all:\n  vars:\n    x: " + "[" * 100_000 + "]" * 100_000)


def _deep_json(tmp: Path) -> Path:
    body = "[" * 100_000 + "]" * 100_000
    return _write(tmp / "hosts.json", '{"all": {"hosts": {"h1": {"x": ' + body + "}}}}")


def _huge_ranges(tmp: Path) -> Path:
    return _write(tmp / "hosts.ini", "".join(f"x{i}[1:1000000]\n" for i in range(4)))


def _too_many_hosts(tmp: Path) -> Path:
    return _write(tmp / "hosts.ini", "".join(f"x{i}[1:30000]\n" for i in range(4)))


def _laughs_in_vars(tmp: Path) -> Path:
    lines = ["all:", "  hosts:", "    h1:", "  vars:", *_laughs("    ")]
    return _write(tmp / "hosts.yml", "\n".join(lines) + "\n")


def _laughs_in_group_vars(tmp: Path) -> Path:
    _write(tmp / "group_vars" / "all.yml", "\n".join(_laughs("")) + "\n")
    return _write(tmp / "hosts.ini", "h1\n")


def _deep_host_vars_json(tmp: Path) -> Path:
    _write(tmp / "host_vars" / "h1.json", '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    return _write(tmp / "hosts.ini", "h1\n")


def _group_chain(tmp: Path) -> Path:
    lines = ["[g0]", "h1"]
    for level in range(5000):
        lines += [f"[g{level + 1}]", f"[g{level + 1}:children]", f"g{level}"]
    return _write(tmp / "hosts.ini", "\n".join(lines) + "\n")


def _deep_ini_value(tmp: Path) -> Path:
    return _write(tmp / "hosts.ini", 'h1 x="' + "[" * 150 + "]" * 150 + '"\n')


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make", "where", "message"),
    [
        pytest.param(_deep_block, "hosts.yml:103:", "nested more than 100 levels deep",
                     id="yaml-5000-levels"),
        pytest.param(_deep_flow, "hosts.yml:3:", "nested more than 100 levels deep",
                     id="yaml-100000-brackets"),
        pytest.param(_deep_json, "hosts.json:1:", "nested more than 100 levels deep",
                     id="json-100000-brackets"),
        pytest.param(_huge_ranges, "hosts.ini:1 ",
                     "host range 'x0[1:1000000]' expands to more than 100000 names",
                     id="four-million-host-range"),
        pytest.param(_too_many_hosts, "hosts.ini:4 ", "more than 100,000 hosts",
                     id="host-limit-across-lines"),
        pytest.param(_laughs_in_vars, "hosts.yml:11:", "YAML aliases expand this file by",
                     id="billion-laughs-vars"),
        pytest.param(_laughs_in_group_vars, "all.yml:7:", "YAML aliases expand this file by",
                     id="billion-laughs-group-vars"),
        pytest.param(_deep_host_vars_json, "h1.json:1:", "nested more than 100 levels deep",
                     id="host-vars-json-100000-brackets"),
        pytest.param(_group_chain, "hosts.ini:14705 ",
                     "group 'g4900' is nested more than 100 levels below 'all'",
                     id="ini-chain-of-5000-child-groups"),
        pytest.param(_deep_ini_value, "hosts.ini:1 ", "value nested more than 100 levels deep",
                     id="ini-value-150-levels"),
    ],
)  # fmt: skip
def test_hostile_inventory_ends_quickly_with_exit_2_naming_the_file(
    tmp_path: Path, make: Callable[[Path], Path], where: str, message: str
) -> None:
    inventory = make(tmp_path)
    run, elapsed = _hosts_vars(inventory)
    stderr = run.stderr.decode()
    assert run.returncode == 2, stderr[-2000:]
    assert "Traceback" not in stderr
    assert where in stderr, stderr
    assert message in stderr
    assert str(tmp_path) in stderr
    assert run.stdout == b""
    assert elapsed < TIME_LIMIT_S
