"""Logins and privilege written the pssh / ssh / Ansible way, against the real playground sshd.

``user@host:port`` in an INI host line, a pssh host file and an ad-hoc comma list sets the login
user and port; ``ansible_become`` / ``ansible_become_user`` / ``ansible_become_password_env``
turn sudo on for that host's ``run`` commands and task steps, with no ``--sudo``. Every host
runs as the playground's non-root sudo user, whose sudo asks for a password, so ``id -un``
printing ``root`` proves sudo ran.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import by_host, json_lines, remoteops

from remoteops.inventory import load_inventory
from remoteops.inventory.model import Host
from remoteops.playground import PlaygroundState

pytestmark = pytest.mark.usefixtures("requires_root")


@pytest.fixture(scope="module")
def hosts(playground: PlaygroundState) -> list[Host]:
    return load_inventory([str(playground.inventory_path)]).select("all")[:2]


@pytest.fixture(scope="module")
def sudo_user(playground: PlaygroundState) -> str:
    assert playground.sudo_user is not None
    return playground.sudo_user


@pytest.fixture(scope="module")
def sudo_password(playground: PlaygroundState) -> str:
    assert playground.sudo_password_file is not None
    return playground.sudo_password_file.read_text().strip()


def _key_vars(host: Host) -> str:
    """The playground's key and known_hosts, as INI ``[all:vars]`` lines."""
    return f"identity_file={host.identity_file}\nknown_hosts_file={host.known_hosts_file}\n"


def _entry(host: Host, user: str) -> str:
    return f"{user}@{host.address}:{host.port}"


def test_user_at_host_port_in_a_pssh_host_file_logs_in_as_that_user(
    tmp_path: Path, hosts: list[Host], sudo_user: str
) -> None:
    """A pssh host file (comments, blank lines, ``user@host:port``) is read as ``-i FILE``;
    its [all:vars] come from a second source, as pssh's own options would."""
    host_file = tmp_path / "pssh-hosts"
    host_file.write_text(
        "# pssh host file\n\n"
        + "".join(f"{_entry(host, sudo_user)}  # web\n" for host in hosts)
        + "\n"
    )
    keys = tmp_path / "keys.ini"
    keys.write_text("[all:vars]\n" + _key_vars(hosts[0]))
    run = remoteops(
        "run", "-i", str(host_file), "-i", str(keys), "-o", "json", "id -un; echo $SSH_CONNECTION"
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    results = by_host(run.stdout)
    assert sorted(results) == sorted(str(host.address) for host in hosts)
    for host in hosts:
        user, connection = results[host.address]["stdout"].splitlines()
        assert user == sudo_user
        assert connection.split()[-1] == str(host.port)


def test_user_at_host_port_in_an_ad_hoc_list_logs_in_as_that_user_and_a_var_on_the_line_wins(
    tmp_path: Path, hosts: list[Host], sudo_user: str
) -> None:
    first, second = hosts
    keys = tmp_path / "keys.ini"
    # an explicit ansible_user on the host's own line beats its user@ (as ansible_port beats :port)
    keys.write_text(
        f"[mixed]\n{_entry(second, sudo_user)} ansible_user=root\n[all:vars]\n" + _key_vars(first)
    )
    listed = f"{_entry(first, sudo_user)},"
    run = remoteops("run", "-i", listed, "-i", str(keys), "-o", "json", "id -un")
    assert run.returncode == 0, run.stderr
    results = by_host(run.stdout)
    assert results[first.address]["stdout"] == f"{sudo_user}\n"
    assert results[second.address]["stdout"] == "root\n"


def _become_inventory(tmp_path: Path, hosts: list[Host], sudo_user: str, extra: str) -> Path:
    inventory = tmp_path / "hosts.ini"
    lines = "".join(
        f"{host.name} ansible_host={host.address} ansible_port={host.port}\n" for host in hosts
    )
    inventory.write_text(
        f"[web]\n{lines}[web:vars]\nansible_user={sudo_user}\n{extra}\n"
        "[all:vars]\n" + _key_vars(hosts[0])
    )
    return inventory


def test_ansible_become_runs_the_hosts_commands_through_sudo_with_the_password_from_env(
    tmp_path: Path, hosts: list[Host], sudo_user: str, sudo_password: str
) -> None:
    inventory = _become_inventory(
        tmp_path,
        hosts,
        sudo_user,
        "ansible_become=true\nansible_become_password_env=ROPTEST_BECOME_PW",
    )
    run = remoteops(
        "run", "-i", str(inventory), "-o", "json", "id -un",
        env={"ROPTEST_BECOME_PW": sudo_password},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert {r["stdout"] for r in by_host(run.stdout).values()} == {"root\n"}
    assert sudo_password.encode() not in run.stdout + run.stderr

    unset = remoteops("run", "-i", str(inventory), "-o", "json", "id -un")
    assert unset.returncode != 0
    for result in by_host(unset.stdout).values():
        assert result["status"] == "auth"
        assert (
            result["error"] == "sudo_password_env ROPTEST_BECOME_PW is not set in the environment"
        )


def test_ansible_become_user_says_whom_and_alone_turns_nothing_on(
    tmp_path: Path, hosts: list[Host], sudo_user: str, sudo_password: str
) -> None:
    env = {"ROPTEST_BECOME_PW": sudo_password}
    only_user = _become_inventory(
        tmp_path,
        hosts,
        sudo_user,
        "ansible_become_user=nobody\nsudo_password_env=ROPTEST_BECOME_PW",
    )
    run = remoteops("run", "-i", str(only_user), "-o", "json", "id -un", env=env)
    assert run.returncode == 0, run.stderr
    assert {r["stdout"] for r in by_host(run.stdout).values()} == {f"{sudo_user}\n"}
    # --sudo alone takes the inventory's user, as ansible -b takes ansible_become_user
    run = remoteops("run", "-i", str(only_user), "-o", "json", "--sudo", "id -un", env=env)
    assert run.returncode == 0, run.stderr
    assert {r["stdout"] for r in by_host(run.stdout).values()} == {"nobody\n"}

    (tmp_path / "on").mkdir()
    become = _become_inventory(
        tmp_path / "on",
        hosts,
        sudo_user,
        "ansible_become=yes\nansible_become_user=nobody\nsudo_password_env=ROPTEST_BECOME_PW",
    )
    run = remoteops("run", "-i", str(become), "-o", "json", "id -un", env=env)
    assert run.returncode == 0, run.stderr
    assert {r["stdout"] for r in by_host(run.stdout).values()} == {"nobody\n"}


def test_ansible_become_applies_to_task_steps(
    tmp_path: Path, hosts: list[Host], sudo_user: str, sudo_password: str
) -> None:
    inventory = _become_inventory(
        tmp_path,
        hosts,
        sudo_user,
        "ansible_become=true\nansible_become_password_env=ROPTEST_BECOME_PW",
    )
    task = tmp_path / "who.yml"
    task.write_text("steps:\n  - name: who\n    run: id -un\n")
    run = remoteops(
        "task", str(task), "-i", str(inventory), "-o", "json",
        env={"ROPTEST_BECOME_PW": sudo_password},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    steps = [line for line in json_lines(run.stdout) if line["step"] == 0]
    assert sorted(line["host"] for line in steps) == sorted(host.name for host in hosts)
    assert {line["stdout"] for line in steps} == {"root\n"}
