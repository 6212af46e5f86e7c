"""The ``remoteops`` command line: thin typer commands over the library.

Each command parses options, builds settings and the inventory, calls the library, renders the
result and exits with the documented code. No logic a library user would need lives here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from remoteops.results import ExitCode


def _skip_unneeded_invoke_import() -> None:
    """Keep paramiko from importing invoke when nothing needs it.

    paramiko imports invoke only to run ``Match exec`` lines of ``~/.ssh/config``, and that
    import costs about 0.09 s of CPU per run (measured here), a third of a single-host run. The
    process is ours, so when the user's SSH config has no ``exec`` we leave invoke out.
    """
    if "invoke" in sys.modules:
        return
    try:
        config = (Path.home() / ".ssh" / "config").read_text(errors="ignore")
    except OSError:
        config = ""
    if "exec" not in config.lower():
        sys.modules["invoke"] = None  # type: ignore[assignment]


#: The root's options that take a value (in the next word unless given as ``--opt=value``).
ROOT_VALUE_OPTIONS = ("--log-file",)


def named_command(argv: list[str]) -> str | None:
    """The sub-command ``argv`` names: its first word that is not an option or the value
    of a root option; None before ``--help`` or when there is none."""
    words = iter(argv)
    for arg in words:
        if arg in ("-h", "--help"):
            return None
        if arg in ROOT_VALUE_OPTIONS:
            next(words, None)
        elif not arg.startswith("-"):
            return arg
    return None


def _raise_open_files_limit() -> None:
    """Each host in flight holds a socket and a pipe pair; 1024 (a common soft limit) is tight."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, ValueError, OSError):
        pass  # not fatal: the run still works at lower fan-out


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:] == ["--version"]:  # before any import: scripts ask it often
        from remoteops import __version__

        sys.stdout.write(f"remoteops {__version__}\n")
        return
    if named_command(sys.argv[1:]) != "fab":  # Fabric is built on invoke
        _skip_unneeded_invoke_import()
    _raise_open_files_limit()
    try:
        from remoteops.cli.app import create_app  # Ctrl-C while importing is interrupted too

        create_app(sys.argv[1:])()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
