"""LIST output, for FTP servers without MLSD: Unix ``ls -l`` style and Windows/IIS style.

LIST has no standard format; these two cover nearly every server met in practice (vsftpd,
ProFTPD, Pure-FTPd, pyftpdlib, BusyBox, embedded devices, IIS). Its times are the server's
local time, to the minute at best and to the day for old files, so a listing's mtimes are
only a guess: the transport asks MDTM for the exact one where the server offers it.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass

from remoteops.tree import Kind

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}

_UNIX = re.compile(
    r"(?P<type>[-dlbcpsDn])(?P<perms>[-rwxsStTlL]{9})[.+@]?\s*"  # `+1464`: links run in
    r"(?:.*?\s)?"  # links, owner, group: any of them may be missing
    r"(?P<size>\d+)\s+"
    r"(?:(?P<month>[A-Za-z]{3})\s+(?P<day>\d{1,2})|(?P<day_first>\d{1,2})\s+(?P<month_after>[A-Za-z]{3}))"
    r"\s+(?P<when>\d{1,2}:\d{2}|\d{4})"
    r" (?P<name>.+)",
)
_WINDOWS = re.compile(
    r"(?:(?P<month>\d{2})-(?P<day>\d{2})-(?P<year>\d{4}|\d{2})"
    r"|(?P<iso_year>\d{4})-(?P<iso_month>\d{2})-(?P<iso_day>\d{2}))\s+"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<half>[AaPp][Mm])?\s+"
    r"(?:(?P<dir><DIR>)|(?P<size>[\d,]+))\s+(?P<name>.+)",
)


@dataclass(frozen=True)
class Listed:
    """One LIST line: ``mode`` is None where the server shows none (Windows)."""

    name: str
    kind: Kind
    size: int
    mtime: int
    mode: int | None
    target: str | None = None


def parse_line(line: str, now: float | None = None) -> Listed | None:
    """One line of LIST output; None for what is not an entry (``total``, ``.``, devices,
    anything unrecognised)."""
    listed = _parse(line, now)
    return None if listed is None or listed.name in (".", "..") else listed


def _parse(line: str, now: float | None) -> Listed | None:
    line = line.rstrip("\r\n")
    return _unix(line, time.time() if now is None else now) or _windows(line)


def parse_listing(text: str, now: float | None = None) -> tuple[list[Listed], list[str]]:
    """Every entry of a LIST reply, and the lines that were neither an entry nor noise."""
    entries: list[Listed] = []
    unknown: list[str] = []
    for line in text.splitlines():
        listed = _parse(line, now)
        if listed is None:
            if line.strip() and not _noise(line):
                unknown.append(line)
        elif listed.name not in (".", ".."):
            entries.append(listed)
    return entries, unknown


def _noise(line: str) -> bool:
    """Lines a listing may hold that are not entries: totals, devices, pipes, sockets."""
    stripped = line.strip()
    return stripped.lower().startswith("total ") or bool(_SPECIAL.match(stripped))


_SPECIAL = re.compile(r"[bcps][-rwxsStTlL]{9}")


def _unix(line: str, now: float) -> Listed | None:
    found = _UNIX.fullmatch(line)
    if found is None:
        return None
    kind = {"-": Kind.FILE, "d": Kind.DIR, "D": Kind.DIR, "l": Kind.SYMLINK}.get(found["type"])
    if kind is None:  # devices, pipes, sockets are never copied
        return None
    month = _MONTHS.get((found["month"] or found["month_after"]).lower())
    if month is None:
        return None
    day = int(found["day"] or found["day_first"])
    name, target = found["name"], None
    if kind is Kind.SYMLINK and " -> " in name:
        name, _, target = name.partition(" -> ")
    return Listed(
        name,
        kind,
        0 if kind is Kind.DIR else int(found["size"]),
        _unix_time(month, day, found["when"], now),
        _mode(found["perms"]),
        target,
    )


def _unix_time(month: int, day: int, when: str, now: float) -> int:
    """ls shows the year only for stamps more than six months away; a stamp without one is in
    the last twelve months (a day of slack for clocks and time zones)."""
    if ":" in when:
        hour, minute = (int(part) for part in when.split(":"))
        year = time.gmtime(now).tm_year
        stamp = _utc(year, month, day, hour, minute)
        if stamp > now + 86400:
            stamp = _utc(year - 1, month, day, hour, minute)
        return stamp
    return _utc(int(when), month, day, 0, 0)


def _utc(year: int, month: int, day: int, hour: int, minute: int) -> int:
    """Plain arithmetic, so a stamp no calendar has (``24:00``, Feb 29 of 2025) rolls over."""
    return calendar.timegm((year, month, day, hour, minute, 0))


def _mode(perms: str) -> int:
    """``rwxr-sr-T`` as 0o3754: the nine letters, and s/S/t/T for the special bits."""
    mode = 0
    for index, letter in enumerate(perms):
        shift = 8 - index
        if letter in "rwxst":
            mode |= 1 << shift
        if index in (2, 5) and letter in "sS":
            mode |= 0o4000 if index == 2 else 0o2000
        if index == 8 and letter in "tT":
            mode |= 0o1000
    return mode


def _windows(line: str) -> Listed | None:
    found = _WINDOWS.fullmatch(line)
    if found is None:
        return None
    if found["iso_year"]:
        year, month, day = (int(found[f"iso_{part}"]) for part in ("year", "month", "day"))
    else:
        year, month, day = int(found["year"]), int(found["month"]), int(found["day"])
    if year < 100:  # two digits, as IIS writes them: 80-99 are the 1900s
        year += 1900 if year >= 80 else 2000
    hour = int(found["hour"])
    if found["half"]:
        hour = hour % 12 + (12 if found["half"].lower() == "pm" else 0)
    stamp = _utc(year, month, day, hour, int(found["minute"]))
    is_dir = found["dir"] is not None
    return Listed(
        found["name"],
        Kind.DIR if is_dir else Kind.FILE,
        0 if is_dir else int(found["size"].replace(",", "")),
        stamp,
        None,
    )


__all__ = ["Listed", "parse_line", "parse_listing"]
