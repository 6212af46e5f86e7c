"""Helpers the benchmarks share: timing a command (wall time and client CPU), the OpenSSH
options that reach playground hosts, and a one-line description of the machine.

Client CPU is user+sys of the reaped children of this process (``RUSAGE_CHILDREN``), so a tool
is charged for every process it starts (each ``ssh`` of rsync or pssh) but not for the sshd
hosts, which are not our children.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from remoteops.playground import PlaygroundState


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None
) -> tuple[float, float, str]:
    """Wall seconds and client CPU seconds of one command; fails loudly if it failed or ran
    longer than ``timeout`` seconds (then it is killed)."""
    cpu0, wall0 = children_cpu(), time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise SystemExit(
            f"benchmark command timed out after {timeout} s: {' '.join(argv[:6])}..."
        ) from exc
    wall, cpu = time.perf_counter() - wall0, children_cpu() - cpu0
    if done.returncode != 0:
        raise SystemExit(
            f"benchmark command failed ({done.returncode}): {' '.join(argv[:6])}...\n"
            + done.stdout.decode(errors="replace")[-2000:]
            + done.stderr.decode(errors="replace")[-2000:]
        )
    return wall, cpu, done.stdout.decode(errors="replace")


def measure_rss(
    argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None
) -> tuple[float, float, float, str]:
    """Like :func:`measure`, plus the peak resident memory in MB of the command's largest
    process (``wait4``'s ``ru_maxrss``: the process or the largest of its reaped children)."""
    cpu0, wall0 = children_cpu(), time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"benchmark command timed out after {timeout} s: {argv[:6]}")
            time.sleep(0.005)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall, cpu = time.perf_counter() - wall0, children_cpu() - cpu0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        failed = [line for line in stdout.splitlines() if '"ok": false' in line][:10]
        raise SystemExit(
            f"benchmark command failed ({proc.returncode}): {' '.join(argv[:6])}...\n"
            + ("\n".join(failed) + "\n" if failed else stdout[-2000:])
            + stderr[-2000:]
        )
    return wall, cpu, usage.ru_maxrss / 1024, stdout


def measure_parallel(argvs: list[list[str]]) -> tuple[float, float, list[str]]:
    """Start every command at once and wait for all: wall seconds, total client CPU seconds
    and each command's stdout; fails loudly if any failed."""
    cpu0, wall0 = children_cpu(), time.perf_counter()
    procs = [
        subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        for argv in argvs
    ]
    # Outputs are small; reading them one process after another cannot deadlock (each
    # process only ever waits for its own pipes) and costs no measurable wall time.
    outputs = [proc.communicate() for proc in procs]
    wall, cpu = time.perf_counter() - wall0, children_cpu() - cpu0
    for argv, proc, (_, err) in zip(argvs, procs, outputs, strict=True):
        if proc.returncode != 0:
            raise SystemExit(
                f"benchmark command failed ({proc.returncode}): {' '.join(argv[:8])}...\n"
                + err.decode(errors="replace")[-2000:]
            )
    return wall, cpu, [out.decode(errors="replace") for out, _ in outputs]


def ssh_options(state: PlaygroundState, known_hosts: Path | None = None) -> list[str]:
    """OpenSSH client options for the playground: its key, strict host keys, no prompts."""
    return [
        "-i", str(state.client_key_path),
        "-o", f"UserKnownHostsFile={known_hosts or state.known_hosts_path}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
    ]  # fmt: skip


def compile_remoteops() -> None:
    """Byte-compile the package, as ``pip install`` does: an editable checkout under
    PYTHONDONTWRITEBYTECODE (set on these machines) would otherwise recompile every module
    on every run, 25-80 ms of start-up a user's installed copy never pays."""
    import compileall

    import remoteops

    compileall.compile_dir(Path(remoteops.__file__).parent, quiet=1)


def system_description() -> str:
    """Cores and CPU model, kernel release and Python version, in one line."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python "
        f"{platform.python_version()}"
    )


def machine_description() -> str:
    ssh_version = subprocess.run(
        ["ssh", "-V"], capture_output=True, text=True, check=False
    ).stderr.strip()
    return f"{system_description()}, {ssh_version}; client and all sshd hosts share the cores"


def publish(lines: list[str], markdown: Path | None) -> None:
    """Print the report, and write it to ``markdown`` too when asked."""
    report = "\n".join(lines)
    print(report)
    if markdown:
        markdown.write_text(report + "\n")
