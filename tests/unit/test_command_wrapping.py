"""How a command is wrapped for env and sudo: neither the password nor an environment value
appears in it (a host's process list shows every command line)."""

from __future__ import annotations

import subprocess

from remoteops.transports.base import CommandSpec, shell_exports, wrap_command

ODD_VALUES = {
    "A": "x'; rm -rf / #",
    "B": "two\nlines\n\n",
    "C": ' $HOME `id` \\ "q" ',
    "D": "",
    "E": "caf\u00e9",
    "F": "not utf-8: \udcff\udcfe",  # bytes 0xff 0xfe, as surrogateescape carries them
    "G": "\r\x03\x1b[31m\t",
}


def test_env_values_arrive_exactly_on_stdin_and_never_in_the_command() -> None:
    script = 'printf "%s|" "$A" "$B" "$C" "$D" "$E" "$F" "$G"; cat'
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
    assert out.stdout.decode("utf-8", "surrogateescape") == expected


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


def test_each_value_is_one_printable_line_whatever_it_holds() -> None:
    """One ``read`` per value (a value of 12,000 lines took 15 s read line by line), and
    nothing a shell or a terminal would act on: Telnet types these."""
    env = {"MANY": "line\n" * 12000, **ODD_VALUES}
    wrapped = wrap_command(CommandSpec("true", env=env))
    lines = wrapped.stdin_prefix.decode("ascii").split("\n")
    assert len(lines) == len(env) + 1
    assert lines[-1] == ""
    assert all(c.isprintable() and c.isascii() for line in lines for c in line)
    typed = shell_exports(ODD_VALUES)
    assert typed.isascii()
    assert typed.isprintable()


def test_variables_of_any_name_survive_the_wrapper() -> None:
    env = {"__ro_line": "kept", "__ro_env": "kept too", "IFS_X": "x"}
    wrapped = wrap_command(CommandSpec('printf "%s|" "$__ro_line" "$__ro_env" "$IFS_X"', env=env))
    out = subprocess.run(["/bin/sh", "-c", wrapped.command], input=wrapped.stdin_prefix,
                         capture_output=True, check=True)  # fmt: skip
    assert out.stdout == b"kept|kept too|x|"


def test_typed_exports_set_the_values_exactly() -> None:
    script = shell_exports(ODD_VALUES) + 'printf "%s|" "$A" "$B" "$C" "$D" "$E" "$F" "$G"'
    out = subprocess.run(["/bin/sh", "-c", script], capture_output=True, check=True)
    expected = "".join(v + "|" for v in ODD_VALUES.values())
    assert out.stdout.decode("utf-8", "surrogateescape") == expected
