"""FTP sync benchmark: `remoteops sync` to one FTP host side by side with lftp's `mirror -R`
(one transfer at a time, and `--parallel=N`), against the same pyftpdlib server
(`remoteops serve ftp`), at 0 ms and at an added one-way latency. Reports medians of wall
time, client CPU (this process's children) and server CPU, and ratios to lftp.

    python bench/ftp_sync.py [--repeat 3] [--latency-ms 0 25] [--markdown FILE]
        [--small-files 2000] [--latency-small-files 200] [--big-files 0] [--big-mib 20]
        [--lftp-parallel 4] [--keep]

About 6-7 minutes with the defaults on a 2-core box, most of it at 25 ms.

Scenarios: (a) first copy into an empty folder, (b) re-sync with nothing changed. Every tool
mirrors (`--delete`) into its own folder under the served root; before (a) that folder is
deleted on disk (the server is on this machine). After every run the destination is compared
on disk with the source (sha256 and size of every file, no extra files; mtimes too for
remoteops, whose sync relies on them); a wrong copy stops the benchmark. (b) also counts the
files whose ctime moved, i.e. that a tool rewrote or touched although nothing changed.

Latency: FTP's passive data connections go to the port the server announces, so a relay on
the control port alone would be bypassed. At a latency > 0 the server listens on 127.0.0.2
with fixed passive ports and announces 127.0.0.1; bench/relay.py forwards 127.0.0.1:CTRL and
every 127.0.0.1:P to 127.0.0.2 with the same passive port numbers, so every byte of control
and data crosses the delay line. At 0 ms the tools reach the server on 127.0.0.1 directly.
Per-file tools pay several round trips per file, so the latency runs use a smaller tree
(--latency-small-files).
"""

from __future__ import annotations

import argparse
import contextlib
import ftplib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version as dist_version
from pathlib import Path
from types import FrameType

import yaml
from common import compile_remoteops, measure, publish, system_description
from relay import process_cpu, start_relay, stop_process, stop_relay
from sync import BASE_MTIME, Listing, local_listing, write_random

USER = "tester"
PASSWORD_VAR = "REMOTEOPS_BENCH_FTP_PASSWORD"  # noqa: S105 (the variable's name, not a password)
HOST_NAME = "ftp1"
SCENARIOS = {"a": "(a) first copy", "b": "(b) re-sync, no change"}
#: remoteops / lftp (one transfer at a time) wall-time ratio the FTP issue asks for, by
#: whether latency was added.
TARGET_LAN, TARGET_WAN = 0.8, 0.5
#: Files per folder in the generated trees (2,000 files -> 100 folders).
FILES_PER_FOLDER = 20
#: Seconds any one timed command may take before it is killed and the benchmark stops.
COMMAND_TIMEOUT = 900.0
#: Where the latency runs' server listens; the relay, and the tools, use 127.0.0.1.
HIDDEN_ADDRESS = "127.0.0.2"


@dataclass(frozen=True)
class Tool:
    """One contender: ``parallel`` 0 is remoteops (-1: handed to a ``--persist`` process
    that keeps its FTP connections between runs), else lftp with that many transfers."""

    name: str
    parallel: int

    @property
    def dest(self) -> str:
        return f"/{self.name}-dest"

    @property
    def label(self) -> str:
        if self.parallel == 0:
            return "remoteops"
        if self.parallel < 0:
            return "remoteops --persist"
        return "lftp" if self.parallel == 1 else f"lftp -P{self.parallel}"


@dataclass(frozen=True)
class Sample:
    """One timed run: wall, client CPU and server CPU seconds; files the tool said it sent
    (remoteops only, else -1) and files whose ctime moved in the destination."""

    wall: float
    cpu: float
    server_cpu: float
    sent: int
    touched: int


@dataclass(frozen=True)
class Tree:
    path: Path
    files: int
    folders: int
    listing: Listing


@dataclass(frozen=True)
class Endpoint:
    """How the tools reach the server at one latency."""

    latency_ms: int
    address: str
    port: int
    inventory: Path


@dataclass
class Results:
    samples: dict[tuple[int, str, str], list[Sample]] = field(default_factory=dict)
    files: dict[int, Tree] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)
            print("PROBLEM: " + text, flush=True)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            print(text, flush=True)


# -- the source tree -------------------------------------------------------------------------


def make_tree(root: Path, small: int, big: int, big_mib: int, seed: int) -> Tree:
    """``small`` files of 1-16 KiB, FILES_PER_FOLDER to a folder (at most 100 folders), plus
    ``big`` files of ``big_mib`` MiB, all random from ``seed``, all with mtime BASE_MTIME.
    No symlinks: FTP hosts cannot have them."""
    rng = random.Random(seed)
    folders = max(1, min(100, small // FILES_PER_FOLDER))
    root.mkdir(parents=True)
    for i in range(small):
        folder = root / f"d{i % folders:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"f{i:05d}.bin").write_bytes(rng.randbytes(rng.randint(1024, 16384)))
    for i in range(big):
        write_random(root / f"big{i}.bin", big_mib << 20, rng)
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (BASE_MTIME, BASE_MTIME))
    return Tree(root, small + big, folders, local_listing(root))


# -- checking a copy -------------------------------------------------------------------------


def ctimes(root: Path) -> dict[str, int]:
    if not root.is_dir():
        return {}
    return {
        path.relative_to(root).as_posix(): path.stat().st_ctime_ns
        for path in root.rglob("*")
        if path.is_file()
    }


def check_copy(tool: Tool, dest: Path, tree: Tree, what: str, results: Results) -> None:
    """Fail loudly if ``dest`` lacks a file, has an extra one or other content; remoteops
    must also keep every mtime. Other metadata differences are noted."""
    got = local_listing(dest) if dest.is_dir() else {}
    expected = tree.listing
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    common = sorted(set(expected) & set(got))
    wrong = [p for p in common if expected[p][:2] != got[p][:2]]
    if missing or extra or wrong:
        raise SystemExit(
            f"WRONG COPY: {what}, {dest}: {len(missing)} missing {missing[:3]}, "
            f"{len(extra)} extra {extra[:3]}, {len(wrong)} with other content {wrong[:3]}"
        )
    mtimes = [p for p in common if expected[p][2] != got[p][2]]
    if mtimes and tool.parallel == 0:
        path = mtimes[0]
        raise SystemExit(
            f"WRONG COPY: {what}: {len(mtimes)} files have another mtime than the source, "
            f"e.g. {path}: source {expected[path][2]}, copy {got[path][2]}"
        )
    if mtimes:
        results.note(
            f"{tool.label} does not keep mtimes on this server ({len(mtimes)} of {len(common)}"
            " files differ); only content is checked for it."
        )
    modes = [p for p in common if expected[p][3] != got[p][3]]
    if modes:
        path = modes[0]
        text = (
            f"{tool.label}: {len(modes)} of {len(common)} files have another mode than the "
            f"source, e.g. {path}: source {oct(expected[path][3])}, copy {oct(got[path][3])}"
        )
        if tool.parallel == 0:
            results.problem(text)
        else:
            results.note(text)


# -- the server, the relay and the latency check ---------------------------------------------


def address_usable(address: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


def port_free(port: int) -> bool:
    for address in ("127.0.0.1", HIDDEN_ADDRESS):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def free_port_range(count: int) -> range:
    """``count`` consecutive ports free on both loopback addresses, below Linux's ephemeral
    range (32768 up) so that no outgoing connection takes one meanwhile."""
    for first in range(32000 - count, 20000, -count):
        ports = range(first, first + count)
        if all(port_free(port) for port in ports):
            return ports
    raise SystemExit(f"no {count} consecutive free ports between 20000 and 32000")


def start_server(
    root: Path, bind: str, log: Path, passive: range | None = None, public: str | None = None
) -> tuple[subprocess.Popen[str], int]:
    """`remoteops serve ftp` on ``bind``, a free port; returns the process and its port."""
    argv = [sys.executable, "-m", "remoteops", "serve", "ftp", str(root), "--port", "0",
            "--bind", bind, "--user", USER, "--password-env", PASSWORD_VAR]  # fmt: skip
    if passive is not None:
        argv += ["--passive-ports", f"{passive[0]}-{passive[-1]}"]
    if public is not None:
        argv += ["--public-address", public]
    with log.open("a") as err:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.isdigit():
        stop_process(proc)
        raise SystemExit(f"the FTP server did not start: {line!r}; see {log}")
    return proc, int(line)


def ftp_round_trips(address: str, port: int, *, data: bool, times: int = 5) -> str:
    """Median seconds of connect + login, of NOOP and (``data``) of NLST, with ftplib."""
    logins, noops, lists = [], [], []
    for _ in range(times):
        started = time.perf_counter()
        ftp = ftplib.FTP()  # noqa: S321 (plain FTP on loopback is what is measured)
        try:
            ftp.connect(address, port, timeout=10)
            ftp.login(USER, os.environ[PASSWORD_VAR])
            logged_in = time.perf_counter()
            ftp.voidcmd("NOOP")
            noop = time.perf_counter()
            if data:
                ftp.nlst("/")
                lists.append(time.perf_counter() - noop)
            logins.append(logged_in - started)
            noops.append(noop - logged_in)
        finally:
            with contextlib.suppress(OSError, ftplib.Error):
                ftp.quit()
            ftp.close()
    text = (
        f"connect + login {statistics.median(logins) * 1000:.1f} ms, "
        f"NOOP {statistics.median(noops) * 1000:.1f} ms"
    )
    if lists:
        text += f", NLST (PASV + data connection) {statistics.median(lists) * 1000:.1f} ms"
    return text


def write_inventory(path: Path, address: str, port: int, connections: int | None) -> None:
    host: dict[str, str | int] = {
        "protocol": "ftp",
        "address": address,
        "port": port,
        "user": USER,
        "password_env": PASSWORD_VAR,
    }
    if connections is not None:
        host["ftp_connections"] = connections
    path.write_text(yaml.safe_dump({"all": {"hosts": {HOST_NAME: host}}}, sort_keys=False))


@contextlib.contextmanager
def serving(
    ms: int,
    *,
    root: Path,
    workdir: Path,
    passive_count: int,
    connections: int | None,
    results: Results,
) -> Iterator[tuple[Endpoint, subprocess.Popen[str]]]:
    """A server for one latency (behind a relay if ``ms`` > 0): the endpoint, the server."""
    log = workdir / f"server-{ms}ms.log"
    inventory = workdir / f"inventory-{ms}ms.yml"
    if ms == 0:
        server, port = start_server(root, "127.0.0.1", log)
        try:
            write_inventory(inventory, "127.0.0.1", port, connections)
            print("  direct: " + ftp_round_trips("127.0.0.1", port, data=True), flush=True)
            yield Endpoint(0, "127.0.0.1", port, inventory), server
        finally:
            stop_process(server)
        return
    passive = free_port_range(passive_count)
    server, port = start_server(root, HIDDEN_ADDRESS, log, passive, "127.0.0.1")
    relay = None
    try:
        targets = [(HIDDEN_ADDRESS, port)] + [(HIDDEN_ADDRESS, p) for p in passive]
        relay, ports = start_relay(ms / 1000, targets, [0, *passive])
        write_inventory(inventory, "127.0.0.1", ports[0], connections)
        plain = ftp_round_trips(HIDDEN_ADDRESS, port, data=False)
        slow = ftp_round_trips("127.0.0.1", ports[0], data=True)
        results.note(
            f"Latency check at {ms} ms (ftplib, median of 5): direct to the server {plain}; "
            f"through the relay {slow}."
        )
        results.note(
            f"At {ms} ms the server listens on {HIDDEN_ADDRESS}:{port} with passive ports "
            f"{passive[0]}-{passive[-1]} announced as 127.0.0.1; the relay forwards "
            f"127.0.0.1:{ports[0]} and the same passive ports."
        )
        yield Endpoint(ms, "127.0.0.1", ports[0], inventory), server
    finally:
        if relay is not None:
            results.note(f"The {ms} ms relay used {stop_relay(relay):.1f} s of CPU in all.")
        stop_process(server)


# -- the tools -------------------------------------------------------------------------------


#: The runtime folder of the ``--persist`` contender's process (made in main()).
PERSIST_ENV: dict[str, str] = {}


def run_remoteops(
    endpoint: Endpoint, src: Path, dest: str, *, persist: bool = False
) -> tuple[float, float, int]:
    persisting = ["--persist", "10m"] if persist else []
    argv = [sys.executable, "-m", "remoteops", *persisting, "sync", "-i", str(endpoint.inventory),
            "-H", HOST_NAME, "-o", "json", "--delete", str(src), dest]  # fmt: skip
    env = {**os.environ, **PERSIST_ENV} if persist else None
    wall, cpu, out = measure(argv, env=env, timeout=COMMAND_TIMEOUT)
    try:
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    except ValueError as exc:
        raise SystemExit(f"remoteops sync printed something that is not JSON: {out!r}") from exc
    if len(rows) != 1 or rows[0].get("ok") is not True or rows[0].get("host") != HOST_NAME:
        raise SystemExit(f"remoteops sync failed (exit 0): {out[-2000:]}")
    return wall, cpu, int(rows[0]["files_created"]) + int(rows[0]["files_updated"])


def run_lftp(
    endpoint: Endpoint, src: Path, dest: str, parallel: int, workdir: Path
) -> tuple[float, float, int]:
    """lftp from a script file (mode 0600), so the password stays off the command line."""
    script = workdir / "lftp-script"
    mirror = f"mirror -R --delete --verbose=0 {src} {dest}"
    if parallel > 1:
        mirror += f" --parallel={parallel}"
    script.touch(mode=0o600)
    script.write_text(
        "set cmd:fail-exit yes\n"
        "set ftp:passive-mode true\n"
        "set ftp:ssl-allow no\n"
        "set net:max-retries 1\n"
        "set net:timeout 30\n"
        f"open -u {USER},{os.environ[PASSWORD_VAR]} -p {endpoint.port} {endpoint.address}\n"
        f"{mirror}\n"
    )
    wall, cpu, _ = measure(["lftp", "-f", str(script)], timeout=COMMAND_TIMEOUT)
    return wall, cpu, -1


def settle() -> None:
    """Write back what the previous run left dirty, so it is not timed in the next run."""
    os.sync()


# -- the runs --------------------------------------------------------------------------------


def sync_runs(
    endpoint: Endpoint,
    server: subprocess.Popen[str],
    tree: Tree,
    tools: list[Tool],
    *,
    root: Path,
    workdir: Path,
    repeat: int,
    results: Results,
) -> None:
    ms = endpoint.latency_ms
    results.files[ms] = tree
    for r in range(repeat):
        order = tools if r % 2 == 0 else tools[::-1]  # alternate who goes first
        for tool in tools:
            shutil.rmtree(root / tool.dest.lstrip("/"), ignore_errors=True)
        for scenario, label in SCENARIOS.items():
            for tool in order:
                dest = root / tool.dest.lstrip("/")
                before = ctimes(dest)
                settle()
                server_cpu = process_cpu(server.pid)
                if tool.parallel <= 0:
                    wall, cpu, sent = run_remoteops(
                        endpoint, tree.path, tool.dest, persist=tool.parallel < 0
                    )
                else:
                    wall, cpu, sent = run_lftp(
                        endpoint, tree.path, tool.dest, tool.parallel, workdir
                    )
                server_cpu = process_cpu(server.pid) - server_cpu
                after = ctimes(dest)
                touched = sum(1 for path, ns in after.items() if before.get(path) != ns)
                sample = Sample(wall, cpu, server_cpu, sent, touched)
                results.samples.setdefault((ms, scenario, tool.name), []).append(sample)
                shown = f", sent {sent}" if sent >= 0 else ""
                print(
                    f"  {ms} ms repeat {r + 1} {scenario} {tool.label}: {wall:.2f} s, "
                    f"CPU {cpu:.2f} s, server CPU {server_cpu:.2f} s{shown}, "
                    f"files touched {touched}",
                    flush=True,
                )
                what = f"{tool.label} {label} at {ms} ms"
                check_copy(tool, dest, tree, what, results)
                if scenario == "b" and (touched or sent > 0):
                    results.problem(
                        f"{what}: {touched} files rewritten or touched"
                        + (f", {sent} reported sent" if sent > 0 else "")
                        + ", expected none"
                    )
                # remoteops counts the folders it creates among files_created.
                expected = (tree.files, tree.files + tree.folders)
                if scenario == "a" and sent >= 0 and sent not in expected:
                    results.problem(f"{what}: reported {sent} files sent, expected {expected}")


# -- the report ------------------------------------------------------------------------------


def median_of(samples: list[Sample], attr: str) -> float:
    return statistics.median(float(getattr(s, attr)) for s in samples)


def tool_versions() -> str:
    lftp = subprocess.run(["lftp", "--version"], capture_output=True, text=True, check=False)
    first = lftp.stdout.splitlines()[0] if lftp.stdout else "lftp ?"
    version = first.split("|")[1].strip() if "|" in first else first
    return f"lftp {version.removeprefix('Version ')}, pyftpdlib {dist_version('pyftpdlib')}"


def report_lines(
    args: argparse.Namespace, tools: list[Tool], results: Results, elapsed: float
) -> list[str]:
    others = [t for t in tools if t.parallel > 1 or t.parallel < 0]
    lines = [
        "## FTP sync: remoteops vs lftp mirror -R",
        "",
        f"`python bench/ftp_sync.py {' '.join(sys.argv[1:])}` (medians of {args.repeat} runs,"
        " tools interleaved and alternating who goes first, dirty pages written back (`sync`)"
        " before each timed run; client CPU = user+sys of the tool and its children; server"
        f" CPU = the `remoteops serve ftp` process during the run; {elapsed / 60:.1f} minutes"
        " in all).",
        "",
    ]
    for ms, tree in sorted(results.files.items()):
        size = sum(entry[1] for entry in tree.listing.values())
        lines.append(
            f"- Tree at {ms} ms: {tree.files:,} files in {tree.folders} folders"
            f" ({args.small_files if ms == 0 else args.latency_small_files:,} of 1-16 KiB"
            f" + {args.big_files} x {args.big_mib} MiB), random content, {size / 1e6:.1f} MB."
        )
    if any(ms > 0 for ms in results.files):
        lines.append(
            "- With latency the tree is smaller (--latency-small-files): per-file FTP costs"
            " several round trips per file (lftp needed 19 s for 50 files at 25 ms)."
        )
    lines += [
        f"- One FTP host: `remoteops serve ftp` ({tool_versions()}), one user; every tool"
        " mirrors into its own folder of the served root, deleted on disk before (a).",
        "- remoteops: `remoteops sync -i INV -H ftp1 -o json --delete SRC /remoteops-dest`"
        + (
            f" with `ftp_connections: {args.ftp_connections}` in the inventory"
            if args.ftp_connections is not None
            else " (its default number of FTP connections per host)"
        )
        + ". lftp: `mirror -R --delete"
        " --verbose=0 SRC /lftp-dest` (passive mode, no TLS)"
        + "".join(
            f"; {t.label}: the same with `--parallel={t.parallel}`"
            for t in others
            if t.parallel > 1
        )
        + "."
        + (
            " remoteops --persist: the same command with `--persist 10m`, handed to a"
            " persistent process that keeps the FTP connections between runs (its first run,"
            " in (a), starts the process)."
            if any(t.parallel < 0 for t in tools)
            else ""
        ),
        f"- Machine: {system_description()}; client, server and relay share the cores."
        " Latency is one-way, added in both directions, control and data connections, by"
        " `bench/relay.py` (userspace delay line; no netem here).",
        "",
    ]
    header = "| latency | scenario | files | remoteops | lftp | remoteops / lftp | target |"
    rule = "|---|---|---|---|---|---|---|"
    for tool in others:
        header += f" {tool.label} | remoteops / {tool.label} |"
        rule += "---|---|"
    lines += [header, rule]
    cpu_header = "| latency | scenario |" + "".join(
        f" {t.label} CPU | server CPU ({t.label}) |" for t in tools
    )
    cpu_lines = [cpu_header, "|---|---|" + "---|---|" * len(tools)]
    for ms in args.latency_ms:
        target = TARGET_LAN if ms == 0 else TARGET_WAN
        for scenario, label in SCENARIOS.items():
            got = {t.name: results.samples.get((ms, scenario, t.name)) for t in tools}
            ours, lftp = got["remoteops"], got["lftp"]
            if not ours or not lftp:
                continue
            wall, their_wall = median_of(ours, "wall"), median_of(lftp, "wall")
            ratio = wall / their_wall
            verdict = "met" if ratio <= target else "missed"
            row = (
                f"| {ms} ms | {label} | {results.files[ms].files:,} | {wall:.2f} s | "
                f"{their_wall:.2f} s | {ratio:.2f}x | <= {target:.1f}x ({verdict}) |"
            )
            for tool in others:
                samples = got[tool.name]
                if samples:
                    other = median_of(samples, "wall")
                    row += f" {other:.2f} s | {wall / other:.2f}x |"
                else:
                    row += " - | - |"
            lines.append(row)
            cpu_row = f"| {ms} ms | {label} |"
            for tool in tools:
                samples = got[tool.name]
                if samples:
                    cpu_row += (
                        f" {median_of(samples, 'cpu'):.2f} s |"
                        f" {median_of(samples, 'server_cpu'):.2f} s |"
                    )
                else:
                    cpu_row += " - | - |"
            cpu_lines.append(cpu_row)
    lines += ["", "CPU seconds per run (client: the tool and its children; server: pyftpdlib):"]
    lines += ["", *cpu_lines]
    if results.notes:
        lines += ["", *[f"- {note}" for note in results.notes]]
    lines += ["", "Problems seen:" if results.problems else "Problems seen: none."]
    lines += [f"- {problem}" for problem in results.problems]
    return lines


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: servers stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 25], metavar="MS")
    parser.add_argument("--small-files", type=int, default=2000)
    parser.add_argument(
        "--latency-small-files",
        type=int,
        default=200,
        help="small files in the tree used at latencies above 0 ms",
    )
    parser.add_argument("--big-files", type=int, default=0)
    parser.add_argument("--big-mib", type=int, default=20)
    parser.add_argument(
        "--lftp-parallel",
        type=int,
        default=4,
        help="also run lftp mirror --parallel=N (0 or 1: only lftp's default)",
    )
    parser.add_argument(
        "--ftp-connections",
        type=int,
        help="set the host's ftp_connections in the inventory (default: remoteops' own)",
    )
    parser.add_argument("--passive-ports", type=int, default=20, help="how many, with latency")
    parser.add_argument(
        "--persist", action="store_true", help="also run remoteops --persist (kept connections)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument("--keep", action="store_true", help="leave the trees and copies")
    args = parser.parse_args()
    compile_remoteops()
    if args.small_files < 1 or args.latency_small_files < 1 or args.repeat < 1:
        parser.error("--small-files, --latency-small-files and --repeat must be at least 1")
    if args.big_files < 0 or args.big_mib < 1 or any(ms < 0 for ms in args.latency_ms):
        parser.error("--big-files and --latency-ms cannot be negative, --big-mib at least 1")
    busiest = max(args.lftp_parallel, args.ftp_connections or 4)
    if args.passive_ports < busiest + 4:
        parser.error("--passive-ports must exceed --lftp-parallel and --ftp-connections by 4")
    if shutil.which("lftp") is None:
        raise SystemExit("lftp is missing: apt-get install -y lftp")
    if any(ms > 0 for ms in args.latency_ms) and not address_usable(HIDDEN_ADDRESS):
        raise SystemExit(f"{HIDDEN_ADDRESS} is not usable here: the latency runs need it")
    signal.signal(signal.SIGTERM, on_sigterm)
    os.environ[PASSWORD_VAR] = secrets.token_hex(12)
    tools = [Tool("remoteops", 0), Tool("lftp", 1)]
    if args.lftp_parallel > 1:
        tools.append(Tool(f"lftp-p{args.lftp_parallel}", args.lftp_parallel))
    if args.persist:
        tools.append(Tool("remoteops-persist", -1))
        PERSIST_ENV["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="rpf", dir="/tmp")

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="remoteops-bench-ftp-"))
    results = Results()
    try:
        root = workdir / "ftp-root"
        root.mkdir()
        trees: dict[int, Tree] = {}
        for ms in args.latency_ms:
            small = args.small_files if ms == 0 else args.latency_small_files
            if small not in trees:
                trees[small] = make_tree(
                    workdir / f"tree-{small}", small, args.big_files, args.big_mib, args.seed
                )
        print(f"trees ready in {time.perf_counter() - started:.1f} s: {workdir}", flush=True)
        for ms in args.latency_ms:
            tree = trees[args.small_files if ms == 0 else args.latency_small_files]
            print(f"{ms} ms, {tree.files} files:", flush=True)
            served = serving(
                ms,
                root=root,
                workdir=workdir,
                passive_count=args.passive_ports,
                connections=args.ftp_connections,
                results=results,
            )
            with served as (endpoint, server):
                sync_runs(
                    endpoint,
                    server,
                    tree,
                    tools,
                    root=root,
                    workdir=workdir,
                    repeat=args.repeat,
                    results=results,
                )
        for log in sorted(workdir.glob("server-*.log")):
            text = log.read_text(errors="replace")
            if "passive port" in text or "Traceback" in text:
                results.problem(f"{log.name} reports: {text.strip()[-500:]}")
        lines = report_lines(args, tools, results, time.perf_counter() - started)
    finally:
        if PERSIST_ENV:
            measure([sys.executable, "-m", "remoteops", "persist", "stop"],
                    env={**os.environ, **PERSIST_ENV})  # fmt: skip
        if args.keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    publish(lines, args.markdown)


if __name__ == "__main__":
    main()
