"""A userspace TCP delay line: adds a fixed one-way latency to every connection it forwards.

This kernel has no ``tc netem``, so the benchmarks reach their hosts through this relay to
measure behaviour on a slow network. Each ``LISTEN_PORT=TARGET_ADDR:TARGET_PORT`` argument
listens on 127.0.0.1:LISTEN_PORT (0 picks a free port) and forwards every accepted
connection to the target, both directions alike: a chunk read at time t is written at
t + delay (rounded up to the next millisecond, so chunks read together go out in one
write). It is a delay line, not stop-and-wait: each direction keeps a queue of
(deadline, bytes) and one timer for the head of the queue, so any number of chunks are in
flight and throughput is bounded by the TCP windows of the two ends, as on a real long link.
A new connection also waits one round trip (2 x delay) before its first byte moves, and
its upstream connect starts after one more delay, standing in for the TCP handshake that
the local accept skips.

    python bench/relay.py --delay 0.025 0=10.203.0.1:22 0=10.203.0.2:22

prints ``ready 127.0.0.1:PORT=10.203.0.1:22 ...`` once every port listens, then runs until
SIGTERM or SIGINT. One asyncio event loop with protocol callbacks (no task per chunk),
reads of up to 256 KiB, TCP_NODELAY on both sockets, and reading paused while more than
``QUEUE_LIMIT`` bytes wait in a direction or the receiving socket's buffer is full.

Throughput cap, measured on this 2-core box (client, relay and sink share the cores).
``python bench/relay.py --self-test [--delay D]`` pushes 1 GiB from one socket through the
relay into a local sink: at 0 ms about 1.5-2.8 GB/s with the relay at about 0.4 s of CPU per
GB (the same sockets without the relay: 3-4 GB/s); at 25 ms about 0.65-0.88 GB/s. Through
SSH, a 200 MiB ``ssh host 'cat > /dev/null'`` to a playground host takes about 1.1 s through
the relay at 0 ms, the same as direct (about 190 MB/s), so the relay does not cap transfers;
at 25 ms it takes 6.4 s (33 MB/s: OpenSSH's 2 MiB channel window per 50 ms round trip). The
relay's CPU, mostly kernel time in ``send()`` for the extra TCP hop, is about 0.25 s per
200 MiB at 0 ms and 0.55 s at 25 ms. It runs on the same cores as the tools, so
bench/sync.py reports it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

#: Bytes waiting in one direction before reading from its source pauses (resumes at half).
QUEUE_LIMIT = 32 * 1024 * 1024
#: Deadlines are rounded up to this many seconds, so chunks read close together are written
#: together: fewer timers and writes (CPU) for at most this much extra delay.
TICK = 0.001


class Pipe:
    """One direction of a link: bytes read from ``src`` are written to ``dst`` delay later."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.src: asyncio.Transport | None = None
        self.dst: asyncio.Transport | None = None
        #: (deadline, chunks due then); None is the end of this direction (EOF or close).
        self.queue: deque[tuple[float, list[bytes] | None]] = deque()
        self.queued = 0
        self.timer: asyncio.TimerHandle | None = None
        self.full = False
        self.blocked = False
        self.reading_paused = False
        self.end_pushed = False
        self.ended = False

    def push(self, data: bytes | None) -> None:
        if self.end_pushed or self.ended:
            return
        self.end_pushed = data is None
        link, queue = self.link, self.queue
        if link.delay:  # chunks due in the same tick share one write and one timer
            deadline = math.ceil((link.loop.time() + link.delay) / TICK) * TICK
        else:
            deadline = link.loop.time()
        tail = queue[-1][1] if queue and queue[-1][0] == deadline else None
        if data is not None and tail is not None:
            tail.append(data)
        else:
            queue.append((deadline, None if data is None else [data]))
        if data:
            self.queued += len(data)
            if self.queued > QUEUE_LIMIT and not self.full:
                self.full = True
                self.throttle()
        if self.timer is None:
            self.flush()

    def flush(self) -> None:
        """Write every chunk whose deadline has passed, then wait for the next one."""
        self.timer = None
        if self.dst is None or self.ended:
            return  # flushed again once the upstream connection is made
        now = self.link.loop.time()
        queue = self.queue
        while queue and queue[0][0] <= now:
            _, chunks = queue.popleft()
            if chunks is None:
                self.finish()
                return
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self.queued -= len(data)
            self.dst.write(data)
        if self.full and self.queued <= QUEUE_LIMIT // 2:
            self.full = False
            self.throttle()
        if queue:
            self.timer = self.link.loop.call_at(queue[0][0], self.flush)

    def set_blocked(self, blocked: bool) -> None:
        """The receiving transport's write buffer went over (or back under) its limit."""
        self.blocked = blocked
        self.throttle()

    def throttle(self) -> None:
        pause = self.full or self.blocked
        src = self.src
        if src is None or src.is_closing() or pause == self.reading_paused:
            return
        self.reading_paused = pause
        if pause:
            src.pause_reading()
        else:
            src.resume_reading()

    def finish(self) -> None:
        """Deliver the end: half-close the receiver, or close both once both directions end."""
        self.ended = True
        self.queue.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        dst = self.dst
        if dst is not None and not dst.is_closing() and dst.can_write_eof():
            dst.write_eof()
        self.link.maybe_close()

    def drop(self) -> None:
        """The receiver is gone: nothing queued for it can be delivered."""
        self.queue.clear()
        self.queued = 0
        self.ended = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.link.maybe_close()


class Side(asyncio.Protocol):
    """One socket of a link; ``index`` 0 is the accepted client, 1 the upstream target."""

    def __init__(self, link: Link, index: int) -> None:
        self.link = link
        self.index = index

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.link.attach(self.index, transport)

    def data_received(self, data: bytes) -> None:
        self.link.pipes[self.index].push(data)

    def eof_received(self) -> bool:
        self.link.pipes[self.index].push(None)
        return True  # keep the transport open: the other direction may still be sending

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.lost(self.index)

    def pause_writing(self) -> None:
        self.link.pipes[1 - self.index].set_blocked(True)

    def resume_writing(self) -> None:
        self.link.pipes[1 - self.index].set_blocked(False)


class Link:
    """One relayed connection: the accepted client socket, the upstream socket, two pipes."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, delay: float, target: tuple[str, int]
    ) -> None:
        self.loop = loop
        self.delay = delay
        self.target = target
        self.transports: list[asyncio.Transport | None] = [None, None]
        self.pipes = (Pipe(self), Pipe(self))
        self.closed = False

    def attach(self, index: int, transport: asyncio.Transport) -> None:
        self.transports[index] = transport
        self.pipes[index].src = transport
        self.pipes[1 - index].dst = transport
        if index == 0:  # the client: hold it for one round trip, as a real handshake would
            transport.pause_reading()
            self.loop.call_later(2 * self.delay, self.open_upstream)
        else:
            self.pipes[0].flush()

    def open_upstream(self) -> None:
        client = self.transports[0]
        if client is None or client.is_closing():
            return
        client.resume_reading()
        self.loop.call_later(self.delay, self.connect)

    def connect(self) -> None:
        task = self.loop.create_task(
            self.loop.create_connection(lambda: Side(self, 1), *self.target)
        )
        task.add_done_callback(self.connected)

    def connected(self, task: asyncio.Task[tuple[asyncio.Transport, Side]]) -> None:
        if task.cancelled() or task.exception() is not None:
            client = self.transports[0]
            if client is not None:
                client.close()
            self.closed = True

    def lost(self, index: int) -> None:
        self.pipes[index].push(None)
        self.pipes[1 - index].drop()

    def maybe_close(self) -> None:
        if self.closed or not (self.pipes[0].ended and self.pipes[1].ended):
            return
        self.closed = True
        for transport in self.transports:
            if transport is not None:
                transport.close()


@dataclass(frozen=True)
class Route:
    listen_port: int
    target: tuple[str, int]


def parse_route(text: str) -> Route:
    listen, sep, target = text.partition("=")
    address, colon, port = target.rpartition(":")
    if not sep or not colon or not listen.isdigit() or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected LISTEN_PORT=TARGET_ADDR:TARGET_PORT: {text}")
    return Route(int(listen), (address.strip("[]"), int(port)))


async def serve(routes: list[Route], delay: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    servers = []
    shown = []
    for route in routes:
        server = await loop.create_server(
            lambda target=route.target: Side(Link(loop, delay, target), 0),  # type: ignore[misc]
            "127.0.0.1",
            route.listen_port,
            reuse_address=True,
            backlog=1024,
        )
        port = server.sockets[0].getsockname()[1]
        servers.append(server)
        shown.append(f"127.0.0.1:{port}={route.target[0]}:{route.target[1]}")
    print("ready " + " ".join(shown), flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def start_relay(
    delay: float, targets: list[tuple[str, int]], listen_ports: list[int] | None = None
) -> tuple[subprocess.Popen[str], list[int]]:
    """Start a relay process for ``targets``; returns it and its listening ports, in order.

    ``listen_ports`` (one per target, 0 for a free one) fixes the ports on 127.0.0.1: FTP's
    passive data ports must keep their numbers, since the server announces them.
    """
    ports_wanted = listen_ports if listen_ports is not None else [0] * len(targets)
    if len(ports_wanted) != len(targets):
        raise ValueError("listen_ports needs one port per target")
    argv = [sys.executable, os.path.abspath(__file__), "--delay", str(delay)]
    argv += [
        f"{listen}={address}:{port}"
        for listen, (address, port) in zip(ports_wanted, targets, strict=True)
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        proc.kill()
        proc.wait()
        raise SystemExit(f"relay did not start (exit {proc.returncode}): {line!r}")
    ports = [int(item.split("=")[0].rsplit(":", 1)[1]) for item in line.split()[1:]]
    return proc, ports


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_relay(proc: subprocess.Popen[str]) -> float:
    """Stop a relay started by :func:`start_relay`; returns the CPU seconds it used."""
    cpu = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        cpu = process_cpu(proc.pid)
    stop_process(proc)
    return cpu


def stop_process(proc: subprocess.Popen[str]) -> None:
    """TERM, then KILL after 10 s; waits either way (no zombie left)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def self_test(delay: float, mib: int) -> None:
    """Push ``mib`` MiB through a relay into a local sink; print MB/s and the relay's CPU."""
    sink = socket.create_server(("127.0.0.1", 0))
    received = [0]

    def drain() -> None:
        conn, _ = sink.accept()
        buf = bytearray(1 << 20)
        with conn:
            while n := conn.recv_into(buf):
                received[0] += n

    def push(port: int) -> float:
        thread = threading.Thread(target=drain)
        thread.start()
        chunk = os.urandom(1 << 20)
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as conn:
            for _ in range(mib):
                conn.sendall(chunk)
            conn.shutdown(socket.SHUT_WR)
            thread.join()
        return time.perf_counter() - started

    sink_port = sink.getsockname()[1]
    direct = push(sink_port)
    print(f"direct, no relay: {mib * 1.048576 / direct:.0f} MB/s")
    proc, (port,) = start_relay(delay, [("127.0.0.1", sink_port)])
    try:
        cpu0 = process_cpu(proc.pid)
        wall = push(port)
        cpu = process_cpu(proc.pid) - cpu0
    finally:
        stop_relay(proc)
    megabytes = mib * 1.048576
    print(
        f"relay, delay {delay * 1000:.0f} ms: {megabytes / wall:.0f} MB/s, "
        f"relay CPU {cpu:.2f} s ({cpu / (megabytes / 1000):.2f} s per GB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("routes", nargs="*", type=parse_route, metavar="LISTEN=ADDR:PORT")
    parser.add_argument("--delay", type=float, default=0.025, help="one-way delay, seconds")
    parser.add_argument("--self-test", action="store_true", help="measure throughput and exit")
    parser.add_argument("--mib", type=int, default=1024, help="MiB to push in --self-test")
    args = parser.parse_args()
    if args.self_test:
        self_test(args.delay, args.mib)
        return
    if not args.routes:
        parser.error("give at least one LISTEN_PORT=TARGET_ADDR:TARGET_PORT")
    asyncio.run(serve(args.routes, args.delay))


if __name__ == "__main__":
    main()
