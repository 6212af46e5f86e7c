"""Fan-out benchmark: `uptime` on N playground hosts, remoteops side by side with the tools a
user would otherwise pick (parallel-ssh, pdsh -R ssh, an asyncssh gather script), same hosts,
same run. Reports medians of wall time and client CPU (this process's children), and ratios.

    python bench/fanout.py --sizes 10 50 100 --repeat 3 [--markdown docs/benchmarks.md]
    python bench/fanout.py --sizes 100 1000 --repeat 3 --tools remoteops "asyncssh gather"

Every run is checked: a host that did not answer fails the benchmark (no row from a run that
lost hosts). One untimed run on every host comes first (each sshd's first login is slower).
Peak memory is the client's largest process (``wait4``'s maxrss). The single-host line compares
``ssh host uptime`` with a cold ``remoteops run`` and with one handed to a running
``--persist`` process (its connection kept from the run before).

Needs root for namespaced hosts (loopback sshd otherwise), and apt's pssh and pdsh.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

from common import (
    compile_remoteops,
    machine_description,
    measure,
    measure_rss,
    publish,
    ssh_options,
)

from remoteops.playground import Playground, PlaygroundState

#: Seconds each tool gives a host (the playground inventory's 5 s connect_timeout is for
#: tests: with 1,000 sshd on the client's own 2 cores, logins wait for CPU and ~8% of them
#: passed 5 s). pssh's -t and remoteops' --connect-timeout; the asyncssh script waits forever.
LOGIN_TIMEOUT_S = 60

ASYNCSSH_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import asyncssh

    async def one(host, port, user, key, known):
        async with asyncssh.connect(host, port=port, username=user, client_keys=[key],
                                    known_hosts=known) as conn:
            return (await conn.run("uptime")).stdout

    async def main():
        user, key, known, *targets = sys.argv[1:]
        pairs = [t.rsplit(":", 1) for t in targets]
        outs = await asyncio.gather(*(one(h, int(p), user, key, known) for h, p in pairs))
        sys.stdout.write("".join(outs))

    asyncio.run(main())
    """
)


def tools(state: PlaygroundState, count: int, workdir: Path) -> dict[str, Callable[[], tuple]]:
    hosts = state.hosts[:count]
    user = state.user
    names = ",".join(h.name for h in hosts)
    remoteops = [sys.executable, "-m", "remoteops"]
    hosts_file = workdir / f"hosts-{count}"
    hosts_file.write_text("".join(f"{user}@{h.address}:{h.port}\n" for h in hosts))
    opts = ssh_options(state)
    ports = {h.port for h in hosts}
    pdsh_env = {**os.environ, "PDSH_SSH_ARGS_APPEND": " ".join(opts)}
    if ports != {22}:
        pdsh_env["PDSH_SSH_ARGS_APPEND"] += f" -p {hosts[0].port}"
    asyncssh_file = workdir / "asyncssh_gather.py"
    asyncssh_file.write_text(ASYNCSSH_SCRIPT)
    run: dict[str, Callable[[], tuple]] = {
        "remoteops": lambda: answered(count, "\"status\": \"ok\"", measure_rss(
            [*remoteops, "run", "-i", str(state.inventory_path), "-H", names,
             "--connect-timeout", str(LOGIN_TIMEOUT_S), "-o", "json", "uptime"]
        )),
        "asyncssh gather": lambda: answered(count, "load average", measure_rss(
            [sys.executable, str(asyncssh_file), user, str(state.client_key_path),
             str(state.known_hosts_path), *(f"{h.address}:{h.port}" for h in hosts)]
        )),
    }  # fmt: skip
    if shutil.which("parallel-ssh"):
        run["parallel-ssh"] = lambda: answered(count, "[SUCCESS]", measure_rss(
            ["parallel-ssh", "-h", str(hosts_file), "-p", str(count), "-t", str(LOGIN_TIMEOUT_S),
             "-x", " ".join(opts), "uptime"]
        ))  # fmt: skip
    if shutil.which("pdsh") and len(ports) == 1:
        run["pdsh -R ssh"] = lambda: answered(count, "load average", measure_rss(
            ["pdsh", "-R", "ssh", "-f", str(count), "-l", user,
             "-w", ",".join(h.address for h in hosts), "uptime"],
            env=pdsh_env,
        ))  # fmt: skip
    return run


def answered(count: int, mark: str, measured: tuple) -> tuple:
    """The measurement, once every host's answer is in the output (a lost host fails it)."""
    wall, cpu, rss, out = measured
    got = out.count(mark)
    if got != count:
        raise SystemExit(f"{got} of {count} hosts answered ({mark!r}): a host was lost")
    return wall, cpu, rss, out


def single_host(state: PlaygroundState, repeat: int) -> dict[str, float]:
    host = state.hosts[0]
    ssh = ["ssh", *ssh_options(state), "-p", str(host.port), f"{state.user}@{host.address}"]
    ours_argv = [sys.executable, "-m", "remoteops", "run", "-i", str(state.inventory_path),
                 "-H", host.name, "uptime"]  # fmt: skip
    persisted_argv = [*ours_argv[:3], "--persist", "10m", *ours_argv[3:]]
    runtime = tempfile.mkdtemp(prefix="rpb", dir="/tmp")
    persist_env = {**os.environ, "XDG_RUNTIME_DIR": runtime}
    measure(persisted_argv, env=persist_env)  # starts the process, which keeps the connection
    plain: list[float] = []
    ours: list[float] = []
    persisted: list[float] = []
    try:
        for _ in range(repeat):  # alternate, so load changes hit all alike
            plain.append(measure([*ssh, "uptime"])[0])
            ours.append(measure(ours_argv)[0])
            persisted.append(measure(persisted_argv, env=persist_env)[0])
    finally:
        measure([*ours_argv[:3], "persist", "stop"], env=persist_env)
    return {
        "ssh host uptime": statistics.median(plain),
        "remoteops": statistics.median(ours),
        "remoteops --persist": statistics.median(persisted),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--keep", action="store_true", help="leave the playground up")
    parser.add_argument(
        "--tools", nargs="+", help="only these tools (remoteops is always run: ratios need it)"
    )
    parser.add_argument("--skip-single", action="store_true", help="no single-host line")
    parser.add_argument(
        "--mode",
        choices=("auto", "netns", "loopback"),
        default="auto",
        help="playground mode (netns needs root; a Linux bridge holds 1,024 hosts in all)",
    )
    args = parser.parse_args()
    compile_remoteops()

    playground = Playground(Path(tempfile.mkdtemp(prefix="remoteops-bench-")))
    state = playground.up(max(args.sizes), prefix="bn", mode=args.mode)
    lines = [
        "## SSH fan-out: `uptime` on N hosts",
        "",
        f"`python bench/fanout.py --sizes {' '.join(map(str, args.sizes))} --repeat {args.repeat}`"
        f" (medians of {args.repeat} interleaved runs; client CPU = user+sys of the tool and all"
        " its children, i.e. every `ssh` process pssh and pdsh start; the sshd hosts are not"
        " counted). Each tool gets full fan-out (`-p N` / `-f N`).",
        "",
        f"Machine: {machine_description()}; playground mode: {state.mode}.",
        "",
    ]
    try:
        workdir = Path(tempfile.mkdtemp(prefix="remoteops-bench-work-"))
        lines += [
            "| hosts | tool | wall (median) | client CPU (median) | peak RSS | RSS per host |"
            " wall vs remoteops | CPU vs remoteops |",
            "|---|---|---|---|---|---|---|---|",
        ]
        walls: dict[str, list[tuple[int, float]]] = {}
        per_host_cpu: dict[str, list[tuple[int, float]]] = {}
        # Untimed: each sshd's first login pages in its binary and keys (a first 1,000-host
        # run took 28 s where the next took 17-19 s); whoever ran first would pay for it.
        tools(state, max(args.sizes), workdir)["remoteops"]()
        for count in args.sizes:
            runners = tools(state, count, workdir)
            if args.tools:
                runners = {n: r for n, r in runners.items() if n == "remoteops" or n in args.tools}
            samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runners}
            for _ in range(args.repeat):  # interleaved, so drift hits every tool alike
                for name, runner in runners.items():
                    wall, cpu, rss, _ = runner()
                    samples[name].append((wall, cpu, rss))
            medians = {
                name: (
                    statistics.median(w for w, _, _ in got),
                    statistics.median(c for _, c, _ in got),
                    max(r for _, _, r in got),
                )
                for name, got in samples.items()
            }
            base_wall, base_cpu, _ = medians["remoteops"]
            for name, (wall, cpu, rss) in medians.items():
                per_host_cpu.setdefault(name, []).append((count, cpu))
                walls.setdefault(name, []).append((count, wall))
                lines.append(
                    f"| {count} | {name} | {wall:.2f} s | {cpu:.2f} s | {rss:.0f} MB | "
                    f"{rss / count:.2f} MB | {wall / base_wall:.2f}x | {cpu / base_cpu:.2f}x |"
                )
            print("\n".join(lines[-len(medians) :]), flush=True)
        lines += [
            "",
            "Client CPU per extra host (slope between the smallest and largest size):",
            "",
        ]
        for name, points in per_host_cpu.items():
            (n0, c0), (n1, c1) = points[0], points[-1]
            if n1 > n0:
                lines.append(f"- {name}: {1000 * (c1 - c0) / (n1 - n0):.1f} ms")
        lines += ["", "Wall time of the largest size against the smallest:", ""]
        for name, points in walls.items():
            (n0, w0), (n1, w1) = points[0], points[-1]
            if n1 > n0:
                lines.append(f"- {name}: {n1} hosts {w1 / w0:.1f}x the wall of {n0}")
        if not args.skip_single:
            single = single_host(state, max(args.repeat, 21))
            plain = single["ssh host uptime"]
            lines += [
                "",
                f"Single host (medians of {max(args.repeat, 21)}, alternating): "
                f"`ssh host uptime` {plain:.3f} s, "
                f"`remoteops run` {single['remoteops']:.3f} s "
                f"({single['remoteops'] / plain:.2f}x), `remoteops --persist 10m run` "
                f"{single['remoteops --persist']:.3f} s "
                f"({single['remoteops --persist'] / plain:.2f}x).",
            ]
    finally:
        if not args.keep:
            playground.down()
    publish(lines, args.markdown)


if __name__ == "__main__":
    main()
