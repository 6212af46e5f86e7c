"""The SSH transport's TCP socket (remoteops.transports.tcp), on real loopback sockets: it
reads as a plain socket does, acknowledges what it read at once, and has Nagle off.

That a login's first channel no longer waits for a delayed ACK (40 ms) is a timing, measured
in bench/, not asserted here."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator

import pytest

from remoteops.transports.tcp import QuickAckSocket, connect_tcp


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def _serve(server: socket.socket, payload: bytes) -> threading.Thread:
    def send() -> None:
        peer, _ = server.accept()
        with peer:
            peer.sendall(payload)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_the_connection_reads_every_byte_and_has_nagle_off(listener: socket.socket) -> None:
    payload = bytes(range(256)) * 4096
    sender = _serve(listener, payload)
    sock = connect_tcp("127.0.0.1", listener.getsockname()[1], 5.0, None)
    with sock:
        assert isinstance(sock, QuickAckSocket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        got = bytearray()
        while chunk := sock.recv(65536):
            got += chunk
    sender.join()
    assert bytes(got) == payload


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_QUICKACK is Linux's")
def test_each_read_leaves_the_socket_acknowledging_at_once(listener: socket.socket) -> None:
    """Linux clears quick-ACK mode by itself (a socket that answers soon after it reads goes
    back to delayed ACKs): after every read it is set again."""
    sender = _serve(listener, b"hello")
    sock = connect_tcp("127.0.0.1", listener.getsockname()[1], 5.0, None)
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 0
        assert sock.recv(5) == b"hello"
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
    sender.join()


def test_a_refused_port_says_so() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        connect_tcp("127.0.0.1", port, 2.0, None)
