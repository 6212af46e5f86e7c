"""A local fleet of real OpenSSH hosts to try remoteops on, benchmark it and test failures.

``Playground(state_dir).up(n)`` starts ``n`` sshd hosts and writes an inventory, a known_hosts
file and a client key that reach them; ``down()`` removes all of it. As root the hosts are
network namespaces on a private bridge (own address, hostname, /root and /tmp each, the rest
of the file system shared, plus a sudo test user); otherwise they are sshds on 127.0.0.1
ports. Hosts can be paused, stopped, blackholed or given a new host key, to exercise every
way a real fleet fails. ``ContainerPlayground`` does the same with podman or docker
containers (sshd, two FTP daemons, telnetd) on a private network. The CLI's
``remoteops playground`` commands are a thin layer over this module.
"""

from __future__ import annotations

from ._container_files import PASSWORD_ENV
from ._containers import (
    COMPOSE_PASSWORD_ENV,
    ContainerHost,
    ContainerPlayground,
    ContainerPlaygroundState,
)
from ._core import Playground, default_state_dir
from ._model import Mode, ModeChoice, PlaygroundError, PlaygroundHost, PlaygroundState

__all__ = [
    "COMPOSE_PASSWORD_ENV",
    "PASSWORD_ENV",
    "ContainerHost",
    "ContainerPlayground",
    "ContainerPlaygroundState",
    "Mode",
    "ModeChoice",
    "Playground",
    "PlaygroundError",
    "PlaygroundHost",
    "PlaygroundState",
    "default_state_dir",
]
