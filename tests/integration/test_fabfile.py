"""Fabric fabfiles run unchanged on the real playground hosts, through remoteops' own
connections: the same end state as ``fab`` itself leaves, one connection per host across
commands and tasks, failures as statuses, sudo with a password.

The playground has four hosts sharing this machine's file system; where five hosts are
wanted, the fifth is a second inventory name (and a second ``Host`` alias for ``fab``) for
the first host's address, and each run writes under its own folder, one subfolder per host.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from remoteops import Fleet, Status
from remoteops.inventory import Inventory, load_inventory
from remoteops.inventory.model import Host
from remoteops.playground import PlaygroundState
from remoteops.results import ExitCode
from remoteops.tasks.fabfile import Fabfile, fabric_config, load_fabfile, run_fabfile
from remoteops.tasks.runner import TaskReport
from tests.integration.conftest import with_vars

EXAMPLE = Path(__file__).parents[2] / "examples" / "fabfile.py"
FAB = Path(sys.executable).with_name("fab")
PASSWORD_ENV = "REMOTEOPS_TEST_SUDO_PASSWORD"


def write_fabfile(folder: Path, body: str) -> Fabfile:
    path = folder / "fabfile.py"
    path.write_text("from fabric import task\n\n" + textwrap.dedent(body))
    return load_fabfile(path)


def run_on(hosts: list[Host], inventory: Inventory, fabfile: Fabfile, *argv: str) -> TaskReport:
    with Fleet(hosts, inventory=inventory) as fleet:
        return run_fabfile(fleet, fabfile, fabfile.calls(argv))


def task_output(report: TaskReport, host: str) -> list[str]:
    return [s.result.stdout.decode() for s in report.by_host[host].steps]


# -- the same end state as fab ----------------------------------------------------------------


@pytest.fixture
def five_hosts(playground: PlaygroundState, reachable: Path) -> tuple[Path, list[str]]:
    """An inventory of five names over the playground's hosts, logging in as its sudo user."""
    assert playground.sudo_user is not None
    loaded = load_inventory([str(playground.inventory_path)])
    hosts = loaded.select("all")[:4]
    chosen = [*hosts, hosts[0]]
    names = [h.name for h in hosts] + [f"{hosts[0].name}-again"]
    entries = {
        name: {"address": h.address, "port": h.port or 22}
        for name, h in zip(names, chosen, strict=True)
    }
    common = {k: v for k, v in hosts[0].vars.items() if k not in ("address", "port")}
    inventory = reachable / "inventory.yml"
    inventory.write_text(
        yaml.safe_dump(
            {"all": {"vars": {**common, "user": playground.sudo_user}, "hosts": entries}}
        )
    )
    return inventory, names


def fab_ssh_config(folder: Path, inventory: Path, playground: PlaygroundState) -> Path:
    """The same hosts for ``fab``: one ``Host`` alias per inventory name."""
    loaded = yaml.safe_load(inventory.read_text())["all"]
    lines = []
    for name, entry in loaded["hosts"].items():
        lines += [
            f"Host {name}",
            f"    HostName {entry['address']}",
            f"    Port {entry['port']}",
            f"    User {playground.sudo_user}",
            f"    IdentityFile {playground.client_key_path}",
        ]
    config = folder / "ssh_config"
    config.write_text("\n".join(lines) + "\n")
    return config


def tree_state(root: Path) -> dict[str, object]:
    """Every path under ``root`` with its kind, mode, owner and content (``root`` itself
    written ``<root>`` in texts and link targets), so runs under two roots compare equal."""
    state: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            state[key] = ("link", os.readlink(path).replace(str(root), "<root>"))
        elif path.is_dir():
            state[key] = ("dir", path.stat().st_mode & 0o7777)
        else:
            info = path.stat()
            owner = "root" if info.st_uid == 0 else "user"
            text = path.read_text().replace(str(root), "<root>")
            state[key] = ("file", info.st_mode & 0o7777, owner, text)
    return state


@pytest.mark.usefixtures("requires_root")
def test_the_example_fabfile_leaves_the_state_fab_itself_leaves(
    playground: PlaygroundState, five_hosts: tuple[Path, list[str]], reachable: Path
) -> None:
    inventory, names = five_hosts
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    ours, theirs = reachable / "remoteops", reachable / "fab"
    ours.mkdir(mode=0o777)
    theirs.mkdir(mode=0o777)
    ours.chmod(0o777)
    theirs.chmod(0o777)
    env = {**os.environ, PASSWORD_ENV: password, "NO_COLOR": "1"}
    task = ["deploy", "--tag", "v2"]

    run = subprocess.run(
        [sys.executable, "-m", "remoteops", "fab", "-f", str(EXAMPLE), "-i", str(inventory),
         "--sudo-password-env", PASSWORD_ENV, *task, "--root", str(ours)],
        capture_output=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr.decode()
    assert password not in (run.stdout + run.stderr).decode()
    ssh_config = fab_ssh_config(reachable, inventory, playground)
    fab_config = reachable / "fabric.yml"  # fab reads stdin, which is closed here: not that
    fab_config.write_text("run:\n  in_stream: false\n")
    fab = subprocess.run(
        [str(FAB), "-S", str(ssh_config), "-f", str(fab_config), "-r", str(EXAMPLE.parent),
         "-H", ",".join(names), *task, "--root", str(theirs)],
        capture_output=True, env={**env, "FABRIC_SUDO_PASSWORD": password}, timeout=120,
        check=False,
    )  # fmt: skip
    assert fab.returncode == 0, fab.stderr.decode()

    expected = tree_state(theirs)
    assert sorted({key.split("/")[0] for key in expected}) == sorted(names)
    assert expected[f"{names[0]}/deployed-by"] == ("file", 0o444, "root", "root\n")
    assert expected[f"{names[4]}/releases/v2/VERSION"][-1] == "v2\n"  # type: ignore[index]
    assert tree_state(ours) == expected


# -- one connection, statuses, sudo -----------------------------------------------------------


def test_one_connection_per_host_across_commands_tasks_and_a_close(
    ssh_hosts: list[Host], fleet: Inventory, tmp_path: Path
) -> None:
    fabfile = write_fabfile(
        tmp_path,
        """
        PORT = "echo port=$(echo $SSH_CONNECTION | cut -d' ' -f2)"

        @task
        def twice(c):
            c.run(PORT)
            c.close()  # a task's own close: the Fleet keeps the connection
            c.run(PORT)

        @task
        def again(c):
            with c.sftp().open("/dev/null", "w"):
                pass
            c.run(PORT)
        """,
    )
    hosts = ssh_hosts[:3]
    report = run_on(hosts, fleet, fabfile, "twice", "again")
    assert report.exit_code == ExitCode.OK, report.hosts[0].error
    first_ports = set()
    for host in hosts:
        seen = "".join(task_output(report, host.name)).split()
        assert len(seen) == 3, seen
        assert len(set(seen)) == 1, seen
        first_ports.add(seen[0])
    assert len(first_ports) == len(hosts)


def test_a_raising_task_a_failing_command_and_an_unreachable_host_end_apart(
    ssh_hosts: list[Host], fleet: Inventory, tmp_path: Path
) -> None:
    raiser, failer, fine = ssh_hosts[:3]
    down = with_vars(ssh_hosts[3], port=1)
    fabfile = write_fabfile(
        tmp_path,
        f"""
        @task
        def step(c):
            if c.original_host == {raiser.name!r}:
                raise RuntimeError("no luck here")
            c.run("exit 3" if c.original_host == {failer.name!r} else "echo fine")

        @task
        def after(c):
            c.run("echo after")
        """,
    )
    report = run_on([raiser, failer, fine, down], fleet, fabfile, "step", "after")
    by = report.by_host
    assert by[raiser.name].status is Status.FAILED
    assert by[raiser.name].error == "task step: RuntimeError: no luck here"
    assert by[failer.name].status is Status.FAILED
    assert by[failer.name].steps[0].result.exit_code == 3
    assert "exited with 3" in (by[failer.name].error or "")
    assert by[down.name].status is Status.UNREACHABLE
    assert by[fine.name].status is Status.OK
    assert task_output(report, fine.name) == ["fine\n", "after\n"]
    assert [len(by[h.name].steps) for h in (raiser, failer, down)] == [1, 1, 1]
    assert report.exit_code == ExitCode.BOTH_FAILED


@pytest.mark.usefixtures("requires_root")
def test_sudo_answers_with_the_given_password_and_a_wrong_one_fails_the_host(
    ssh_hosts: list[Host], fleet: Inventory, playground: PlaygroundState, tmp_path: Path
) -> None:
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    fabfile = write_fabfile(
        tmp_path,
        """
        @task
        def who(c):
            c.run("id -un")
            c.sudo("id -un")
        """,
    )
    host = with_vars(ssh_hosts[0], user=playground.sudo_user)
    calls = fabfile.calls(["who"])
    with Fleet([host], inventory=fleet) as kept:
        right = run_fabfile(
            kept, fabfile, calls, config=fabric_config(fabfile, sudo_password=password)
        )
        wrong = run_fabfile(
            kept, fabfile, calls, config=fabric_config(fabfile, sudo_password="not-" + password)
        )
    assert right.exit_code == ExitCode.OK, right
    out = task_output(right, host.name)[0]
    assert out.splitlines() == [playground.sudo_user, "root"]
    assert password not in out + "".join(s.result.stderr.decode() for s in right.hosts[0].steps)
    assert wrong.hosts[0].status is Status.FAILED
    assert "was rejected" in (wrong.hosts[0].error or "")
    assert password not in (wrong.hosts[0].error or "")


# -- what a task may do to the process and the connection --------------------------------------


def test_sys_exit_keyboard_interrupt_and_a_base_exception_fail_only_their_host(
    ssh_hosts: list[Host], fleet: Inventory, tmp_path: Path
) -> None:
    exiter, interrupter, odd = ssh_hosts[:3]
    fabfile = write_fabfile(
        tmp_path,
        f"""
        import sys

        class Odd(BaseException):
            pass

        @task
        def step(c):
            if c.original_host == {exiter.name!r}:
                sys.exit(3)
            if c.original_host == {interrupter.name!r}:
                raise KeyboardInterrupt
            raise Odd("strange")
        """,
    )
    report = run_on([exiter, interrupter, odd], fleet, fabfile, "step")
    by = report.by_host
    assert by[exiter.name].status is Status.FAILED
    assert by[exiter.name].error == "task step: the task called sys.exit(3)"
    assert by[interrupter.name].status is Status.CANCELLED
    assert "KeyboardInterrupt" in (by[interrupter.name].error or "")
    assert by[odd.name].status is Status.FAILED
    assert by[odd.name].error == "task step: Odd: strange"
    assert "internal error" not in str([by[h.name].error for h in (exiter, interrupter, odd)])


def test_reconnecting_the_bound_client_to_its_host_is_a_no_op_and_elsewhere_a_failure(
    ssh_hosts: list[Host], fleet: Inventory, tmp_path: Path
) -> None:
    same, other = ssh_hosts[:2]
    fabfile = write_fabfile(
        tmp_path,
        f"""
        @task
        def again(c):
            if c.original_host == {same.name!r}:
                c.client.connect(c.host, port=c.port, username=c.user)
            else:
                c.client.connect("192.0.2.1")
            c.run("echo still here")
        """,
    )
    report = run_on([same, other], fleet, fabfile, "again")
    assert report.by_host[same.name].status is Status.OK, report
    assert task_output(report, same.name) == ["still here\n"]
    assert report.by_host[other.name].status is Status.FAILED
    assert "may not reconnect" in (report.by_host[other.name].error or "")


def test_a_connection_the_task_makes_checks_host_keys_and_its_output_is_the_hosts(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    """The task's host knows its own key but not the other's (Fabric would add it)."""
    runner, stranger = ssh_hosts[:2]
    known = tmp_path / "known_hosts"
    original = Path(str(runner.vars["known_hosts_file"])).read_text().splitlines()
    known.write_text(
        "\n".join(line for line in original if not line.startswith(stranger.address + " ")) + "\n"
    )
    host = with_vars(runner, known_hosts_file=str(known))
    fabfile = write_fabfile(
        tmp_path,
        f"""
        from fabric import Connection

        KEY = {{"key_filename": {str(playground.client_key_path)!r}}}

        @task
        def mine(c):
            with Connection(c.host, user=c.user, connect_kwargs=KEY) as own:
                own.run("echo from my own connection")

        @task
        def theirs(c):
            with Connection({stranger.address!r}, user=c.user, connect_kwargs=KEY) as own:
                own.run("echo should not run")
        """,
    )
    inventory = Inventory([host])
    report = run_on([host], inventory, fabfile, "mine")
    assert report.exit_code == ExitCode.OK, report.hosts[0].error
    assert task_output(report, host.name) == ["from my own connection\n"]
    refused = run_on([host], inventory, fabfile, "theirs")
    assert refused.hosts[0].status is Status.FAILED
    assert "unknown host key" in (refused.hosts[0].error or "")
    assert task_output(refused, host.name) == [""]


@pytest.mark.usefixtures("requires_root")
def test_sudo_without_a_password_fails_at_the_prompt_and_sends_nothing(
    ssh_hosts: list[Host], fleet: Inventory, playground: PlaygroundState, tmp_path: Path
) -> None:
    assert playground.sudo_user is not None
    fabfile = write_fabfile(
        tmp_path,
        """
        @task
        def root(c):
            c.sudo("id -un")
        """,
    )
    host = with_vars(ssh_hosts[0], user=playground.sudo_user)
    report = run_on([host], fleet, fabfile, "root")
    result = report.hosts[0]
    assert result.status is Status.FAILED
    assert "sudo asked for a password and none was given" in (result.error or "")
    assert "rejected" not in (result.error or "")  # Invoke's answer "None" never went out


def test_hide_hides_a_commands_output_from_the_hosts_lines_as_under_fab(
    ssh_hosts: list[Host], fleet: Inventory, tmp_path: Path
) -> None:
    fabfile = write_fabfile(
        tmp_path,
        """
        @task
        def quiet(c):
            kept = c.run("echo hidden; echo hidden too >&2", hide=True)
            c.run("echo err only hidden >&2; echo shown", hide="err")
            print("the Result still has", kept.stdout.strip(), kept.stderr.strip())
        """,
    )
    host = ssh_hosts[0]
    report = run_on([host], fleet, fabfile, "quiet")
    assert report.exit_code == ExitCode.OK, report.hosts[0].error
    step = report.hosts[0].steps[0].result
    assert step.stdout.decode() == "shown\nthe Result still has hidden hidden too\n"
    assert step.stderr.decode() == ""
