"""Fan-out benchmark: `uptime` on N playground hosts, remoteops side by side with the tools a
user would otherwise pick (parallel-ssh, pdsh -R ssh, an asyncssh gather script), same hosts,
same run. Reports medians of wall time and client CPU (this process's children), and ratios.

    python bench/fanout.py --sizes 10 50 100 --repeat 3 [--markdown docs/benchmarks.md]

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

from common import compile_remoteops, machine_description, measure, publish, ssh_options

from remoteops.playground import Playground, PlaygroundState

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
        "remoteops": lambda: measure(
            [*remoteops, "run", "-i", str(state.inventory_path), "-H", names, "-o", "json",
             "uptime"]
        ),
        "asyncssh gather": lambda: measure(
            [sys.executable, str(asyncssh_file), user, str(state.client_key_path),
             str(state.known_hosts_path), *(f"{h.address}:{h.port}" for h in hosts)]
        ),
    }  # fmt: skip
    if shutil.which("parallel-ssh"):
        run["parallel-ssh"] = lambda: measure(
            ["parallel-ssh", "-h", str(hosts_file), "-p", str(count), "-t", "60",
             "-x", " ".join(opts), "uptime"]
        )  # fmt: skip
    if shutil.which("pdsh") and len(ports) == 1:
        run["pdsh -R ssh"] = lambda: measure(
            ["pdsh", "-R", "ssh", "-f", str(count), "-l", user,
             "-w", ",".join(h.address for h in hosts), "uptime"],
            env=pdsh_env,
        )  # fmt: skip
    return run


def single_host(state: PlaygroundState, repeat: int) -> dict[str, float]:
    host = state.hosts[0]
    ssh = ["ssh", *ssh_options(state), "-p", str(host.port), f"{state.user}@{host.address}"]
    ours_argv = [sys.executable, "-m", "remoteops", "run", "-i", str(state.inventory_path),
                 "-H", host.name, "uptime"]  # fmt: skip
    plain: list[float] = []
    ours: list[float] = []
    for _ in range(repeat):  # alternate, so load changes hit both alike
        plain.append(measure([*ssh, "uptime"])[0])
        ours.append(measure(ours_argv)[0])
    return {"ssh host uptime": statistics.median(plain), "remoteops": statistics.median(ours)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--keep", action="store_true", help="leave the playground up")
    args = parser.parse_args()
    compile_remoteops()

    playground = Playground(Path(tempfile.mkdtemp(prefix="remoteops-bench-")))
    state = playground.up(max(args.sizes), prefix="bn")
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
            "| hosts | tool | wall (median) | client CPU (median) | wall vs remoteops |"
            " CPU vs remoteops |",
            "|---|---|---|---|---|---|",
        ]
        per_host_cpu: dict[str, list[tuple[int, float]]] = {}
        for count in args.sizes:
            runners = tools(state, count, workdir)
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
            for _ in range(args.repeat):  # interleaved, so drift hits every tool alike
                for name, runner in runners.items():
                    wall, cpu, _ = runner()
                    samples[name].append((wall, cpu))
            medians = {
                name: (
                    statistics.median(w for w, _ in got),
                    statistics.median(c for _, c in got),
                )
                for name, got in samples.items()
            }
            base_wall, base_cpu = medians["remoteops"]
            for name, (wall, cpu) in medians.items():
                per_host_cpu.setdefault(name, []).append((count, cpu))
                lines.append(
                    f"| {count} | {name} | {wall:.2f} s | {cpu:.2f} s | "
                    f"{wall / base_wall:.2f}x | {cpu / base_cpu:.2f}x |"
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
        single = single_host(state, max(args.repeat, 21))
        lines += [
            "",
            f"Single host: `ssh host uptime` {single['ssh host uptime']:.3f} s, "
            f"`remoteops run` {single['remoteops']:.3f} s "
            f"({single['remoteops'] / single['ssh host uptime']:.2f}x).",
        ]
    finally:
        if not args.keep:
            playground.down()
    publish(lines, args.markdown)


if __name__ == "__main__":
    main()
