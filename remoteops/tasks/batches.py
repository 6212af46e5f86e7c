"""Rolling batches: which hosts run together (``serial:``), and when the run stops early.

Both follow Ansible, so a playbook's ``serial`` and ``max_fail_percentage`` mean the same here:

- ``serial: 5`` runs five hosts at a time; ``"20%"`` takes 20 % of *all* the selected hosts,
  rounded down but at least one; a list applies its entries in turn and repeats the last
  (``[1, 5, "50%"]``: one canary, then five, then halves). Empty: all hosts in one batch.
- ``max_fail_percentage: P`` stops the run before the next batch when the hosts failed so far
  are *more than* P % of the hosts run so far (Ansible: "must be exceeded, not equaled"; 0 stops
  at the first failure). Counting only the hosts run so far is what makes a canary work: one
  failed canary is 100 %, whatever the size of the fleet.
- ``max_fail: N`` (ours; Ansible has none) stops the run before the next batch once N hosts have
  failed: ``max_fail: 1`` stops at the first failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from remoteops.tasks.model import BatchSize

_Item = TypeVar("_Item")


def batch_size(entry: BatchSize, total: int) -> int:
    """The number of hosts one ``serial`` entry stands for, out of ``total`` selected hosts."""
    if isinstance(entry, str):
        percent = int(entry.strip().removesuffix("%"))
        return max(1, total * percent // 100)
    return entry


def batches(hosts: Sequence[_Item], serial: Sequence[BatchSize] = ()) -> list[list[_Item]]:
    """``hosts`` cut into the batches ``serial`` asks for, in order (see the module docs).

    Entries are as the loader checked them: positive ints and ``"N%"`` with 0 < N <= 100.
    """
    if not serial:
        return [list(hosts)] if hosts else []
    cut: list[list[_Item]] = []
    start = 0
    for index in range(len(hosts)):
        if start >= len(hosts):
            break
        size = batch_size(serial[min(index, len(serial) - 1)], len(hosts))
        cut.append(list(hosts[start : start + size]))
        start += size
    return cut


def should_stop(
    failed_so_far: int,
    total: int,
    max_fail: int | None = None,
    max_fail_percentage: float | None = None,
) -> bool:
    """Whether to start no further batch, asked after each batch.

    ``failed_so_far`` counts the hosts that did not end well in every batch run so far
    (failed, unreachable, timed out: not those skipped), ``total`` the hosts of those batches.
    Stops once ``max_fail`` hosts have failed, or when the failed share *exceeds*
    ``max_fail_percentage``. Neither set: never. (Ansible also ends a play when every host of
    one batch failed; that is the runner's call, with the batch in hand.)
    """
    if max_fail is not None and failed_so_far >= max_fail:
        return True
    if max_fail_percentage is not None and total > 0:
        return failed_so_far * 100 > max_fail_percentage * total
    return False
