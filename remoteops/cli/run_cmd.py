"""``remoteops run``: one command on every selected host, in parallel."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from remoteops.cli.common import (
    AcceptNewOption,
    AskPassOption,
    CommandTimeoutOption,
    ConnectTimeoutOption,
    ExecutorChoice,
    ExecutorOption,
    ForksOption,
    ForwardAgentOption,
    HostsOption,
    InventoryOption,
    OutputMode,
    OutputOption,
    PortOption,
    SchedulerOption,
    SSHConfigOption,
    SSHOptionOption,
    SudoOption,
    SudoPasswordEnvOption,
    SudoUserOption,
    UserOption,
    connection_overrides,
    dask_from,
    execute,
    fail,
    finish,
    load_and_select,
    make_fleet,
    privilege_from,
    stdin_source,
    whole_stdin,
)
from remoteops.diagnostics import register_secret
from remoteops.errors import ConfigurationError
from remoteops.executor import DEFAULT_FORKS, Listener, command_work, sigterm_deferred
from remoteops.output import GroupedOutput, JsonLines, LiveLines, PrefixStyle
from remoteops.output.diff import DiffOutput
from remoteops.output.files import OutputFiles, check_file_names
from remoteops.output.status_line import RunStatus, wants_status_line
from remoteops.output.tee import Tee
from remoteops.transports import CommandSpec
from remoteops.transports.base import DEFAULT_CAPTURE_LIMIT

if TYPE_CHECKING:
    from remoteops.transports.stdin_sources import StdinSource

#: What a POSIX shell accepts after ``export``: ASCII letters, digits and ``_``.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _parse_env(pairs: list[str]) -> dict[str, str]:
    """``NAME=VALUE``, or ``NAME`` alone for this process's own value of NAME (as
    ``docker run -e NAME`` does): a secret then never appears in any command line."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not _ENV_NAME.fullmatch(name):
            fail(f"--env expects NAME=VALUE or NAME, got {pair!r}")
        if not sep:
            if name not in os.environ:
                fail(f"--env {name}: {name} is not set in this environment")
            value = os.environ[name]
        register_secret(value)  # never in a log or the journal
        env[name] = value
    return env


#: The command's words after its first are its own, even those that look like our options
#: (``remoteops run -H web ls -l`` runs ``ls -l``), as with ssh, pdsh and clush.
CONTEXT_SETTINGS = {"allow_interspersed_args": False}


def _line_style(
    no_prefix: bool, prefix_style: PrefixStyle, *, group: bool, diff: bool, output: OutputMode
) -> PrefixStyle:
    """How live lines name their host; refused where there are no live lines."""
    style = PrefixStyle.NONE if no_prefix else prefix_style
    if style is not PrefixStyle.ALIGNED:
        flag = "-N/--no-prefix" if no_prefix else "--prefix-style"
        if no_prefix and prefix_style is not PrefixStyle.ALIGNED:
            fail("-N/--no-prefix and --prefix-style contradict each other; keep one")
        if group or diff:
            grouping = "--diff" if diff else "-b/--group"
            fail(f"{flag} is for live lines; {grouping} prints each group under its hosts")
        if output is OutputMode.json:
            fail(f"{flag} is for text output; JSON names each host in its 'host' key")
    return style


def _text_only_flags_outrank_a_file(
    ctx: typer.Context, output: OutputMode, *given: bool
) -> OutputMode:
    """Text when a text-only flag (``--diff``, ``-N``, ``--prefix-style``, ``-b``) was typed and
    JSON came from a config file: flags outrank the files, and a default the user did not type
    must not make the flag a usage error ("drop -o json"). Typed together, they still are one."""
    source = ctx.get_parameter_source("output")  # an enum of typer's own copy of click
    from_file = source is not None and source.name == "DEFAULT_MAP"
    return OutputMode.text if from_file and any(given) else output


def run(
    ctx: typer.Context,
    command_words: Annotated[
        list[str],
        typer.Argument(
            help="Shell command to run on every host: one quoted string or several words, "
            "joined with spaces as ssh, pssh, pdsh and clush join them. Options go before it: "
            "every word from the command's first on is the command's (ls -l runs ls -l; "
            "'--' ends the options too).",
            metavar="COMMAND [ARG]...",
            show_default=False,
        ),
    ],
    hosts: HostsOption = "all",
    inventory: InventoryOption = None,
    forks: ForksOption = DEFAULT_FORKS,
    connect_timeout: ConnectTimeoutOption = None,
    forward_agent: ForwardAgentOption = False,
    timeout: CommandTimeoutOption = None,
    user: UserOption = None,
    port: PortOption = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            "-e",
            help="NAME=VALUE exported for the command, or NAME to pass this shell's value; "
            "sent on stdin, never in the host's command line.",
        ),
    ] = None,
    ask_pass: AskPassOption = False,
    executor: ExecutorOption = ExecutorChoice.local,
    scheduler: SchedulerOption = None,
    sudo: SudoOption = False,
    sudo_user: SudoUserOption = None,
    sudo_password_env: SudoPasswordEnvOption = None,
    stdin_file: Annotated[
        Path | None,
        typer.Option("--stdin", help="Send this file ('-' = stdin) to every command's stdin."),
    ] = None,
    no_stdin: Annotated[
        bool, typer.Option("--no-stdin", "-n", help="Never forward piped stdin.")
    ] = False,
    accept_new_host_keys: AcceptNewOption = False,
    ssh_config: SSHConfigOption = None,
    ssh_option: SSHOptionOption = None,
    group: Annotated[
        bool, typer.Option("--group", "-b", help="Show identical outputs once per host group.")
    ] = False,
    template: Annotated[
        bool,
        typer.Option(
            "--template",
            "-T",
            help="Render COMMAND per host with Jinja2 and the host's variables "
            "({{ inventory_hostname }}, inventory vars); without it the command is sent as typed.",
        ),
    ] = False,
    output: OutputOption = OutputMode.text,
    outdir: Annotated[
        Path | None,
        typer.Option(
            "--outdir",
            metavar="DIR",
            help="Write each host's stdout to DIR/HOST, whole and as received (pssh -o, clush "
            "--outdir; our -o is --output). DIR is created if missing; a file is replaced only "
            "once its command has ended.",
        ),
    ] = None,
    errdir: Annotated[
        Path | None,
        typer.Option(
            "--errdir",
            metavar="DIR",
            help="Write each host's stderr to DIR/HOST (pssh -e, clush --errdir; our -e is --env).",
        ),
    ] = None,
    json_results: Annotated[
        bool,
        typer.Option(
            "--json-results",
            help="With --outdir (else --errdir): also write each host's JSON result to "
            "DIR/HOST.json, for every host, failed ones included.",
        ),
    ] = False,
    diff: Annotated[
        bool,
        typer.Option(
            "--diff",
            help="Show each host's stdout as a unified diff against the reference output (the "
            "group with the lowest exit code, then the most hosts), hosts with the same diff "
            "together (clush --diff); text output only.",
        ),
    ] = False,
    diff_against: Annotated[
        str | None,
        typer.Option(
            "--diff-against", metavar="HOST", help="With --diff: compare with HOST's output."
        ),
    ] = None,
    no_prefix: Annotated[
        bool,
        typer.Option(
            "--no-prefix", "-N", help="Output lines without the host name (pdsh/clush -N)."
        ),
    ] = False,
    prefix_style: Annotated[
        PrefixStyle,
        typer.Option(
            "--prefix-style",
            help="aligned: 'web01 | line' ('!' for stderr), names padded; pdsh: 'web01: line', "
            "as pdsh and clush print it and 'dshbak -c' reads it; none: as -N.",
        ),
    ] = PrefixStyle.ALIGNED,
    max_exit_code: Annotated[
        bool,
        typer.Option(
            "--max-exit-code",
            "-S",
            help="Exit with the largest exit code of the hosts' commands (pdsh/clush -S) "
            "instead of 0/1/3/4; a host where the command could not run or finish "
            "(unreachable, auth, hostkey, timeout, cancelled, unsupported) counts 255, as ssh "
            "exits then; Ctrl-C is still 130.",
        ),
    ] = False,
) -> None:
    """Run COMMAND on every host matching --hosts (the words after the options, joined).

    Coming from pssh: -p is the port here (pssh's -p parallelism is -f), -o the output
    format (pssh -o DIR is --outdir), -i the inventory (live lines, pssh's -i, are the
    default), -e an environment variable (pssh -e DIR is --errdir); -N, -S and -b are pdsh's
    and clush's; with -S a host the command could not run on counts 255."""
    command = " ".join(command_words)
    if no_stdin and stdin_file is not None:
        fail("--stdin and --no-stdin contradict each other; keep one")
    if diff_against is not None:
        diff = True
    output = _text_only_flags_outrank_a_file(
        ctx, output, diff, no_prefix, prefix_style is not PrefixStyle.ALIGNED, group
    )
    if diff and output is OutputMode.json:
        fail("--diff shows text; JSON lines already hold each host's stdout (drop -o json)")
    style = _line_style(no_prefix, prefix_style, group=group, diff=diff, output=output)
    loaded, selected = load_and_select(inventory, hosts)
    names = [h.name for h in selected]
    if diff_against is not None and diff_against not in names:
        fail(f"--diff-against {diff_against}: not among the selected hosts")
    files = _output_files(names, outdir, errdir, json_results)
    dask = dask_from(executor, scheduler, ask_pass=ask_pass)
    if dask is not None and env:
        fail(
            "-e with --executor dask: its values are kept as secrets here and would travel to "
            "the workers: not supported yet"
        )
    # on Dask workers, the sudo password is read from each worker's environment
    privilege = privilege_from(sudo, sudo_user, sudo_password_env, read_where_used=dask is not None)
    payload: StdinSource | bytes | None = (
        None if no_stdin else stdin_source(stdin_file, len(selected))
    )
    if dask is not None and payload is not None and not isinstance(payload, bytes):
        payload = whole_stdin(payload)
    live = output is OutputMode.text and not group and not diff
    spec = CommandSpec(
        command,
        stdin=payload,
        env=_parse_env(env or []),
        timeout=timeout,
        # live lines print output as it comes and need none kept: a flood costs no memory
        capture_limit=0 if live and not json_results else DEFAULT_CAPTURE_LIMIT,
    )
    if privilege is not None:
        spec = privilege.applied_to(spec)
    fleet = make_fleet(
        loaded,
        selected,
        overrides=connection_overrides(
            user, port, connect_timeout, ssh_option, forward_agent=forward_agent
        ),
        ssh_config=ssh_config,
        accept_new_host_keys=accept_new_host_keys,
        ask_pass=ask_pass,
        forks=forks,
        dask=dask,
    )
    differ = DiffOutput(names, diff_against) if diff else None
    grouped = GroupedOutput() if group and output is OutputMode.text and not diff else None
    listener: Listener
    if output is OutputMode.json:
        listener = JsonLines()
    elif differ is not None:
        listener = differ
    elif grouped is not None:
        listener = grouped
    else:
        listener = LiveLines(names, style=style)
    if files is not None:
        listener = Tee(listener, files)
    work = command_work(spec)
    if template:
        from remoteops.errors import TemplateError
        from remoteops.tasks.adhoc import templated_command_work

        try:
            work = templated_command_work(spec, loaded)
        except TemplateError as exc:
            fail(str(exc))
    with sigterm_deferred():  # a SIGTERM ends the process once the run is shown and journalled
        if output is OutputMode.text and wants_status_line(len(selected)):
            with RunStatus(listener, len(selected)) as status:  # wiped before the groups print
                report = execute(lambda: fleet.execute(work, listener=status))
        else:
            report = execute(lambda: fleet.execute(work, listener=listener))
        if grouped is not None:
            grouped.render(report.results)
        if differ is not None:
            differ.render(report.results)
        if files is not None:
            for host, why in files.failures.items():
                typer.echo(f"error: {host}: output file not written: {why}", err=True)
            report = files.applied_to(report)
        finish(report, output, max_exit_code=max_exit_code)


def _output_files(
    names: list[str], outdir: Path | None, errdir: Path | None, json_results: bool
) -> OutputFiles | None:
    """The --outdir/--errdir writer, its host names and folders checked before any host starts."""
    if outdir is None and errdir is None:
        if json_results:
            fail("--json-results writes beside --outdir or --errdir: give one")
        return None
    try:
        check_file_names(names, json_results=json_results)
        return OutputFiles(outdir, errdir, json_results=json_results)
    except ConfigurationError as exc:
        fail(str(exc))
