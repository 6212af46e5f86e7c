"""The command lines the container transport gives the engine: what the host's process list
shows of a command, so no secret may be in them, and the command must arrive as written.

The transport is driven end to end against a stand-in ``podman`` on ``PATH`` (a shell script
that records its arguments and runs the ``exec``'s command here): what is checked is what
:class:`ContainerTransport` really sends, not a command built by hand.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from remoteops.engine import Engine
from remoteops.errors import AuthenticationError, PrivilegeError
from remoteops.inventory.model import Host
from remoteops.transports.base import CommandSpec, encode_value
from remoteops.transports.container import (
    TAG_NAME,
    Commands,
    ContainerTransport,
    exec_argv,
    in_container,
    kill_argv,
)
from remoteops.transports.settings import ContainerSettings, settings_for

ENGINE = Engine("podman", "/usr/bin/podman")
SECRET = "s3cret 'quoted' \"double\" $HOME\nline two"

#: A stand-in engine: logs each call's arguments (NUL-separated, calls ended by \1), says every
#: container runs, and runs an ``exec``'s command with this machine's sh (``--env`` set);
#: ``--user nosuch`` is refused as podman refuses a user the container lacks.
FAKE_PODMAN = r"""#!/bin/sh
printf '%s\0' "$@" >> "$FAKE_PODMAN_LOG"; printf '\1' >> "$FAKE_PODMAN_LOG"
case "$1" in
container) echo running; exit 0 ;;
exec)
    while [ "$1" != "--" ]; do
        [ "$1" = --env ] && export "$2"
        if [ "$1" = --user ] && [ "$2" = nosuch ]; then
            echo "Error: unable to find user nosuch: no matching entries in passwd file" >&2
            exit 125
        fi
        shift
    done
    shift 2; exec "$@" ;;
esac
exit 125
"""


@pytest.fixture
def engine_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[list[str]]]:
    """Puts the stand-in ``podman`` first on ``PATH``; returns a reader of its calls."""
    bin_dir, log = tmp_path / "bin", tmp_path / "podman.log"
    bin_dir.mkdir()
    script = bin_dir / "podman"
    script.write_text(FAKE_PODMAN)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PODMAN_LOG", str(log))

    def calls() -> list[list[str]]:
        text = log.read_text() if log.exists() else ""
        return [call.split("\0")[:-1] for call in text.split("\1") if call]

    return calls


@pytest.fixture
def box(engine_calls: Callable[[], list[list[str]]]) -> Iterator[ContainerTransport]:
    host = Host("box", {"protocol": "podman", "address": "web1", "user": "app"})
    settings = settings_for(host)
    assert isinstance(settings, ContainerSettings)
    transport = ContainerTransport(host, settings)
    transport.connect()
    yield transport
    transport.close()


def test_env_values_and_sudo_passwords_are_on_no_engine_command_line(
    box: ContainerTransport, engine_calls: Callable[[], list[list[str]]]
) -> None:
    password = SECRET.replace("\n", " ")
    spec = CommandSpec(
        'printf %s "$TOKEN"', env={"TOKEN": SECRET}, sudo=True, sudo_password=password
    )
    outcome = box.run(spec)
    assert (outcome.exit_code, outcome.stdout) == (0, SECRET.encode())
    [execs] = [call for call in engine_calls() if call[0] == "exec"]
    shown = " ".join(execs)
    for form in (SECRET, encode_value(SECRET), password, "s3cret"):
        assert form not in shown
    assert execs[1:4] == ["-i", "--user", "root"]  # sudo is exec as root
    assert execs[execs.index("--") + 1 :][:3] == ["web1", "sh", "-c"]
    assert "sudo" not in execs[-1]
    assert [execs[n + 1].partition("=")[0] for n, a in enumerate(execs) if a == "--env"] == [
        TAG_NAME  # the one variable on the command line: the command's tag, no secret
    ]


def test_the_argv_names_engine_user_and_container_before_the_shell() -> None:
    argv = exec_argv(ENGINE, "-odd-name", "true", "app user")
    assert argv[:7] == ["/usr/bin/podman", "exec", "-i", "--user", "app user", "--", "-odd-name"]
    assert argv[7:9] == ["sh", "-c"]
    assert exec_argv(ENGINE, "web1", "true")[:5] == ["/usr/bin/podman", "exec", "-i", "--", "web1"]


def test_the_command_reaches_the_shell_as_written_and_keeps_its_exit_code() -> None:
    """Quotes, a trailing comment and an ``exit`` of its own: run here by a real sh."""
    command = "printf '%s|' \"a b\" 'c'\"'\"'d'; echo; exit 7 # a comment"
    done = subprocess.run(
        ["sh", "-c", in_container(command, "abc")], capture_output=True, check=False
    )
    assert done.returncode == 7
    assert done.stdout == b"a b|c'd|\n"
    assert done.stderr.startswith(b"REMOTEOPS-PID=")  # the PID line the transport takes out
    assert done.stderr.endswith(b"REMOTEOPS-END=abc\n")  # and the end line


def test_a_command_reading_one_line_of_an_endless_input_ends_with_its_output(
    box: ContainerTransport,
) -> None:
    """The drain of unread input (podman 4.3) stops once the command has ended."""

    def endless(write: Callable[[bytes], None]) -> None:
        while True:
            write(b"y\n" * 512)

    started = time.monotonic()
    outcome = box.run(CommandSpec("head -1; exit 3", stdin=endless, timeout=20))
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (3, b"y\n", b"")
    assert time.monotonic() - started < 5


def test_the_end_line_is_taken_out_of_stderr_whatever_the_chunks(box: ContainerTransport) -> None:
    """Written after the command's own stderr, split across reads, with output after it."""
    outcome = box.run(CommandSpec("printf 'no line end' >&2; (sleep 0.3; echo late >&2) &"))
    assert (outcome.exit_code, outcome.stderr) == (0, b"no line endlate\n")


def test_the_kill_goes_to_the_process_group_as_root() -> None:
    argv = kill_argv(ENGINE, "web1", 4242, "abc")
    assert argv[:6] == ["/usr/bin/podman", "exec", "--user", "0", "--", "web1"]
    assert "kill -TERM -4242" in argv[-1]
    assert "kill -KILL -4242" in argv[-1]


def _tagged_here(token: str) -> list[int]:
    """This machine's processes whose environment carries the command tag ``token``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_without_a_pid_the_kill_finds_the_tagged_processes_even_if_they_start_late() -> None:
    """Run here: TERM to each tagged process (one that ignores it is KILLed after the grace),
    and one appearing after the kill began is still caught."""
    token = secrets.token_hex(8)
    env = {**os.environ, TAG_NAME: token}
    argv = kill_argv(ENGINE, "web1", None, token)
    script = argv[-1]
    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 60"], env=env)
    killer = subprocess.Popen(["sh", "-c", script])
    time.sleep(0.5)
    late = subprocess.Popen(["sleep", "60"], env=env)
    try:
        assert killer.wait(10) == 0
        assert late.wait(1) == -15  # TERM
        assert stubborn.wait(1) == -9  # TERM ignored: KILL after the grace
        assert _tagged_here(token) == []
    finally:
        for process in (stubborn, late, killer):
            process.kill()
            process.wait()


def test_a_command_closed_twice_is_killed_inside_once(
    box: ContainerTransport, engine_calls: Callable[[], list[list[str]]]
) -> None:
    """close() and then the driver's kill() both terminate: one kill ``exec``, not two."""
    running = box.start("sleep 30")
    box.close()
    running.kill()
    box.close()

    def kills() -> list[list[str]]:
        return [call for call in engine_calls() if call[:3] == ["exec", "--user", "0"]]

    # The kill exec is started in the background: wait for it (a loaded machine took over a
    # second), then give a second one the time to show up too.
    deadline = time.monotonic() + 15
    while not kills() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1)
    assert len(kills()) == 1, kills()


class _Command:
    """A stand-in running command: ended or not, and whether it was told to stop."""

    def __init__(self, ended: bool) -> None:
        self.ended = ended
        self.stopped = False

    def done(self) -> bool:
        return self.ended

    def terminate(self) -> None:
        self.stopped = True


def test_commands_started_from_many_threads_are_all_stopped_on_close() -> None:
    """``parallel_transfers`` threads start commands at once: none may be lost to a race
    (an unlocked read-modify-write lost some), or close would leave it running."""
    commands = Commands()
    started: list[_Command] = []
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often: a race shows at once
    try:

        def start_many() -> None:
            for n in range(3000):
                command = _Command(ended=n % 2 == 0)  # half of them ended: pruned on the way
                started.append(command)
                assert commands.track(command)

        threads = [threading.Thread(target=start_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    commands.close()
    assert [c for c in started if not c.ended and not c.stopped] == []
    late = _Command(ended=False)
    assert not commands.track(late)  # closed: the caller stops it


def test_a_user_the_container_lacks_is_an_auth_failure_naming_it(
    engine_calls: Callable[[], list[list[str]]],
) -> None:
    host = Host("box", {"protocol": "podman", "address": "web1", "user": "nosuch"})
    settings = settings_for(host)
    assert isinstance(settings, ContainerSettings)
    transport = ContainerTransport(host, settings)
    transport.connect()
    with pytest.raises(AuthenticationError, match="container web1 has no user 'nosuch'"):
        transport.run(CommandSpec("true"))


def test_a_sudo_user_the_container_lacks_is_refused_as_sudo_refuses_it(
    box: ContainerTransport,
) -> None:
    with pytest.raises(PrivilegeError, match="no user 'nosuch'"):
        box.run(CommandSpec("true", sudo=True, sudo_user="nosuch"))
