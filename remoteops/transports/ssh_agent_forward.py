"""Agent forwarding (``ssh -A``): commands on a host use the keys of the local ssh-agent.

The command's session channel asks sshd for ``auth-agent-req@openssh.com``; sshd then sets
``SSH_AUTH_SOCK`` for the command and opens an ``auth-agent@openssh.com`` channel back to us
each time a program there (``git``, ``ssh-add``) talks to it. Each such channel is piped to
the local agent's socket on a daemon thread of its own, until either side closes.

paramiko's ``AgentRequestHandler`` does the same but reads ``os.environ`` rather than the run's
environment, raises in a non-daemon thread when no agent answers, and polls every 0.5 s; this
module blocks on each side instead.

Off by default, as in OpenSSH, whose manual warns: users who can bypass file permissions on
the remote host (root) can reach the local agent through the forwarded connection and log in
with its keys elsewhere while the command runs. Only the agent's answers cross, never keys.
The local socket's path is never logged: it names a user's session.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable

import paramiko

_log = logging.getLogger(__name__)
_log.addHandler(logging.NullHandler())  # no "last resort" printing for library users

_CHUNK = 16 * 1024


def forward_agent(channel: paramiko.Channel, agent_socket: str) -> None:
    """Ask for the agent on ``channel`` (before its command starts): each agent connection
    sshd opens back is piped to ``agent_socket``."""
    channel.request_forward_agent(lambda remote: _start_pipe(remote, agent_socket))


def _start_pipe(remote: paramiko.Channel, agent_socket: str) -> None:
    """Called on paramiko's transport thread, which must not block: the pipe gets its own."""
    threading.Thread(
        target=_pipe, args=(remote, agent_socket), name="remoteops-agent", daemon=True
    ).start()


def _pipe(remote: paramiko.Channel, agent_socket: str) -> None:
    local = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            local.connect(agent_socket)
        except OSError as exc:
            _log.warning("cannot forward the ssh-agent: its socket refused (%s)", exc.strerror)
            return
        answers = threading.Thread(
            target=_answer, args=(local, remote), name="remoteops-agent", daemon=True
        )
        answers.start()
        _copy(remote.recv, local.sendall)  # requests, until the remote program hangs up
    finally:
        with contextlib.suppress(OSError):
            local.shutdown(socket.SHUT_RDWR)  # wakes the answers thread
        local.close()
        _hang_up(remote)


def _answer(local: socket.socket, remote: paramiko.Channel) -> None:
    """The agent's answers to the host, until the agent hangs up (or dies): then so does the
    channel, as in ssh, or a program there waiting for an answer would wait for ever."""
    _copy(local.recv, remote.sendall)
    _hang_up(remote)  # also ends the requests loop: its recv returns b""


def _hang_up(remote: paramiko.Channel) -> None:
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        remote.close()  # raises once the connection itself is gone


def _copy(receive: Callable[[int], bytes], send: Callable[[bytes], object]) -> None:
    """Bytes from ``receive`` to ``send`` until end of stream or either side fails."""
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        while True:
            data = receive(_CHUNK)
            if not data:
                return
            send(data)
