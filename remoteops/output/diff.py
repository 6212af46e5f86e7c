"""``--diff``: each host's stdout as a unified diff against a reference, like ``clush --diff``.

Hosts with the same stdout form one group and get one diff, headed by the folded host lists
(``--- web[01,03] (2)`` / ``+++ web02``). The reference is the output of ``--diff-against HOST``,
else chosen as clush chooses it: the group with the lowest exit code (a failed command is a poor
reference), then the largest, then the first in inventory order. Groups equal to the reference
print nothing: no output means no difference. Only hosts whose command ran to its end are
compared; the others have no whole output to compare and are reported as failures are.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from remoteops.inventory.ranges import fold_hosts
from remoteops.output.live import LiveLines
from remoteops.output.notices import write
from remoteops.output.style import BOLD, RED, RESET, use_colour
from remoteops.results import HostResult
from remoteops.transports.base import STDOUT

_GREEN, _CYAN = "\x1b[32m", "\x1b[36m"
_NO_NEWLINE = "\\ No newline at end of file\n"


@dataclass(frozen=True)
class DiffGroup:
    """Hosts whose stdout is the same, and its unified diff against the reference."""

    hosts: tuple[str, ...]
    diff: str


@dataclass(frozen=True)
class OutputDiff:
    """The reference hosts, one :class:`DiffGroup` per other output, and who was left out."""

    reference: tuple[str, ...]
    groups: tuple[DiffGroup, ...]
    #: Hosts without a whole output (unreachable, timed out, interrupted): not compared.
    not_compared: tuple[str, ...]


def label(hosts: Sequence[str], *, cut: bool = False) -> str:
    """``web[01-03] (3)``, or ``web01`` alone, as clush heads its diffs."""
    text = fold_hosts(hosts) + (f" ({len(hosts)})" if len(hosts) > 1 else "")
    return text + (" [output cut]" if cut else "")


def unified_diff(reference: bytes, other: bytes, from_label: str, to_label: str) -> str:
    """A unified diff of two outputs, as ``diff -u`` writes it: ``\\ No newline at end of
    file`` after a last line without one; bytes that are not UTF-8 shown escaped (``\\xff``):
    two outputs that differ only there must still show a difference.

    GNU diff does the work when it is installed: difflib took minutes of CPU on two outputs
    of 100,000 lines that differ on half of them, which ``diff`` compares in a blink.
    """
    tool = shutil.which("diff")
    if tool is not None:
        return _gnu_diff(tool, reference, other, from_label, to_label)
    return _python_diff(reference, other, from_label, to_label)


def _python_diff(reference: bytes, other: bytes, from_label: str, to_label: str) -> str:
    lines = difflib.unified_diff(_lines(reference), _lines(other), from_label, to_label)
    return "".join(line if line.endswith("\n") else line + "\n" + _NO_NEWLINE for line in lines)


def _gnu_diff(tool: str, reference: bytes, other: bytes, from_label: str, to_label: str) -> str:
    with tempfile.TemporaryDirectory(prefix="remoteops-diff-") as folder:
        paths = [os.path.join(folder, name) for name in ("a", "b")]
        for path, data in zip(paths, (reference, other), strict=True):
            with open(path, "wb") as file:
                file.write(data)
        done = subprocess.run(
            [tool, "-u", "--text", "--label", from_label, "--label", to_label, *paths],
            capture_output=True,
            check=False,
        )
    if done.returncode > 1:  # 0: the same, 1: different, 2: trouble
        raise OSError(f"diff failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode("utf-8", errors="backslashreplace")


def _lines(output: bytes) -> list[str]:
    """Lines as ``diff`` sees them: split at ``\n`` only (a ``\r`` or form feed is text)."""
    parts = output.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return [line.decode("utf-8", errors="backslashreplace") for line in lines]


def diff_outputs(results: Sequence[HostResult], against: str | None = None) -> OutputDiff:
    """Group ``results`` by stdout and diff each group against the reference group.

    ``against`` names the reference host; when it has no whole output (or is not among the
    results) the reference is chosen as if it were not given.
    """
    compared = [r for r in results if r.output_complete]
    not_compared = tuple(r.host for r in results if not r.output_complete)
    groups: dict[bytes, list[HostResult]] = {}
    for result in compared:
        groups.setdefault(result.stdout, []).append(result)
    if not groups:
        return OutputDiff((), (), not_compared)
    ordered = list(groups.values())  # first-seen order: inventory order
    by_host = {r.host: r for r in compared}
    if against in by_host:
        reference = groups[by_host[against].stdout]
    else:
        _, _, first = min(
            (min(r.exit_code or 0 for r in members), -len(members), index)
            for index, members in enumerate(ordered)
        )
        reference = ordered[first]
    reference_label = label([r.host for r in reference], cut=any(r.truncated for r in reference))
    diffs = tuple(
        DiffGroup(
            tuple(r.host for r in members),
            unified_diff(
                reference[0].stdout,
                members[0].stdout,
                reference_label,
                label([r.host for r in members], cut=any(r.truncated for r in members)),
            ),
        )
        for members in ordered
        if members is not reference
    )
    return OutputDiff(tuple(r.host for r in reference), diffs, not_compared)


class DiffOutput(LiveLines):
    """Stderr lines and failures live (as :class:`LiveLines` shows them, like clush in gathered
    mode); stdout kept by the executor, and shown as diffs by :meth:`render` at the end."""

    def __init__(
        self,
        host_names: Sequence[str],
        against: str | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        super().__init__(host_names, out, err)
        self.against = against

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        if stream != STDOUT:
            super().host_output(host, stream, data)

    def render(self, results: Sequence[HostResult]) -> OutputDiff:
        """Print the diffs on stdout; a note on stderr if ``against`` could not be the
        reference. Returns what was printed, for callers that want more."""
        found = diff_outputs(results, self.against)
        if self.against is not None and found.reference and self.against not in found.reference:
            write(
                self.err,
                f"--diff-against {self.against}: it has no whole output to compare with; "
                f"the reference is {label(found.reference)}\n",
            )
        colour = use_colour(self.out)
        for group in found.groups:
            write(self.out, _painted(group.diff) if colour else group.diff)
        return found


def _painted(diff: str) -> str:
    """One diff coloured as ``git diff`` does: bold header, cyan hunks, red and green lines."""
    lines = diff.split("\n")
    painted = []
    for index, line in enumerate(lines):
        # the two header lines first: their host labels may start with anything
        code = BOLD if index < 2 else {"@": _CYAN, "+": _GREEN, "-": RED}.get(line[:1], "")
        painted.append(f"{code}{line}{RESET}" if code and line else line)
    return "\n".join(painted)


__all__ = ["DiffGroup", "DiffOutput", "OutputDiff", "diff_outputs", "label", "unified_diff"]
