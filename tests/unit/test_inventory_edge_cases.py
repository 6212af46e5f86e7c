"""Inventory cases found in review: Ansible's subscript order, and bad values as clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from remoteops.errors import InventoryError
from remoteops.inventory import load_inventory


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        pytest.param("[db]\nh2\n[web]\nh1\nh2\n", "web[0]", ["h1"], id="group-order"),
        pytest.param(
            "[west]\nw1\n[east]\ne1\n[web:children]\neast\nwest\n", "web[0]", ["e1"],
            id="children-in-declared-order",
        ),
        pytest.param(
            "[web]\nown\n[sub]\nkid\n[web:children]\nsub\n", "web[0:1]", ["own", "kid"],
            id="own-hosts-before-children",
        ),
    ],
)  # fmt: skip
def test_subscripts_follow_the_groups_own_order_like_ansible(
    tmp_path: Path, text: str, pattern: str, expected: list[str]
) -> None:
    inventory = load_inventory([_write(tmp_path, "hosts.ini", text)])
    assert sorted(h.name for h in inventory.select(pattern)) == sorted(expected)


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        pytest.param(
            "a.yml", "all:\n  hosts:\n    h1:\n      built: 2020-02-30\n", 4,
            "day is out of range", id="impossible-date",
        ),
        pytest.param(
            "b.yml", "all:\n  hosts:\n    h1:\n      n: !!int abc\n", 4, "invalid value",
            id="bad-int-tag",
        ),
        pytest.param(
            "c.ini", "[g]\nh1\n[g:vars]\nansible_group_priority=--1\n", 4, "must be an integer",
            id="bad-priority",
        ),
    ],
)  # fmt: skip
def test_bad_values_are_inventory_errors_with_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, message: str
) -> None:
    source = _write(tmp_path, name, text)
    with pytest.raises(InventoryError, match=message) as caught:
        load_inventory([source])
    assert (caught.value.source, caught.value.line) == (source, line)


@pytest.mark.parametrize(
    ("ini", "vars_file", "content", "expected"),
    [
        pytest.param("[web]\nw1\n[web:vars]\nx=ini\n", "all.yml", "x: gv\n", "gv",
                     id="group_vars-all-beats-inventory-group"),
        pytest.param("[app]\nw1\n[app:vars]\nx=ini_app\n[prod:children]\napp\n", "prod.yml",
                     "x: gv_prod\n", "gv_prod", id="parent-group_vars-beats-child-inventory"),
        pytest.param("[web]\nw1\n[web:vars]\nx=ini\n", "web.yml", "x: gv_web\n", "gv_web",
                     id="same-group"),
    ],
)  # fmt: skip
def test_group_vars_files_rank_above_inventory_group_vars_like_ansible(
    tmp_path: Path, ini: str, vars_file: str, content: str, expected: str
) -> None:
    _write(tmp_path, "hosts", ini)
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / vars_file).write_text(content)
    assert load_inventory([str(tmp_path)]).hosts["w1"].vars["x"] == expected


@pytest.mark.parametrize(
    ("text", "line", "key_path", "message"),
    [
        pytest.param(
            "..\n", 1, "ungrouped.hosts...",
            "host '..' cannot be connected to by its name: a host name has no empty part",
            id="dot-dot",
        ),
        pytest.param(
            "[web]\nweb..example.com\n", 2, "web.hosts.web..example.com",
            "host 'web..example.com' cannot be connected to by its name",
            id="empty-label",
        ),
        pytest.param(
            f"[web]\n{'a' * 64}.example.com\n", 2, f"web.hosts.{'a' * 64}.example.com",
            "at most 63 characters",
            id="long-label",
        ),
        pytest.param(
            "[web]\nweb1 ansible_host=.example.com\n", 2, "web.hosts.web1.ansible_host",
            "ansible_host '.example.com' cannot be connected to",
            id="address",
        ),
    ],
)  # fmt: skip
def test_a_host_name_no_resolver_can_look_up_is_an_inventory_error(
    tmp_path: Path, text: str, line: int, key_path: str, message: str
) -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory([_write(tmp_path, "hosts.ini", text)])
    error = caught.value
    assert (error.source, error.line, error.key_path) == (
        str(tmp_path / "hosts.ini"),
        line,
        key_path,
    )
    assert message in error.reason


def test_odd_names_with_an_address_or_on_the_local_machine_load(tmp_path: Path) -> None:
    text = ".. ansible_host=10.0.0.1\nlocal..one ansible_connection=local\nfqdn.example.com.\n"
    inventory = load_inventory([_write(tmp_path, "hosts.ini", text)])
    assert list(inventory.hosts) == ["..", "local..one", "fqdn.example.com."]
