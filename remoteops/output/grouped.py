"""Grouped output: hosts with identical results printed once, like ``clush -b``/``dshbak -c``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from remoteops.executor import NullListener
from remoteops.inventory.ranges import fold_hosts
from remoteops.output.notices import write, write_interrupted
from remoteops.output.style import BOLD, RED, RESET, use_colour
from remoteops.results import HostResult, Status, exit_code_error


def group_results(results: Sequence[HostResult]) -> list[tuple[list[str], HostResult]]:
    """Hosts that share status, exit code, output and error, in first-seen order."""
    groups: dict[tuple[object, ...], tuple[list[str], HostResult]] = {}
    for result in results:
        key = (
            result.status,
            result.exit_code,
            result.stdout,
            result.stderr,
            result.error,
            result.stdout_bytes,
            result.stderr_bytes,
        )  # fmt: skip  (cut output may differ)
        groups.setdefault(key, ([], result))[0].append(result.host)
    return list(groups.values())


class GroupedOutput(NullListener):
    """Collects results silently and prints the groups when the run ends."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._colour = use_colour(self.out)

    def interrupted(self, running: Sequence[str]) -> None:
        write_interrupted(self.err, running)

    def render(self, results: Sequence[HostResult]) -> None:
        for hosts, result in group_results(results):
            title = f"{fold_hosts(hosts)} ({len(hosts)})"
            if result.status is not Status.OK:
                code = "" if result.exit_code is None else f" exit {result.exit_code}"
                title += f" [{result.status.value}{code}]"
            rule = "-" * min(max(len(title), 15), 78)
            if self._colour:
                colour = BOLD if result.status is Status.OK else BOLD + RED
                title = f"{colour}{title}{RESET}"
            write(self.out, f"{rule}\n{title}\n{rule}\n")
            body = result.stdout + result.stderr
            if result.truncated:
                body += _truncation_note(result).encode()
            said_in_title = result.exit_code is not None and result.error == exit_code_error(
                result.exit_code
            )
            if result.error and not said_in_title:
                body += f"{result.error}\n".encode()
            text = body.decode("utf-8", errors="replace")
            write(self.out, text if text.endswith("\n") or not text else text + "\n")


def _truncation_note(result: HostResult) -> str:
    kept = len(result.stdout) + len(result.stderr)
    wrote = (result.stdout_bytes or len(result.stdout)) + (
        result.stderr_bytes or len(result.stderr)
    )
    return f"\n[output cut: {kept} of {wrote} bytes kept]\n"
