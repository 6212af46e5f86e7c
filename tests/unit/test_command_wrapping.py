"""How a command is wrapped for env and sudo: neither the password nor an environment value
appears in it (a host's process list shows every command line)."""

from __future__ import annotations

import subprocess

from remoteops.transports.base import CommandSpec, wrap_command

ODD_VALUES = {
    "A": "x'; rm -rf / #",
    "B": "two\nlines\n\n",
    "C": ' $HOME `id` \\ "q" ',
    "D": "",
    "E": "caf\u00e9",
}


def test_env_values_arrive_exactly_on_stdin_and_never_in_the_command() -> None:
    script = 'printf "%s|" "$A" "$B" "$C" "$D" "$E"; cat'
    wrapped = wrap_command(CommandSpec(script, env=ODD_VALUES))
    for value in ODD_VALUES.values():
        if value.strip():
            assert value not in wrapped.command
    out = subprocess.run(
        ["/bin/sh", "-c", wrapped.command],
        input=wrapped.stdin_prefix + b"the command's own input",
        capture_output=True,
        check=True,
    )
    expected = "".join(v + "|" for v in ODD_VALUES.values()) + "the command's own input"
    assert out.stdout.decode() == expected


def test_without_env_nothing_is_read_from_stdin() -> None:
    wrapped = wrap_command(CommandSpec("cat"))
    assert wrapped.stdin_prefix == b""
    assert wrapped.command == "cat"


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
