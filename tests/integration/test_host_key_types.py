"""Host-key type negotiation against an sshd that offers both RSA and Ed25519 keys."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.playground import PlaygroundState
from remoteops.results import Status
from remoteops.transports import CommandSpec, TransportFactory


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_banner(port: int, deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                if conn.recv(64).startswith(b"SSH-2.0"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd on port {port} sent no banner")


@pytest.fixture(scope="module")
def two_key_sshd(
    playground: PlaygroundState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, dict[str, str]]]:
    """An sshd on 127.0.0.1 with an RSA and an Ed25519 host key; yields (port, type -> line)."""
    folder = tmp_path_factory.mktemp("two-key-sshd")
    keys = {}
    for kind in ("rsa", "ed25519"):
        path = folder / f"host_{kind}"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)
        keys[kind] = path
    authorized = folder / "authorized_keys"
    authorized.write_text(Path(f"{playground.client_key_path}.pub").read_text())
    authorized.chmod(0o644)
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys['rsa']}\n"
        f"HostKey {keys['ed25519']}\nPidFile {folder / 'pid'}\nUsePAM no\nStrictModes no\n"
        f"AuthorizedKeysFile {authorized}\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)])
    try:
        _wait_for_banner(port)
        lines = {
            kind: " ".join(Path(f"{path}.pub").read_text().split()[:2])
            for kind, path in keys.items()
        }
        yield port, lines
    finally:
        sshd.terminate()
        sshd.wait()


@pytest.mark.parametrize("known_type", ["rsa", "ed25519"])
def test_the_known_key_type_is_negotiated(
    two_key_sshd: tuple[int, dict[str, str]],
    playground: PlaygroundState,
    tmp_path: Path,
    known_type: str,
) -> None:
    port, lines = two_key_sshd
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {lines[known_type]}\n")
    host = Host(
        "twokeys",
        {
            "address": "127.0.0.1",
            "port": port,
            "user": getpass.getuser(),
            "identity_file": str(playground.client_key_path),
            "known_hosts_file": str(known),
        },
    )
    factory = TransportFactory(known_hosts_files=[], ssh_config_path=tmp_path / "none")
    result = run_command([host], CommandSpec("true"), factory=factory).results[0]
    assert result.status is Status.OK, result.error
