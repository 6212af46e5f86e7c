"""Live output: ``host | line`` as lines arrive, like ``clush`` and ``pssh -P``.

Stdout lines go to stdout; stderr lines go to stderr marked with ``!`` instead of ``|``. A line
is printed only once complete (or when its host finishes, or once it reaches 64 KiB), so hosts
never interleave mid-line. Nothing is kept once printed. :class:`PrefixStyle` gives pdsh's
``host: line`` (what ``dshbak -c`` reads) or no prefix at all (pdsh/clush ``-N``).
"""

from __future__ import annotations

import enum
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from remoteops.output.notices import write, write_interrupted
from remoteops.output.style import RED, RESET, host_colour, use_colour
from remoteops.results import HostResult, Status
from remoteops.transports.base import STDERR
from remoteops.utf8 import whole_characters

#: Bytes of an unfinished line held per host and stream; a longer line is printed in pieces
#: of this size, so output without line ends cannot grow without bound.
_LINE_LIMIT = 64 * 1024


class PrefixStyle(str, enum.Enum):
    """How an output line names its host."""

    #: ``web01 | line`` (``!`` for stderr), names padded to one width: our own.
    ALIGNED = "aligned"
    #: ``web01: line`` on both streams, as pdsh and clush print and ``dshbak -c`` reads.
    PDSH = "pdsh"
    #: the line alone (pdsh/clush ``-N``); a failed host's notice still names it.
    NONE = "none"


class LiveLines:
    """A :class:`~remoteops.executor.Listener` that prints each host's lines as they come."""

    def __init__(
        self,
        host_names: Sequence[str],
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        style: PrefixStyle = PrefixStyle.ALIGNED,
    ) -> None:
        self._out, self._err = out, err
        self._style = style
        self._width = max((len(h) for h in host_names), default=0)
        self._index = {name: i for i, name in enumerate(host_names)}
        self._colour_out = use_colour(self.out)
        self._colour_err = use_colour(self.err)
        self._partial: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    @property
    def out(self) -> TextIO:
        """The given stream, else ``sys.stdout`` as it is now: progress bars started after us
        replace it with a proxy that prints above them."""
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    def _prefix(self, host: str, mark: str, colour: bool) -> str:
        name = host.ljust(self._width)
        if not colour:
            return f"{name} {mark} "
        marker = f"{RED}{mark}{RESET}" if mark == "!" else mark
        return f"{host_colour(self._index.get(host, 0))}{name}{RESET} {marker} "

    def _line_prefix(self, host: str, is_err: bool) -> str:
        colour = self._colour_err if is_err else self._colour_out
        if self._style is PrefixStyle.NONE:
            return ""
        if self._style is PrefixStyle.PDSH:
            if not colour:
                return f"{host}: "
            return f"{host_colour(self._index.get(host, 0))}{host}{RESET}: "
        return self._prefix(host, "!" if is_err else "|", colour)

    def _emit(self, host: str, stream: str, lines: list[bytes]) -> None:
        is_err = stream == STDERR
        target = self.err if is_err else self.out
        prefix = self._line_prefix(host, is_err)
        text = "".join(
            prefix + line.decode("utf-8", errors="replace").rstrip("\r") + "\n" for line in lines
        )
        write(target, text)

    def host_started(self, host: str) -> None:
        return None

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        with self._lock:
            key = (host, stream)
            buffered = self._partial.get(key, b"") + data
            *complete, rest = buffered.split(b"\n")
            while len(rest) >= _LINE_LIMIT:  # a flood without line ends: shown in pieces,
                cut = whole_characters(rest, _LINE_LIMIT) or _LINE_LIMIT  # whole characters
                complete.append(rest[:cut])
                rest = rest[cut:]
            self._partial[key] = rest
            if complete:
                self._emit(host, stream, complete)

    def host_finished(self, result: HostResult) -> None:
        with self._lock:
            for stream in ("stdout", "stderr"):
                rest = self._partial.pop((result.host, stream), b"")
                if rest:
                    self._emit(result.host, stream, [rest])
            if result.status is not Status.OK and result.error:
                line = f"{result.status.value.upper()}: {result.error}"
                if self._colour_err:
                    line = f"{RED}{line}{RESET}"
                if self._style is PrefixStyle.PDSH:  # dshbak groups it with the host's lines
                    prefix = self._line_prefix(result.host, is_err=True)
                else:  # named even under -N: a failure without its host says nothing
                    prefix = self._prefix(result.host, "!", self._colour_err)
                write(self.err, prefix + line + "\n")

    def interrupted(self, running: Sequence[str]) -> None:
        with self._lock:
            write_interrupted(self.err, running)

    def note(self, host: str, text: str) -> None:
        """A line about ``host`` that is not its output (``host > ...``, to stderr): e.g. a
        task step that ended, under a strategy where steps have no common header."""
        with self._lock:
            write(self.err, self._prefix(host, ">", self._colour_err) + text + "\n")
