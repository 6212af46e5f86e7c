"""A live status line for ``run`` on a terminal: hosts done, running, failed and waiting.

One line at the bottom of stderr, redrawn in place (a carriage return and spaces: no escape
codes, so it works on any terminal and under ``NO_COLOR``). It is wiped before anything else
is written to the terminal (output lines, warnings, the Ctrl-C notice), so it never ends up
inside an output line, and wiped for good when the run ends, before the summary. A ticker
thread redraws it at most :data:`REDRAW_INTERVAL` apart, so a flood of output costs one
redraw per interval, not one per line. Plain text rather than rich: rich costs a tenth of a
short run's start-up.

Only for a terminal: piped or redirected stderr gets nothing extra.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TextIO, cast

from remoteops.executor import Listener
from remoteops.results import HostResult

#: Seconds between redraws, and before the first (a run shorter than this shows none).
REDRAW_INTERVAL = 0.1


def wants_status_line(hosts: int, err: TextIO | None = None) -> bool:
    """A status line is worth showing: several hosts, and stderr is a terminal."""
    err = err or sys.stderr
    isatty = getattr(err, "isatty", None)
    return hosts > 1 and bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


#: The status line on screen now, if any (one run at a time draws one).
_shown: RunStatus | None = None


@contextlib.contextmanager
def hidden() -> Iterator[None]:
    """The status line wiped and not drawn inside this block: for a prompt that waits on the
    terminal (a key's passphrase, asked while the line runs). getpass writes its prompt to
    /dev/tty, around the wiping sys.stderr, and the next redraw wrote the line over it."""
    status = _shown
    with status.paused() if status is not None else contextlib.nullcontext():
        yield


class RunStatus:
    """A :class:`~remoteops.executor.Listener` that counts hosts for the status line and
    passes every event on to ``inner`` (the renderer).

    Used as a context manager around the run: inside it, ``sys.stderr`` (and ``sys.stdout``
    when it is the terminal too) are proxies that wipe the line before each write.
    """

    def __init__(self, inner: Listener, total: int, err: TextIO | None = None) -> None:
        self.inner = inner
        self.total = total
        self._err = err or sys.stderr
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._done = 0
        self._failed = 0
        self._started = time.monotonic()
        self._drawn = 0  # characters of the line now on the terminal (0: none)
        self._at_line_start = True  # a line left unfinished by a write is not drawn over
        self._paused = 0  # prompts waiting on the terminal (:func:`hidden`)
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="status-line", daemon=True)
        self._saved: tuple[TextIO, TextIO] | None = None

    # -- the line ---------------------------------------------------------------------------

    def text(self) -> str:
        """``[3/10] 2 running, 1 failed, 4 waiting, 1.2 s`` (counts that are zero left out,
        except running)."""
        waiting = self.total - self._done - len(self._running)
        parts = [f"[{self._done}/{self.total} done] {len(self._running)} running"]
        if self._failed:
            parts.append(f"{self._failed} failed")
        if waiting > 0:
            parts.append(f"{waiting} waiting")
        parts.append(f"{time.monotonic() - self._started:.1f} s")
        return ", ".join(parts)

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self._err.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return columns or 80  # a terminal that never said its size reports 0

    def _wipe(self) -> None:
        """Remove the line (lock held)."""
        if self._drawn:
            self._write_err("\r" + " " * self._drawn + "\r")
            self._drawn = 0

    def _draw(self) -> None:
        """Draw the line anew (lock held); never wider than the terminal, which would wrap
        it onto a second line that a carriage return cannot wipe."""
        if not self._at_line_start or self._paused or self._stop.is_set():
            return
        line = self.text()[: max(self._width() - 1, 0)]
        previous = self._drawn
        self._write_err("\r" + line + " " * max(previous - len(line), 0))
        self._drawn = max(len(line), previous)

    def _write_err(self, text: str) -> None:
        try:
            self._err.write(text)
            self._err.flush()
        except (OSError, ValueError):
            self._stop.set()  # the terminal went away: draw nothing more

    def _tick(self) -> None:
        while not self._stop.wait(REDRAW_INTERVAL):
            with self._lock:
                if not self._stop.is_set():
                    self._draw()

    def written(self, stream: TextIO, text: str) -> int:
        """Write ``text`` to ``stream`` with the line out of the way; the ticker draws it
        again below."""
        with self._lock:
            self._wipe()
            count = stream.write(text)
            stream.flush()
            if text:
                self._at_line_start = text.endswith("\n")
            return count

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The line wiped, and not drawn again until the block ends."""
        with self._lock:
            self._wipe()
            self._paused += 1
        try:
            yield
        finally:
            with self._lock:
                self._paused -= 1

    # -- context ----------------------------------------------------------------------------

    def __enter__(self) -> RunStatus:
        out, err = sys.stdout, sys.stderr
        self._saved = (out, err)
        sys.stderr = cast(TextIO, _WipingStream(err, self))
        if getattr(out, "isatty", lambda: False)():
            sys.stdout = cast(TextIO, _WipingStream(out, self))
        self._started = time.monotonic()
        global _shown
        _shown = self
        self._ticker.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        global _shown
        _shown = None
        self._stop.set()
        self._ticker.join(timeout=5)
        with self._lock:
            self._wipe()
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved

    # -- Listener -----------------------------------------------------------------------------

    def host_started(self, host: str) -> None:
        with self._lock:
            self._running.add(host)
        self.inner.host_started(host)

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        self.inner.host_output(host, stream, data)

    def host_finished(self, result: HostResult) -> None:
        with self._lock:
            self._running.discard(result.host)
            self._done += 1
            if not result.ok:
                self._failed += 1
        self.inner.host_finished(result)

    def interrupted(self, running: Sequence[str]) -> None:
        self.inner.interrupted(running)


class _WipingStream:
    """Stands in for ``sys.stdout``/``sys.stderr`` while the line is shown: each write
    goes through :meth:`RunStatus.written`; everything else is the real stream's."""

    def __init__(self, stream: TextIO, status: RunStatus) -> None:
        self._stream = stream
        self._status = status

    def write(self, text: str) -> int:
        return self._status.written(self._stream, text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


__all__ = ["REDRAW_INTERVAL", "RunStatus", "hidden", "wants_status_line"]
