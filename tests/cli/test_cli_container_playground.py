"""``remoteops playground up --engine podman``: real testhost containers (sshd, remoteops serve
ftp, vsftpd, busybox telnetd) on a private network, and remoteops run against all of them.

One playground for the module, brought up by the CLI as a user would; the tests run in file
order and the last ones stop a host and take the playground down.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cli_support import assert_password_only_in_a_file, by_host, remoteops

from remoteops.engine import Engine, EngineError, find_engine
from remoteops.playground import PASSWORD_ENV, ContainerPlayground, PlaygroundError
from remoteops.playground._container_files import LABEL, ContainerState, plan_hosts
from remoteops.playground._images import ensure_images, image_name

pytestmark = pytest.mark.containers

#: Building the images on a fresh machine takes minutes; cached, `up` takes seconds.
_UP_TIMEOUT = 1200


@dataclass(frozen=True)
class Up:
    """The module's playground: where its files are and what `up` recorded."""

    state_dir: Path
    inventory: Path
    env: dict[str, str]
    playground_id: str
    network: str
    containers: dict[str, str]  # inventory name -> container name


@pytest.fixture(scope="module")
def podman() -> Engine:
    try:
        return find_engine("podman")
    except EngineError as exc:
        pytest.skip(str(exc))


def _labelled(podman: Engine, what: str, label: str = LABEL) -> list[str]:
    """Names of the containers or networks carrying ``label`` (``KEY`` or ``KEY=VALUE``)."""
    verb, name = (
        (["ps", "--all"], "{{.Names}}")
        if what == "containers"
        else (["network", "ls"], "{{.Name}}")
    )
    done = podman.run([*verb, "--filter", f"label={label}", "--format", name])
    return done.stdout.decode().split()


@pytest.fixture(scope="module")
def up(podman: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    state_dir = tmp_path_factory.mktemp("containers") / "pg"
    started = time.monotonic()
    done = remoteops(
        "playground", "up", "--engine", "podman", "--count", "3", "--state-dir", str(state_dir),
        timeout=_UP_TIMEOUT,
    )  # fmt: skip
    print(f"playground up --engine podman: {time.monotonic() - started:.1f} s")
    try:
        assert done.returncode == 0, done.stderr.decode()
        inventory = Path(done.stdout.decode().strip())
        record = json.loads((state_dir / "containers.json").read_text())
        password = (state_dir / "password").read_text().strip()
        yield Up(
            state_dir=state_dir,
            inventory=inventory,
            env={PASSWORD_ENV: password},
            playground_id=record["playground_id"],
            network=record["network"],
            containers={h["name"]: h["container"] for h in record["hosts"]},
        )
    finally:
        remoteops("playground", "down", "--state-dir", str(state_dir), timeout=300)


def test_up_writes_an_inventory_of_the_three_protocols_with_every_host_key_pinned(
    up: Up, podman: Engine
) -> None:
    groups = yaml.safe_load(up.inventory.read_text())["all"]["children"]
    assert {g: list(groups[g]["hosts"]) for g in groups} == {
        "ssh": ["ssh01", "ssh02", "ssh03"],
        "ftp": ["ftp-serve", "ftp-vsftpd"],
        "telnet": ["telnet01"],
    }
    pinned = (up.state_dir / "known_hosts").read_text().splitlines()
    addresses = [groups["ssh"]["hosts"][h]["address"] for h in ("ssh01", "ssh02", "ssh03")]
    assert [line.split()[0] for line in pinned] == addresses
    for name in ("password", "client_key", "containers.json"):
        assert stat.S_IMODE((up.state_dir / name).stat().st_mode) == 0o600, name
    assert_password_only_in_a_file(podman, list(up.containers.values()), up.env[PASSWORD_ENV])
    assert up.env[PASSWORD_ENV] not in up.inventory.read_text()


def test_run_over_ssh_with_password_sudo_on_every_ssh_host(up: Up) -> None:
    common = ("run", "-i", str(up.inventory), "--hosts", "ssh", "-o", "json")
    done = remoteops(*common, "--sudo", "id -un", env=up.env)
    assert done.returncode == 0, done.stderr.decode()
    assert {h: r["stdout"] for h, r in by_host(done.stdout).items()} == dict.fromkeys(
        ("ssh01", "ssh02", "ssh03"), "root\n"
    )
    # It went through the password: sudo does ask tester for one (not NOPASSWD).
    asks = remoteops(*common, "sudo -n true 2>/dev/null && echo nopasswd || echo asks")
    assert {r["stdout"] for r in by_host(asks.stdout).values()} == {"asks\n"}


@pytest.mark.parametrize("host", ["ssh02", "ftp-serve", "ftp-vsftpd"])
def test_put_get_and_sync_carry_the_same_bytes_and_a_second_sync_changes_nothing(
    up: Up, podman: Engine, host: str, tmp_path: Path
) -> None:
    payload = os.urandom(300_000) + b"\r\n\x00 end"
    (tmp_path / "blob.bin").write_bytes(payload)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"alpha\n")
    (tree / "sub" / "b.bin").write_bytes(os.urandom(70_000))
    common = ("-i", str(up.inventory), "--hosts", host)
    put = remoteops("put", *common, str(tmp_path / "blob.bin"), "~/blob.bin", env=up.env)
    assert put.returncode == 0, put.stderr.decode()
    sync = remoteops("sync", *common, str(tree), "~/tree", env=up.env)
    assert sync.returncode == 0, sync.stderr.decode()
    # What landed in the container, read by the engine, not by remoteops.
    for remote, local in [
        ("blob.bin", payload),
        ("tree/sub/b.bin", (tree / "sub" / "b.bin").read_bytes()),
    ]:
        inside = podman.run(["exec", up.containers[host], "cat", f"/home/tester/{remote}"])
        assert hashlib.sha256(inside.stdout).digest() == hashlib.sha256(local).digest(), remote
    got = remoteops("get", *common, "~/blob.bin", str(tmp_path / "got"), env=up.env)
    assert got.returncode == 0, got.stderr.decode()
    assert (tmp_path / "got" / host / "blob.bin").read_bytes() == payload
    again = remoteops("sync", *common, str(tree), "~/tree", "-o", "json", env=up.env)
    assert again.returncode == 0, again.stderr.decode()
    second = by_host(again.stdout)[host]
    counts = ("files_created", "files_updated", "files_deleted", "bytes_sent")
    assert {k: second[k] for k in counts} == dict.fromkeys(counts, 0), second
    assert second["files_unchanged"] >= 2, second


def test_run_over_telnet_logs_in_through_the_real_login(up: Up) -> None:
    done = remoteops(
        "run", "-i", str(up.inventory), "--hosts", "telnet", "-o", "json", "id -un; hostname",
        env=up.env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert by_host(done.stdout)["telnet01"]["stdout"] == "tester\ntelnet01\n"
    assert b"plaintext" not in done.stderr  # the inventory says it knows (a private bridge)


def test_the_remoteops_image_runs_commands_on_the_other_containers(up: Up, podman: Engine) -> None:
    ensure_images(podman, ["remoteops"])
    # The state dir is private (0700/0600 files of the user who ran `up`): mounted read-only at
    # the same path the inventory names, read by the image's root rather than its user 10001.
    done = podman.run(
        [
            "run", "--rm", "--network", up.network, "--user", "0",
            "--volume", f"{up.state_dir}:{up.state_dir}:ro", "--env", PASSWORD_ENV,
            image_name("remoteops"),
            "run", "-i", str(up.inventory), "--hosts", "ssh,telnet", "-o", "json", "hostname",
        ],
        env=up.env,
        check=False,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    results = by_host(done.stdout)
    assert {h: r["stdout"] for h, r in results.items()} == {
        h: f"{h}\n" for h in ("ssh01", "ssh02", "ssh03", "telnet01")
    }


def test_status_lists_the_containers_and_exits_3_once_one_is_stopped(
    up: Up, podman: Engine
) -> None:
    status = remoteops("playground", "status", "--state-dir", str(up.state_dir))
    assert status.returncode == 0, status.stderr.decode()
    rows = status.stdout.decode().splitlines()[1:]
    assert [row.split()[0] for row in rows] == [
        "ssh01", "ssh02", "ssh03", "ftp-serve", "ftp-vsftpd", "telnet01",
    ]  # fmt: skip
    assert all(row.endswith("running") for row in rows)
    podman.run(["stop", "--time", "1", up.containers["ftp-vsftpd"]])
    status = remoteops("playground", "status", "--state-dir", str(up.state_dir))
    assert status.returncode == 3
    stopped = [row.split()[0] for row in status.stdout.decode().splitlines() if "STOPPED" in row]
    assert stopped == ["ftp-vsftpd"]


def test_down_removes_everything_it_made_and_spares_a_lookalike(up: Up, podman: Engine) -> None:
    # Someone else's container wearing our label, under a name like ours: never ours to remove.
    lookalike = f"ropg-{up.playground_id}-lookalike"
    podman.run([
        "run", "--detach", "--name", lookalike, "--label", f"{LABEL}={up.playground_id}",
        image_name("testhost-ssh"), "sleep", "600",
    ])  # fmt: skip
    try:
        started = time.monotonic()
        down = remoteops("playground", "down", "--state-dir", str(up.state_dir), timeout=300)
        print(f"playground down (podman): {time.monotonic() - started:.1f} s")
        assert down.returncode == 0, down.stderr.decode()
        ours = f"{LABEL}={up.playground_id}"
        assert _labelled(podman, "containers", ours) == [lookalike]
        assert _labelled(podman, "networks", ours) == []
        assert not up.state_dir.exists()
        again = remoteops("playground", "down", "--state-dir", str(up.state_dir))
        assert again.returncode == 0, again.stderr.decode()
        assert remoteops("playground", "status", "--state-dir", str(up.state_dir)).returncode == 3
    finally:
        podman.run(["rm", "--force", lookalike], check=False)


def test_up_fails_naming_the_host_that_never_came_up_and_leaves_nothing(
    podman: Engine, tmp_path: Path
) -> None:
    hosts = plan_hosts(f"t{os.getpid():x}", 1)
    hosts[-1].command = "false"  # telnet01's daemon exits at once
    playground = ContainerPlayground(tmp_path / "pg", engine=podman)
    networks_before = set(_labelled(podman, "networks"))
    with pytest.raises(PlaygroundError, match=r"playground host telnet01 \(false\) exited"):
        playground.up(1, hosts=hosts, ready_timeout=60)
    left = podman.run(["ps", "--all", "--format", "{{.Names}}"]).stdout.decode().split()
    assert not [name for name in left if name.startswith(f"ropg-t{os.getpid():x}-")]
    assert set(_labelled(podman, "networks")) <= networks_before
    assert not playground.recorded()
    assert not (tmp_path / "pg").exists()


def test_down_spares_containers_and_networks_a_state_file_names_without_our_label(
    podman: Engine, tmp_path: Path
) -> None:
    # A state file naming someone else's container and network (stale, or tampered with).
    theirs = f"i14-not-ours-{os.getpid():x}"
    podman.run(["network", "create", theirs])
    try:
        podman.run(["run", "--detach", "--name", theirs, "--network", theirs,
                    image_name("testhost-ssh"), "sleep", "600"])  # fmt: skip
        hosts = plan_hosts("x", 1)
        hosts[0].container = theirs
        state = ContainerState("feedf00d", "podman", theirs, hosts)
        (tmp_path / "pg").mkdir()
        (tmp_path / "pg" / "containers.json").write_text(state.dumps())
        down = remoteops("playground", "down", "--state-dir", str(tmp_path / "pg"))
        assert down.returncode == 0, down.stderr.decode()
        running = podman.run(["container", "inspect", theirs]).stdout
        assert json.loads(running)[0]["State"]["Running"]
        assert podman.run(["network", "exists", theirs], check=False).returncode == 0
        assert not (tmp_path / "pg" / "containers.json").exists()
    finally:
        podman.run(["rm", "--force", theirs], check=False)
        podman.run(["network", "rm", theirs], check=False)
