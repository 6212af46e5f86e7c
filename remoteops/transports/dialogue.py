"""Dialogues: lines sent to a host's session, each followed by a wait for a pattern, as
``expect`` scripts and Ansible's ``cli_command`` hold them with a device's CLI (``enable``, a
password prompt, ``[confirm]``, a pager).

A transport that can hold one derives from :class:`DialogueTransport` (which gives it
:attr:`~remoteops.transports.base.Capability.DIALOGUES`) and implements :meth:`converse` on
its kept session. The contract every implementation keeps:

- each :class:`Exchange` types its line (and Enter), then waits up to its ``timeout`` for its
  pattern (none: the prompt the transport knows); a pager met on the way is answered unless
  the pattern itself matches it;
- everything received is the dialogue's output, streamed as it arrives, terminal codes and
  pager erasures removed, secrets (the lines sent with ``secret``) masked wherever it goes;
- after the last exchange the session is back at its prompt (waited for, if the last pattern
  was not the prompt), so the next command runs as usual;
- a pattern not seen in time raises :class:`~remoteops.errors.DialogueError` naming the
  exchange and its pattern with the tail of what was received; the session is then hung up
  (a later step connects afresh).
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from remoteops.errors import UnsupportedError
from remoteops.results import Reply
from remoteops.transports.base import Capability, OutputCallback, Transport

#: How long an exchange waits for its pattern when it says nothing (Ansible's network
#: ``command_timeout`` is 30 s too).
DEFAULT_EXCHANGE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Exchange:
    """One turn: type ``send`` and Enter (None: type nothing, only wait), then wait for
    ``expect``, a regular expression searched in the raw bytes received (None: the prompt).
    ``secret``: ``send`` is masked in every output, message and log."""

    send: str | None = field(default=None, repr=False)
    expect: str | None = None
    timeout: float = DEFAULT_EXCHANGE_TIMEOUT_S
    secret: bool = False


@dataclass(frozen=True)
class DialogueOutcome:
    """A dialogue that went as written: its whole transcript and each exchange's reply."""

    transcript: bytes
    replies: tuple[Reply, ...]


class DialogueTransport(Transport):
    """A transport whose session holds dialogues (Telnet)."""

    _adds = Capability.DIALOGUES

    @abstractmethod
    def converse(
        self,
        exchanges: Sequence[Exchange],
        on_output: OutputCallback | None = None,
        timeout: float | None = None,
    ) -> DialogueOutcome:
        """Hold ``exchanges`` in turn (see the module docs); ``timeout`` bounds them all."""


def dialogues_of(transport: Transport) -> DialogueTransport:
    """``transport`` as one that holds dialogues, or ``unsupported`` for the host."""
    if not isinstance(transport, DialogueTransport):
        raise UnsupportedError(
            f"{transport.protocol.upper()} hosts cannot hold send/expect dialogues "
            "(Telnet hosts can; use run: for commands); nothing was sent to the host"
        )
    return transport


def pattern_problem(pattern: str) -> str | None:
    """What is wrong with ``pattern`` as an exchange's ``expect`` (None: nothing): it must
    compile (as the bytes pattern it is searched as), and must not match an empty text, which
    would end every wait at once (``.*``, ``a?``, ``^``)."""
    try:
        compiled = re.compile(pattern.encode())
    except re.error as exc:
        return f"{pattern!r} is not a regular expression: {exc}"
    if compiled.search(b"") is not None:
        return f"{pattern!r} matches an empty text, so it would end the wait at once"
    return None


__all__ = [
    "DEFAULT_EXCHANGE_TIMEOUT_S",
    "DialogueOutcome",
    "DialogueTransport",
    "Exchange",
    "dialogues_of",
    "pattern_problem",
]
