"""Progress bars for transfers on a terminal: files and bytes per host and in total, with rate.

Wraps the run's listener (live lines): host output and failures print above the bars. Only
:data:`VISIBLE_HOSTS` host lines show at a time, so a hundred hosts do not fill the screen;
a finished host's line makes room for the next. Nothing is drawn (nor rich imported, a
tenth of a no-change sync's start-up) until a host has something to send.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

from remoteops.executor import Listener
from remoteops.results import HostResult
from remoteops.tree import Advance, no_progress

VISIBLE_HOSTS = 8


class TransferBars:
    """A :class:`~remoteops.tree.ProgressSink` and a listener wrapping ``inner``."""

    def __init__(self, console: Console | None = None) -> None:
        self.inner: Listener | None = None
        self._console = console
        self._progress: Progress | None = None
        self._total: TaskID | None = None
        self._lock = threading.Lock()
        self._files_done = 0
        self._files_total = 0
        self._tasks: dict[str, TaskID] = {}
        self._shown: list[str] = []
        self._waiting: list[str] = []

    def _start(self) -> tuple[Progress, TaskID]:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]} files"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self._console or Console(stderr=True),
            redirect_stdout=sys.stdout.isatty(),  # never move piped stdout onto the terminal
            redirect_stderr=True,
        )
        self._total = progress.add_task("total", total=0, files="0/0")
        self._progress = progress
        progress.start()
        return progress, self._total

    def __enter__(self) -> TransferBars:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    # -- ProgressSink ---------------------------------------------------------------------------

    def planned(self, host: str, files: int, size: int) -> Advance:
        if not files and not size:  # nothing to show for a host with nothing to send
            return no_progress
        with self._lock:
            if self._progress is None or self._total is None:
                progress, total_task = self._start()
            else:
                progress, total_task = self._progress, self._total
            self._files_total += files
            total = (progress.tasks[total_task].total or 0) + size
            progress.update(total_task, total=total, files=self._counts())
            show = len(self._shown) < VISIBLE_HOSTS
            task = progress.add_task(host, total=size, files=f"0/{files}", visible=show)
            self._tasks[host] = task
            (self._shown if show else self._waiting).append(host)
        done = 0

        def advance(finished: int, sent: int) -> None:
            nonlocal done
            with self._lock:
                done += finished
                self._files_done += finished
                progress.update(task, advance=sent, files=f"{done}/{files}")
                progress.update(total_task, advance=sent, files=self._counts())

        return advance

    def _counts(self) -> str:
        return f"{self._files_done}/{self._files_total}"

    # -- Listener -------------------------------------------------------------------------------

    def host_started(self, host: str) -> None:
        if self.inner is not None:
            self.inner.host_started(host)

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        if self.inner is not None:
            self.inner.host_output(host, stream, data)

    def host_finished(self, result: HostResult) -> None:
        with self._lock:
            task = self._tasks.pop(result.host, None)
            progress = self._progress
            if task is not None and progress is not None:  # it planned something: a bar
                progress.remove_task(task)
                if result.host in self._shown:
                    self._shown.remove(result.host)
                    if self._waiting:
                        following = self._waiting.pop(0)
                        self._shown.append(following)
                        progress.update(self._tasks[following], visible=True)
                elif result.host in self._waiting:
                    self._waiting.remove(result.host)
        if self.inner is not None:
            self.inner.host_finished(result)

    def interrupted(self, running: Sequence[str]) -> None:
        if self.inner is not None:
            self.inner.interrupted(running)


__all__ = ["VISIBLE_HOSTS", "TransferBars"]
