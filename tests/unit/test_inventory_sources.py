"""Where inventories come from: files, folders, comma lists, the environment, the defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from remoteops.errors import InventoryError
from remoteops.inventory import Host, load_inventory

REPO = Path(__file__).resolve().parents[2]
GARBAGE = "[[[ this is not an inventory\n: : :\n"


def _write(base: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_directory_source_skips_non_inventory_files_and_applies_vars_folders(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path / "inv",
        {
            "01-web.yml": "all:\n  children:\n    web:\n      hosts:\n        web01:\n"
            "        web02:\n      vars:\n        port: 22\n        from_file: 1\n",
            "02-db.ini": "[db]\ndb1\n",
            "sub/03-extra.yaml": "all:\n  hosts:\n    extra1:\n",
            **dict.fromkeys(
                (
                    "README.md",
                    "notes.txt",
                    "ansible.cfg",
                    "hosts.retry",
                    "template.j2",
                    "hosts.yml~",
                    ".hidden",
                    ".git/config",
                    "vars_plugins/x.yml",
                ),
                GARBAGE,
            ),
            "group_vars/web.yml": "port: 2222\nfrom_group_vars: 1\n",
            "group_vars/all/10-base.yml": "ntp: a\n",
            "group_vars/all/20-more.yaml": "ntp: b\ndns: 10.0.0.53\n",
            "group_vars/all/.hidden.yml": GARBAGE,
            "group_vars/all/notes.txt": GARBAGE,
            "group_vars/db": "ansible_user: dbadmin\n",
            "group_vars/db.yml": "ignored: because the extensionless file came first\n",
            "group_vars/nosuchgroup.yml": GARBAGE,
            "host_vars/web01.yml": "ansible_port: 2200\n",
            "host_vars/web02/a.yml": "x: 1\n",
            "host_vars/db1.json": '{"role": "primary"}',
        },
    )
    inventory = load_inventory(["inv"], environ={}, cwd=tmp_path)
    assert inventory.sources == (str(tmp_path / "inv"),)
    base = {"ntp": "b", "dns": "10.0.0.53"}
    web = {**base, "port": 2222, "from_file": 1, "from_group_vars": 1}
    assert list(inventory) == [
        Host("web01", {**web, "port": 2200}, ("all", "web")),
        Host("web02", {**web, "x": 1}, ("all", "web")),
        Host("db1", {**base, "user": "dbadmin", "role": "primary"}, ("all", "db")),
        Host("extra1", base, ("all", "ungrouped")),
    ]
    assert inventory.groups["web"].vars == {"port": 2222, "from_file": 1, "from_group_vars": 1}


def test_vars_folders_next_to_an_inventory_file(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "hosts.ini": "[web]\nweb01 port=22\n",
            "group_vars/all.yml": "ansible_user: ops\n",
            "host_vars/web01": "port: 2022\n",
        },
    )
    inventory = load_inventory([str(tmp_path / "hosts.ini")], environ={})
    assert inventory.hosts["web01"] == Host("web01", {"user": "ops", "port": 2022}, ("all", "web"))


@pytest.mark.parametrize(
    ("name", "text", "line", "key_path", "message"),
    [
        (
            "group_vars/web.yml",
            "a: 1\nport: nope\n",
            2,
            "port",
            "port must be an integer from 1 to 65535",
        ),
        (
            "group_vars/web/more.yml",
            "a: 1\nb: 2\nansible_password: x\n",
            3,
            "ansible_password",
            "passwords are never stored in the inventory",
        ),
        ("host_vars/web01.yml", "- a\n- b\n", 1, None, "a vars file must be a mapping"),
        ("host_vars/web01.yml", "a: [\n", 2, None, "invalid YAML"),
    ],
)
def test_vars_file_errors_name_the_vars_file(
    tmp_path: Path, *, name: str, text: str, line: int, key_path: str | None, message: str
) -> None:
    _write(tmp_path, {"hosts.yml": "web:\n  hosts:\n    web01:\n", name: text})
    with pytest.raises(InventoryError) as caught:
        load_inventory([str(tmp_path / "hosts.yml")], environ={})
    error = caught.value
    assert (error.source, error.line, error.key_path) == (str(tmp_path / name), line, key_path)
    assert message in error.reason


def test_missing_source_is_named(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(["missing.yml"], environ={}, cwd=tmp_path)
    assert caught.value.source == str(tmp_path / "missing.yml")
    assert caught.value.line is None
    assert str(caught.value) == f"{tmp_path / 'missing.yml'}: no such inventory file or directory"


def test_unreadable_source_is_named(tmp_path: Path) -> None:
    (tmp_path / "hosts.ini").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InventoryError, match="not UTF-8 text") as caught:
        load_inventory(["hosts.ini"], environ={}, cwd=tmp_path)
    assert caught.value.source == str(tmp_path / "hosts.ini")


@pytest.mark.parametrize(
    ("source", "hosts"),
    [
        ("host1,", {"host1": {}}),
        ("a,b,", {"a": {}, "b": {}}),
        (" a , b ", {"a": {}, "b": {}}),
        ("web[01:02],db", {"web01": {}, "web02": {}, "db": {}}),
        ("web[1-2,5],", {"web1": {}, "web2": {}, "web5": {}}),
        ("h:2222,10.0.0.1:22,", {"h": {"port": 2222}, "10.0.0.1": {"port": 22}}),
        ("2001:db8::1,[2001:db8::2]:2200", {"2001:db8::1": {}, "2001:db8::2": {"port": 2200}}),
    ],
)
def test_comma_lists_are_host_names(
    tmp_path: Path, source: str, hosts: dict[str, dict[str, int]]
) -> None:
    inventory = load_inventory([source], environ={}, cwd=tmp_path)
    assert {host.name: dict(host.vars) for host in inventory} == hosts
    assert list(inventory.hosts) == list(hosts)
    assert all(host.groups == ("all", "ungrouped") for host in inventory)
    assert inventory.sources == (source,)


def test_an_existing_file_with_a_comma_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "a,b").write_text("[g]\nreal\n")
    inventory = load_inventory(["a,b"], environ={}, cwd=tmp_path)
    assert list(inventory.hosts) == ["real"]


def test_comma_list_range_errors_are_inventory_errors(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"start 3 is after end 1") as caught:
        load_inventory(["web[3:1],"], environ={}, cwd=tmp_path)
    assert (caught.value.source, caught.value.key_path) == ("web[3:1],", "web[3:1]")


def test_later_sources_add_hosts_and_override_vars(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "a.yml": "web:\n  hosts:\n    web01:\n      port: 22\n      user: a\n"
            "  vars:\n    x: 1\n    y: 1\n",
            "b.ini": "[web]\nweb01 ansible_port=2222\nweb02\n[web:vars]\nx=2\n",
        },
    )
    inventory = load_inventory(["a.yml", "b.ini", "extra,"], environ={}, cwd=tmp_path)
    assert list(inventory) == [
        Host("web01", {"x": 2, "y": 1, "port": 2222, "user": "a"}, ("all", "web")),
        Host("web02", {"x": 2, "y": 1}, ("all", "web")),
        Host("extra", {}, ("all", "ungrouped")),
    ]
    assert inventory.sources == (str(tmp_path / "a.yml"), str(tmp_path / "b.ini"), "extra,")


def test_a_single_string_is_one_source(tmp_path: Path) -> None:
    assert list(load_inventory("h1,h2", environ={}, cwd=tmp_path).hosts) == ["h1", "h2"]


def test_environment_variable_lists_sources(tmp_path: Path) -> None:
    _write(tmp_path, {"one.ini": "h1\n", "two/hosts.yml": "all:\n  hosts:\n    h2:\n"})
    environ = {"REMOTEOPS_INVENTORY": os.pathsep.join(["one.ini", str(tmp_path / "two"), ""])}
    inventory = load_inventory(None, environ=environ, cwd=tmp_path)
    assert list(inventory.hosts) == ["h1", "h2"]
    assert inventory.sources == (str(tmp_path / "one.ini"), str(tmp_path / "two"))
    assert list(load_inventory(["x,"], environ=environ, cwd=tmp_path).hosts) == ["x"]


@pytest.mark.parametrize("environ", [{}, {"REMOTEOPS_INVENTORY": ""}, {"REMOTEOPS_INVENTORY": " "}])
def test_default_inventory_folder_in_cwd(tmp_path: Path, environ: dict[str, str]) -> None:
    _write(tmp_path, {"inventory/hosts.ini": "[g]\nh1\n"})
    inventory = load_inventory([], environ=environ, cwd=tmp_path)
    assert list(inventory.hosts) == ["h1"]
    assert inventory.sources == (str(tmp_path / "inventory"),)


def test_fresh_machine_gets_only_localhost(tmp_path: Path) -> None:
    inventory = load_inventory(environ={}, cwd=tmp_path)
    assert list(inventory) == [Host("localhost", {"protocol": "local"}, ("all", "ungrouped"))]
    assert inventory.sources == ()
    assert [host.name for host in inventory.select("all")] == ["localhost"]


def test_shipped_default_inventory_loads(tmp_path: Path) -> None:
    inventory = load_inventory(environ={}, cwd=REPO)
    assert inventory.sources == (str(REPO / "inventory"),)
    assert list(inventory) == [Host("localhost", {"protocol": "local"}, ("all", "local"))]
    assert inventory.group_hosts("local") == ["localhost"]


def test_implicit_localhost(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text("all:\n  vars:\n    user: admin\n  hosts:\n    web01:\n")
    inventory = load_inventory(["hosts.yml"], environ={}, cwd=tmp_path)
    implicit = Host("localhost", {"user": "admin", "protocol": "local"}, ())
    assert "localhost" not in inventory
    assert inventory.select("localhost") == [implicit]
    assert inventory.localhost() == implicit
    assert inventory.select("127.0.0.1") == [Host("127.0.0.1", implicit.vars, ())]
    assert [host.name for host in inventory.select("web01,localhost")] == ["web01", "localhost"]
    assert [host.name for host in inventory.select("all")] == ["web01"]
    with pytest.raises(KeyError):
        inventory.localhost("web02")


def test_localhost_in_the_inventory_is_the_real_host(tmp_path: Path) -> None:
    inventory = load_inventory(["localhost:2222,"], environ={}, cwd=tmp_path)
    assert inventory.select("localhost") == [
        Host("localhost", {"port": 2222}, ("all", "ungrouped"))
    ]
