"""Rolling batches: which hosts run together (``serial:``), and when the run stops early.

Both follow Ansible, so a playbook's ``serial`` and ``max_fail_percentage`` mean the same here:

- ``serial: 5`` runs five hosts at a time; ``"20%"`` takes 20 % of *all* the selected hosts,
  rounded down but at least one; a list applies its entries in turn and repeats the last
  (``[1, 5, "50%"]``: one canary, then five, then halves). Empty: all hosts in one batch.
- ``max_fail_percentage: P``: the brake holds when the hosts of the *current batch* that
  failed are *more than* P % of that batch (Ansible: "must be exceeded, not equaled"; 0 holds
  at the first failure). Without ``serial`` the whole run is one batch; a failed canary of a
  batch of one is 100 %, whatever the size of the fleet.
- ``max_fail: N`` (ours; Ansible has none): the brake holds once N hosts have failed in the
  whole run so far: ``max_fail: 1`` holds at the first failure.

The brake is asked (:func:`brake_reason`) as Ansible's strategies ask it: by the task-file
runner after every step of a ``linear`` batch and as each host fails under ``free`` (then
the hosts of the batch still going take no further step and end ``cancelled``), and by
:func:`run_batches` after every batch (then no further batch starts). Failed means any end
but ok: failed, unreachable, timed out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from remoteops.executor import sigterm_pending
from remoteops.tasks.model import BatchSize

_Item = TypeVar("_Item")


def parse_batch_size(text: str) -> BatchSize:
    """A ``serial`` entry as typed on a command line: ``5`` hosts or ``20%`` of them.

    ValueError says what is accepted.
    """
    digits = text.strip().removesuffix("%").strip()
    if digits.isascii() and digits.isdigit() and int(digits) > 0:
        if not text.strip().endswith("%"):
            return int(digits)
        if int(digits) <= 100:
            return f"{int(digits)}%"
    raise ValueError(f"a batch is a positive number of hosts or a percentage 'N%', not {text!r}")


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
    """Whether the brake holds for ``failed_so_far`` failed hosts out of ``total``
    (:func:`brake_reason` says which hosts each limit counts).

    Failed: did not end well (failed, unreachable, timed out: not those skipped). Holds once
    ``max_fail`` hosts have failed, or when the failed share *exceeds* ``max_fail_percentage``.
    Neither set: never. (Ansible also ends a play when every host of one batch failed; that
    is the runner's call, with the batch in hand.)
    """
    if max_fail is not None and failed_so_far >= max_fail:
        return True
    if max_fail_percentage is not None and total > 0:
        return failed_so_far * 100 > max_fail_percentage * total
    return False


def brake_reason(
    batch: Sequence[_Item],
    run_so_far: Sequence[_Item],
    failed: Callable[[_Item], bool],
    *,
    max_fail: int | None = None,
    max_fail_percentage: float | None = None,
) -> str | None:
    """Why the brake holds now (see the module docs), or None: ``max_fail`` counts the failed
    hosts of ``run_so_far`` (every batch started, this one included), ``max_fail_percentage``
    those of ``batch``."""
    if max_fail is not None:
        failed_so_far = sum(1 for item in run_so_far if failed(item))
        if should_stop(failed_so_far, len(run_so_far), max_fail=max_fail):
            return f"{failed_so_far} of {len(run_so_far)} hosts failed (the max_fail brake)"
    if max_fail_percentage is not None:
        failed_here = sum(1 for item in batch if failed(item))
        if should_stop(failed_here, len(batch), max_fail_percentage=max_fail_percentage):
            return (
                f"{failed_here} of the {len(batch)} hosts of the batch failed, more than "
                f"{max_fail_percentage:g} % (the max_fail_percentage brake)"
            )
    return None


def run_batches(
    hosts: Sequence[_Item],
    serial: Sequence[BatchSize],
    run_batch: Callable[[list[_Item]], bool],
    failed: Callable[[_Item], bool],
    *,
    max_fail: int | None = None,
    max_fail_percentage: float | None = None,
) -> str | None:
    """Run ``hosts`` batch by batch (``run_batch`` returns True when it was interrupted),
    asking the brake after each, the last one too; returns why the run stopped (the brake,
    an interruption), or None.

    Besides the brake, a batch whose every host failed ends the run (as in Ansible), and an
    interrupted batch does. Task files and fabfiles both run through here.
    """
    cut = batches(hosts, serial)
    done: list[_Item] = []
    for number, batch in enumerate(cut):
        if sigterm_pending():  # a SIGTERM the CLI holds: no batch starts after it came
            return "interrupted"
        interrupted = run_batch(batch)
        done += batch
        if interrupted:
            return "interrupted"
        why = brake_reason(
            batch, done, failed, max_fail=max_fail, max_fail_percentage=max_fail_percentage
        )
        if why is not None:
            return why
        if number + 1 < len(cut) and all(failed(item) for item in batch):
            return f"every host of batch {number + 1} failed"
    return None
