"""Passwords never load from an inventory, whatever their case, nesting or file format.

``password`` and ``ansible_password`` were always refused; a variable named like a password
(``Password``, ``enable_password``, ``sudoPasswd``, ``ssh_pass``) or a key named so inside a
value is refused the same way, naming file, line and key path. Names of environment variables
(``password_env``) and settings about passwords stay accepted.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from remoteops.errors import InventoryError
from remoteops.inventory import load_inventory
from remoteops.inventory.secrets import looks_like_password

REFUSED = "passwords are never stored in the inventory; set password_env: VAR_NAME"


def _load_error(path: Path, text: str) -> InventoryError:
    path.write_text(textwrap.dedent(text))
    with pytest.raises(InventoryError) as caught:
        load_inventory([str(path)], environ={})
    return caught.value


@pytest.mark.parametrize(
    ("text", "line", "key_path"),
    [
        ("all:\n  vars:\n    Password: x\n", 3, "all.vars.Password"),
        ("all:\n  vars:\n    PASSWORD: x\n", 3, "all.vars.PASSWORD"),
        ("all:\n  hosts:\n    sw1:\n      enable_password: x\n", 4,
         "all.hosts.sw1.enable_password"),
        ("all:\n  vars:\n    sudo_password: x\n", 3, "all.vars.sudo_password"),
        ("all:\n  vars:\n    ANSIBLE_PASSWORD: x\n", 3, "all.vars.ANSIBLE_PASSWORD"),
        ("all:\n  vars:\n    db_pass: ''\n", 3, "all.vars.db_pass"),
        ("all:\n  vars:\n    sshPass: x\n", 3, "all.vars.sshPass"),
        ("all:\n  vars:\n    db:\n      user: app\n      password: x\n", 3, "all.vars.db.password"),
        (
            "all:\n  vars:\n    users:\n      - name: a\n      - {name: b, Passwd: x}\n",
            3,
            "all.vars.users[1].Passwd",
        ),
        (
            "all:\n  vars:\n    a: {b: [[{c: {root_password_2: x}}]]}\n",
            3,
            "all.vars.a.b[0][0].c.root_password_2",
        ),
        ("all:\n  vars:\n    db: {ansible_password: !vault '$ANSIBLE_VAULT;1.1'}\n", 3,
         "all.vars.db.ansible_password"),
    ],
)  # fmt: skip
def test_password_named_yaml_variables_are_refused_at_any_depth(
    tmp_path: Path, text: str, line: int, key_path: str
) -> None:
    error = _load_error(tmp_path / "hosts.yml", text)
    assert (error.source, error.line, error.key_path) == (
        str(tmp_path / "hosts.yml"),
        line,
        key_path,
    )
    assert REFUSED in error.reason


@pytest.mark.parametrize(
    ("text", "line", "key_path"),
    [
        ("web01 Sudo_Password=x\n", 1, "ungrouped.hosts.web01.Sudo_Password"),
        ("[web]\nweb01\n[web:vars]\ndb={'user': 'a', 'PASSWORD': 'x'}\n", 4,
         "web.vars.db.PASSWORD"),
        ("[web]\nweb01 creds=\"[{'enable_password': 'x'}]\"\n", 2,
         "web.hosts.web01.creds[0].enable_password"),
    ],
)  # fmt: skip
def test_password_named_ini_variables_are_refused_at_any_depth(
    tmp_path: Path, text: str, line: int, key_path: str
) -> None:
    error = _load_error(tmp_path / "hosts.ini", text)
    assert (error.line, error.key_path) == (line, key_path)
    assert REFUSED in error.reason


def test_a_group_vars_file_with_a_nested_password_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text("web:\n  hosts:\n    web01:\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web.json").write_text('{"app": {"Admin_Password": "x"}}\n')
    with pytest.raises(InventoryError) as caught:
        load_inventory([str(tmp_path / "hosts.yml")], environ={})
    error = caught.value
    assert (error.source, error.key_path) == (
        str(tmp_path / "group_vars" / "web.json"),
        "app.Admin_Password",
    )
    assert REFUSED in error.reason


def test_names_of_variables_and_settings_about_passwords_load(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(
        textwrap.dedent(
            """\
            all:
              hosts:
                sw1:
                  protocol: telnet
                  password_env: SW_PW
                  enable_password_env: SW_ENABLE
                  telnet_password_prompt: "(?i)passcode: $"
                  Password_Env: OTHER
                  bypass_proxy: true
                  compass: north
                  app: {db_password: !vault "$ANSIBLE_VAULT;1.1;AES256\\n6162"}
            """
        )
    )
    host = load_inventory([str(path)], environ={}).hosts["sw1"]
    assert host.vars["enable_password_env"] == "SW_ENABLE"
    assert host.vars["app"] == {"db_password": "$ANSIBLE_VAULT;1.1;AES256\n6162"}


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("password", True), ("Password", True), ("sudo_password", True), ("dbpassword", True),
        ("passwords", True), ("sudoPasswd", True), ("key_passphrase", True), ("PASS", True),
        ("ansible_become_pass", True), ("ssh-pass", True), ("password2", True),
        ("password_env", False), ("enable_password_env", False), ("password_prompt", False),
        ("bypass", False), ("BYPASS", False), ("passenger", False), ("compass", False),
    ],
)  # fmt: skip
def test_which_names_look_like_passwords(name: str, refused: bool) -> None:
    assert looks_like_password(name, "x") is refused
