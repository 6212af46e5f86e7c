"""How a command is wrapped for env and sudo: the password never appears in it."""

from __future__ import annotations

import subprocess

from remoteops.transports.base import CommandSpec, wrap_command


def test_env_values_are_shell_quoted() -> None:
    wrapped = wrap_command(CommandSpec('printf "%s" "$A"', env={"A": "x'; rm -rf / #"}))
    out = subprocess.run(["/bin/sh", "-c", wrapped.command], capture_output=True, check=True)
    assert out.stdout == b"x'; rm -rf / #"


def test_sudo_wrapper_uses_markers_and_never_the_password() -> None:
    wrapped = wrap_command(CommandSpec("id -u", sudo=True, sudo_password="hunter2"))
    assert "hunter2" not in wrapped.command
    assert wrapped.prompt_marker is not None
    assert wrapped.success_marker is not None
    assert wrapped.command.startswith("sudo -H -S -p ")
    assert wrapped.success_marker.decode() in wrapped.command


def test_each_sudo_wrapper_has_its_own_markers() -> None:
    first = wrap_command(CommandSpec("true", sudo=True))
    second = wrap_command(CommandSpec("true", sudo=True))
    assert first.prompt_marker != second.prompt_marker
