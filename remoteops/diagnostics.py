"""Verbose logs (``-v``, ``-vv``, ``--log-file``) that never show a secret.

The library logs connection steps (TCP connect, negotiated algorithms, which credential was
accepted, timings) at INFO on the ``remoteops`` loggers; paramiko logs its protocol at DEBUG.
:func:`log_to` sends either to a stream or a file. Every handler it makes carries a
:class:`SecretFilter`, which blanks each value given to :func:`register_secret` (login and sudo
passwords, key passphrases, ``--env`` values) from every record, the library's and paramiko's
alike: a secret that reaches a message by a path nobody foresaw is still never written.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TextIO

#: What a secret is replaced with in logs and in the run journal.
REDACTED = "********"
#: Shorter values are not blanked: a one-letter secret would blank every such letter.
_MIN_LENGTH = 3

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Never write ``value`` in a log or the journal from now on (for this process)."""
    if value and len(value) >= _MIN_LENGTH:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by :data:`REDACTED`, longest first."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_bytes(data: bytes) -> bytes:
    """:func:`redact` for raw bytes (output that is not UTF-8 text, kept as base64)."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        data = data.replace(secret.encode("utf-8", "surrogateescape"), REDACTED.encode())
    return data


def secrets_in(data: bytes | bytearray | memoryview) -> int:
    """How many of the registered secrets appear in ``data`` (0: none), as UTF-8: a check
    for bytes about to leave this process (pickled work for a cluster worker), which must
    carry names of variables, never their values. A count, so the answer reveals none.

    Only what :func:`register_secret` kept is looked for (values of 3 characters or more),
    in the bytes as given: run it before any compression or encryption."""
    raw = bytes(data)
    with _lock:
        secrets = list(_secrets)
    return sum(secret.encode("utf-8", "surrogateescape") in raw for secret in secrets)


class SecretFilter(logging.Filter):
    """Formats the record's message once, blanks the secrets in it (and in its traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A call whose arguments do not fit its format (a bug in some library): a handler
            # would report it and go on, but a filter runs outside the handler's guard.
            message = f"{record.msg} (arguments that do not fit: {record.args!r})"
        record.msg, record.args = redact(message), None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None  # formatted (and blanked) above: not again from the raw one
        return True


_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s"


def log_to(
    target: TextIO | Path, level: int, *, paramiko: bool = False, formatter: str = _FORMAT
) -> logging.Handler:
    """Send the library's records from ``level`` up (and paramiko's, if asked) to a stream or
    a file (appended to), secrets blanked; return the handler (to remove it later)."""
    handler: logging.Handler
    if isinstance(target, Path):
        handler = logging.FileHandler(target, encoding="utf-8")
    else:
        handler = logging.StreamHandler(target)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(formatter, datefmt="%H:%M:%S"))
    handler.addFilter(SecretFilter())
    loggers = [logging.getLogger("remoteops")]
    if paramiko:
        loggers.append(logging.getLogger("paramiko"))
    for logger in loggers:
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > level or logger.level == logging.NOTSET:
            logger.setLevel(min(level, logger.getEffectiveLevel()))
    return handler
