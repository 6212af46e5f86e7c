"""LIST parsing, on listings recorded from real servers (sources named in the data files)."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from remoteops.transports.ftp_listing import Listed, parse_line, parse_listing
from remoteops.tree import Kind

DATA = Path(__file__).parent / "data" / "ftp_listings"
#: 2026-11-27 12:00 UTC: yearless stamps are read relative to it.
NOW = calendar.timegm((2026, 11, 27, 12, 0, 0))


def recorded(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if not line.startswith("#")]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, 0))


@pytest.mark.parametrize("name", ["unix.txt", "windows.txt"])
def test_every_recorded_line_is_an_entry_or_known_noise(name: str) -> None:
    lines = recorded(name)
    entries, unknown = parse_listing("\n".join(lines), NOW)
    assert unknown == []
    assert len(entries) >= 25
    assert all(e.name and e.name not in (".", "..") for e in entries)


def test_every_unix_line_shows_a_mode_and_no_windows_line_does() -> None:
    unix, _ = parse_listing("\n".join(recorded("unix.txt")), NOW)
    windows, _ = parse_listing("\n".join(recorded("windows.txt")), NOW)
    assert all(e.mode is not None for e in unix)
    assert all(e.mode is None for e in windows)


UNIX_CASES = [
    (
        "-rw-r--r--   1 ftpuser  ftpusers 12414535 Mar 17 11:07 test 1999 abc.pdf",
        Listed("test 1999 abc.pdf", Kind.FILE, 12414535, utc(2026, 3, 17, 11, 7), 0o644),
    ),
    (  # a date in the future is last year's
        "-rw-r--r--   1   200          4604 Dec 19 23:11 index.html",
        Listed("index.html", Kind.FILE, 4604, utc(2025, 12, 19, 23, 11), 0o644),
    ),
    (  # older than six months: the year instead of the time
        "-rw-r--r-- 1 2 3 3447432 May 18  2009 Foo - Manual.pdf",
        Listed("Foo - Manual.pdf", Kind.FILE, 3447432, utc(2009, 5, 18), 0o644),
    ),
    (
        "lrwxrwxrwx   1 0        1              7 Dec  9  1999 bin -> usr/bin",
        Listed("bin", Kind.SYMLINK, 7, utc(1999, 12, 9), 0o777, "usr/bin"),
    ),
    (  # only the one separating space is dropped: the name keeps its own
        "drwxr-xr-x   2 john smith     group         4096 Mar  2 15:13   zxbox",
        Listed("  zxbox", Kind.DIR, 0, utc(2026, 3, 2, 15, 13), 0o755),
    ),
    (  # no group column
        "drwxr-xr-x 2 oinstall  4096 Jul 25 14:33 log",
        Listed("log", Kind.DIR, 0, utc(2026, 7, 25, 14, 33), 0o755),
    ),
    (  # an owner with a space in it
        "drwx------ 4 maxm Domain Users 512 Oct 2 10:59 .metadata",
        Listed(".metadata", Kind.DIR, 0, utc(2026, 10, 2, 10, 59), 0o700),
    ),
    (  # the link count runs into the ACL marker
        "drwxr-x---+1464 chrism   chrism     41472 Feb 25 13:17 20090225",
        Listed("20090225", Kind.DIR, 0, utc(2026, 2, 25, 13, 17), 0o750),
    ),
    (
        "-rwSr-Sr--   1 500      500             0 Mar 25 08:22 testSuid",
        Listed("testSuid", Kind.FILE, 0, utc(2026, 3, 25, 8, 22), 0o6644),
    ),
    (
        "drwxrwxrwt   2 999      999          4096 Sep  9 11:15 tmp",
        Listed("tmp", Kind.DIR, 0, utc(2026, 9, 9, 11, 15), 0o1777),
    ),
    (  # SELinux context marker
        "-rw-r-----. 1 grp 36 Apr 20 19:13 newfile.txt",
        Listed("newfile.txt", Kind.FILE, 36, utc(2026, 4, 20, 19, 13), 0o640),
    ),
    (  # day before month, and a name that starts like a year
        "drwxrwxrwx   1 0        0               0 29 Jul 02:27 2014 Invoices",
        Listed("2014 Invoices", Kind.DIR, 0, utc(2026, 7, 29, 2, 27), 0o777),
    ),
    (  # 24:00 is midnight of the next day
        "-rw-------      1  99999999 0              3 Apr   4 24:00 alternate_midnight",
        Listed("alternate_midnight", Kind.FILE, 3, utc(2026, 4, 5), 0o600),
    ),
]


@pytest.mark.parametrize(("line", "expected"), UNIX_CASES, ids=lambda v: getattr(v, "name", ""))
def test_unix_lines(line: str, expected: Listed) -> None:
    assert line in recorded("unix.txt")
    assert parse_line(line, NOW) == expected


WINDOWS_CASES = [
    (
        "12-05-96  05:03PM       <DIR>          absoft2",
        Listed("absoft2", Kind.DIR, 0, utc(1996, 12, 5, 17, 3), None),
    ),
    (
        "05-26-1995  10:57AM               143712 $LDR$",
        Listed("$LDR$", Kind.FILE, 143712, utc(1995, 5, 26, 10, 57), None),
    ),
    (  # 24-hour time (Windows CE), a name with spaces
        "09-13-10  13:08                   23 Control Panel.lnk",
        Listed("Control Panel.lnk", Kind.FILE, 23, utc(2010, 9, 13, 13, 8), None),
    ),
    (  # ISO date and a thousands separator
        "2002-09-02  19:06                9,730 19-dos-longyear file",
        Listed("19-dos-longyear file", Kind.FILE, 9730, utc(2002, 9, 2, 19, 6), None),
    ),
    (  # above 2**32
        "05-22-97  12:08AM                  5000000000 10 years and under",
        Listed("10 years and under", Kind.FILE, 5000000000, utc(1997, 5, 22, 0, 8), None),
    ),
    (
        "12-25-10  12:00AM       <DIR>          Christmas Midnight",
        Listed("Christmas Midnight", Kind.DIR, 0, utc(2010, 12, 25), None),
    ),
]


@pytest.mark.parametrize(("line", "expected"), WINDOWS_CASES, ids=lambda v: getattr(v, "name", ""))
def test_windows_lines(line: str, expected: Listed) -> None:
    assert line in recorded("windows.txt")
    assert parse_line(line, NOW) == expected


@pytest.mark.parametrize(
    "line",
    [
        "total 20",
        "drwxr-xr-x   8 98       98           512 Oct 22 13:06 .",
        "drwxr-xr-x   8 98       98           512 Oct 22 13:06 ..",
        "crw-r----- 1 root kmem 0, 27 Jan 30 11:42 kmem",
        "crw-------   1 root     sys      109,767 Jul  2  2004 pci@1c,600000:devctl",
    ],
)
def test_totals_dots_and_devices_are_no_entries_and_no_error(line: str) -> None:
    assert line in recorded("unix.txt")
    assert parse_line(line, NOW) is None
    assert parse_listing(line, NOW) == ([], [])


def test_a_line_in_no_known_format_is_reported_not_dropped() -> None:
    text = "-rw-r--r-- 1 a b 10 Nov 27 12:00 fine\n+i8388621.48638,m848117771,r,s1336,\tfile"
    entries, unknown = parse_listing(text, NOW)
    assert [e.name for e in entries] == ["fine"]
    assert unknown == ["+i8388621.48638,m848117771,r,s1336,\tfile"]
