"""FTP protocol details the FTP transport builds on: what FEAT offers, time stamps, refusals
for the number of connections, the codec that lets names that are not UTF-8 through, and
control connections whose data connections can be cut from another thread.
"""

from __future__ import annotations

import calendar
import codecs
import contextlib
import ftplib
import select
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from remoteops.tree import Kind

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


def ftp_time(value: str) -> int:
    """MLSD's ``modify`` fact or an MDTM reply (UTC, YYYYMMDDHHMMSS[.sss]) as epoch seconds.

    By hand: ``time.strptime`` took 70 us a call, two thirds of listing 2,000 files."""
    if len(value) < 14 or not value[:14].isdigit():
        raise ValueError(f"not an FTP time: {value!r}")
    return calendar.timegm(
        (int(value[:4]), int(value[4:6]), int(value[6:8]),
         int(value[8:10]), int(value[10:12]), int(value[12:14]))
    )  # fmt: skip


def _escaped_utf8(name: str) -> codecs.CodecInfo | None:
    """UTF-8 whose undecodable bytes become surrogates and back, as ``os.fsdecode`` does: a
    server's non-UTF-8 names then list, compare and travel unchanged instead of failing the
    host. (ftplib decodes strictly and takes no ``errors``, hence a codec of our own.)"""
    if name != "remoteops_utf8_escape":
        return None

    class Decoder(codecs.BufferedIncrementalDecoder):
        def _buffer_decode(self, data: ReadableBuffer, errors: str, final: bool) -> tuple[str, int]:
            return codecs.utf_8_decode(data, "surrogateescape", final)

    class Encoder(codecs.IncrementalEncoder):
        def encode(self, text: str, final: bool = False) -> bytes:
            return text.encode("utf-8", "surrogateescape")

    return codecs.CodecInfo(
        lambda text, errors="strict": (text.encode("utf-8", "surrogateescape"), len(text)),
        lambda data, errors="strict": (bytes(data).decode("utf-8", "surrogateescape"), len(data)),
        incrementalencoder=Encoder,
        incrementaldecoder=Decoder,
        name="remoteops-utf8-escape",
    )


codecs.register(_escaped_utf8)
ENCODING = "remoteops-utf8-escape"


@dataclass(frozen=True)
class Features:
    """What the server's FEAT reply offers (RFC 2389); an old server without FEAT offers none."""

    mlst: bool = False
    unix_mode: bool = False
    mdtm: bool = False
    mfmt: bool = False

    @classmethod
    def parse(cls, reply: str) -> Features:
        lines = [line.strip().upper() for line in reply.splitlines()[1:-1]]
        mlst = next((line for line in lines if line.startswith("MLST")), "")
        return cls(
            mlst=bool(mlst),
            unix_mode="UNIX.MODE" in mlst,
            mdtm="MDTM" in lines,
            mfmt="MFMT" in lines,
        )


def fact_kind(facts: dict[str, str]) -> tuple[Kind | None, str | None]:
    """What an MLSD/MLST entry is, and a link's target where the server shows it.

    RFC 3659 names only files and folders; servers that show links use its example's
    ``type=OS.unix=slink:TARGET`` (Pure-FTPd, ProFTPD, ``remoteops serve ftp``) or, without
    the target, ``OS.unix=slink`` / ``OS.unix=symlink``. ``cdir``, ``pdir``, devices and
    unknown types are not entries (None)."""
    value = facts.get("type", "")
    kind = value.lower()
    if kind in ("file", "dir"):
        return Kind(kind), None
    if kind.startswith(("os.unix=slink", "os.unix=symlink")):
        _, colon, target = value.partition(":")
        return Kind.SYMLINK, target if colon and target else None
    return None, None


def too_many_connections(reply: str) -> bool:
    """A refusal for the number of connections: 421 (pyftpdlib, vsftpd) or ProFTPD's 530
    "maximum number of clients"."""
    lowered = reply.lower()
    return reply.startswith("421") or "too many" in lowered or "maximum number" in lowered


class _Cuttable(ftplib.FTP):
    """``close()`` from any thread cuts the control connection and the data connection in
    use (or the port waiting for one), which ftplib's close leaves alone: a server that
    trickles a byte a second, or reads an upload that slowly, held a thread in ``recv`` or
    ``sendall`` for as long as it liked after a host's time ran out. ``shutdown`` wakes a
    thread blocked on a socket; ``close`` alone does not."""

    _data: socket.socket | None = None
    _cut = False

    def makeport(self) -> socket.socket:
        listening = super().makeport()
        return self._watched(listening)

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        conn, size = super().ntransfercmd(cmd, rest)
        return self._watched(conn), size

    def _watched(self, data: socket.socket) -> socket.socket:
        self._data = data
        if self._cut:  # close() ran while this one was being set up
            _shut(data)
        return data

    def close(self) -> None:
        self._cut = True
        _shut(self.sock)  # first: a reply awaited after the data ends must fail, not hang
        _shut(self._data)
        super().close()


class Control(_Cuttable):
    """A plain FTP control connection (see :class:`_Cuttable`)."""


class TLSControl(_Cuttable, ftplib.FTP_TLS):
    """An explicit-TLS control connection (see :class:`_Cuttable`)."""


def _shut(sock: socket.socket | None) -> None:
    """Both ways, at the socket level: for TLS too (``SSLSocket.shutdown`` would first drop
    its TLS state under the thread still reading it)."""
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def answers_noop(ftp: ftplib.FTP) -> bool:
    ftp.voidcmd("NOOP")
    return True


def hung_up(ftp: ftplib.FTP) -> bool:
    """True if an idle control connection has something to read: the server closed it
    (a restart, an idle timeout) or said "421" before doing so. Costs no round trip."""
    sock = ftp.sock
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(0))


def reason(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


__all__ = [
    "ENCODING",
    "Control",
    "Features",
    "TLSControl",
    "answers_noop",
    "fact_kind",
    "ftp_time",
    "hung_up",
    "reason",
    "too_many_connections",
]
