"""One watcher thread for many timeouts: due ones fire, cancelled ones never do, and an action
that blocks holds up no other deadline."""

from __future__ import annotations

import threading
import time

from remoteops.transports.deadlines import Deadlines


def test_a_due_deadline_fires_and_a_cancelled_one_never_does() -> None:
    deadlines = Deadlines()
    fired: list[str] = []
    deadlines.after(0.05, lambda: fired.append("due"))
    deadlines.after(0.05, lambda: fired.append("cancelled")).cancel()
    time.sleep(0.3)
    assert fired == ["due"]


def test_many_waiting_deadlines_cost_one_thread() -> None:
    deadlines = Deadlines()
    before = threading.active_count()
    pending = [deadlines.after(60, lambda: None) for _ in range(500)]
    assert threading.active_count() <= before + 1
    for deadline in pending:
        deadline.cancel()


def test_deadlines_fire_in_time_order_whatever_the_order_they_were_set_in() -> None:
    deadlines = Deadlines()
    fired: list[int] = []
    done = threading.Event()
    deadlines.after(0.2, lambda: (fired.append(2), done.set()))
    deadlines.after(0.05, lambda: fired.append(1))
    assert done.wait(2)
    assert fired == [1, 2]


def test_an_action_that_blocks_does_not_hold_up_the_others() -> None:
    """Closing a channel to a stalled host may block: the next deadline still fires on time."""
    deadlines = Deadlines()
    release = threading.Event()
    second = threading.Event()
    deadlines.after(0.01, lambda: release.wait(5))
    started = time.monotonic()
    deadlines.after(0.1, second.set)
    assert second.wait(2)
    assert time.monotonic() - started < 1
    release.set()
