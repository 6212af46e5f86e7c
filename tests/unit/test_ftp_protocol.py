"""FTP protocol details: FEAT replies, time stamps, connection refusals, the name codec."""

from __future__ import annotations

import calendar

import pytest

from remoteops.transports.ftp_protocol import (
    ENCODING,
    Features,
    fact_kind,
    ftp_time,
    too_many_connections,
)
from remoteops.tree import Kind

PYFTPDLIB_FEAT = (
    "211-Features supported:\n EPRT\n EPSV\n MDTM\n MFMT\n"
    " MLST type*;perm;size*;modify*;unique;unix.mode;unix.uid;unix.gid;\n REST STREAM\n"
    " SIZE\n TVFS\n UTF8\n211 End FEAT."
)
VSFTPD_FEAT = "211-Features:\n EPRT\n EPSV\n MDTM\n PASV\n REST STREAM\n SIZE\n TVFS\n211 End"


def test_feat_says_what_the_server_offers() -> None:
    assert Features.parse(PYFTPDLIB_FEAT) == Features(
        mlst=True, unix_mode=True, mdtm=True, mfmt=True
    )
    assert Features.parse(VSFTPD_FEAT) == Features(mlst=False, unix_mode=False, mdtm=True)


def test_ftp_times_are_utc_to_the_second() -> None:
    expected = calendar.timegm((2026, 11, 27, 12, 34, 56))
    assert ftp_time("20261127123456") == expected
    assert ftp_time("20261127123456.789") == expected
    with pytest.raises(ValueError, match="not an FTP time"):
        ftp_time("2026-11-27")


@pytest.mark.parametrize(
    ("reply", "refused"),
    [
        ("421 Too many connections from the same IP address.", True),  # pyftpdlib
        ("421 There are too many connections from your internet address.", True),  # vsftpd
        ("530 Sorry, the maximum number of clients (2) from your host are already connected.",
         True),  # ProFTPD
        ("530 Login incorrect.", False),
    ],
)  # fmt: skip
def test_refusals_for_the_number_of_connections_are_told_from_wrong_passwords(
    reply: str, refused: bool
) -> None:
    assert too_many_connections(reply) is refused


def test_names_that_are_not_utf8_round_trip_through_the_codec() -> None:
    raw = b"caf\xe9 \xc3\xa9t\xc3\xa9"  # latin-1 then UTF-8
    text = raw.decode(ENCODING)
    assert text.encode(ENCODING) == raw
    assert "été" in text


@pytest.mark.parametrize(
    ("type_fact", "expected"),
    [
        ("file", (Kind.FILE, None)),
        ("Dir", (Kind.DIR, None)),
        ("OS.unix=slink:../shared/app.conf", (Kind.SYMLINK, "../shared/app.conf")),  # Pure-FTPd
        ("OS.unix=slink:/with=equals:and:colons", (Kind.SYMLINK, "/with=equals:and:colons")),
        ("OS.unix=symlink", (Kind.SYMLINK, None)),  # ProFTPD by the RFC's grammar: no target
        ("os.unix=slink", (Kind.SYMLINK, None)),
        ("OS.unix=slink:", (Kind.SYMLINK, None)),
        ("cdir", (None, None)),
        ("pdir", (None, None)),
        ("OS.unix=blk-8/0", (None, None)),
        ("", (None, None)),
    ],
)
def test_mlsd_types_say_what_an_entry_is_and_where_a_link_points(
    type_fact: str, expected: tuple[Kind | None, str | None]
) -> None:
    assert fact_kind({"type": type_fact, "size": "3"}) == expected
