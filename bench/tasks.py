"""A 5-step task on N playground hosts, the same with remoteops, ansible-playbook, pyinfra and
Fabric's ``fab``, side by side on the same hosts in the same run.

    python bench/tasks.py --hosts 10,100 --repeat 3 [--markdown out.md]

The task: (1) a command, (2) a config file rendered from a Jinja2 template with a host variable
and ``inventory_hostname``, (3) a 2,000-file folder copied (files of 1-8 KiB in 20 folders),
(4) a command under sudo writing a root-owned file, (5) a file fetched from every host. Each
tool runs it twice: a first run into empty hosts (every step changes something) and a second
run with nothing to change. Before each tool's first run the hosts' target folder and the local
fetch folder are removed, and after each run the end state is checked on one host (file count
and content of the tree, the rendered file, the sudo file) and on this machine (every host's
fetched file): a run that did not do the work fails the benchmark.

Client CPU is user+sys of everything the tool started (``RUSAGE_CHILDREN``). This process is a
child subreaper, so the ssh ControlPersist masters that ansible leaves behind are reparented
here; they are ended and reaped after each ansible run and their CPU counts for it. Needs root
(netns playground hosts: each host has its own /root).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from common import children_cpu, compile_remoteops, machine_description, publish, ssh_options

from remoteops.playground import Playground, PlaygroundError, PlaygroundState

#: Where every tool puts things on the hosts (removed before each tool's first run).
TARGET = "/root/bench-task"
TREE_FILES = 2000
TREE_FOLDERS = 20
BASE_MTIME = 1_700_000_000
TOOLS = ("remoteops", "ansible-playbook", "pyinfra", "fab", "remoteops fab")
#: Goals of issue 12 at 100 hosts: remoteops / other, wall time.
GOALS = {
    ("first", "ansible-playbook"): 0.25,
    ("first", "pyinfra"): 0.5,
    ("second", "ansible-playbook"): 0.2,
}
VENV_BIN = Path(sys.executable).parent

TEMPLATE = """\
# {{ inventory_hostname }}: written by the task benchmark
server_name = {{ inventory_hostname }}
role = {{ bench_role }}
"""


@dataclass(frozen=True)
class Sample:
    """One run of one tool: wall and client CPU seconds; ``None`` wall = did not finish."""

    wall: float | None
    cpu: float
    note: str = ""


@dataclass
class Fixture:
    """The files every tool's run reads: the tree, the template and one folder per tool."""

    work: Path
    tree: Path
    template: Path
    tree_digest: str
    fetch: Path

    def tool_dir(self, tool: str) -> Path:
        path = self.work / tool.replace(" ", "-")
        path.mkdir(exist_ok=True)
        return path


@dataclass
class Results:
    samples: dict[tuple[int, str, str], list[Sample]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- the fixture -------------------------------------------------------------------------------


def make_tree(root: Path, seed: int = 12) -> None:
    """``TREE_FILES`` random files of 1-8 KiB in ``TREE_FOLDERS`` folders, one fixed mtime."""
    rng = random.Random(seed)
    for i in range(TREE_FILES):
        folder = root / f"d{i % TREE_FOLDERS:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"f{i:05d}.txt"
        path.write_bytes(rng.randbytes(rng.randint(1024, 8192)))
        os.utime(path, (BASE_MTIME, BASE_MTIME))


#: One line: the number of files and a digest of every file's path and content, the same
#: whether run here or on a host.
TREE_DIGEST_SCRIPT = (
    "cd {root} && find . -type f | wc -l && "
    "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16"
)


def tree_digest_here(root: Path) -> str:
    script = TREE_DIGEST_SCRIPT.format(root=root)
    return " ".join(
        subprocess.run(
            ["sh", "-c", script], capture_output=True, text=True, check=True
        ).stdout.split()
    )


def role_of(index: int) -> str:
    return f"role-{index % 3}-{index:03d}"


# -- inventories and task files per tool -------------------------------------------------------


def write_remoteops(state: PlaygroundState, fx: Fixture, hosts: int) -> list[str]:
    folder = fx.tool_dir("remoteops")
    inventory = yaml.safe_load(state.inventory_path.read_text())
    group = inventory["all"]["children"]["playground"]["hosts"]
    for index, name in enumerate(list(group)[:hosts]):
        group[name]["bench_role"] = role_of(index)
    for name in list(group)[hosts:]:
        del group[name]
    (folder / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    (folder / "app.conf.j2").write_text(TEMPLATE)
    task = {
        "hosts": "all",
        "steps": [
            {"name": "a command", "run": f"mkdir -p {TARGET} && uptime"},
            {
                "name": "config file",
                "template": {"src": "app.conf.j2", "dest": f"{TARGET}/app.conf", "mode": "0644"},
            },
            {"name": "the tree", "sync": {"src": str(fx.tree), "dest": f"{TARGET}/tree"}},
            {"name": "a sudo command", "run": f"id -u > {TARGET}/sudo-uid", "sudo": True},
            {"name": "fetch", "get": {"src": f"{TARGET}/app.conf", "dest": str(fx.fetch)}},
        ],
    }
    (folder / "task.yml").write_text(yaml.safe_dump(task, sort_keys=False))
    return [
        str(VENV_BIN / "remoteops"),
        "task",
        str(folder / "task.yml"),
        "-i",
        str(folder / "inventory.yml"),
    ]


def write_ansible(state: PlaygroundState, fx: Fixture, hosts: int) -> list[str]:
    folder = fx.tool_dir("ansible")
    lines = ["[bench]"]
    for index, host in enumerate(state.hosts[:hosts]):
        lines.append(
            f"{host.name} ansible_host={host.address} ansible_port={host.port} "
            f"bench_role={role_of(index)}"
        )
    lines += [
        "",
        "[bench:vars]",
        f"ansible_user={state.user}",
        f"ansible_ssh_private_key_file={state.client_key_path}",
        "ansible_python_interpreter=/usr/bin/python3",
    ]
    (folder / "hosts.ini").write_text("\n".join(lines) + "\n")
    control = folder / "cp"
    control.mkdir(exist_ok=True)
    (folder / "ansible.cfg").write_text(
        "[defaults]\n"
        f"inventory = {folder / 'hosts.ini'}\n"
        f"forks = {hosts}\n"
        "host_key_checking = True\n"
        "interpreter_python = /usr/bin/python3\n"
        "retry_files_enabled = False\n"
        f"local_tmp = {folder / 'tmp'}\n"
        "[ssh_connection]\n"
        "pipelining = True\n"
        # Ansible's defaults (-C, ControlMaster auto, ControlPersist 60s) plus the playground's
        # known_hosts, strictly, as every other tool here.
        "ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s "
        f"-o UserKnownHostsFile={state.known_hosts_path} -o StrictHostKeyChecking=yes\n"
        f"control_path_dir = {control}\n"
    )
    (folder / "app.conf.j2").write_text(TEMPLATE)
    play = [
        {
            "hosts": "bench",
            "gather_facts": False,
            "tasks": [
                {"name": "a command", "ansible.builtin.shell": f"mkdir -p {TARGET} && uptime"},
                {
                    "name": "config file",
                    "ansible.builtin.template": {
                        "src": "app.conf.j2",
                        "dest": f"{TARGET}/app.conf",
                        "mode": "0644",
                    },
                },
                {
                    "name": "the tree",
                    "ansible.posix.synchronize": {
                        "src": f"{fx.tree}/",
                        "dest": f"{TARGET}/tree/",
                        "use_ssh_args": True,
                    },
                },
                {
                    "name": "a sudo command",
                    "ansible.builtin.shell": f"id -u > {TARGET}/sudo-uid",
                    "become": True,
                },
                {
                    "name": "fetch",
                    "ansible.builtin.fetch": {
                        "src": f"{TARGET}/app.conf",
                        "dest": f"{fx.fetch}/{{{{ inventory_hostname }}}}/",
                        "flat": True,
                    },
                },
            ],
        }
    ]
    (folder / "playbook.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    return [str(VENV_BIN / "ansible-playbook"), str(folder / "playbook.yml")]


def ansible_env(fx: Fixture) -> dict[str, str]:
    folder = fx.tool_dir("ansible")
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(folder / "ansible.cfg"),
        "ANSIBLE_HOME": str(folder / "home"),
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
    }


PYINFRA_DEPLOY = """\
import os
from pyinfra import host
from pyinfra.operations import files, server

TARGET = {target!r}
server.shell(name="a command", commands=[f"mkdir -p {{TARGET}} && uptime"])
files.template(name="config file", src={template!r}, dest=f"{{TARGET}}/app.conf", mode="644",
               inventory_hostname=host.name, bench_role=host.data.bench_role)
{sync_step}
server.shell(name="a sudo command", commands=[f"id -u > {{TARGET}}/sudo-uid"], _sudo=True)
files.get(name="fetch", src=f"{{TARGET}}/app.conf",
          dest=os.path.join({fetch!r}, host.name, "app.conf"), create_local_dir=True)
"""


#: How the pyinfra deploy copies the tree: ``files.rsync`` (the local rsync binary over ssh, as
#: ansible.posix.synchronize does; the default) or ``files.sync`` (a file fact and a hash fact per
#: file, then a put per changed file: 345 s for 2 hosts measured here).
PYINFRA_SYNC = {
    "rsync": 'files.rsync(name="the tree", src="{tree}/", dest="{target}/tree")',
    "sync": 'files.sync(name="the tree", src="{tree}", dest="{target}/tree")',
}
pyinfra_sync = "rsync"


def write_pyinfra(state: PlaygroundState, fx: Fixture, hosts: int) -> list[str]:
    folder = fx.tool_dir("pyinfra")
    template = folder / "app.conf.j2"
    template.write_text(TEMPLATE)
    entries = [
        (
            host.name,
            {"ssh_hostname": host.address, "ssh_port": host.port, "bench_role": role_of(index)},
        )
        for index, host in enumerate(state.hosts[:hosts])
    ]
    (folder / "inventory.py").write_text(
        f"bench = ({entries!r}, {{'ssh_user': {state.user!r}, "
        f"'ssh_key': {str(state.client_key_path)!r}, "
        f"'ssh_known_hosts_file': {str(state.known_hosts_path)!r}, "
        "'ssh_strict_host_key_checking': 'yes'})\n"
    )
    (folder / "deploy.py").write_text(
        PYINFRA_DEPLOY.format(
            target=TARGET,
            template=str(template),
            fetch=str(fx.fetch),
            sync_step=PYINFRA_SYNC[pyinfra_sync].format(tree=str(fx.tree), target=TARGET),
        )
    )
    return [
        str(VENV_BIN / "pyinfra"),
        str(folder / "inventory.py"),
        str(folder / "deploy.py"),
        "--parallel",
        str(hosts),
        "-y",
    ]


FABFILE = """\
\"\"\"The benchmark's task as a Fabric user writes it: render locally, put, tar+put+untar.\"\"\"
import io, json, os, subprocess, threading
from fabric import task
from jinja2 import Template

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = {target!r}
TREE = {tree!r}
FETCH = {fetch!r}
TARBALL = os.path.join(HERE, "tree.tar")


@task
def deploy(c):
    name = c.original_host if c.original_host in HOSTVARS else c.host
    c.run(f"mkdir -p {{TARGET}} && uptime", hide=True)
    with open(os.path.join(HERE, "app.conf.j2")) as f:
        text = Template(f.read(), keep_trailing_newline=True).render(
            inventory_hostname=name, **HOSTVARS[name])
    c.put(io.BytesIO(text.encode()), f"{{TARGET}}/app.conf")
    c.run(f"chmod 644 {{TARGET}}/app.conf")
    if not os.path.exists(TARBALL):  # once per `fab` process, as a user's local() would be
        # hosts run in parallel under `remoteops fab`: each builds under a name of its own
        partial = f"{{TARBALL}}.{{os.getpid()}}.{{threading.get_ident()}}.tmp"
        subprocess.run(["tar", "-cf", partial, "-C", TREE, "."], check=True)
        os.replace(partial, TARBALL)
    c.put(TARBALL, "/tmp/bench-tree.tar")
    c.run(f"mkdir -p {{TARGET}}/tree && tar -xf /tmp/bench-tree.tar -C {{TARGET}}/tree "
          "&& rm /tmp/bench-tree.tar")
    c.sudo(f"sh -c 'id -u > {{TARGET}}/sudo-uid'", hide=True)
    os.makedirs(os.path.join(FETCH, name), exist_ok=True)
    c.get(f"{{TARGET}}/app.conf", local=os.path.join(FETCH, name, "app.conf"))


with open(os.path.join(HERE, "hostvars.json")) as f:
    HOSTVARS = json.load(f)
"""


def write_fab(state: PlaygroundState, fx: Fixture, hosts: int) -> list[str]:
    folder = fx.tool_dir("fab")
    (folder / "app.conf.j2").write_text(TEMPLATE)
    (folder / "fabfile.py").write_text(
        FABFILE.format(target=TARGET, tree=str(fx.tree), fetch=str(fx.fetch))
    )
    selected = state.hosts[:hosts]
    (folder / "hostvars.json").write_text(
        json.dumps({h.name: {"bench_role": role_of(i)} for i, h in enumerate(selected)})
    )
    (folder / "ssh_config").write_text(
        "".join(
            f"Host {h.name}\n  HostName {h.address}\n  Port {h.port}\n  User {state.user}\n"
            f"  IdentityFile {state.client_key_path}\n"
            for h in selected
        )
    )
    (folder / "tree.tar").unlink(missing_ok=True)
    return [
        str(VENV_BIN / "fab"),
        "-r",
        str(folder),
        "-S",
        str(folder / "ssh_config"),
        "-H",
        ",".join(h.name for h in selected),
        "deploy",
    ]


def write_remoteops_fab(state: PlaygroundState, fx: Fixture, hosts: int) -> list[str] | None:
    """THE "remoteops fab" ROW: the unchanged fabfile above, run by ``remoteops fab`` across the
    inventory in parallel (issue 12, section 2). Enabled by itself once ``remoteops fab`` exists;
    if its options differ from the issue's (``-i INV -f FABFILE TASK``), change the argv here."""
    probe = subprocess.run(
        [str(VENV_BIN / "remoteops"), "fab", "--help"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        return None
    fab_argv = write_fab(state, fx, hosts)  # the same fabfile, host vars and template
    write_remoteops(state, fx, hosts)  # the same inventory as the remoteops task row
    folder = fx.tool_dir("fab")
    return [
        str(VENV_BIN / "remoteops"),
        "fab",
        "-i",
        str(fx.tool_dir("remoteops") / "inventory.yml"),
        "-f",
        str(folder / "fabfile.py"),
        fab_argv[-1],
    ]


WRITERS: dict[str, Callable[[PlaygroundState, Fixture, int], list[str] | None]] = {
    "remoteops": write_remoteops,
    "ansible-playbook": write_ansible,
    "pyinfra": write_pyinfra,
    "fab": write_fab,
    "remoteops fab": write_remoteops_fab,
}


# -- running, with the leftovers (ssh ControlPersist masters) reaped and charged ---------------


def become_subreaper() -> None:
    """Orphans of the tools we start (ssh ControlPersist masters) become our children, so their
    CPU is counted when we reap them (PR_SET_CHILD_SUBREAPER = 36)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def our_children() -> set[int]:
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.add(int(entry))
    return found


def end_leftovers(before: set[int]) -> int:
    """Stop and reap the children that appeared since ``before`` (the run's own process is
    reaped already): ssh masters left behind. Returns how many there were."""
    leftovers = our_children() - before
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in leftovers:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return len(leftovers)


def run_tool(argv: list[str], env: dict[str, str] | None, timeout: float, log: Path) -> Sample:
    """Wall and client CPU of one run; a run over ``timeout`` is killed and has no wall."""
    before = our_children()
    cpu0, wall0 = children_cpu(), time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    wall = time.perf_counter() - wall0
    end_leftovers(before)
    cpu = children_cpu() - cpu0
    if code is None:
        return Sample(None, cpu, f"killed after {timeout:.0f} s")
    if code != 0:
        # A failed run is a value, reported as such (a flaky host must not lose the whole
        # benchmark); its lines that say why go to the output.
        why = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if any(word in line for word in ("UNREACHABLE", "FAILED", "fatal:", "Error", "error"))
        ]
        print(f"FAILED RUN: {argv[0]} exit {code} after {wall:.1f} s; log {log}", flush=True)
        print("\n".join(why[:10]), flush=True)
        return Sample(None, cpu, f"failed (exit {code})")
    return Sample(wall, cpu)


def ssh_host(state: PlaygroundState, index: int, script: str) -> str:
    host = state.hosts[index]
    argv = [
        "ssh",
        *ssh_options(state),
        "-p",
        str(host.port),
        f"{state.user}@{host.address}",
        script,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"ssh to {host.name} failed: {done.stderr[-1000:]}")
    return done.stdout


def reset(state: PlaygroundState, fx: Fixture, hosts: int) -> None:
    """Every host without the target folder, and no fetched files here: a real first run."""
    inventory = fx.tool_dir("remoteops") / "inventory.yml"
    done = subprocess.run(
        [str(VENV_BIN / "remoteops"), "run", "-i", str(inventory), f"rm -rf {TARGET}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"reset failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    shutil.rmtree(fx.fetch, ignore_errors=True)
    fx.fetch.mkdir()
    os.sync()  # the previous run's 2,000 x N files are written back before the next timing


def verify(state: PlaygroundState, fx: Fixture, hosts: int, index: int, tool: str) -> None:
    """The work was done: the tree, the rendered file and the sudo file on host ``index``,
    and every host's fetched file here."""
    host = state.hosts[index]
    script = (
        f"{TREE_DIGEST_SCRIPT.format(root=TARGET + '/tree')}; echo @@; cat {TARGET}/app.conf; "
        f"echo @@; cat {TARGET}/sudo-uid; stat -c %U {TARGET}/sudo-uid"
    )
    tree, rendered, sudo = ssh_host(state, index, script).split("@@\n")
    expected = TEMPLATE.replace("{{ inventory_hostname }}", host.name).replace(
        "{{ bench_role }}", role_of(index)
    )
    problems = []
    if " ".join(tree.split()) != fx.tree_digest:
        problems.append(f"tree on {host.name}: {tree.split()} != {fx.tree_digest}")
    if rendered != expected:
        problems.append(f"app.conf on {host.name}: {rendered!r}")
    if sudo.split() != ["0", "root"]:
        problems.append(f"sudo-uid on {host.name}: {sudo!r}")
    for i, other in enumerate(state.hosts[:hosts]):
        fetched = list(fx.fetch.glob(f"{other.name}/**/app.conf"))
        want = TEMPLATE.replace("{{ inventory_hostname }}", other.name).replace(
            "{{ bench_role }}", role_of(i)
        )
        if len(fetched) != 1 or fetched[0].read_text() != want:
            problems.append(f"fetched app.conf of {other.name}: {fetched}")
            break
    if problems:
        raise SystemExit(f"WRONG END STATE after {tool}: " + "; ".join(problems))


# -- the driver --------------------------------------------------------------------------------


def one_size(fx: Fixture, args: argparse.Namespace, hosts: int, results: Results) -> None:
    playground = Playground(fx.work / f"playground-{hosts}")
    try:
        state = playground.up(hosts, prefix="tk", mode="netns", owner_pid=os.getpid())
    except PlaygroundError as exc:
        raise SystemExit(f"cannot start the playground: {exc}") from exc
    try:
        runs(state, fx, args, hosts, results)
    finally:
        playground.down()


def runs(
    state: PlaygroundState, fx: Fixture, args: argparse.Namespace, hosts: int, results: Results
) -> None:
    argvs = {tool: WRITERS[tool](state, fx, hosts) for tool in args.tools}
    write_remoteops(state, fx, hosts)  # reset() uses its inventory
    envs = {"ansible-playbook": ansible_env(fx)}
    for tool, argv in argvs.items():
        if argv is None:
            results.notes.append(f"{tool}: not available here (`remoteops fab --help` failed).")
    runnable = [t for t, a in argvs.items() if a is not None]
    for tool in list(runnable):
        if tool == "fab" and hosts > args.fab_max_hosts:
            runnable.remove(tool)
    for r in range(args.repeat):
        order = runnable[r % len(runnable) :] + runnable[: r % len(runnable)]
        for tool in order:
            argv = argvs[tool]
            assert argv is not None
            reset(state, fx, hosts)
            check = (r * 7 + len(tool)) % hosts
            for run in ("first", "second"):
                if tool == "fab":
                    (fx.tool_dir("fab") / "tree.tar").unlink(missing_ok=True)
                log = fx.work / f"log-{hosts}-{tool.replace(' ', '-')}-{run}-{r}.txt"
                sample = run_tool(argv, envs.get(tool), args.tool_timeout, log)
                results.samples.setdefault((hosts, tool, run), []).append(sample)
                shown = "killed" if sample.wall is None else f"{sample.wall:.2f} s"
                print(
                    f"{hosts} hosts, repeat {r + 1}, {tool}, {run} run: {shown}, "
                    f"CPU {sample.cpu:.2f} s",
                    flush=True,
                )
                if sample.wall is None:
                    break
                verify(state, fx, hosts, check, tool)
                os.sync()


def median_or_none(samples: list[Sample]) -> Sample:
    """Medians over the runs that finished; the note says how many did not (and why)."""
    finished = [s.wall for s in samples if s.wall is not None]
    cpu = statistics.median(s.cpu for s in samples)
    lost = [s.note for s in samples if s.wall is None]
    note = f"{len(lost)} of {len(samples)} runs {lost[0]}" if lost else ""
    return Sample(statistics.median(finished) if finished else None, cpu, note)


def table(args: argparse.Namespace, results: Results) -> list[str]:
    lines = [
        "| hosts | tool | first run | second run (no change) | CPU first | CPU second |"
        " remoteops / tool, first | remoteops / tool, second |",
        "|---|---|---|---|---|---|---|---|",
    ]
    goal_lines = []
    for hosts in args.hosts:
        base = {run: results.samples.get((hosts, "remoteops", run)) for run in ("first", "second")}
        for tool in args.tools:
            got = {run: results.samples.get((hosts, tool, run)) for run in ("first", "second")}
            if not got["first"]:
                if tool == "fab" and hosts > args.fab_max_hosts:
                    at = [
                        s
                        for n in args.hosts
                        if n <= args.fab_max_hosts
                        for s in results.samples.get((n, "fab", "first"), [])
                    ]
                    first = median_or_none(at).wall if at else None
                    seen = f"{first:.1f} s at {args.fab_max_hosts}" if first else "not run"
                    lines.append(
                        f"| {hosts} | fab | not run at {hosts} (sequential: {seen}) | | | | | |"
                    )
                continue
            cells, ratios = [], []
            for run in ("first", "second"):
                samples = got[run] or [Sample(None, 0.0, "not run")]
                row = median_or_none(samples)
                shown = f"{row.wall:.2f} s" if row.wall is not None else ""
                cells.append(f"{shown} ({row.note})" if row.note else shown)
                mine = median_or_none(base[run]).wall if base[run] else None
                if row.wall and mine is not None:
                    ratio = mine / row.wall
                    ratios.append(f"{ratio:.2f}x")
                    goal = GOALS.get((run, tool))
                    if goal is not None and hosts >= 100:
                        met = "met" if ratio <= goal else "missed"
                        goal_lines.append(
                            f"- {hosts} hosts, {run} run: remoteops {ratio:.2f}x {tool} "
                            f"(goal <= {goal}x): {met}"
                        )
                else:
                    ratios.append("-")
            cpus = [
                f"{median_or_none(got[r] or []).cpu:.2f} s" if got[r] else "-"
                for r in ("first", "second")
            ]
            lines.append(
                f"| {hosts} | {tool} | {cells[0]} | {cells[1]} | {cpus[0]} | {cpus[1]} |"
                f" {ratios[0]} | {ratios[1]} |"
            )
    return lines + (["", *goal_lines] if goal_lines else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="10,100", help="comma list of fleet sizes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma list of " + ", ".join(TOOLS)
    )
    parser.add_argument(
        "--fab-max-hosts",
        type=int,
        default=10,
        help="fab runs hosts one after another: not run on bigger fleets",
    )
    parser.add_argument(
        "--tool-timeout",
        type=float,
        default=900.0,
        help="seconds before a run is killed and reported as such",
    )
    parser.add_argument(
        "--pyinfra-sync",
        choices=sorted(PYINFRA_SYNC),
        default="rsync",
        help="the pyinfra operation that copies the tree",
    )
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    args = parser.parse_args()
    args.hosts = [int(n) for n in args.hosts.split(",")]
    global pyinfra_sync
    pyinfra_sync = args.pyinfra_sync
    args.tools = [t.strip() for t in args.tools.split(",")]
    unknown = sorted(set(args.tools) - set(TOOLS))
    if unknown or "remoteops" not in args.tools:
        raise SystemExit(f"--tools: unknown {unknown} (remoteops is needed for the ratios)")
    if os.geteuid() != 0:
        raise SystemExit("needs root: netns playground hosts, each with its own /root")
    compile_remoteops()
    become_subreaper()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="remoteops-bench-tasks-"))
    tree = work / "tree"
    make_tree(tree)
    fx = Fixture(work, tree, work / "app.conf.j2", tree_digest_here(tree), work / "fetched")
    fx.fetch.mkdir()
    results = Results()
    for hosts in args.hosts:
        one_size(fx, args, hosts, results)
    minutes = (time.perf_counter() - started) / 60
    versions = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    wanted = {"ansible", "ansible-core", "pyinfra", "fabric", "paramiko", "remoteops"}
    found = {p["name"].lower(): p["version"] for p in json.loads(versions or "[]")}
    lines = [
        "## A 5-step task: remoteops vs ansible-playbook, pyinfra and fab (`bench/tasks.py`)",
        "",
        f"`python bench/tasks.py --hosts {','.join(map(str, args.hosts))} --repeat {args.repeat}`"
        f" (medians of {args.repeat}, tools interleaved, {minutes:.1f} minutes in all). Versions: "
        + ", ".join(f"{n} {found[n]}" for n in sorted(wanted) if n in found)
        + ".",
        "",
        f"Machine: {machine_description()}; playground mode: netns.",
        "",
        *table(args, results),
    ]
    if results.notes:
        lines += ["", *(f"- {note}" for note in results.notes)]
    publish(lines, args.markdown)


if __name__ == "__main__":
    main()
