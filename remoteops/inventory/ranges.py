"""Host ranges: ``web[01:20]`` (Ansible) and ``web[01-20,31]`` (ClusterShell), and folding back.

Inventories and patterns name fleets compactly. :func:`expand_range` turns one such name into the
host names it stands for; :func:`fold_hosts` goes the other way for display, so a summary can say
``web[01-40]`` instead of forty names. Zero padding follows the start bound, as in both tools.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Iterable

from remoteops.inventory.model import MAX_HOSTS

#: Past this many names an expansion is a typo (``[1:1000000]``), not a fleet: no inventory
#: may hold more hosts than this anyway.
MAX_EXPANSION = MAX_HOSTS

_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_DIGITS = re.compile(r"[0-9]+")
_WORD = re.compile(r"[0-9A-Za-z]+")
_LAST_NUMBER = re.compile(r"(.*?)([0-9]+)([^0-9]*)", re.DOTALL)


def expand_range(text: str) -> list[str]:
    """Expand every ``[...]`` range in ``text``, left to right; a plain name comes back alone.

    Each bracket holds comma-separated items: ``start:end[:step]`` (Ansible), ``start-end[/step]``
    (ClusterShell) or a single value. Bounds are both numbers or both single letters. Several
    brackets give the cartesian product. Raises :class:`ValueError` on a malformed range.
    """
    pieces: list[list[str]] = []
    position = 0
    total = 1
    for match in _BRACKET.finditer(text):
        _check_literal(text, text[position : match.start()])
        values = _expand_body(text, match.group(1))
        total *= len(values)
        if total > MAX_EXPANSION:
            raise ValueError(f"host range {text!r} expands to more than {MAX_EXPANSION} names")
        pieces.append([text[position : match.start()]])
        pieces.append(values)
        position = match.end()
    _check_literal(text, text[position:])
    pieces.append([text[position:]])
    return list(dict.fromkeys("".join(parts) for parts in itertools.product(*pieces)))


def split_hosts(text: str) -> list[str]:
    """Split a comma list of names, keeping commas inside brackets (``a,web[1-3,7]``) intact."""
    items: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(depth - 1, 0)
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item for item in items if item]


def expand_hosts(text: str) -> list[str]:
    """Expand a comma list of names and ranges (what :func:`fold_hosts` prints), in order."""
    names: dict[str, None] = {}
    for item in split_hosts(text):
        names.update(dict.fromkeys(expand_range(item)))
    return list(names)


def fold_hosts(names: Iterable[str]) -> str:
    """Fold host names into ClusterShell ranges for display: the inverse of :func:`expand_hosts`.

    Names are grouped by what surrounds their last run of digits; consecutive numbers of the
    same padding become ``a-b``. Names without digits (or holding ``[``, ``]`` or ``,``, which
    cannot be folded) are kept whole. The output is sorted, so it is stable across runs.
    """
    by_shape: dict[tuple[str, str], set[str]] = {}
    folded: list[str] = []
    for name in set(names):
        match = _LAST_NUMBER.fullmatch(name)
        if match is None or any(char in name for char in "[],"):
            folded.append(name)
            continue
        prefix, number, suffix = match.groups()
        by_shape.setdefault((prefix, suffix), set()).add(number)
    for (prefix, suffix), numbers in by_shape.items():
        if len(numbers) == 1:
            folded.append(f"{prefix}{next(iter(numbers))}{suffix}")
            continue
        runs = ",".join(_render_run(run) for run in _runs(numbers))
        folded.append(f"{prefix}[{runs}]{suffix}")
    return ",".join(sorted(folded))


def _check_literal(text: str, literal: str) -> None:
    if "[" in literal or "]" in literal:
        raise ValueError(f"unbalanced brackets in host range {text!r}")


def _expand_body(text: str, body: str) -> list[str]:
    if not body.strip():
        raise ValueError(f"empty range in {text!r}")
    values: list[str] = []
    for raw in body.split(","):
        item = raw.strip()
        if not item:
            raise ValueError(f"empty item in host range {text!r}")
        if ":" in item:
            bounds = item.split(":")
            if len(bounds) not in (2, 3):
                raise ValueError(f"host range {text!r}: use [start:end] or [start:end:step]")
            start, end = bounds[0] or "0", bounds[1]
            step = bounds[2] if len(bounds) == 3 else "1"
            values.extend(_sequence(text, start, end, step))
        elif "-" in item:
            span, _, step = item.partition("/")
            start, _, end = span.partition("-")
            values.extend(_sequence(text, start, end, step or "1"))
        elif _WORD.fullmatch(item):
            values.append(item)
        else:
            raise ValueError(f"host range {text!r}: {item!r} is not a number, letter or range")
    return values


def _sequence(text: str, start: str, end: str, step_text: str) -> list[str]:
    if not end:
        raise ValueError(f"host range {text!r} has no end bound")
    if not _DIGITS.fullmatch(step_text) or int(step_text) == 0:
        raise ValueError(f"host range {text!r}: step {step_text!r} is not a positive integer")
    step = int(step_text)
    if _DIGITS.fullmatch(start) and _DIGITS.fullmatch(end):
        first, last = int(start), int(end)
        if first > last:
            raise ValueError(f"host range {text!r}: start {start} is after end {end}")
        if (last - first) // step + 1 > MAX_EXPANSION:
            raise ValueError(f"host range {text!r} expands to more than {MAX_EXPANSION} names")
        return [_pad(number, start) for number in range(first, last + 1, step)]
    letters = string.ascii_letters
    if len(start) == 1 and len(end) == 1 and start in letters and end in letters:
        first, last = letters.index(start), letters.index(end)
        if first > last:
            raise ValueError(f"host range {text!r}: start {start!r} is after end {end!r}")
        return list(letters[first : last + 1 : step])
    raise ValueError(
        f"host range {text!r}: bounds {start!r} and {end!r} must both be numbers "
        "or both single letters"
    )


def _pad(number: int, start: str) -> str:
    """Format ``number`` with the zero padding the range's start bound shows (``01`` -> 2)."""
    width = len(start) if len(start) > 1 and start.startswith("0") else 0
    return str(number).zfill(width)


def _runs(numbers: set[str]) -> list[list[str]]:
    runs: list[list[str]] = []
    for number in sorted(numbers, key=lambda value: (int(value), len(value), value)):
        if runs:
            run = runs[-1]
            if int(number) == int(run[-1]) + 1 and _pad(int(number), run[0]) == number:
                run.append(number)
                continue
        runs.append([number])
    return runs


def _render_run(run: list[str]) -> str:
    return run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}"
