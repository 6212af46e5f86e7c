"""The ``remoteops`` command line: thin typer commands over the library.

Each command parses options, builds settings and the inventory, calls the library, renders the
result and exits with the documented code. No logic a library user would need lives here.
"""

from __future__ import annotations

import os
import sys

#: The root's options that take a value (in the next word unless given as ``--opt=value``).
ROOT_VALUE_OPTIONS = ("--log-file", "--persist")


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


#: Set by the completion scripts typer writes (``--show-completion``): the process is
#: asked for completions, not to run anything.
COMPLETE_VAR = "_REMOTEOPS_COMPLETE"


def completion_words() -> list[str] | None:
    """While completing, the words typed before the one being completed (program name
    left out), from the variables typer's bash, zsh and fish scripts set; else None.

    Enough to find the sub-command, so completing ``remoteops run --hosts <TAB>`` imports
    ``run`` alone, as running it would.
    """
    if COMPLETE_VAR not in os.environ:
        return None
    import shlex

    if "COMP_WORDS" in os.environ:  # bash: the words, and which one is being completed
        try:
            words = shlex.split(os.environ["COMP_WORDS"])
            return words[1 : int(os.environ.get("COMP_CWORD", len(words)))]
        except ValueError:  # an unclosed quote, a bad index: complete with every command
            return []
    typed = os.environ.get("_TYPER_COMPLETE_ARGS", "")  # zsh and fish: the line so far
    try:
        words = shlex.split(typed)
    except ValueError:
        return []
    return words[1:] if typed.endswith(" ") else words[1:-1]


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


def _persistence_asked(argv: list[str]) -> bool:
    """Whether ``--persist``, ``REMOTEOPS_PERSIST`` or a config file may ask for it: a run
    that cannot does not pay for importing the persistence client (which reads them exactly).
    """
    if "REMOTEOPS_PERSIST" in os.environ or any(
        word == "--persist" or word.startswith("--persist=") for word in argv
    ):
        return True
    from remoteops.persist import config_files

    return any(os.path.exists(path) for path in config_files())


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:] == ["--version"]:  # before any import: scripts ask it often
        from remoteops import __version__

        sys.stdout.write(f"remoteops {__version__}\n")
        return
    completing = completion_words()
    argv = sys.argv[1:] if completing is None else completing
    command = named_command(argv)
    if completing is None and _persistence_asked(argv):
        from remoteops.persist.client import forward_if_persisting

        handed_over = forward_if_persisting(argv, command)
        if handed_over is not None:
            sys.exit(handed_over)
    _raise_open_files_limit()
    try:
        from remoteops.cli.app import create_app  # Ctrl-C while importing is interrupted too

        # the name completion scripts are written for, also under `python -m remoteops`
        create_app(argv)(prog_name="remoteops")
    except KeyboardInterrupt:
        from remoteops.results import ExitCode

        sys.stderr.write("interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
