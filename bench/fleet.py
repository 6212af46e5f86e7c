"""Multi-step benchmark: S sequential steps (one short command each) across N playground hosts,
the remoteops ``Fleet`` (connections kept, and ``keep_open=False``) side by side with what a
Python user would otherwise pick: Fabric's ``ThreadingGroup``, an asyncssh script that keeps its
connections, and ``parallel-ssh`` once per step (as a CLI user would, when installed).

    python bench/fleet.py --sizes 10 50 --steps 10 --repeat 3 [--markdown out.md]

Each library runs in a fresh process of its own (this script with ``--worker``), which times
every step and the CPU it used over the steps (user+sys of the process and its children), so
the interpreter start-up and imports are not counted: a library user pays them once per
program, not per step. Step 1 includes connecting; later steps show what a kept connection
costs. parallel-ssh is timed per invocation with ``measure`` (start-up included: it is what a
CLI user pays per step). Needs root for namespaced hosts (loopback sshd otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import compile_remoteops, machine_description, measure, publish, ssh_options

from remoteops.playground import Playground, PlaygroundState

COMMANDS = {"true": "true", "hostname": "echo $HOSTNAME"}
#: A library worker runs a few seconds; anything near this means a hang, not a slow tool.
WORKER_TIMEOUT = 600.0


@dataclass(frozen=True)
class Sample:
    """One repeat of one tool: each step's wall seconds and client CPU seconds."""

    steps: list[float]
    cpus: list[float]


# -- the workers: one per library, each in a process of its own ----------------------------------


def self_cpu() -> float:
    """User+sys of this process (every thread) and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_steps(steps: int, step: Callable[[], None]) -> Sample:
    walls, cpus = [], []
    for _ in range(steps):
        cpu0, wall0 = self_cpu(), time.perf_counter()
        step()
        walls.append(time.perf_counter() - wall0)
        cpus.append(self_cpu() - cpu0)
    return Sample(walls, cpus)


def check_outputs(outputs: dict[str, str], command: str, count: int) -> None:
    """Every host answered, and ``echo $HOSTNAME`` printed something: a tool that silently
    did nothing must not look fast."""
    if len(outputs) != count:
        raise SystemExit(f"{len(outputs)} of {count} hosts answered")
    if command != "true" and not all(out.strip() for out in outputs.values()):
        raise SystemExit(f"empty output from {command!r} on some host")


def fleet_worker(
    state: PlaygroundState, count: int, command: str, steps: int, keep: bool
) -> Sample:
    import remoteops.transports.ssh  # noqa: F401  (paramiko: Fabric imports it before timing too)
    from remoteops import Fleet

    names = ",".join(h.name for h in state.hosts[:count])
    with Fleet.from_inventory(state.inventory_path, hosts=names, keep_open=keep) as fleet:

        def step() -> None:
            report = fleet.run(command, timeout=60)
            report.raise_for_status()
            check_outputs({r.host: r.stdout.decode() for r in report.results}, command, count)

        return timed_steps(steps, step)


def fabric_worker(state: PlaygroundState, count: int, command: str, steps: int) -> Sample:
    import paramiko
    from fabric import ThreadingGroup

    hosts = state.hosts[:count]
    group = ThreadingGroup(
        *(f"{state.user}@{h.address}:{h.port}" for h in hosts),
        connect_kwargs={
            "key_filename": [str(state.client_key_path)],
            "look_for_keys": False,
            "allow_agent": False,
        },
        connect_timeout=10,
    )
    for connection in group:  # strict host keys from the playground, as every other tool
        connection.client.load_host_keys(str(state.known_hosts_path))
        connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())

    def step() -> None:
        results = group.run(command, hide=True, in_stream=False)
        check_outputs({c.host: r.stdout for c, r in results.items()}, command, count)

    try:
        return timed_steps(steps, step)
    finally:
        group.close()


def asyncssh_worker(state: PlaygroundState, count: int, command: str, steps: int) -> Sample:
    import asyncssh

    hosts = state.hosts[:count]

    async def main() -> Sample:
        connections: list[asyncssh.SSHClientConnection | None] = [None] * count

        async def one(index: int) -> str:
            connection = connections[index]
            if connection is None:  # the first step connects; later steps reuse it
                host = hosts[index]
                connection = connections[index] = await asyncssh.connect(
                    host.address,
                    port=host.port,
                    username=state.user,
                    client_keys=[str(state.client_key_path)],
                    known_hosts=str(state.known_hosts_path),
                )
            return str((await connection.run(command, check=True)).stdout)

        walls, cpus = [], []
        for _ in range(steps):
            cpu0, wall0 = self_cpu(), time.perf_counter()
            outs = await asyncio.gather(*(one(index) for index in range(count)))
            walls.append(time.perf_counter() - wall0)
            cpus.append(self_cpu() - cpu0)
            check_outputs({h.name: o for h, o in zip(hosts, outs, strict=True)}, command, count)
        for connection in connections:
            if connection is not None:
                connection.close()
        return Sample(walls, cpus)

    return asyncio.run(main())


def worker(args: argparse.Namespace) -> None:
    state = Playground(args.state_dir).status()
    if state is None:
        raise SystemExit(f"no playground in {args.state_dir}")
    command = COMMANDS[args.command]
    count, steps = args.count, args.steps
    workers: dict[str, Callable[[], Sample]] = {
        "fleet": lambda: fleet_worker(state, count, command, steps, keep=True),
        "fleet-reconnect": lambda: fleet_worker(state, count, command, steps, keep=False),
        "fabric": lambda: fabric_worker(state, count, command, steps),
        "asyncssh": lambda: asyncssh_worker(state, count, command, steps),
    }
    sample = workers[args.worker]()
    print(json.dumps({"steps": sample.steps, "cpus": sample.cpus}))


# -- the driver ---------------------------------------------------------------------------------


def tools(
    state: PlaygroundState, args: argparse.Namespace, count: int, workdir: Path
) -> dict[str, Callable[[], Sample]]:
    """One runner per tool, each returning one repeat's :class:`Sample`."""

    def library(name: str) -> Callable[[], Sample]:
        argv = [
            sys.executable, __file__, "--worker", name, "--state-dir", str(args.state_dir),
            "--count", str(count), "--steps", str(args.steps), "--command", args.command,
        ]  # fmt: skip

        def run() -> Sample:
            _, _, out = measure(argv, timeout=WORKER_TIMEOUT)
            got = json.loads(out.splitlines()[-1])
            return Sample(got["steps"], got["cpus"])

        return run

    run = {
        "remoteops Fleet (kept)": library("fleet"),
        "remoteops Fleet keep_open=False": library("fleet-reconnect"),
        "Fabric 3 ThreadingGroup": library("fabric"),
        "asyncssh (kept)": library("asyncssh"),
    }
    if shutil.which("parallel-ssh"):
        hosts = state.hosts[:count]
        hosts_file = workdir / f"hosts-{count}"
        hosts_file.write_text("".join(f"{state.user}@{h.address}:{h.port}\n" for h in hosts))
        argv = [
            "parallel-ssh", "-h", str(hosts_file), "-p", str(count), "-t", "60",
            "-x", " ".join(ssh_options(state)), COMMANDS[args.command],
        ]  # fmt: skip

        def pssh() -> Sample:
            timed = [measure(argv) for _ in range(args.steps)]
            return Sample([wall for wall, _, _ in timed], [cpu for _, cpu, _ in timed])

        run["parallel-ssh per step"] = pssh
    return run


@dataclass(frozen=True)
class Row:
    """Medians over the repeats of one tool: all steps, step 1 and a later step (the median of
    steps 2..S), wall and client CPU each."""

    wall: float
    first_wall: float
    later_wall: float
    cpu: float
    first_cpu: float
    later_cpu: float

    @classmethod
    def of(cls, samples: list[Sample]) -> Row:
        def median(pick: Callable[[Sample], float]) -> float:
            return statistics.median(pick(s) for s in samples)

        return cls(
            wall=median(lambda s: sum(s.steps)),
            first_wall=median(lambda s: s.steps[0]),
            later_wall=median(lambda s: statistics.median(s.steps[1:] or s.steps)),
            cpu=median(lambda s: sum(s.cpus)),
            first_cpu=median(lambda s: s.cpus[0]),
            later_cpu=median(lambda s: statistics.median(s.cpus[1:] or s.cpus)),
        )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--command", choices=sorted(COMMANDS), default="true")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--keep", action="store_true", help="leave the playground up")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    compile_remoteops()

    args.state_dir = Path(tempfile.mkdtemp(prefix="remoteops-bench-"))
    playground = Playground(args.state_dir)
    state = playground.up(max(args.sizes), prefix="bf")
    command = COMMANDS[args.command]
    lines = [
        f"## Multi-step: {args.steps} sequential steps of `{command}` on N hosts",
        "",
        f"`python bench/fleet.py --sizes {' '.join(map(str, args.sizes))} --steps {args.steps}"
        f" --repeat {args.repeat} --command {args.command}` (medians of {args.repeat}"
        " interleaved repeats, each library in a fresh process; wall and CPU are over the steps"
        " only, imports and interpreter start-up not counted, except for parallel-ssh, which is"
        " a process per step as a CLI user runs it; client CPU = user+sys of the client process"
        " and its children, the sshd hosts not counted). Step 1 includes connecting; 'later"
        " step' is the median of steps 2..S.",
        "",
        f"Machine: {machine_description()}; playground mode: {state.mode}.",
        "",
        "| hosts | tool | all steps | step 1 (connect) | later step | client CPU, all steps |"
        " CPU step 1 | CPU later step | wall vs Fleet | CPU vs Fleet |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    try:
        workdir = Path(tempfile.mkdtemp(prefix="remoteops-bench-work-"))
        for count in args.sizes:
            runners = tools(state, args, count, workdir)
            samples: dict[str, list[Sample]] = {name: [] for name in runners}
            for _ in range(args.repeat):  # interleaved, so drift hits every tool alike
                for name, runner in runners.items():
                    samples[name].append(runner())
            rows = {name: Row.of(got) for name, got in samples.items()}
            base = rows["remoteops Fleet (kept)"]
            for name, row in rows.items():
                lines.append(
                    f"| {count} | {name} | {row.wall:.2f} s | {ms(row.first_wall)} |"
                    f" {ms(row.later_wall)} | {row.cpu:.2f} s | {ms(row.first_cpu)} |"
                    f" {ms(row.later_cpu)} | {row.wall / base.wall:.2f}x |"
                    f" {row.cpu / base.cpu:.2f}x |"
                )
            print("\n".join(lines[-len(rows) :]), flush=True)
    finally:
        if not args.keep:
            playground.down()
    publish(lines, args.markdown)


if __name__ == "__main__":
    main()
