"""``remoteops run``: one command on every selected host, in parallel."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from remoteops.cli.common import (
    InventoryOption,
    OutputMode,
    PassphrasePrompt,
    ask_terminal,
    fail,
    load_and_select,
    read_secret_from,
    read_stdin_payload,
)
from remoteops.errors import ConfigurationError
from remoteops.executor import DEFAULT_FORKS, Executor, Listener, command_work
from remoteops.output import GroupedOutput, JsonLines, LiveLines
from remoteops.transports import CommandSpec, ConnectionOverrides, TransportFactory

#: What a POSIX shell accepts after ``export``: ASCII letters, digits and ``_``.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not _ENV_NAME.fullmatch(name):
            fail(f"--env expects NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


def _positive_seconds(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"must be a positive number of seconds, not {value:g}")
    return value


def _non_empty(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise typer.BadParameter("must not be empty")
    return value


def run(
    command: Annotated[str, typer.Argument(help="Shell command to run on every host.")],
    hosts: Annotated[
        str, typer.Option("--hosts", "-H", help="Host pattern (Ansible syntax).")
    ] = "all",
    inventory: InventoryOption = None,
    forks: Annotated[
        int, typer.Option("--forks", "-f", min=1, help="Hosts worked on at once.")
    ] = DEFAULT_FORKS,
    connect_timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds to connect, get the banner and authenticate. [default: 10]",
            callback=_positive_seconds,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", "-t", help="Seconds the command may run.", callback=_positive_seconds
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Remote user.", callback=_non_empty)
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", min=1, max=65535, help="Remote port.")
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="NAME=VALUE for the command.")
    ] = None,
    ask_pass: Annotated[
        bool,
        typer.Option(
            "--ask-pass",
            "-k",
            help="Ask once for an SSH login password (hosts without password_env).",
        ),
    ] = False,
    sudo: Annotated[bool, typer.Option("--sudo", help="Run the command with sudo.")] = False,
    sudo_password_env: Annotated[
        str | None,
        typer.Option(help="Env var holding the sudo password (else prompted on a terminal)."),
    ] = None,
    stdin_file: Annotated[
        Path | None,
        typer.Option("--stdin", help="Send this file ('-' = stdin) to every command's stdin."),
    ] = None,
    no_stdin: Annotated[
        bool, typer.Option("--no-stdin", "-n", help="Never forward piped stdin.")
    ] = False,
    accept_new_host_keys: Annotated[
        bool,
        typer.Option(
            "--accept-new-host-keys",
            help="Add unknown host keys (OpenSSH accept-new); changed keys still fail.",
        ),
    ] = False,
    group: Annotated[
        bool, typer.Option("--group", "-b", help="Show identical outputs once per host group.")
    ] = False,
    output: Annotated[
        OutputMode, typer.Option("--output", "-o", help="text (live lines) or json (JSON Lines).")
    ] = OutputMode.text,
) -> None:
    """Run COMMAND on every host matching --hosts; exit 0/1/3/4 (see README)."""
    if no_stdin and stdin_file is not None:
        fail("--stdin and --no-stdin contradict each other; keep one")
    loaded, selected = load_and_select(inventory, hosts)
    if sudo_password_env and not sudo:
        fail("--sudo-password-env needs --sudo")
    sudo_password = read_secret_from(sudo_password_env, "sudo password: ") if sudo else None
    login_password = ask_terminal("SSH password: ", "--ask-pass") if ask_pass else None
    payload = None if no_stdin else read_stdin_payload(stdin_file)
    spec = CommandSpec(
        command,
        stdin=payload,
        env=_parse_env(env or []),
        timeout=timeout,
        sudo=sudo,
        sudo_password=sudo_password,
    )
    factory = TransportFactory(
        accept_new_host_keys=accept_new_host_keys,
        overrides=ConnectionOverrides(user=user, port=port, connect_timeout=connect_timeout),
        passphrase_callback=PassphrasePrompt(),
        password=login_password,
        inventory=loaded.hosts,
    )
    grouped = GroupedOutput() if group and output is OutputMode.text else None
    listener: Listener
    if output is OutputMode.json:
        listener = JsonLines()
    elif grouped is not None:
        listener = grouped
    else:
        listener = LiveLines([h.name for h in selected])
    try:
        report = Executor(factory, forks=forks, listener=listener).run(selected, command_work(spec))
    except ConfigurationError as exc:  # e.g. an unparsable ~/.ssh/config: nothing ran
        fail(str(exc))
    if grouped is not None:
        grouped.render(report.results)
    if output is OutputMode.text:
        sys.stdout.flush()
        from remoteops.output.summary import print_summary

        print_summary(report)
    raise typer.Exit(int(report.exit_code))
