"""The command lines the container transport gives the engine: what the host's process list
shows of a command, so no secret may be in them, and the command must arrive as written."""

from __future__ import annotations

import subprocess

from remoteops.engine import Engine
from remoteops.transports.base import CommandSpec, encode_value, wrap_command
from remoteops.transports.container import exec_argv, in_container, kill_argv

ENGINE = Engine("podman", "/usr/bin/podman")
SECRET = "s3cret 'quoted' \"double\" $HOME\nline two"


def test_env_values_and_sudo_passwords_are_on_no_engine_command_line() -> None:
    password = SECRET.replace("\n", " ")  # sudo reads one line
    spec = CommandSpec("echo $TOKEN", env={"TOKEN": SECRET}, sudo=True, sudo_password=password)
    wrapped = wrap_command(spec)
    argv = exec_argv(ENGINE, "web1", in_container(wrapped.command), "app")
    shown = " ".join(argv)
    for form in (SECRET, encode_value(SECRET), password, "s3cret"):
        assert form not in shown
    assert not {"-e", "--env"} & set(argv)
    assert encode_value(SECRET).encode() in wrapped.stdin_prefix  # it goes on stdin instead


def test_the_argv_names_engine_user_and_container_before_the_shell() -> None:
    argv = exec_argv(ENGINE, "-odd-name", "true", "app user")
    assert argv[:7] == ["/usr/bin/podman", "exec", "-i", "--user", "app user", "--", "-odd-name"]
    assert argv[7:9] == ["sh", "-c"]
    assert exec_argv(ENGINE, "web1", "true")[:5] == ["/usr/bin/podman", "exec", "-i", "--", "web1"]


def test_the_command_reaches_the_shell_as_written_and_keeps_its_exit_code() -> None:
    """Quotes, a trailing comment and an ``exit`` of its own: run here by a real sh."""
    command = "printf '%s|' \"a b\" 'c'\"'\"'d'; echo; exit 7 # a comment"
    done = subprocess.run(["sh", "-c", in_container(command)], capture_output=True, check=False)
    assert done.returncode == 7
    assert done.stdout == b"a b|c'd|\n"
    assert done.stderr.startswith(b"REMOTEOPS-PID=")  # the PID line the transport takes out


def test_the_kill_goes_to_the_process_group_as_root() -> None:
    argv = kill_argv(ENGINE, "web1", 4242)
    assert argv[:6] == ["/usr/bin/podman", "exec", "--user", "0", "--", "web1"]
    assert "kill -TERM -4242" in argv[-1]
    assert "kill -KILL -4242" in argv[-1]
