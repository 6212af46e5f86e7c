"""Dask benchmark: `uptime` on N playground hosts from one controller (`remoteops run`) and
through a Dask cluster of local worker processes (`remoteops run --executor dask`), same
hosts, same run, interleaved; and the same with `true` on N `local` hosts, where the work is
tiny and what Dask adds (chunks, events over the scheduler, results replayed) shows alone.

    python bench/dask_fanout.py --sizes 100 1000 --workers 4 --repeat 3

The machine's 2 cores run the sshd hosts, the controller and the workers alike: read the
numbers as the overhead of the engine, not as a speed-up. Controller CPU is the `remoteops`
process's (and its children's); worker CPU is what the worker processes used during the run
(their own getrusage, asked before and after). Every run is checked: a lost host fails it.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
from pathlib import Path

from common import compile_remoteops, machine_description, measure_rss, publish
from fanout import LOGIN_TIMEOUT_S, answered

from remoteops.playground import Playground, PlaygroundState


def worker_cpu(client: object) -> float:
    """CPU seconds all workers have used so far (theirs and their children's)."""

    def used() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    return sum(client.run(used).values())  # type: ignore[attr-defined]


def local_inventory(count: int, workdir: Path) -> Path:
    path = workdir / f"local-{count}.yml"
    hosts = "".join(f"        lo{i:04d}: {{}}\n" for i in range(count))
    path.write_text(
        f"all:\n  children:\n    here:\n      vars:\n        protocol: local\n      hosts:\n{hosts}"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--workers", type=int, default=4, help="Dask worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument("--prefix", default="dq", help="the playground's host name prefix")
    args = parser.parse_args()
    compile_remoteops()
    from distributed import Client, LocalCluster

    workdir = Path(tempfile.mkdtemp(prefix="remoteops-bench-dask-"))
    playground = Playground(workdir / "playground")
    state: PlaygroundState = playground.up(max(args.sizes), prefix=args.prefix)
    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=args.threads,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        silence_logs=40,
    )
    client = Client(cluster, set_as_default=False)
    remoteops = [sys.executable, "-m", "remoteops", "run", "-o", "json"]
    dask = ["--executor", "dask", "--scheduler", cluster.scheduler_address]
    lines = [
        "## Dask executor: one controller against Dask workers",
        "",
        f"`python bench/dask_fanout.py --sizes {' '.join(map(str, args.sizes))} --workers "
        f"{args.workers} --threads {args.threads} --repeat {args.repeat}` (medians of "
        f"{args.repeat} interleaved runs; {args.workers} worker processes x {args.threads} "
        "thread on this machine, a LocalCluster started once; controller CPU and RSS are the "
        "`remoteops` process's, worker CPU the workers' own during the run).",
        "",
        f"Machine: {machine_description()}; playground mode: {state.mode}.",
        "",
        "| hosts | work | executor | wall | controller CPU | worker CPU | controller RSS |"
        " wall vs local | added wall per host |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    try:
        ssh_all = ",".join(h.name for h in state.hosts)
        warm = [*remoteops, "-i", str(state.inventory_path), "-H", ssh_all]
        measure_rss([*warm, "--connect-timeout", str(LOGIN_TIMEOUT_S), "true"])  # untimed
        for count in args.sizes:
            names = ",".join(h.name for h in state.hosts[:count])
            ssh = [*remoteops, "-i", str(state.inventory_path), "-H", names]
            ssh += ["--connect-timeout", str(LOGIN_TIMEOUT_S), "uptime"]
            local = [*remoteops, "-i", str(local_inventory(count, workdir)), "true"]
            for work, argv in (("ssh `uptime`", ssh), ("local `true`", local)):
                samples: dict[str, list[tuple[float, float, float, float]]] = {
                    "local": [],
                    "dask": [],
                }
                for _ in range(args.repeat):
                    for name, extra in (("local", []), ("dask", dask)):
                        before = worker_cpu(client)
                        wall, cpu, rss, _ = answered(
                            count, '"status": "ok"', measure_rss([*argv[:4], *extra, *argv[4:]])
                        )
                        samples[name].append((wall, cpu, worker_cpu(client) - before, rss))
                medians = {
                    name: tuple(statistics.median(s[i] for s in got) for i in range(4))
                    for name, got in samples.items()
                }
                base = medians["local"][0]
                for name, (wall, cpu, wcpu, rss) in medians.items():
                    added = (wall - base) / count * 1000
                    lines.append(
                        f"| {count} | {work} | {name} | {wall:.2f} s | {cpu:.2f} s | "
                        f"{wcpu:.2f} s | {rss:.0f} MB | {wall / base:.2f}x | "
                        + ("" if name == "local" else f"{added:+.2f} ms")
                        + " |"
                    )
                print("\n".join(lines[-2:]), flush=True)
    finally:
        client.close()
        cluster.close()
        playground.down()
    publish(lines, args.markdown)


if __name__ == "__main__":
    main()
