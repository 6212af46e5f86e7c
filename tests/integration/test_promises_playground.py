"""What the README promises about the playground itself: what each host keeps to itself,
and ``playground status`` saying when a host is down.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.playground import Playground, PlaygroundState
from remoteops.sync.put import put_hosts
from remoteops.transports import CommandSpec


@pytest.mark.usefixtures("requires_root")
def test_each_host_has_its_own_tmp_and_hostname_file(ssh_hosts: list[Host]) -> None:
    """The same path under /tmp holds each host's own file, and none of it is the
    machine's; /etc/hostname names the host, not the machine the playground runs on."""
    name = f"remoteops-private-{secrets.token_hex(4)}"
    wrote = run_command(ssh_hosts, CommandSpec(f"hostname > /tmp/{name}"))
    assert all(r.ok for r in wrote.results), wrote.results
    try:
        read = run_command(ssh_hosts, CommandSpec(f"cat /tmp/{name} /etc/hostname"))
        for host, result in zip(ssh_hosts, read.results, strict=True):
            assert result.stdout == f"{host.name}\n{host.name}\n".encode(), result
        assert not Path("/tmp", name).exists()
    finally:
        run_command(ssh_hosts, CommandSpec(f"rm -f /tmp/{name}"))


@pytest.mark.usefixtures("requires_root")
def test_put_to_the_same_tmp_path_on_every_host_does_not_race(
    ssh_hosts: list[Host], tmp_path: Path
) -> None:
    """The first hour's ``put site /tmp`` on every host: with one shared /tmp the hosts
    renamed over each other ("cannot rename site: Failure")."""
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    for number in range(40):
        (site / f"page{number}.html").write_text(f"page {number}\n")
    (site / "css" / "site.css").write_text("body {}\n")
    target = f"/tmp/remoteops-site-{secrets.token_hex(4)}"
    try:
        report = put_hosts(ssh_hosts, [site], target, recursive=True)
        assert [r.status.value for r in report.results] == ["ok"] * len(ssh_hosts), [
            r.error for r in report.results
        ]
        counted = run_command(ssh_hosts, CommandSpec(f"find {target} -type f | wc -l"))
        assert {r.stdout.strip() for r in counted.results} == {b"41"}
    finally:
        run_command(ssh_hosts, CommandSpec(f"rm -rf {target}"))


def test_status_exits_3_naming_a_stopped_host(
    playground: PlaygroundState, playground_manager: Playground
) -> None:
    host = playground.hosts[-1]
    playground_manager.stop_host(host.name)
    try:
        status = subprocess.run(
            [sys.executable, "-m", "remoteops", "playground", "status",
             "--state-dir", str(playground.state_dir)],
            capture_output=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
        )  # fmt: skip
    finally:
        playground_manager.start_host(host.name)
    assert status.returncode == 3, status.stderr
    lines = {line.split()[0]: line.split()[-1] for line in status.stdout.decode().splitlines()[1:]}
    assert lines == {h.name: "STOPPED" if h is host else "running" for h in playground.hosts}
