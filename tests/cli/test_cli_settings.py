"""Per-protocol settings through the real CLI: a bad value stops the run before any host
connects (exit 2, naming file, host and variable); a likely typo is a warning, not an error.

Each bad value once ended as a host ``failed`` "internal error: ValueError" (exit 4), or was
taken as it was (``telnet_shell: bogus``). Every inventory here also holds a good host of the
same protocol aimed at a listening socket: had the run started, it would have connected there.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cli_support import remoteops


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port that records connections (the kernel accepts them into its backlog)."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        server.setblocking(False)
        yield server


def _connections(server: socket.socket) -> int:
    count = 0
    while True:
        try:
            peer, _ = server.accept()
        except BlockingIOError:
            return count
        peer.close()
        count += 1


def _inventory(
    tmp_path: Path, port: int, protocol: str, group_vars: dict[str, object], bad: dict[str, object]
) -> Path:
    good = {"address": "127.0.0.1", "port": port, "connect_timeout": 2}
    hosts = {"good-host": good, "odd-host7": {"address": "127.0.0.1", **bad}}
    body = {"all": {"children": {"fleet": {"vars": {"protocol": protocol, **group_vars},
                                           "hosts": hosts}}}}  # fmt: skip
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def _command(protocol: str, tmp_path: Path) -> list[str]:
    if protocol == "ftp":
        payload = tmp_path / "payload.txt"
        payload.write_text("x\n")
        return ["put", str(payload), "/tmp/"]
    return ["run", "true"]


BAD_SETTINGS = [  # protocol, the bad host's variables, what the message must say
    pytest.param("ftp", {"ftp_connections": "lots"}, "integer from 1 to 64", id="connections"),
    pytest.param("telnet", {"telnet_shell": "bogus"}, "one of auto, posix, device", id="shell"),
    pytest.param("telnet", {"telnet_idle_timeout": "soon"}, "positive number", id="idle_timeout"),
    pytest.param("ftp", {"tls_verify": "maybe"}, "true or false", id="tls_verify"),
    pytest.param("telnet", {"telnet_prompt": "(open"}, "regular expression", id="telnet_prompt"),
    pytest.param("ssh", {"port": 70000}, "from 1 to 65535", id="port"),
    pytest.param("ssh", {"connect_timeout": "soon"}, "positive number", id="connect_timeout"),
]  # fmt: skip


@pytest.mark.parametrize(("protocol", "bad", "allowed"), BAD_SETTINGS)
def test_a_bad_setting_is_exit_2_naming_file_host_and_variable_before_any_connection(
    tmp_path: Path, listener: socket.socket, protocol: str, bad: dict[str, object], allowed: str
) -> None:
    port = listener.getsockname()[1]
    inventory = _inventory(tmp_path, port, protocol, {}, bad)
    name, *words = _command(protocol, tmp_path)
    run = remoteops(name, "-i", str(inventory), "-H", "all", *words)
    error = run.stderr.decode()
    assert run.returncode == 2, error
    assert f"{inventory}:" in error
    assert "odd-host7" in error
    assert next(iter(bad)) in error
    assert allowed in error
    assert run.stdout == b""
    assert _connections(listener) == 0


def test_a_bad_group_setting_names_the_group_line_and_the_host_it_reached(
    tmp_path: Path, listener: socket.socket
) -> None:
    """``telnet_idle_timeout: soon`` written once for a group: the error points at that line
    (its key path names the group, not the host) and says which host it made bad."""
    port = listener.getsockname()[1]
    inventory = _inventory(tmp_path, port, "telnet", {"telnet_idle_timeout": "soon"}, {})
    run = remoteops("run", "-i", str(inventory), "-H", "all", "true")
    error = run.stderr.decode()
    assert run.returncode == 2, error
    line = next(i for i, text in enumerate(inventory.read_text().splitlines(), 1)
                if "telnet_idle_timeout" in text)  # fmt: skip
    assert f"{inventory}:{line} (all.children.fleet.vars.telnet_idle_timeout)" in error
    assert (
        "hosts good-host,odd-host7: telnet_idle_timeout must be a positive number, not 'soon'"
        in error
    )
    assert _connections(listener) == 0


def test_a_bad_setting_of_a_host_left_out_stops_nothing(tmp_path: Path) -> None:
    """Settings are checked for the hosts a run selects, by their protocol."""
    switch = {"protocol": "telnet", "telnet_shell": "bogus"}
    body = {"all": {"hosts": {"here": {"protocol": "local"}, "switch": switch}}}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(body))
    run = remoteops("run", "-i", str(inventory), "-H", "here", "echo fine")
    assert run.returncode == 0, run.stderr.decode()
    assert b"fine" in run.stdout


def test_a_likely_typo_warns_did_you_mean_and_the_run_goes_on(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[box]\nhere protocol=local connect_timout=5 http_port=8080\n")
    run = remoteops("run", "-i", str(inventory), "-H", "here", "echo fine")
    error = run.stderr.decode()
    assert run.returncode == 0, error
    assert b"fine" in run.stdout
    assert (
        f"WARNING: {inventory}:2: unknown variable 'connect_timout' of host here: "
        "did you mean connect_timeout?"
    ) in error
    assert "http_port" not in error  # a variable of one's own, like nothing known
