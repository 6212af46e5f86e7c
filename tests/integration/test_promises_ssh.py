"""SSH promises of the README that the rest of the suite left unguarded: host keys from the
system-wide ``/etc/ssh/ssh_known_hosts``, and the default key files ``~/.ssh/id_ed25519``,
``id_ecdsa`` and ``id_rsa`` when a host names no ``identity_file``.

Each run is the CLI with ``HOME`` pointed at a home made for the test (no agent, no ssh
config), so only what the test puts there can let it in. The machine's own
``/etc/ssh/ssh_known_hosts`` is never touched: the run that needs one gets it in a mount
namespace of its own, where a folder made for the test is mounted over ``/etc/ssh``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from remoteops.playground import PlaygroundState


def _inventory(
    playground: PlaygroundState, path: Path, *, identity: bool, known_hosts: bool
) -> Path:
    """The first playground host, with or without its identity_file and known_hosts_file."""
    host = playground.hosts[0]
    host_vars: dict[str, Any] = {"address": host.address, "port": host.port,
                                 "user": playground.user}  # fmt: skip
    if identity:
        host_vars["identity_file"] = str(playground.client_key_path)
    if known_hosts:
        host_vars["known_hosts_file"] = str(playground.known_hosts_path)
    path.write_text(yaml.safe_dump({"all": {"hosts": {host.name: host_vars}}}))
    return path


def _run(inventory: Path, home: Path, *, wrapper: tuple[str, ...] = ()) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env.update(HOME=str(home), NO_COLOR="1")
    run = subprocess.run(
        [*wrapper, sys.executable, "-m", "remoteops", "run", "-i", str(inventory), "-o", "json",
         "echo in"],
        capture_output=True, stdin=subprocess.DEVNULL, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert run.stdout, run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    (folder / ".ssh").mkdir(parents=True, mode=0o700)
    return folder


@pytest.mark.usefixtures("requires_root")
def test_the_system_known_hosts_file_is_trusted(
    playground: PlaygroundState, home: Path, tmp_path: Path
) -> None:
    inventory = _inventory(playground, tmp_path / "hosts.yml", identity=True, known_hosts=False)
    unknown = _run(inventory, home)
    assert unknown["status"] == "hostkey", unknown
    assert "unknown host key" in unknown["error"]

    etc_ssh = tmp_path / "etc-ssh"
    etc_ssh.mkdir()
    shutil.copy(playground.known_hosts_path, etc_ssh / "ssh_known_hosts")
    own_etc_ssh = ("unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" /etc/ssh && exec "$@"', str(etc_ssh))  # fmt: skip
    trusted = _run(inventory, home, wrapper=own_etc_ssh)
    assert (trusted["status"], trusted["stdout"]) == ("ok", "in\n"), trusted
    assert not (home / ".ssh" / "known_hosts").exists()  # nothing was learned on the way


@pytest.mark.parametrize("name", ["id_ed25519", "id_ecdsa", "id_rsa"])
def test_a_default_key_file_logs_in_when_no_identity_file_is_set(
    name: str, playground: PlaygroundState, home: Path, tmp_path: Path
) -> None:
    """Whatever its file name, the key is read for what it is (here the playground's
    ed25519 client key): the name only says where remoteops looks."""
    inventory = _inventory(playground, tmp_path / "hosts.yml", identity=False, known_hosts=True)
    refused = _run(inventory, home)
    assert refused["status"] == "auth", refused
    key = home / ".ssh" / name
    shutil.copy(playground.client_key_path, key)
    key.chmod(0o600)
    logged_in = _run(inventory, home)
    assert (logged_in["status"], logged_in["stdout"]) == ("ok", "in\n"), logged_in
