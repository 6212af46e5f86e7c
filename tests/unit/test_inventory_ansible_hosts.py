"""Host lines as pssh, ssh and Ansible users write them: ``user@host:port``, pssh host files,
become variables, ssh arguments, and a warning for every Ansible variable remoteops ignores."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from remoteops.errors import InventoryError
from remoteops.inventory import load_inventory


def _load(tmp_path: Path, text: str, name: str = "hosts") -> dict[str, dict[str, object]]:
    path = tmp_path / name
    path.write_text(text)
    return {host.name: dict(host.vars) for host in load_inventory([str(path)])}


def test_a_pssh_host_file_is_an_ini_file_of_ungrouped_hosts(tmp_path: Path) -> None:
    hosts = _load(
        tmp_path,
        "# pssh/pdsh hosts\n\nroot@web1:2222\nweb2  # no user\ndeploy@[2001:db8::1]:22\n"
        "[::1]\nops@db[1:2]\n",
        "hosts.txt",
    )
    assert hosts == {
        "web1": {"port": 2222, "user": "root"},
        "web2": {},
        "2001:db8::1": {"port": 22, "user": "deploy"},
        "::1": {},
        "db1": {"user": "ops"},
        "db2": {"user": "ops"},
    }


def test_a_variable_on_the_same_line_beats_user_at_host_port(tmp_path: Path) -> None:
    hosts = _load(tmp_path, "[web]\nroot@web1:2222 ansible_user=deploy ansible_port=22\n")
    assert hosts["web1"] == {"user": "deploy", "port": 22}


def test_user_at_host_in_a_comma_list_and_yaml_keys(tmp_path: Path) -> None:
    listed = load_inventory(["root@web1:2222,web2,"])
    assert dict(listed.hosts["web1"].vars) == {"port": 2222, "user": "root"}
    assert dict(listed.hosts["web2"].vars) == {}
    hosts = _load(tmp_path, "all:\n  hosts:\n    admin@db1:2200:\n", "hosts.yml")
    assert hosts == {"db1": {"port": 2200, "user": "admin"}}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("web1:abc", "port 'abc' must be an integer from 1 to 65535"),
        ("@web1", "'@web1': no user before '@' (write user@host)"),
        ("root@", "empty host name"),
        (
            "web1 root",
            "expected key=value after the host name, got 'root' (for a login user write "
            "root@web1, as in ssh and pssh)",
        ),
    ],
)
def test_a_malformed_host_file_line_is_named_by_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    with pytest.raises(InventoryError) as caught:
        _load(tmp_path, f"# hosts\nweb0\n{line}\n")
    assert caught.value.source == str(tmp_path / "hosts")
    assert caught.value.line == 3
    assert caught.value.reason == message


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        ("root @web1,", "a host entry holds no spaces"),
        ("root@ web1,", "a host entry holds no spaces"),
        ("-oProxyCommand=x,", "a host name cannot start with '-'"),
        ("-l@web1,", "a user name cannot start with '-'"),
    ],
)
def test_a_comma_list_entry_with_spaces_or_a_leading_dash_is_refused(
    listed: str, message: str
) -> None:
    """``root @web1`` gave the user ``'root '``; a name read as an option is refused too."""
    with pytest.raises(InventoryError, match=message):
        load_inventory([listed])


def test_become_variables_map_onto_sudo(tmp_path: Path) -> None:
    hosts = _load(
        tmp_path,
        "[web]\nweb1\n[web:vars]\nansible_become=yes\nansible_become_user=postgres\n"
        "ansible_become_password_env=BECOME_PW\nansible_become_method=sudo\n",
    )
    assert hosts["web1"] == {
        "sudo": True,
        "sudo_user": "postgres",
        "sudo_password_env": "BECOME_PW",
        "ansible_become_method": "sudo",
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "web1 ansible_become_password=s3cret",
            "'ansible_become_password': passwords are never stored in the inventory; set "
            "sudo_password_env (or ansible_become_password_env): VAR_NAME and export VAR_NAME",
        ),
        ("web1 ansible_become_method=su", "ansible_become_method must be one of sudo, not 'su'"),
        (
            "web1 ansible_become=maybe",
            "ansible_become must be true or false (yes/no, on/off, 1/0), not 'maybe'",
        ),
        (
            "web1 ansible_ssh_extra_args='-p 0'",
            "ansible_ssh_extra_args -p 0: port must be an integer from 1 to 65535, not '0'",
        ),
    ],
)
def test_become_and_ssh_argument_mistakes_are_refused_where_written(
    tmp_path: Path, line: str, message: str
) -> None:
    with pytest.raises(InventoryError) as caught:
        _load(tmp_path, line + "\n")
    assert (caught.value.source, caught.value.line) == (str(tmp_path / "hosts"), 1)
    assert caught.value.reason == message


def test_ssh_arguments_fill_settings_left_unset_and_warn_about_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "remoteops")
    hosts = _load(
        tmp_path,
        "[web]\nweb1\nweb2 jump_host=other\nbastion ansible_ssh_common_args=''\n"
        "[web:vars]\nansible_ssh_common_args='-o ProxyJump=bastion -o StrictHostKeyChecking=no "
        "-o UserKnownHostsFile=/etc/kh -C'\nansible_ssh_extra_args='-o Port=2222 -p 2200'\n",
    )
    assert hosts["web1"]["jump_host"] == "bastion"
    assert hosts["web1"]["known_hosts_file"] == "/etc/kh"
    assert hosts["web1"]["port"] == 2222  # ssh keeps the first value it reads
    assert hosts["web2"]["jump_host"] == "other"  # set as itself: the arguments do not win
    assert "jump_host" not in hosts["bastion"]  # its own empty arguments replace the group's
    assert "known_hosts_file" not in hosts["bastion"]
    warned = [record.getMessage() for record in caplog.records]
    where = f"{tmp_path / 'hosts'}:6"
    assert sorted(warned) == sorted(
        [
            f"{where}: ansible_ssh_common_args: -o StrictHostKeyChecking=no is ignored: the "
            "inventory never relaxes host key checks (-O StrictHostKeyChecking=... or "
            "~/.ssh/config can; --accept-new-host-keys trusts and records new ones)",
            f"{where}: ansible_ssh_common_args: -C is ignored: remoteops has no equivalent setting",
            f"{where}: ansible_ssh_common_args: -o ProxyJump=bastion is ignored: jump_host is "
            "set as itself",
            f"{tmp_path / 'hosts'}:7: ansible_ssh_extra_args: -p 2200 is ignored: ssh takes the "
            "first one, -o Port=2222",
        ]
    )


def test_every_ansible_variable_remoteops_ignores_is_named_once_per_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "remoteops")
    _load(
        tmp_path,
        "[web]\nweb[1:5] ansible_python_interpreter=/usr/bin/python3\n"
        "[web:vars]\nansible_shell_type=sh\nansible_become_exe=/opt/sudo\nmy_own_var=1\n",
    )
    warned = sorted(record.getMessage() for record in caplog.records)
    assert warned == [
        f"{tmp_path / 'hosts'}:4: ansible_shell_type is not read by remoteops (ignored)",
        f"{tmp_path / 'hosts'}:5: ansible_become_exe is not read by remoteops (ignored)",
    ]


def test_one_host_given_two_logins_is_a_warning_naming_both_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In a pssh host file ``web1:22`` and ``web1:2222`` are two targets; here they are one
    host whose later login wins, which must not pass unsaid. A bare name beside a login (a
    host listed again in another group) and a repeated identical line say nothing."""
    caplog.set_level(logging.WARNING, "remoteops")
    hosts = _load(
        tmp_path,
        "web1:22\nroot@db1\nweb1:2222\n[app]\ndb1\nroot@db1\n[web]\nweb1\n",
        "hosts.txt",
    )
    assert hosts["web1"] == {"port": 2222}
    source = tmp_path / "hosts.txt"
    assert [record.getMessage() for record in caplog.records] == [
        f"{source}:3: web1 is listed as web1:22 ({source}:1) and as web1:2222: one host, whose "
        "later login wins; to reach both, give each its own name with ansible_host"
    ]
    caplog.clear()
    load_inventory(["root@[::1]:22,[::1]:23,"])
    (warning,) = [record.getMessage() for record in caplog.records]
    assert "::1 is listed as root@[::1]:22 (root@[::1]:22,[::1]:23,) and as [::1]:23" in warning
