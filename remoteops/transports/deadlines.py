"""Many timeouts, one thread: ``threading.Timer`` starts a thread per timeout, and an SSH exec
(or a host's ``--timeout``) needs one each time, hundreds at once across a fleet.

Waiting costs no thread per timeout; a timeout that fires runs its action on a thread of
its own (firing is rare, and an action such as closing a channel to a stalled host may block:
it must not hold up the other deadlines).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Deadline:
    """One pending call; :meth:`cancel` before it is due and it never happens."""

    __slots__ = ("action", "cancelled", "when")

    def __init__(self, when: float, action: Callable[[], None]) -> None:
        self.when = when
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Deadlines:
    """A heap of deadlines watched by one daemon thread, started on first use."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def after(self, seconds: float, action: Callable[[], None]) -> Deadline:
        """Call ``action`` in ``seconds`` unless the returned deadline is cancelled first."""
        deadline = Deadline(time.monotonic() + seconds, action)
        with self._changed:
            heapq.heappush(self._heap, (deadline.when, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="remoteops-deadlines", daemon=True
                )
                self._thread.start()
            self._changed.notify()
        return deadline

    def _watch(self) -> None:
        while True:
            with self._changed:
                while not self._heap or self._heap[0][2].cancelled:
                    if self._heap:
                        heapq.heappop(self._heap)  # cancelled: dropped without a wake-up
                    else:
                        self._changed.wait()
                due = self._heap[0][0] - time.monotonic()
                if due > 0:
                    self._changed.wait(due)
                    continue
                deadline = heapq.heappop(self._heap)[2]
            if not deadline.cancelled:
                threading.Thread(
                    target=_fire, args=(deadline,), name="remoteops-timeout", daemon=True
                ).start()


def _fire(deadline: Deadline) -> None:
    try:
        deadline.action()
    except Exception:
        log.warning("a timeout's action failed", exc_info=True)


#: The process's one watcher.
DEADLINES = Deadlines()


def after(seconds: float, action: Callable[[], None]) -> Deadline:
    """Call ``action`` in ``seconds`` on the shared watcher thread (see :class:`Deadlines`)."""
    return DEADLINES.after(seconds, action)


class Guard:
    """Calls ``close`` when ``seconds`` run out unless :meth:`stop` came first, and says
    whether it did: a wait that cannot be given a timeout of its own (paramiko's auth waits
    one ``auth_timeout`` per key offered) ends when its connection closes under it, and the
    error that closing caused is then named as the timeout it was."""

    def __init__(self, seconds: float, close: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self._fired = False
        self._stopped = False
        self._close = close
        self._deadline = after(max(0.0, seconds), self._fire)

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._fired = True
        self._close()

    def stop(self) -> bool:
        """Never close from now on; True if the time had already run out (and closed)."""
        with self._lock:
            self._stopped = True
            self._deadline.cancel()
            return self._fired


__all__ = ["DEADLINES", "Deadline", "Deadlines", "Guard", "after"]
