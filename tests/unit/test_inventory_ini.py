"""INI inventories as Ansible reads them, and errors that name file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from remoteops.errors import InventoryError
from remoteops.inventory import Host, Inventory, load_inventory

DATA = Path(__file__).parent / "data"


def _load(tmp_path: Path, text: str, name: str = "hosts.ini") -> Inventory:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_inventory([str(path)], environ={}, cwd=tmp_path)


def test_sections_ranges_quoting_and_comments(tmp_path: Path) -> None:
    inventory = _load(
        tmp_path,
        """\
        # leading comment
        ; another comment style
        bastion ansible_host=203.0.113.5   # trailing comment

        [web]   # a comment after a section
        web[01:02] ansible_user=deploy motd="hello world" level='two words'
        web03:2222 ansible_ssh_private_key_file=/keys/web

        [web:vars]
        http_port = 80
        ansible_connection=smart

        [dc1:children]
        web

        [dc1]
        db[a:b].example.com
        """,
    )
    assert [host.name for host in inventory] == [
        "bastion",
        "web01",
        "web02",
        "web03",
        "dba.example.com",
        "dbb.example.com",
    ]
    assert inventory.hosts["bastion"] == Host(
        "bastion", {"address": "203.0.113.5"}, ("all", "ungrouped")
    )
    assert inventory.hosts["web01"] == Host(
        "web01",
        {
            "http_port": 80,
            "protocol": "ssh",
            "user": "deploy",
            "motd": "hello world",
            "level": "two words",
        },
        ("all", "dc1", "web"),
    )
    assert inventory.hosts["web03"].vars == {
        "http_port": 80,
        "protocol": "ssh",
        "port": 2222,
        "identity_file": "/keys/web",
    }
    assert inventory.groups["dc1"].children == ("web",)
    assert inventory.group_hosts("dc1") == [
        "web01",
        "web02",
        "web03",
        "dba.example.com",
        "dbb.example.com",
    ]


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("22", 22),
        ("2.5", 2.5),
        ("True", True),
        ("true", "true"),
        ("yes", "yes"),
        ("'quoted'", "quoted"),
        ("[1, 2]", [1, 2]),
        ("{'a': 1}", {"a": 1}),
        ("a=b", "a=b"),
        ("C:\\path\\d", "C:\\path\\d"),
        ("", ""),
    ],
)
def test_group_var_values_are_python_literals_like_ansible(
    tmp_path: Path, written: str, value: Any
) -> None:
    inventory = _load(tmp_path, f"[g]\nh\n[g:vars]\nx={written}\n")
    assert inventory.hosts["h"].vars == {"x": value}


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("x=22", 22),
        ("x=True", True),
        ("x=no", "no"),
        ('x="two words"', "two words"),
        ("x='[1,2]'", [1, 2]),
        ("x=a=b", "a=b"),
    ],
)
def test_host_line_values_go_through_shlex_then_literal_eval(
    tmp_path: Path, written: str, value: Any
) -> None:
    inventory = _load(tmp_path, f"h {written}\n")
    assert inventory.hosts["h"].vars == {"x": value}


def test_explicit_port_variable_overrides_the_host_colon_port(tmp_path: Path) -> None:
    inventory = _load(tmp_path, "h:2222 ansible_port=22\n[g]\nh\n")
    assert inventory.hosts["h"].vars == {"port": 22}
    assert inventory.hosts["h"].groups == ("all", "g")
    assert inventory.groups["ungrouped"].hosts == ()


def test_ipv6_hosts(tmp_path: Path) -> None:
    inventory = _load(tmp_path, "2001:db8::1\n[2001:db8::2]:2200\n[v6]\nfe80::1 port=22\n")
    assert [(host.name, dict(host.vars)) for host in inventory] == [
        ("2001:db8::1", {}),
        ("2001:db8::2", {"port": 2200}),
        ("fe80::1", {"port": 22}),
    ]


def test_extensionless_file_is_ini_or_yaml_by_content(tmp_path: Path) -> None:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts").write_text("h1 ansible_port=22\n")
    (tmp_path / "inv" / "more").write_text("all:\n  hosts:\n    h2:\n      ansible_port: 23\n")
    inventory = load_inventory([str(tmp_path / "inv")], environ={}, cwd=tmp_path)
    assert [(host.name, host.port) for host in inventory] == [("h1", 22), ("h2", 23)]


def test_ini_and_yaml_give_identical_hosts() -> None:
    from_yaml = load_inventory([str(DATA / "equivalent" / "yaml")], environ={})
    from_ini = load_inventory([str(DATA / "equivalent" / "ini")], environ={})
    admin = {"user": "admin", "ntp_server": "ntp.example.com"}
    prod = {**admin, "environment": "production"}
    web = {**prod, "user": "deploy", "http_port": 80}
    expected = [
        Host(
            "bastion.example.com",
            {**admin, "address": "203.0.113.5", "port": 2222},
            ("all", "ungrouped"),
        ),
        Host("web01.example.com", web, ("all", "prod", "web")),
        Host("web02.example.com", web, ("all", "prod", "web")),
        Host("web03.example.com", web, ("all", "prod", "web")),
        Host(
            "web04.example.com",
            {**web, "port": 2200, "http_port": 8080, "motd": "hello world"},
            ("all", "prod", "web"),
        ),
        Host(
            "db-a.example.com",
            {**prod, "port": 5432, "connect_timeout": 5, "role": "primary"},
            ("all", "db", "db_primary", "prod"),
        ),
        Host("db-b.example.com", {**prod, "port": 5432}, ("all", "db", "prod")),
    ]
    assert list(from_yaml) == expected
    assert list(from_ini) == expected
    assert from_yaml.group_hosts("prod") == from_ini.group_hosts("prod")


@pytest.mark.parametrize(
    ("text", "line", "key_path", "message"),
    [
        pytest.param(
            "[web]\nweb01\n[web:hosts_and_more]\n",
            3,
            None,
            "section [web:hosts_and_more] has unknown type 'hosts_and_more'",
            id="section-type",
        ),
        pytest.param(
            "[web]\nweb01\n\n[web servers]\n",
            4,
            None,
            "invalid section header '[web servers]'",
            id="section-spaces",
        ),
        pytest.param(
            "[web]\nweb01\n[web:vars]\nhttp_port\n",
            4,
            None,
            "expected key=value in [web:vars], got 'http_port'",
            id="vars-without-equals",
        ),
        pytest.param(
            "[web]\nweb01 http_port\n",
            2,
            "web.hosts.web01",
            "expected key=value after the host name, got 'http_port'",
            id="host-token",
        ),
        pytest.param(
            '[web]\nweb01 motd="unclosed\n',
            2,
            None,
            "cannot parse host line 'web01 motd=\"unclosed': No closing quotation",
            id="host-quote",
        ),
        pytest.param(
            "[web]\nweb01\n# comment\n[db:vars]\nport=5432\n",
            4,
            None,
            "section [db:vars] is for a group never declared",
            id="vars-undeclared",
        ),
        pytest.param(
            "[prod:children]\nweb\ndb\n[web]\nweb01\n",
            3,
            "prod.children.db",
            "section [prod:children] includes undeclared group 'db'",
            id="child-undeclared",
        ),
        pytest.param(
            "[prod:children]\nweb db\n",
            2,
            None,
            "'web db' is not a valid group name",
            id="child-name",
        ),
        pytest.param(
            "[a:children]\nb\n[b:children]\na\n",
            4,
            "b.children.a",
            "group 'a' cannot be a child of 'b': cycle b -> a -> b",
            id="cycle",
        ),
        pytest.param(
            "[web:children]\nweb\n",
            2,
            "web.children.web",
            "group 'web' cannot be a child of itself",
            id="self-child",
        ),
        pytest.param(
            "[web]\nweb01\n[web:vars]\nansible_port=99999\n",
            4,
            "web.vars.ansible_port",
            "port must be an integer from 1 to 65535, not 99999",
            id="port",
        ),
        pytest.param(
            "[web]\nweb01 ansible_connection=winrm\n",
            2,
            "web.hosts.web01.ansible_connection",
            "ansible_connection 'winrm' is not supported",
            id="connection",
        ),
        pytest.param(
            "[web]\nweb[1:0]\n",
            2,
            "web.hosts.web[1:0]",
            "start 1 is after end 0",
            id="range",
        ),
        pytest.param(
            "web01\n[all:vars]\nansible_ssh_pass=secret\n",
            3,
            "all.vars.ansible_ssh_pass",
            "passwords are never stored in the inventory; "
            "set password_env: VAR_NAME and export VAR_NAME",
            id="secret",
        ),
        pytest.param(
            "web01 password=hunter2\n",
            1,
            "ungrouped.hosts.web01.password",
            "passwords are never stored in the inventory",
            id="secret-host",
        ),
    ],
)
def test_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int, key_path: str | None, message: str
) -> None:
    with pytest.raises(InventoryError) as caught:
        _load(tmp_path, text)
    error = caught.value
    assert (error.source, error.line, error.key_path) == (
        str(tmp_path / "hosts.ini"),
        line,
        key_path,
    )
    assert message in error.reason


def test_vars_section_may_precede_the_group_section(tmp_path: Path) -> None:
    inventory = _load(tmp_path, "[web:vars]\nport=2222\n[web]\nweb01\n")
    assert inventory.hosts["web01"].port == 2222


def test_vars_may_target_a_group_declared_in_an_earlier_source(tmp_path: Path) -> None:
    (tmp_path / "a.ini").write_text("[web]\nweb01\n")
    (tmp_path / "b.ini").write_text("[web:vars]\nport=2222\n")
    inventory = load_inventory(
        [str(tmp_path / "a.ini"), str(tmp_path / "b.ini")], environ={}, cwd=tmp_path
    )
    assert inventory.hosts["web01"].port == 2222
