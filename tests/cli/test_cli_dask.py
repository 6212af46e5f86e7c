"""``--executor dask`` end to end: the CLI as a user runs it, its hosts' work done by the worker
processes of a real Dask cluster (``dask_cluster``), compared with the same command run here.

What a Dask run prints and exits with must be what a local run prints and exits with: only the
order between hosts and the durations may differ. The playground hosts (netns, root) each have
their own hostname and their own /tmp, so one command can fail on one host only and files put
on the hosts do not collide; everything else of the file system is shared with this machine.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import LiveRun, by_host, json_lines, remoteops, wait_until, write_inventory

from tests.conftest import DaskCluster

pytestmark = [
    pytest.mark.usefixtures("requires_root"),  # hostnames and a private /tmp per host
]

#: What differs between two runs of the same work: how long it took.
DURATION = re.compile(r" in \d+\.\d\d s$")


def _dask(cluster: DaskCluster) -> list[str]:
    return ["--executor", "dask", "--scheduler", cluster.address]


def _both(
    cluster: DaskCluster, *args: str, input_bytes: bytes | None = None, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[bytes], subprocess.CompletedProcess[bytes]]:
    """The same command line run here, then through the cluster."""
    command, *rest = args
    here = remoteops(command, *rest, input_bytes=input_bytes, cwd=cwd)
    there = remoteops(command, *_dask(cluster), *rest, input_bytes=input_bytes, cwd=cwd)
    return here, there


def _lines(stream: bytes) -> set[str]:
    """A stream's lines, durations masked, in no order (hosts finish in any order)."""
    return {DURATION.sub(" in _ s", line) for line in stream.decode().splitlines()}


def _timeless(stdout: bytes) -> dict[tuple[str, Any], dict[str, Any]]:
    """JSON lines keyed by host (and task step), without ``duration_s``."""
    objects = json_lines(stdout)
    keyed = {(o["host"], o.get("step")): {k: v for k, v in o.items() if k != "duration_s"}
             for o in objects}  # fmt: skip
    assert len(keyed) == len(objects), "a host (or a host's step) reported twice"
    return keyed


def _on_hosts(inventory: str, command: str) -> dict[str, str]:
    """Each host's stdout for a command run here (not through the cluster)."""
    run = remoteops("run", "-i", inventory, "-o", "json", command)
    assert run.returncode == 0, run.stderr
    return {host: r["stdout"] for host, r in by_host(run.stdout).items()}


@pytest.fixture
def scratch(inventory: str) -> Iterator[str]:
    """A fresh path in every host's private /tmp, removed from them all at the end."""
    path = f"/tmp/roptest-dask-{secrets.token_hex(4)}"
    yield path
    remoteops("run", "-i", inventory, f"rm -rf {path}*")


# -- run: the same output and exit codes as a local run -------------------------------------


@pytest.mark.parametrize("mode", ["text", "json", "group", "max-exit"])
def test_run_prints_and_exits_as_a_local_run(
    inventory: str, names: list[str], dask_cluster: DaskCluster, mode: str
) -> None:
    odd = names[1]
    flags = {"text": [], "json": ["-o", "json"], "group": ["-b"], "max-exit": ["-S"]}[mode]
    # -b folds the hosts that printed the same: all but one host print the same here
    shown = "same" if mode == "group" else "out $(hostname)"
    command = f"echo {shown}; echo err >&2; test $(hostname) != {odd} || exit 3"
    here, there = _both(dask_cluster, "run", "-i", inventory, *flags, command)

    assert here.returncode == {"max-exit": 3}.get(mode, 1), here.stderr
    assert there.returncode == here.returncode, there.stderr
    if mode == "json":
        assert there.stderr == here.stderr == b""
        assert _timeless(there.stdout) == _timeless(here.stdout)
        assert _timeless(here.stdout)[odd, None]["exit_code"] == 3
        return
    if mode == "group":  # blocks are sorted by host: byte for byte the same
        assert there.stdout == here.stdout
        assert f"{odd} (1) [failed exit 3]" in here.stdout.decode()
    else:
        assert _lines(there.stdout) == _lines(here.stdout)
        assert f"{odd} | out {odd}" in _lines(here.stdout)
    assert _lines(there.stderr) == _lines(here.stderr)  # and nothing from Dask itself
    assert f"  failed: {odd}" in _lines(here.stderr)


def test_piped_stdin_reaches_every_host_through_the_workers(
    inventory: str, names: list[str], dask_cluster: DaskCluster
) -> None:
    payload = b"".join(b"line %d of the input\n" % n for n in range(3000))
    run = remoteops(
        "run", *_dask(dask_cluster), "-i", inventory, "-o", "json", "cat", input_bytes=payload
    )
    assert run.returncode == 0, run.stderr
    results = by_host(run.stdout)
    assert {host: r["stdout"] for host, r in results.items()} == dict.fromkeys(
        names, payload.decode()
    )


# -- transfers: the files arrive, and the JSON lines are a local run's ----------------------


def _site(tmp_path: Path) -> Path:
    source = tmp_path / "site"
    (source / "css").mkdir(parents=True)
    (source / "index.html").write_text("<h1>hi</h1>\n")
    (source / "css" / "site.css").write_text("body {}\n" * 1000)
    return source


def test_sync_through_the_workers_lands_the_tree_and_reports_as_a_local_sync(
    inventory: str, names: list[str], dask_cluster: DaskCluster, tmp_path: Path, scratch: str
) -> None:
    source = _site(tmp_path)
    here = remoteops("sync", str(source), f"{scratch}-here", "-i", inventory, "-o", "json")
    there = remoteops(
        "sync", *_dask(dask_cluster), str(source), f"{scratch}-dask", "-i", inventory,
        "-o", "json",
    )  # fmt: skip
    assert here.returncode == there.returncode == 0, there.stderr
    assert _timeless(there.stdout) == _timeless(here.stdout)
    assert {o["files_created"] for o in json_lines(there.stdout)} == {3}

    expected = "".join(
        f"{hashlib.sha256((source / rel).read_bytes()).hexdigest()}  ./{rel}\n"
        for rel in ("css/site.css", "index.html")
    )
    listing = "find . -type f | sort | xargs sha256sum"
    assert _on_hosts(inventory, f"cd {scratch}-dask && {listing}") == dict.fromkeys(names, expected)


def test_put_and_get_through_the_workers(
    inventory: str, names: list[str], dask_cluster: DaskCluster, tmp_path: Path, scratch: str
) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(bytes(range(256)) * 512)
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    here = remoteops("put", str(payload), f"{scratch}-here.bin", "-i", inventory, "-o", "json")
    there = remoteops(
        "put", *_dask(dask_cluster), str(payload), f"{scratch}-dask.bin", "-i", inventory,
        "-o", "json",
    )  # fmt: skip
    assert here.returncode == there.returncode == 0, there.stderr
    assert _timeless(there.stdout) == _timeless(here.stdout)
    sums = _on_hosts(inventory, f"sha256sum < {scratch}-dask.bin")
    assert {host: out.split()[0] for host, out in sums.items()} == dict.fromkeys(names, digest)

    # each host's own file comes back into a folder named after it
    _on_hosts(inventory, f"hostname > {scratch}-name.txt")
    fetched = {where: tmp_path / f"got-{where}" for where in ("here", "dask")}
    here = remoteops("get", f"{scratch}-name.txt", str(fetched["here"]), "-i", inventory,
                     "-o", "json")  # fmt: skip
    there = remoteops(
        "get", *_dask(dask_cluster), f"{scratch}-name.txt", str(fetched["dask"]),
        "-i", inventory, "-o", "json",
    )  # fmt: skip
    assert here.returncode == there.returncode == 0, there.stderr
    assert _timeless(there.stdout) == _timeless(here.stdout)
    name = Path(f"{scratch}-name.txt").name
    for folder in fetched.values():
        assert sorted(p.name for p in folder.iterdir()) == sorted(names)
        assert {host: (folder / host / name).read_text() for host in names} == {
            host: f"{host}\n" for host in names
        }


@pytest.mark.parametrize(
    "command",
    [
        "put",
        "sync",
        "get",
    ],
)
def test_relative_local_paths_are_the_callers_not_the_workers(  # noqa: PLR0917 (parametrized)
    inventory: str,
    names: list[str],
    dask_cluster: DaskCluster,
    tmp_path: Path,
    scratch: str,
    command: str,
) -> None:
    """The workers' current folder is not the caller's (the cluster's is this test's)."""
    runs: dict[str, subprocess.CompletedProcess[bytes]] = {}
    for where, executor in (("here", []), ("dask", _dask(dask_cluster))):
        cwd = tmp_path / where
        _site(cwd)
        (cwd / "f.txt").write_text("relative\n")
        arguments = {
            "put": ["f.txt", f"{scratch}-{where}.txt"],
            "sync": ["site", f"{scratch}-{where}"],
            "get": ["/etc/hostname", "got"],
        }[command]
        runs[where] = remoteops(
            command, *executor, *arguments, "-i", inventory, "-H", names[0], "-o", "json",
            cwd=cwd,
        )  # fmt: skip
    assert runs["here"].returncode == 0, runs["here"].stderr
    assert (runs["dask"].returncode, runs["dask"].stderr) == (0, b"")
    assert _timeless(runs["dask"].stdout) == _timeless(runs["here"].stdout)
    if command == "get":
        fetched = tmp_path / "dask" / "got" / names[0] / "hostname"
        assert fetched.read_text() == f"{names[0]}\n"


# -- task files ------------------------------------------------------------------------------


def _task_file(tmp_path: Path, root: str, odd: str) -> Path:
    """A reset, a step guarded by ``creates`` (skipped on ``odd``), a ``changed_when`` on
    what was listed, and a step run only where that changed."""
    path = tmp_path / "task.yml"
    path.write_text(
        f"vars:\n  root: {root}\n"
        "steps:\n"
        "  - name: fresh folder\n"
        f"    run: rm -rf {{{{ root }}}} && mkdir {{{{ root }}}} && "
        f"{{ test $(hostname) != {odd} || touch {{{{ root }}}}/done; }}\n"
        "  - name: made unless done\n"
        "    run: echo made > {{ root }}/made\n"
        '    creates: "{{ root }}/done"\n'
        "  - name: listing\n"
        "    run: ls {{ root }}\n"
        "    register: listing\n"
        "    changed_when: \"'made' in listing.stdout\"\n"
        "  - name: after a change\n"
        "    run: echo changed on $(hostname)\n"
        "    when: listing.changed\n"
    )
    return path


@pytest.mark.parametrize("output", ["text", "json"])
def test_task_recap_and_step_lines_are_a_local_runs(  # noqa: PLR0917 (parametrized)
    inventory: str,
    names: list[str],
    dask_cluster: DaskCluster,
    tmp_path: Path,
    scratch: str,
    output: str,
) -> None:
    odd = names[1]
    task = _task_file(tmp_path, scratch, odd)
    here, there = _both(dask_cluster, "task", str(task), "-i", inventory, "-o", output)
    assert here.returncode == 0, here.stderr
    assert there.returncode == 0, there.stderr
    if output == "json":
        assert there.stderr == here.stderr == b""
        steps = _timeless(there.stdout)
        assert steps == _timeless(here.stdout)
        assert steps[odd, 1]["step_status"] == "skipped"
        assert steps[odd, 2]["step_status"] == "ok"  # changed_when: nothing was made
        assert steps[odd, 3]["step_status"] == "skipped"
        assert steps[names[0], 3]["stdout"] == f"changed on {names[0]}\n"
        return
    assert _lines(there.stdout) == _lines(here.stdout)
    recap = [DURATION.sub(" in _ s", line) for line in there.stderr.decode().splitlines()]
    assert recap == [DURATION.sub(" in _ s", line) for line in here.stderr.decode().splitlines()]
    assert "RECAP" in recap
    assert any(re.match(rf"{odd} +: ok=2 changed=1 failed=0 skipped=2 ", line) for line in recap)


# -- refusals: exit 2, a clear message, nothing run -----------------------------------------


@pytest.fixture
def marker(tmp_path: Path) -> tuple[str, Path]:
    """A command leaving a file per host in a folder this test sees (not under /tmp)."""
    folder = tmp_path / "ran"
    folder.mkdir()
    return f"touch {folder}/$(hostname)", folder


@pytest.mark.parametrize(
    ("how", "message"),
    [
        pytest.param([], "--executor dask needs --scheduler", id="no-scheduler"),
        pytest.param(
            ["--scheduler", "{cluster}", "--ask-pass"],
            "--ask-pass cannot be used with --executor dask",
            id="ask-pass",
        ),
        pytest.param(
            ["--scheduler", "{cluster}", "-e", "TOKEN=abc123"],
            "-e with --executor dask",
            id="env-values",
        ),
        pytest.param(
            ["--scheduler", "http://127.0.0.1:8787"],
            "is not tcp://HOST:PORT",
            id="not-a-dask-address",
        ),
    ],
)
def test_run_refuses_what_dask_cannot_do(
    inventory: str,
    dask_cluster: DaskCluster,
    marker: tuple[str, Path],
    how: list[str],
    message: str,
) -> None:
    command, folder = marker
    flags = [flag.replace("{cluster}", dask_cluster.address) for flag in how]
    run = remoteops("run", "--executor", "dask", *flags, "-i", inventory, command)
    assert run.returncode == 2
    assert message in run.stderr.decode()
    assert run.stdout == b""
    assert list(folder.iterdir()) == []


def test_a_scheduler_nobody_listens_on_is_exit_2_naming_it(
    inventory: str, marker: tuple[str, Path]
) -> None:
    """Refused at once, but distributed retries the connection until its timeout (10 s)."""
    command, folder = marker
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    run = remoteops("run", "--executor", "dask", "--scheduler", address, "-i", inventory, command)
    took = time.monotonic() - started
    assert run.returncode == 2
    assert f"cannot reach the Dask scheduler {address}" in run.stderr.decode()
    assert run.stdout == b""
    assert list(folder.iterdir()) == []
    assert took < 15


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_free_strategy_task_is_refused_with_dask(
    inventory: str, dask_cluster: DaskCluster, marker: tuple[str, Path], tmp_path: Path
) -> None:
    command, folder = marker
    task = tmp_path / "free.yml"
    task.write_text(f"strategy: free\nsteps:\n  - run: {command}\n")
    run = remoteops("task", *_dask(dask_cluster), str(task), "-i", inventory)
    assert run.returncode == 2
    assert "strategy free" in run.stderr.decode()
    assert str(task) in run.stderr.decode()
    assert list(folder.iterdir()) == []


# -- choosing Dask by environment or config file ---------------------------------------------


@pytest.fixture
def pinned(tmp_path: Path, names: list[str]) -> Path:
    """The first host pinned to a resource no worker advertises: only a Dask run notices."""
    return write_inventory(
        tmp_path / "pinned.yml", {"all": {"hosts": {names[0]: {"dask_worker_resource": "nowhere"}}}}
    )


def _went_through_dask(run: subprocess.CompletedProcess[bytes], names: list[str]) -> None:
    assert run.returncode == 3, run.stderr
    results = by_host(run.stdout)
    assert results[names[0]]["status"] == "unreachable"
    assert "no Dask worker advertises the resource 'nowhere'" in results[names[0]]["error"]
    assert {results[h]["status"] for h in names[1:]} == {"ok"}
    assert b"dask_worker_resource" not in run.stderr  # a known variable: no warning


@pytest.mark.parametrize("command", ["run", "put", "get", "sync", "task"])
def test_every_command_sends_its_hosts_work_to_the_cluster(  # noqa: PLR0917 (parametrized)
    inventory: str,
    names: list[str],
    dask_cluster: DaskCluster,
    pinned: Path,
    tmp_path: Path,
    command: str,
) -> None:
    """A host pinned where no worker is ends unreachable: the work went to the cluster (a
    command that quietly ran here would have reached the host)."""
    (tmp_path / "file.txt").write_text("x\n")
    (tmp_path / "task.yml").write_text("steps:\n  - run: 'true'\n")
    arguments = {
        "run": ["true"],
        "put": [str(tmp_path / "file.txt"), "/tmp/roptest-dask-never.txt"],
        "get": ["/etc/hostname", str(tmp_path / "got")],
        "sync": [str(_site(tmp_path)), "/tmp/roptest-dask-never"],
        "task": [str(tmp_path / "task.yml")],
    }[command]
    run = remoteops(
        command, *_dask(dask_cluster), "-i", inventory, "-i", str(pinned), "-H", names[0],
        "-o", "json", *arguments,  # last: run takes every word after its command
    )  # fmt: skip
    assert run.returncode == 3, run.stderr
    (end,) = [o for o in json_lines(run.stdout) if o.get("step") is None]
    assert (end["host"], end["status"]) == (names[0], "unreachable")
    assert "no Dask worker advertises the resource 'nowhere'" in end["error"]


def test_a_pinned_host_runs_here_when_dask_is_not_asked_for(inventory: str, pinned: Path) -> None:
    run = remoteops("run", "-i", inventory, "-i", str(pinned), "-o", "json", "true")
    assert run.returncode == 0, run.stderr
    assert run.stderr == b""  # no warning about the variable either


@pytest.mark.parametrize("how", ["flag", "env"])
def test_the_scheduler_comes_from_the_environment(
    inventory: str, names: list[str], dask_cluster: DaskCluster, pinned: Path, how: str
) -> None:
    env = {"REMOTEOPS_DASK_SCHEDULER": dask_cluster.address}
    flags = ["--executor", "dask"] if how == "flag" else []
    if how == "env":
        env["REMOTEOPS_EXECUTOR"] = "dask"
    run = remoteops(
        "run", *flags, "-i", inventory, "-i", str(pinned), "-o", "json", "true", env=env
    )
    _went_through_dask(run, names)


def test_a_project_config_file_sends_a_plain_run_through_dask(
    inventory: str, names: list[str], dask_cluster: DaskCluster, pinned: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "remoteops.toml").write_text(
        f'executor = "dask"\nscheduler = "{dask_cluster.address}"\n'
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path / "no-user-config")}
    run = remoteops(
        "run", "-i", inventory, "-i", str(pinned), "-o", "json", "true", cwd=project, env=env
    )
    _went_through_dask(run, names)


# -- Ctrl-C ----------------------------------------------------------------------------------


def test_ctrl_c_once_lets_hosts_run_twice_cancels_them_and_ends_their_commands(
    inventory: str, names: list[str], dask_cluster: DaskCluster
) -> None:
    sleep = f"sleep 30.{secrets.randbelow(10**6):06d}"  # a mark only this test's commands have
    probe = f"pgrep -f '[{sleep[0]}]{sleep[1:]}' >/dev/null && echo running || echo gone"
    with LiveRun("run", *_dask(dask_cluster), "-i", inventory, f"echo started; {sleep}") as run:
        for host in names:
            run.wait_for("stdout", f"{host} | started")
        run.interrupt()
        err = run.wait_for("stderr", "press Ctrl-C again")
        assert f"still running ({len(names)})" in err
        assert _on_hosts(inventory, probe) == dict.fromkeys(names, "running\n")
        assert run.proc.poll() is None  # the first Ctrl-C waits for the running hosts

        run.interrupt()
        cancelled_at = time.monotonic()
        code, _, err_bytes = run.finish(timeout=15)
        took = time.monotonic() - cancelled_at
    assert code == 130
    assert took < 5
    lines = err_bytes.decode().splitlines()
    for host in names:
        assert f"{host} ! CANCELLED: interrupted" in lines
    assert any(f"0 ok, 0 failed, {len(names)} cancelled" in line for line in lines), lines
    wait_until(
        lambda: _on_hosts(inventory, probe) == dict.fromkeys(names, "gone\n"),
        "the hosts' commands to end",
        timeout=10,
    )
