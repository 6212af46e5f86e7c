"""Python tasks (``run_python_task``) on the real playground hosts: a function's session calls
on each host's one kept connection, with its variables and sudo; how a host ends when the
function raises or a command fails; batches and the brake; what counts as a change.

The playground's hosts share this machine's file system, so every path a call writes names
its host.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remoteops import (
    ExitCode,
    Fleet,
    HostError,
    HostSession,
    Status,
    StepFailedError,
    TaskReport,
    run_python_task,
)
from remoteops.inventory import Inventory
from remoteops.inventory.model import Host
from remoteops.playground import PlaygroundState
from tests.integration.conftest import with_vars

README = Path(__file__).parents[2] / "README.md"


@pytest.fixture
def hosts(ssh_hosts: list[Host]) -> list[Host]:
    """Three hosts, each with a ``port`` variable of its own."""
    return [with_vars(h, http_port=8000 + i) for i, h in enumerate(ssh_hosts[:3])]


@pytest.fixture
def connected(hosts: list[Host], fleet: Inventory) -> Iterator[Fleet]:
    with Fleet(hosts, inventory=fleet) as kept:
        yield kept


class Seen:
    """What the function saw on each host, written from the hosts' threads."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __setitem__(self, key: tuple[str, str], value: Any) -> None:
        with self._lock:
            self.values.setdefault(key[0], {})[key[1]] = value

    def __getitem__(self, key: tuple[str, str]) -> Any:
        return self.values[key[0]][key[1]]


def statuses(report: TaskReport, host: str) -> list[str]:
    return [step.status for step in report.by_host[host].steps]


def client_port(stdout: bytes) -> str:
    """The client port in ``$SSH_CONNECTION`` (``client_ip client_port server_ip port``)."""
    return stdout.split()[1].decode()


def test_a_function_runs_every_call_with_its_host_vars_on_one_connection_per_host(
    connected: Fleet, hosts: list[Host], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("site\n")
    (tmp_path / "motd").write_text("hello\n")
    (tmp_path / "app.conf.j2").write_text("{{ inventory_hostname }}:{{ http_port }} {{ tier }}\n")
    seen = Seen()

    def deploy(host: HostSession) -> None:
        name = host.host.name
        out = f"{tmp_path}/out/{name}"
        first = host.run("echo $SSH_CONNECTION", changes=False)
        host.run(f"mkdir -p {out}")
        host.put("motd", f"{out}/motd", mode=0o600)
        host.sync("site", f"{out}/site")
        host.template(Path("app.conf.j2"), f"{out}/app.conf", tier="front")
        host.template("port={{ http_port }} env={{ env }}", f"{out}/text.conf")
        host.get(f"{out}/app.conf", tmp_path / "fetched")
        echoed = host.run("echo {}".format(host.vars["http_port"]), changes=False)
        last = host.run("echo $SSH_CONNECTION", changes=False)
        seen[name, "ports"] = (client_port(first.stdout), client_port(last.stdout))
        seen[name, "echoed"] = echoed.stdout

    report = run_python_task(connected, deploy, task_vars={"env": "prod"})

    assert report.exit_code == ExitCode.OK, report
    for host in hosts:
        out = tmp_path / "out" / host.name
        port = host.vars["http_port"]
        assert (out / "motd").read_text() == "hello\n"
        assert (out / "motd").stat().st_mode & 0o777 == 0o600
        assert (out / "site" / "index.html").read_text() == "site\n"
        assert (out / "app.conf").read_text() == f"{host.name}:{port} front\n"
        assert (out / "text.conf").read_text() == f"port={port} env=prod"
        assert (tmp_path / "fetched" / host.name / "app.conf").read_text() == (
            f"{host.name}:{port} front\n"
        )
        assert seen[host.name, "echoed"] == f"{port}\n".encode()
        first, last = seen[host.name, "ports"]
        assert first == last  # every call between went over the same connection
        assert statuses(report, host.name) == [
            "ok", "changed", "changed", "changed", "changed", "changed", "changed", "ok", "ok",
        ]  # fmt: skip
        names = [step.name for step in report.by_host[host.name].steps]
        assert names[2] == f"put: motd -> {out}/motd"
    assert len({seen[h.name, "ports"][0] for h in hosts}) == len(hosts)


def test_a_raising_function_fails_only_its_host(
    connected: Fleet, hosts: list[Host], tmp_path: Path
) -> None:
    unlucky = hosts[1].name

    def task(host: HostSession) -> None:
        host.run(f"touch {tmp_path}/before-{host.host.name}")
        if host.host.name == unlucky:
            raise ValueError("no config for this host")
        host.run(f"touch {tmp_path}/after-{host.host.name}")

    report = run_python_task(connected, task)

    recap = report.by_host[unlucky]
    assert recap.status is Status.FAILED
    assert recap.error == "task: ValueError: no config for this host"
    assert statuses(report, unlucky) == ["changed", "failed"]
    assert recap.steps[-1].name == "task"
    for host in hosts:
        if host.name != unlucky:
            assert report.by_host[host.name].status is Status.OK
            assert statuses(report, host.name) == ["changed", "changed"]
    assert sorted(p.name for p in tmp_path.glob("after-*")) == sorted(
        f"after-{h.name}" for h in hosts if h.name != unlucky
    )
    assert report.exit_code == ExitCode.COMMAND_FAILED


def test_a_non_zero_exit_raises_with_check_and_is_returned_without(
    connected: Fleet, hosts: list[Host], tmp_path: Path
) -> None:
    failing = hosts[0].name
    seen = Seen()

    def task(host: HostSession) -> None:
        name = host.host.name
        unchecked = host.run("echo out; exit 3", check=False)
        seen[name, "unchecked"] = (unchecked.exit_code, unchecked.stdout)
        try:
            host.run("exit 5")
        except StepFailedError as exc:  # caught: the host goes on
            seen[name, "caught"] = exc.result.exit_code
        if name == failing:
            host.run("echo doomed >&2; exit 4")
        host.run(f"touch {tmp_path}/end-{name}")

    report = run_python_task(connected, task)

    recap = report.by_host[failing]
    assert recap.status is Status.FAILED
    assert recap.error == "run: echo doomed >&2; exit 4: exit code 4"
    assert statuses(report, failing) == ["ignored", "ignored", "failed"]
    assert recap.steps[-1].result.exit_code == 4
    assert recap.steps[-1].result.stderr == b"doomed\n"
    for host in hosts:
        assert seen[host.name, "unchecked"] == (3, b"out\n")
        assert seen[host.name, "caught"] == 5
        if host.name != failing:
            assert report.by_host[host.name].status is Status.OK
            assert statuses(report, host.name) == ["ignored", "ignored", "changed"]
    assert not (tmp_path / f"end-{failing}").exists()
    assert report.exit_code == ExitCode.COMMAND_FAILED


def test_a_failed_transfer_raises_and_fails_the_host(
    connected: Fleet, hosts: list[Host], tmp_path: Path
) -> None:
    def task(host: HostSession) -> None:
        host.put(tmp_path / "missing.txt", f"{tmp_path}/copy-{host.host.name}")

    report = run_python_task(connected, task)

    for host in hosts:
        recap = report.by_host[host.name]
        assert recap.status is Status.FAILED
        assert recap.error is not None
        assert recap.error.startswith(f"put: {tmp_path}/missing.txt -> "), recap.error
        assert "missing.txt" in recap.error.split(" -> ", 1)[1], recap.error
        assert statuses(report, host.name) == ["failed"]


def test_serial_runs_one_batch_after_another(
    connected: Fleet, hosts: list[Host], tmp_path: Path
) -> None:
    def task(host: HostSession) -> None:
        host.run(f"date +%s.%N > {tmp_path}/start-{host.host.name}")
        host.run("sleep 0.2")
        host.run(f"date +%s.%N > {tmp_path}/end-{host.host.name}")

    report = run_python_task(connected, task, serial=[1])

    assert report.exit_code == ExitCode.OK, report
    times = {p.name: float(p.read_text()) for p in tmp_path.iterdir()}
    for before, after in itertools.pairwise(h.name for h in hosts):
        assert times[f"end-{before}"] <= times[f"start-{after}"], times


def test_max_fail_stops_before_the_next_batch_and_cancels_the_rest(
    connected: Fleet, hosts: list[Host], tmp_path: Path
) -> None:
    canary = hosts[0].name

    def task(host: HostSession) -> None:
        host.run(f"test {host.host.name} != {canary}")
        host.run(f"touch {tmp_path}/ran-{host.host.name}")

    report = run_python_task(connected, task, serial=[1], max_fail=1)

    assert report.by_host[canary].status is Status.FAILED
    for host in hosts[1:]:
        recap = report.by_host[host.name]
        assert recap.status is Status.CANCELLED
        assert "max_fail" in (recap.error or ""), recap.error
        assert recap.steps == ()
    assert list(tmp_path.glob("ran-*")) == []
    assert report.stopped is not None
    assert report.exit_code == ExitCode.COMMAND_FAILED


def test_a_second_run_of_an_idempotent_function_changes_nothing(
    connected: Fleet, hosts: list[Host], tmp_path: Path
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "a.txt").write_text("a\n")
    (tmp_path / "motd").write_text("hi\n")
    seen = Seen()

    def converge(host: HostSession) -> None:
        out = f"{tmp_path}/out-{host.host.name}"
        host.sync(tmp_path / "site", out)
        host.put(tmp_path / "motd", f"{out}/motd")
        host.template("port={{ http_port }}\n", f"{out}/port.conf")
        if host.run(f"test -e {out}/stamp", check=False, changes=False).exit_code != 0:
            host.run(f"touch {out}/stamp")
        seen[host.host.name, "changed"] = host.changed

    first = run_python_task(connected, converge)
    again = run_python_task(connected, converge)

    for host in hosts:
        assert statuses(first, host.name) == ["changed", "changed", "changed", "ignored", "changed"]
        assert first.by_host[host.name].changed == 4
        assert statuses(again, host.name) == ["ok", "ok", "ok", "ok"]
        assert again.by_host[host.name].changed == 0
        assert seen[host.name, "changed"] is False  # as the second run left it
    assert first.exit_code == again.exit_code == ExitCode.OK


def test_an_unreachable_host_keeps_its_status_and_the_others_go_on(
    ssh_hosts: list[Host], fleet: Inventory, silent_port: int
) -> None:
    down = Host("down1", {"address": "127.0.0.1", "port": silent_port, "connect_timeout": 1})
    called: list[str] = []

    def task(host: HostSession) -> None:
        called.append(host.host.name)
        host.run("true")

    with Fleet([ssh_hosts[0], down], inventory=fleet) as some_down:
        report = run_python_task(some_down, task)

    assert called == [ssh_hosts[0].name]
    recap = report.by_host["down1"]
    assert recap.status.is_connection_failure
    assert (recap.unreachable, [s.name for s in recap.steps]) == (1, ["task"])
    assert report.by_host[ssh_hosts[0].name].status is Status.OK
    assert report.exit_code == ExitCode.HOST_FAILED


def test_a_host_timing_out_ends_timeout_even_when_the_function_catches_it(
    hosts: list[Host], fleet: Inventory, tmp_path: Path
) -> None:
    slow = hosts[0].name

    def task(host: HostSession) -> None:
        if host.host.name == slow:
            with contextlib.suppress(HostError):  # the function goes on, the connection not
                host.run("sleep 30")
            with contextlib.suppress(HostError):
                host.run(f"touch {tmp_path}/after-{slow}")
        host.run("true")

    # time enough for the fast host to connect and finish on a loaded machine
    with Fleet(hosts[:2], inventory=fleet, host_timeout=5) as timed:
        report = run_python_task(timed, task)

    recap = report.by_host[slow]
    assert recap.status is Status.TIMEOUT
    assert [(s.name, s.result.status) for s in recap.steps] == [("run: sleep 30", Status.TIMEOUT)]
    assert not (tmp_path / f"after-{slow}").exists()
    assert report.by_host[hosts[1].name].status is Status.OK
    assert report.exit_code == ExitCode.HOST_FAILED


@pytest.mark.usefixtures("requires_root")
def test_sudo_calls_run_and_write_as_root_with_the_tasks_password(
    hosts: list[Host], fleet: Inventory, playground: PlaygroundState, reachable: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Logged in as a user whose sudo asks for a password: run, put, sync, template and get
    as root, on the host's one connection, the password in no output."""
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    as_user = [with_vars(h, user=playground.sudo_user) for h in hosts[:2]]
    root = reachable / "root-only"
    root.mkdir()
    (tmp_path / "motd").write_text("welcome\n")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("home\n")
    seen = Seen()

    def task(host: HostSession) -> None:
        dest = f"{root}/{host.host.name}"
        first = host.run("echo $SSH_CONNECTION", changes=False)
        seen[host.host.name, "me"] = host.run("id -un", changes=False).stdout
        seen[host.host.name, "root"] = host.run("id -un", sudo=True, changes=False).stdout
        host.put(tmp_path / "motd", f"{dest}-motd", sudo=True)
        host.sync(tmp_path / "site", f"{dest}-site", sudo=True)
        host.template("host={{ inventory_hostname }}\n", f"{dest}.conf", mode=0o600, sudo=True)
        host.get(f"{dest}.conf", tmp_path / "fetched", sudo=True)
        last = host.run("echo $SSH_CONNECTION", changes=False)
        seen[host.host.name, "ports"] = (client_port(first.stdout), client_port(last.stdout))

    root.chmod(0o755)
    with Fleet(as_user, inventory=fleet) as kept:
        report = run_python_task(kept, task, sudo_password=password)

    assert report.exit_code == ExitCode.OK, report
    for host in as_user:
        assert seen[host.name, "me"] == f"{playground.sudo_user}\n".encode()
        assert seen[host.name, "root"] == b"root\n"
        first, last = seen[host.name, "ports"]
        assert first == last
        written = [root / f"{host.name}-motd", root / f"{host.name}-site" / "index.html"]
        written.append(root / f"{host.name}.conf")
        assert {p.stat().st_uid for p in written} == {0}
        assert (root / f"{host.name}.conf").stat().st_mode & 0o777 == 0o600
        copy = tmp_path / "fetched" / host.name / f"{host.name}.conf"
        assert copy.read_text() == f"host={host.name}\n"
        steps = report.by_host[host.name].steps
        assert password.encode() not in b"".join(s.result.stdout + s.result.stderr for s in steps)


def test_the_readme_python_task_example_runs_as_written(
    playground: PlaygroundState, ssh_hosts: list[Host], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The README's Python task example, with the playground's inventory and hosts."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello")
    text = README.read_text()
    section = text[text.index("## Python API") :]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    code = next(block for block in blocks if "run_python_task" in block)
    chosen = ",".join(h.name for h in ssh_hosts[:2])
    code = code.replace('"inventory/"', repr(str(playground.inventory_path)))
    code = code.replace('hosts="web"', f"hosts={chosen!r}")
    code = code.replace("/srv/", f"{tmp_path}/srv-")
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    report = namespace["report"]
    assert isinstance(report, TaskReport)
    assert report.exit_code == ExitCode.OK, report
    assert [r.host for r in report.hosts] == [h.name for h in ssh_hosts[:2]]
    assert all(r.changed > 0 for r in report.hosts)
