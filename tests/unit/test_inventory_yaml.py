"""YAML inventories: Ansible's structure, aliases, ranges, and errors that name file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from remoteops.errors import InventoryError
from remoteops.inventory import Group, Host, Inventory, load_inventory


def _load(tmp_path: Path, text: str, name: str = "hosts.yml") -> Inventory:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_inventory([str(path)], environ={}, cwd=tmp_path)


def _error(tmp_path: Path, text: str, name: str = "hosts.yml") -> InventoryError:
    with pytest.raises(InventoryError) as caught:
        _load(tmp_path, text, name)
    return caught.value


def test_structure_ranges_ports_and_aliases(tmp_path: Path) -> None:
    inventory = _load(
        tmp_path,
        """\
        all:
          hosts:
            bastion:
              ansible_host: 203.0.113.5
              ansible_ssh_private_key_file: ~/.ssh/bastion
          children:
            web:
              hosts:
                web[01:02].example.com:
                web03.example.com:2222:
                  ansible_user: deploy
                  ansible_connection: paramiko
                  ansible_timeout: 7.5
                  password_env: WEB_PASSWORD
                  jump_host: bastion
                  known_hosts_file: /etc/ssh/known_hosts
                  http_port: 8080
            local:
              hosts:
                controller:
                  ansible_connection: local
        """,
    )
    assert list(inventory.hosts) == [
        "bastion",
        "web01.example.com",
        "web02.example.com",
        "web03.example.com",
        "controller",
    ]
    assert inventory.hosts["bastion"] == Host(
        "bastion",
        {"address": "203.0.113.5", "identity_file": "~/.ssh/bastion"},
        ("all", "ungrouped"),
    )
    assert inventory.hosts["web01.example.com"] == Host("web01.example.com", {}, ("all", "web"))
    web03 = inventory.hosts["web03.example.com"]
    assert web03.vars == {
        "port": 2222,
        "user": "deploy",
        "protocol": "ssh",
        "connect_timeout": 7.5,
        "password_env": "WEB_PASSWORD",
        "jump_host": "bastion",
        "known_hosts_file": "/etc/ssh/known_hosts",
        "http_port": 8080,
    }
    assert (web03.port, web03.user, web03.protocol, web03.connect_timeout) == (
        2222,
        "deploy",
        "ssh",
        7.5,
    )
    assert inventory.hosts["controller"].protocol == "local"
    assert inventory.groups["web"] == Group(
        "web", ("web01.example.com", "web02.example.com", "web03.example.com")
    )
    assert inventory.groups["all"].children == ("web", "local", "ungrouped")
    assert inventory.groups["ungrouped"].hosts == ("bastion",)
    assert len(inventory) == 5


def test_groups_outside_all_are_children_of_all_and_groups_merge(tmp_path: Path) -> None:
    inventory = _load(
        tmp_path,
        """\
        web:
          hosts:
            web1:
        db:
          hosts:
            db1:
          vars:
            port: 5432
        all:
          children:
            web:
              hosts:
                web2:
              vars:
                tier: front
        """,
    )
    assert list(inventory.hosts) == ["web1", "db1", "web2"]
    assert inventory.group_hosts("web") == ["web1", "web2"]
    assert inventory.groups["web"].vars == {"tier": "front"}
    assert inventory.hosts["db1"].vars == {"port": 5432}
    assert inventory.hosts["web1"].groups == ("all", "web")


def test_anchors_merge_keys_and_ansible_tags(tmp_path: Path) -> None:
    inventory = _load(
        tmp_path,
        """\
        all:
          vars:
            common: &common
              ntp: ntp.example.com
              dns: [10.0.0.1, 10.0.0.2]
            template: !unsafe "{{ not_templated }}"
            db_password: !vault |
              $ANSIBLE_VAULT;1.1;AES256
              6162
          hosts:
            h1:
              <<: *common
              port: 22
        """,
    )
    assert inventory.hosts["h1"].vars == {
        "common": {"ntp": "ntp.example.com", "dns": ["10.0.0.1", "10.0.0.2"]},
        "template": "{{ not_templated }}",
        "db_password": "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
        "ntp": "ntp.example.com",
        "dns": ["10.0.0.1", "10.0.0.2"],
        "port": 22,
    }


@pytest.mark.parametrize("text", ["", "# only comments\n", "---\n", "~\n"])
def test_empty_documents_give_an_empty_inventory(tmp_path: Path, text: str) -> None:
    inventory = _load(tmp_path, text)
    assert len(inventory) == 0
    assert sorted(inventory.groups) == ["all", "ungrouped"]


def test_json_inventory(tmp_path: Path) -> None:
    inventory = _load(
        tmp_path,
        '{"all": {"hosts": {"h1": {"ansible_port": "2200"}}, "children": {"g": {"hosts": '
        '{"h2": null}}}}}',
        name="hosts.json",
    )
    assert [(host.name, dict(host.vars), host.groups) for host in inventory] == [
        ("h1", {"port": 2200}, ("all", "ungrouped")),
        ("h2", {}, ("all", "g")),
    ]


_WEB = "all.children.web"


@pytest.mark.parametrize(
    ("text", "line", "key_path", "message"),
    [
        pytest.param(
            "all:\n  hosts:\n    web01:\n      port: [1, 2\n",
            5,
            None,
            "invalid YAML: while parsing a flow sequence, "
            "expected ',' or ']', but got '<stream end>'",
            id="syntax",
        ),
        pytest.param(
            "all:\n  hosts:\n  web01:\n     port: 1\n   user: x\n",
            5,
            None,
            "invalid YAML: while parsing a block mapping, expected <block end>, "
            "but found '<block mapping start>'",
            id="indentation",
        ),
        pytest.param(
            "all:\n\thosts:\n",
            2,
            None,
            "found character '\\t' that cannot start any token",
            id="tab",
        ),
        pytest.param(
            "a: 1\n---\nb: 2\n",
            2,
            None,
            "expected a single document in the stream, but found another document",
            id="two-documents",
        ),
        pytest.param(
            "all:\n  vars:\n    x: !python/object foo\n",
            3,
            "all.vars.x",
            "invalid value: could not determine a constructor",
            id="unsafe-tag",
        ),
        pytest.param(
            "- web01\n- web02\n", 1, None, "a mapping of group names", id="top-level-list"
        ),
        pytest.param(
            "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n",
            1,
            None,
            "inventory plugin configurations",
            id="plugin-config",
        ),
        pytest.param(
            "all:\n  children:\n    web:\n      hosts:\n        - web01\n        - web02\n",
            5,
            f"{_WEB}.hosts",
            "hosts of group 'web' must be a mapping of host names to variables "
            "(write 'name:' on its own line), not a list",
            id="hosts-list",
        ),
        pytest.param(
            "all:\n  children:\n    web: [web01, web02]\n",
            3,
            _WEB,
            "group 'web' must be a mapping with hosts, vars or children, not a list",
            id="group-list",
        ),
        pytest.param(
            "all:\n  children:\n    web: web01\n",
            3,
            _WEB,
            "group 'web' must be a mapping with hosts, vars or children, not the value 'web01'",
            id="group-string",
        ),
        pytest.param(
            "all:\n  children:\n    web:\n      host:\n        web01:\n",
            4,
            f"{_WEB}.host",
            "unknown key 'host' in group 'web'; a group has only hosts, vars, children",
            id="unknown-group-key",
        ),
        pytest.param(
            "all:\n  children:\n    - web\n",
            3,
            "all.children",
            "children of group 'all' must be a mapping of group names, not a list",
            id="children-list",
        ),
        pytest.param(
            "all:\n  children:\n    web:\n      children:\n        web:\n",
            5,
            f"{_WEB}.children.web",
            "group 'web' cannot be a child of itself",
            id="self-child",
        ),
        pytest.param(
            "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n"
            "            a:\n",
            7,
            "all.children.a.children.b.children.a",
            "group 'a' cannot be a child of 'b': cycle b -> a -> b",
            id="cycle",
        ),
        pytest.param(
            "all:\n  children:\n    web:\n      children:\n        all:\n",
            5,
            f"{_WEB}.children.all",
            "group 'all' cannot be a child of group 'web'",
            id="all-as-child",
        ),
        pytest.param(
            "all:\n  children:\n    web:\n      hosts:\n        web01: up\n",
            5,
            f"{_WEB}.hosts.web01",
            "variables must be a mapping of names to values, not the value 'up'",
            id="host-vars-string",
        ),
        pytest.param(
            "all:\n  vars:\n    - port\n",
            3,
            "all.vars",
            "variables must be a mapping of names to values, not a list",
            id="vars-list",
        ),
        pytest.param(
            "all:\n  hosts:\n    web[3:1]:\n",
            3,
            "all.hosts.web[3:1]",
            "host range 'web[3:1]': start 3 is after end 1",
            id="bad-range",
        ),
        pytest.param(
            "all:\n  hosts:\n    web01:99999:\n",
            3,
            "all.hosts.web01:99999",
            "port '99999' must be an integer from 1 to 65535",
            id="bad-host-port",
        ),
        pytest.param(
            "all:\n  children:\n    web:\n      hosts:\n        web01:\n          port: 70000\n",
            6,
            f"{_WEB}.hosts.web01.port",
            "port must be an integer from 1 to 65535, not 70000",
            id="port-range",
        ),
        pytest.param(
            "all:\n  hosts:\n    web01:\n      ansible_port: ssh\n",
            4,
            "all.hosts.web01.ansible_port",
            "port must be an integer from 1 to 65535, not 'ssh'",
            id="port-alias-type",
        ),
        pytest.param(
            "all:\n  hosts:\n    web01:\n      port: true\n",
            4,
            "all.hosts.web01.port",
            "not True",
            id="port-bool",
        ),
        pytest.param(
            "all:\n  vars:\n    ansible_connection: winrm\n",
            3,
            "all.vars.ansible_connection",
            "ansible_connection 'winrm' is not supported; use one of ssh, local, ftp, ftps, telnet",
            id="connection",
        ),
        pytest.param(
            "all:\n  vars:\n    protocol: smb\n",
            3,
            "all.vars.protocol",
            "protocol 'smb' is not supported",
            id="protocol",
        ),
        pytest.param(
            "all:\n  vars:\n    connect_timeout: 0\n",
            3,
            "all.vars.connect_timeout",
            "connect_timeout must be a positive number, not 0",
            id="timeout-zero",
        ),
        pytest.param(
            "all:\n  vars:\n    ansible_timeout: soon\n",
            3,
            "all.vars.ansible_timeout",
            "connect_timeout must be a positive number, not 'soon'",
            id="timeout-text",
        ),
        pytest.param(
            "all:\n  vars:\n    password_env: my password\n",
            3,
            "all.vars.password_env",
            "password_env must be the name of an environment variable",
            id="password-env",
        ),
        pytest.param(
            "all:\n  vars:\n    user: 1000\n",
            3,
            "all.vars.user",
            "user must be a non-empty string, not 1000",
            id="user-int",
        ),
        pytest.param(
            "all:\n  hosts:\n    web01:\n      ansible_host: a\n      address: b\n",
            5,
            "all.hosts.web01.address",
            "'ansible_host' and 'address' both set 'address'; keep one",
            id="two-spellings",
        ),
        pytest.param(
            "all:\n  children:\n    web:\n      vars:\n        ansible_group_priority: high\n",
            5,
            f"{_WEB}.vars.ansible_group_priority",
            "ansible_group_priority must be an integer, not 'high'",
            id="priority",
        ),
        pytest.param(
            "all:\n  hosts:\n    web01:\n      password: hunter2\n",
            4,
            "all.hosts.web01.password",
            "'password': passwords are never stored in the inventory; "
            "set password_env: VAR_NAME and export VAR_NAME",
            id="password",
        ),
        pytest.param(
            "all:\n  children:\n    web:\n      vars:\n        ansible_become_pass: x\n",
            5,
            f"{_WEB}.vars.ansible_become_pass",
            "passwords are never stored in the inventory",
            id="become-pass",
        ),
        pytest.param(
            "all:\n  hosts:\n    ? [a, b]\n",
            3,
            "all.hosts",
            "expected a name here, found a list",
            id="list-as-key",
        ),
    ],
)
def test_errors_name_file_line_and_key_path(
    tmp_path: Path, text: str, line: int, key_path: str | None, message: str
) -> None:
    error = _error(tmp_path, text)
    assert (error.source, error.line, error.key_path) == (
        str(tmp_path / "hosts.yml"),
        line,
        key_path,
    )
    assert message in error.reason
    assert str(error).startswith(f"{tmp_path / 'hosts.yml'}:{line}")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(22, 22), ("2222", 2222), (65535, 65535)],
)
def test_port_values_accepted(tmp_path: Path, value: Any, expected: int) -> None:
    inventory = _load(tmp_path, f"all:\n  hosts:\n    h:\n      port: {value!r}\n")
    assert inventory.hosts["h"].port == expected
