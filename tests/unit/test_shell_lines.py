"""What a line typed at ``remoteops shell`` asks for, and what a pattern being typed could
complete to: pure logic, no hosts."""

from __future__ import annotations

import pytest

from remoteops.inventory import Group, Host, Inventory
from remoteops.inventory.completion import pattern_completions
from remoteops.shell import LineKind, ShellLine, parse_line


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("uptime", ShellLine(LineKind.COMMAND, "uptime")),
        ("  ls -l /tmp  ", ShellLine(LineKind.COMMAND, "ls -l /tmp")),
        ("echo a:b", ShellLine(LineKind.COMMAND, "echo a:b")),
        ("", ShellLine(LineKind.EMPTY)),
        ("   ", ShellLine(LineKind.EMPTY)),
        (":hosts web:!web03", ShellLine(LineKind.HOSTS, "web:!web03")),
        (":hosts", ShellLine(LineKind.HOSTS, "")),
        (":help", ShellLine(LineKind.HELP)),
        (":quit", ShellLine(LineKind.QUIT)),
        (":exit", ShellLine(LineKind.QUIT)),
        (":host web", ShellLine(LineKind.UNKNOWN, ":host")),
    ],
)
def test_a_line_is_a_command_unless_it_starts_with_a_colon(line: str, parsed: ShellLine) -> None:
    assert parse_line(line) == parsed


def _inventory() -> Inventory:
    hosts = [
        Host("web01", {}, ("web",)),
        Host("web02", {}, ("web",)),
        Host("db01", {}, ("db",)),
    ]
    return Inventory(hosts, [Group("web"), Group("db")])


@pytest.mark.parametrize(
    ("typed", "offered"),
    [
        ("", ["all", "db", "web", "web01", "web02", "db01"]),
        ("w", ["web", "web01", "web02"]),
        ("web0", ["web01", "web02"]),
        ("web:!web0", ["web:!web01", "web:!web02"]),
        ("all,&d", ["all,&db", "all,&db01"]),
        ("nothing", []),
    ],
)
def test_only_a_pattern_s_last_term_is_completed(typed: str, offered: list[str]) -> None:
    assert pattern_completions(_inventory(), typed) == offered
