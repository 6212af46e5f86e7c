"""The messages between a command and the persistent process: JSON objects, each after its
length (4 bytes, big-endian), on a Unix stream socket. The first message of a command carries
the caller's stdin, stdout and stderr as passed file descriptors (SCM_RIGHTS).

Caller to process: ``{"argv", "cwd", "env", "umask", "persist", "encodings"}`` with the three
descriptors, then ``{"signal": N}`` for each signal the caller receives; or
``{"control": "status" | "stop"}``. Process to caller: ``{"started": true}``, ``{"busy": true}``
(the caller runs directly) or ``{"refused": REASON}``, then ``{"exit": CODE}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from collections.abc import Sequence
from typing import Any

#: The largest message read (the environment is the big part).
MAX_MESSAGE = 4 << 20
_HEADER = struct.Struct("!I")


class WireError(Exception):
    """The other side sent something that is not a message."""


def send(sock: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    body = json.dumps(message, separators=(",", ":")).encode()
    header = _HEADER.pack(len(body))
    if fds:
        socket.send_fds(sock, [header], list(fds))
        sock.sendall(body)
    else:
        sock.sendall(header + body)


def _read_exactly(sock: socket.socket, size: int, start: bytes = b"") -> bytes | None:
    data = bytearray(start)
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None if not data else _truncated()
        data += chunk
    return bytes(data)


def _truncated() -> bytes:
    raise WireError("the message ended early")


def _decode(sock: socket.socket, header: bytes) -> dict[str, Any]:
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise WireError(f"a message of {size} bytes (at most {MAX_MESSAGE})")
    body = _read_exactly(sock, size) if size else b""
    if body is None:
        raise WireError("the message ended early")
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise WireError("not a JSON object")
    return message


def receive(sock: socket.socket) -> dict[str, Any] | None:
    """The next message; None when the other side closed the socket between messages."""
    header = _read_exactly(sock, _HEADER.size)
    return None if header is None else _decode(sock, header)


def receive_with_fds(sock: socket.socket, max_fds: int) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and the descriptors that came with it (the caller owns them, and
    closes them even when the message is refused)."""
    start, fds, _flags, _address = socket.recv_fds(sock, _HEADER.size, max_fds)
    try:
        if not start:
            return None, fds
        header = _read_exactly(sock, _HEADER.size, start)
        if header is None:
            return None, fds
        return _decode(sock, header), fds
    except BaseException:
        for fd in fds:
            _close(fd)
        raise


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
