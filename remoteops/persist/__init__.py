"""Persistent connections between commands (``remoteops --persist 10m``): OpenSSH's
ControlPersist, for a whole fleet.

The first command asked to persist starts a background process of the same user; it keeps
each host's connection open after the command ends, and later commands are handed to it over
a Unix socket in a 0700 runtime folder instead of connecting again. The command runs in that
process on the caller's own stdin, stdout and stderr (passed over the socket), with the
caller's arguments, folder and environment, so its output and exit code are those of a direct
run. The process serves only its own user (peer credentials), one command at a time (a second
caller while it is busy runs directly), and exits after the asked idle time.

- :mod:`~remoteops.persist.paths`: the runtime folder and the socket's name;
- :mod:`~remoteops.persist.wire`: the messages on the socket;
- :mod:`~remoteops.persist.client`: the caller's side, light enough to run before the CLI loads;
- :mod:`~remoteops.persist.pool`: the kept connections, lent to each command's sessions.

The serving process itself is :mod:`remoteops.cli.persist_daemon` (it runs CLI commands).
"""

from __future__ import annotations

import os


def config_files() -> tuple[str, str]:
    """The config files that may set ``persist``, highest precedence first: the project's
    ``./remoteops.toml`` and the user's (as :mod:`remoteops.config` finds them; this module
    is loaded before the CLI, so it does not import that one)."""
    home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return "remoteops.toml", os.path.join(home, "remoteops", "config.toml")
