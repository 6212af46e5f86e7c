"""A TCP relay in front of a real sshd that stops passing the server's bytes at a chosen point
of the login, without closing: a server that stalls during key exchange or authentication.

The server's clear-text start is read as SSH frames it (RFC 4253): its version line, then
binary packets, each ``uint32 length`` then that many bytes, the message number at offset 5;
everything up to and including the ``messages``-th packet is passed on, then nothing more.
``messages=1`` stalls after KEXINIT (key exchange), ``messages=3`` after NEWKEYS
(authentication: the client's service request and every auth attempt go unanswered).
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class StallingRelay:
    """Listens on 127.0.0.1 (``port``); each connection goes to ``upstream``, the client's
    bytes passed on whole, the server's only up to its ``messages``-th packet."""

    def __init__(self, upstream: tuple[str, int], messages: int) -> None:
        self.upstream = upstream
        self.messages = messages
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        self._lock = threading.Lock()
        self.stalled = threading.Event()  # set once a server's bytes were held back

    def __enter__(self) -> StallingRelay:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _keep(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept(self) -> None:
        while True:
            try:
                client = self._keep(self._listener.accept()[0])
                server = self._keep(socket.create_connection(self.upstream, timeout=10))
            except OSError:
                return
            server.settimeout(None)
            threading.Thread(target=_pump, args=(client, server), daemon=True).start()
            threading.Thread(
                target=self._pass_until_stall, args=(server, client), daemon=True
            ).start()

    def _pass_until_stall(self, server: socket.socket, client: socket.socket) -> None:
        """The server's version line and first packets to the client, then nothing: the rest
        is read (so the server is not blocked) and dropped, the connection left open."""
        buffer, packets = b"", -1  # -1: the version line is not through yet
        try:
            while packets < self.messages:
                data = server.recv(65536)
                if not data:
                    return
                buffer += data
                passed, packets = _through(buffer, packets, self.messages)
                client.sendall(buffer[:passed])
                buffer = buffer[passed:]
            self.stalled.set()
            while server.recv(65536):
                pass
        except OSError:
            return


def _through(buffer: bytes, packets: int, wanted: int) -> tuple[int, int]:
    """How many bytes of ``buffer`` complete the version line and packets up to ``wanted``,
    and the count of packets through after them."""
    at = 0
    if packets < 0:
        end = buffer.find(b"\n")
        if end < 0:
            return 0, packets
        at, packets = end + 1, 0
    while packets < wanted and len(buffer) - at >= 4:
        size = 4 + int.from_bytes(buffer[at : at + 4], "big")
        if len(buffer) - at < size:
            break
        at, packets = at + size, packets + 1
    return at, packets


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        return
