"""Kinds of inventory values: each checks a raw value and returns it in its type.

YAML gives typed values (``port: 22``), INI and comma lists strings (``ansible_port=22``), and a
library user whatever they built; a kind accepts all three spellings of the same thing and
refuses anything else with a :class:`ValueError` whose text says what is allowed ("must be an
integer from 1 to 64"), for the caller to put after the variable's name. The loaders check the
connection variables with these; :mod:`remoteops.transports.settings` declares every setting
with one.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class Kind(Protocol):
    """What values a setting takes; ``allowed`` describes them for errors and the README."""

    @property
    def allowed(self) -> str: ...

    def parse(self, value: Any) -> Any:
        """The value in its type; :class:`ValueError` ("must be ...") if it is not one."""
        ...


def _refused(kind: Kind) -> ValueError:
    return ValueError(f"must be {kind.allowed}")


@dataclass(frozen=True)
class Integer:
    """A whole number within bounds (digits in a string too; never a bool)."""

    low: int
    high: int

    @property
    def allowed(self) -> str:
        return f"an integer from {self.low} to {self.high}"

    def parse(self, value: Any) -> int:
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refused(self)
        if not self.low <= value <= self.high:
            raise _refused(self)
        return value


#: A TCP port.
PORT = Integer(1, 65535)


@dataclass(frozen=True)
class Seconds:
    """A positive, finite number (of seconds, for the settings that take one)."""

    @property
    def allowed(self) -> str:
        return "a positive number"

    def parse(self, value: Any) -> float:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refused(self)
        if not (value > 0 and math.isfinite(value)):
            raise _refused(self)
        return float(value)


@dataclass(frozen=True)
class Flag:
    """Yes or no: a YAML boolean, or true/false, yes/no, on/off, 1/0 in any case."""

    @property
    def allowed(self) -> str:
        return "true or false (yes/no, on/off, 1/0)"

    def parse(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower() if isinstance(value, (str, int)) else None
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise _refused(self)


@dataclass(frozen=True)
class Choice:
    """One word of a fixed list, in any case."""

    words: tuple[str, ...]

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(self.words)

    def parse(self, value: Any) -> str:
        word = value.strip().lower() if isinstance(value, str) else None
        if word not in self.words:
            raise _refused(self)
        return word


@dataclass(frozen=True)
class Text:
    """A string; ``empty_ok``: an empty one (or none) is allowed and means "none"."""

    empty_ok: bool = False

    @property
    def allowed(self) -> str:
        return "a string" if self.empty_ok else "a non-empty string"

    def parse(self, value: Any) -> str:
        if value is None and self.empty_ok:  # YAML's empty value
            return ""
        if not isinstance(value, str) or not (value or self.empty_ok):
            raise _refused(self)
        return value


@dataclass(frozen=True)
class EnvName:
    """The name of an environment variable (which holds a secret: never the secret itself)."""

    @property
    def allowed(self) -> str:
        return "the name of an environment variable (like DEPLOY_PASSWORD)"

    def parse(self, value: Any) -> str:
        if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
            raise _refused(self)
        return value


@dataclass(frozen=True)
class Regex:
    """A Python regular expression; ``several``: a list of them (or one alone)."""

    several: bool = False

    @property
    def allowed(self) -> str:
        return "a list of regular expressions" if self.several else "a regular expression"

    def parse(self, value: Any) -> str | tuple[str, ...]:
        if self.several and isinstance(value, Sequence) and not isinstance(value, str):
            return tuple(self._one(item) for item in value)
        pattern = self._one(value)
        return (pattern,) if self.several else pattern

    def _one(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise _refused(self)
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"must be {self.allowed} ({exc})") from None
        return value
