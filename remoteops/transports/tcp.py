"""The TCP connection under an SSH login: cancellable while it connects, and acknowledging
what it reads at once.

Why acknowledge at once: the first channel of every connection (the command, the listing of
a sync) stalled 40-44 ms, Linux's delayed-ACK time (measured here, paramiko 5 to OpenSSH
9.2: first channel open 43 ms, later opens 0.3 ms; 0.8 ms with this). The likely cause,
inferred from the timing and not seen on the wire: sshd sends its
``hostkeys-00@openssh.com`` notice right behind the login's success with Nagle's algorithm
on (no terminal), so that second small packet waits for the ACK of the first, which the
client delays while it has nothing to send. ``TCP_QUICKACK`` set after each read sends the
pending ACK then; it costs one system call per read (no change measured on a 100 MiB SFTP
download).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import threading
import time
from typing import Any

from remoteops.errors import UnreachableError

#: How often a connection being made looks whether it was cancelled (a host's --timeout,
#: a second Ctrl-C, Fleet.close()).
CANCEL_POLL_S = 0.1

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class QuickAckSocket(socket.socket):
    """A socket that acknowledges what each ``recv`` read straight away (Linux; elsewhere a
    plain socket)."""

    def recv(self, size: int, flags: int = 0) -> bytes:
        data = super().recv(size, flags)
        if _QUICKACK is not None and data:
            # closed meanwhile by another thread: the next read says so
            with contextlib.suppress(OSError):
                self.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        return data


def connect_tcp(
    address: str, port: int, seconds: float, cancelled: threading.Event | None
) -> socket.socket:
    """``socket.create_connection`` that gives up when ``cancelled`` is set: a blocking
    connect to a black-holed address cannot be woken from another thread. As there (and as
    OpenSSH), each address gets the whole ``seconds``, and a failed one moves on to the next.
    The socket has Nagle's algorithm off and acknowledges at once (:class:`QuickAckSocket`)."""
    last: OSError | None = None
    for family, kind, proto, _, address_tuple in socket.getaddrinfo(
        address, port, type=socket.SOCK_STREAM
    ):
        sock = QuickAckSocket(family, kind, proto)
        try:
            _connect_cancellably(sock, address_tuple, seconds, cancelled)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise last or OSError(f"no address for {address}")


def _connect_cancellably(
    sock: socket.socket, to: Any, seconds: float, cancelled: threading.Event | None
) -> None:
    deadline = time.monotonic() + seconds
    if cancelled is not None and cancelled.is_set():
        raise UnreachableError("cancelled while connecting")
    sock.setblocking(False)
    code = sock.connect_ex(to)
    if code not in (0, errno.EINPROGRESS):
        raise OSError(code, os.strerror(code))
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    while not poller.poll(CANCEL_POLL_S * 1000):
        if cancelled is not None and cancelled.is_set():
            raise UnreachableError("cancelled while connecting")
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out")
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, os.strerror(code))
    sock.settimeout(max(0.001, deadline - time.monotonic()))
