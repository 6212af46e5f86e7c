"""``remoteops hosts`` and ``remoteops playground status``: what a pattern selects, and how."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import json_lines, remoteops

from remoteops.playground import PlaygroundState

# Declared so that inventory order differs from alphabetical and from group order. Nothing
# here is ever connected to: `hosts` only reads the inventory.
INVENTORY = """\
all:
  hosts:
    solo:
  vars:
    region: eu
    api_token: tok-ALL-1234
  children:
    web:
      hosts:
        zeta:
          ansible_host: 10.203.250.9
        alpha:
          region: us
      vars:
        user: deploy
        app_secret: sec-WEB-5678
    db:
      hosts:
        mid:
          password_env: DB_PASSWORD
          enable_password_env: DB_ENABLE
          db_password: !vault |
            $ANSIBLE_VAULT;1.1;AES256
            6162
          identity_file: ~/.ssh/db_key
          cloud: {access_key: key-NESTED-42, zone: b}
          api_key: key-TOP-77
        alpha:
"""
ORDER = ["solo", "zeta", "alpha", "mid"]
SECRET_VALUES = ("tok-ALL-1234", "sec-WEB-5678", "key-NESTED-42", "key-TOP-77", "ANSIBLE_VAULT")
MASK = "********"


@pytest.fixture
def inv(tmp_path: Path) -> str:
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    return str(path)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("all", ORDER),
        ("db", ["alpha", "mid"]),  # inventory order, not the group's declaration order
        ("web:!alpha", ["zeta"]),
        ("*a", ["zeta", "alpha"]),
    ],
)
def test_hosts_lists_in_inventory_order(inv: str, pattern: str, expected: list[str]) -> None:
    run = remoteops("hosts", "-i", inv, pattern)
    assert run.returncode == 0, run.stderr
    assert run.stdout.decode().splitlines() == expected


def _vars_blocks(text: str) -> dict[str, tuple[str, dict[str, str]]]:
    """``name  (groups: ...)`` headers with their indented ``key: value`` lines."""
    blocks: dict[str, tuple[str, dict[str, str]]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("    "):
            key, _, value = line.strip().partition(": ")
            blocks[current][1][key] = value
        else:
            current, _, groups = line.partition("  ")
            blocks[current] = (groups, {})
    return blocks


def test_vars_shows_resolved_variables_with_secrets_masked(inv: str) -> None:
    run = remoteops("hosts", "-i", inv, "--vars")
    assert run.returncode == 0, run.stderr
    text = run.stdout.decode()
    for secret in SECRET_VALUES:
        assert secret not in text
    blocks = _vars_blocks(text)
    assert list(blocks) == ORDER

    groups, alpha = blocks["alpha"]
    assert groups == "(groups: all, db, web)"
    assert alpha == {  # host beats group beats all; secrets from every level are masked
        "region": "us",
        "user": "deploy",
        "api_token": MASK,
        "app_secret": MASK,
    }
    assert blocks["zeta"][1]["address"] == "10.203.250.9"  # the Ansible alias, translated
    assert blocks["solo"] == ("(groups: all, ungrouped)", {"region": "eu", "api_token": MASK})
    mid = blocks["mid"][1]
    assert mid["password_env"] == "DB_PASSWORD"  # a variable's name is not a secret
    assert mid["enable_password_env"] == "DB_ENABLE"
    assert mid["db_password"] == MASK  # vault text loads (encrypted) but is never shown
    assert mid["identity_file"] == "~/.ssh/db_key"  # nor is a key's path
    assert mid["api_key"] == MASK
    assert json.loads(mid["cloud"]) == {"access_key": MASK, "zone": "b"}


def test_hosts_json(inv: str) -> None:
    plain = remoteops("hosts", "-i", inv, "-o", "json")
    assert plain.returncode == 0, plain.stderr
    assert json_lines(plain.stdout) == [
        {"host": "solo", "groups": ["all", "ungrouped"]},
        {"host": "zeta", "groups": ["all", "web"]},
        {"host": "alpha", "groups": ["all", "db", "web"]},
        {"host": "mid", "groups": ["all", "db"]},
    ]

    detailed = remoteops("hosts", "-i", inv, "-o", "json", "--vars", "mid")
    assert detailed.returncode == 0, detailed.stderr
    (mid,) = json_lines(detailed.stdout)
    assert set(mid) == {"host", "groups", "vars"}
    assert mid["vars"] == {
        "region": "eu",
        "api_token": MASK,
        "password_env": "DB_PASSWORD",
        "enable_password_env": "DB_ENABLE",
        "db_password": MASK,
        "identity_file": "~/.ssh/db_key",
        "cloud": {"access_key": MASK, "zone": "b"},
        "api_key": MASK,
    }


def test_hosts_of_the_playground(playground: PlaygroundState) -> None:
    run = remoteops("hosts", "-i", str(playground.inventory_path), "-o", "json", "--vars")
    assert run.returncode == 0, run.stderr
    listed = json_lines(run.stdout)
    assert [h["host"] for h in listed] == [h.name for h in playground.hosts]
    for view, host in zip(listed, playground.hosts, strict=True):
        assert view["vars"]["address"] == host.address
        assert view["vars"]["port"] == host.port


def test_playground_status_lists_the_running_hosts(playground: PlaygroundState) -> None:
    run = remoteops("playground", "status", "--state-dir", str(playground.state_dir))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.decode().splitlines()
    assert lines[0] == f"mode: {playground.mode}  inventory: {playground.inventory_path}"
    assert [line.split() for line in lines[1:]] == [
        [host.name, f"{host.address}:{host.port}", "running"] for host in playground.hosts
    ]


def test_playground_status_without_a_playground_exits_3(tmp_path: Path) -> None:
    run = remoteops("playground", "status", "--state-dir", str(tmp_path))
    assert run.returncode == 3
    assert b"no playground is up" in run.stderr


def test_a_host_named_dot_dot_is_an_inventory_error_not_an_internal_one(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[web]\nweb1 ansible_connection=local\n..\n")
    run = remoteops("run", "-i", str(path), "-o", "json", "true")
    assert run.returncode == 2, run.stdout
    assert run.stdout == b""  # refused before any host started
    stderr = run.stderr.decode()
    assert f"{path}:3" in stderr
    assert "host '..' cannot be connected to by its name" in stderr
    assert "internal error" not in stderr


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("web[1:10:0]", "step '0' is not a positive integer"),
        ("web[1-5/0]", "step '0' is not a positive integer"),
        ("web[1:", "the '[' at character 4 is never closed"),
        ("*a[2]", "index 2 is out of range (2 hosts); for names matching the characters"),
    ],
)
def test_malformed_patterns_exit_2_with_what_is_wrong(inv: str, pattern: str, message: str) -> None:
    run = remoteops("hosts", "-i", inv, pattern)
    assert run.returncode == 2, run.stdout
    assert message in run.stderr.decode()


def test_a_trailing_bracket_is_a_subscript_everywhere_and_a_bad_one_is_named() -> None:
    """``web[1:2]`` is a subscript of ``web`` as Ansible reads it, group or not: with no host
    or group ``web`` it is exit 2 saying how to write the range (it selected web1 and web2
    here, and hosts 1 to 2 of a group ``web`` where one existed); a slice ending before it
    starts is named (it was "selects no host")."""
    listed = "web1,web2,web3,"
    refused = remoteops("hosts", "-i", listed, "web[1:2]")
    assert refused.returncode == 2, refused.stdout
    assert "pattern 'web[1:2]' is a subscript of 'web'" in refused.stderr.decode()
    assert "for hosts web1 to web2 write web[1-2]" in refused.stderr.decode()
    assert remoteops("hosts", "-i", listed, "web[1-2]").stdout.split() == [b"web1", b"web2"]
    assert remoteops("hosts", "-i", listed, "all[1:]").stdout.split() == [b"web2", b"web3"]
    backwards = remoteops("hosts", "-i", listed, "all[2:1]")
    assert backwards.returncode == 2, backwards.stdout
    assert "pattern 'all[2:1]': the slice starts at 2, after its end 1" in backwards.stderr.decode()
