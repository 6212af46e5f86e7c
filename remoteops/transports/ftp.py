"""FTP and FTPS hosts (ftplib): the file interface of :class:`Transport`, no commands.

The sync, put and get engines work through the same file operations as over SSH; what FTP
lacks is said per host rather than worked around silently: it runs no commands (status
``unsupported``) and makes no symlinks. Uploads are atomic as everywhere: STOR to a hidden
temporary name, a SIZE check, then RNFR/RNTO over the real name. Modes go with ``SITE CHMOD``
and mtimes with ``MFMT`` where the server offers them (pyftpdlib, vsftpd and ProFTPD do).

FTPS is explicit TLS (``AUTH TLS``) with ``PROT P``, so the data connections are encrypted
too, and the server certificate is verified unless the inventory says ``tls_verify: false``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import ftplib
import io
import posixpath
import ssl
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from remoteops.errors import (
    AuthenticationError,
    ConnectTimeoutError,
    HostError,
    HostKeyError,
    LocalReadError,
    TransferError,
    UnreachableError,
    UnsupportedError,
    local_exhaustion,
)
from remoteops.inventory.model import Host
from remoteops.transports.base import (
    ConnectionOverrides,
    FileTransport,
    secret_from_env,
)
from remoteops.transports.connection_pool import ConnectionPool, TooManyConnectionsError
from remoteops.transports.file_ops import (
    LocalSource,
    LocalWriteError,
    Received,
    open_partial,
    open_source,
    receive_atomically,
)
from remoteops.transports.ftp_listing import Listed, parse_listing
from remoteops.transports.ftp_protocol import (
    ENCODING,
    Control,
    Features,
    TLSControl,
    answers_noop,
    fact_kind,
    ftp_time,
    hung_up,
    reason,
    too_many_connections,
)
from remoteops.transports.settings import FTPSettings
from remoteops.tree import Entry, Fidelity, Kind, Times, join_remote, temporary_name

_BLOCK = 256 * 1024
_FACTS = "type;size;modify;unix.mode;"
#: Modes of entries whose listing shows none (Windows LIST, MLSD without unix.mode).
_DEFAULT_MODES = {Kind.FILE: 0o644, Kind.DIR: 0o755, Kind.SYMLINK: 0o777}
#: Links followed one after the other to what a REMOTE_PATH link names, at most.
_LINK_HOPS = 8


class _LocalWriteFailedError(Exception):
    """A download's local write failed mid-transfer. Carried out of the connection's
    operation as neither a HostError (the pool would lend the connection again, in the middle
    of a RETR) nor an OSError (taken for a lost connection); :meth:`FTPTransport.get_file`
    raises the :class:`LocalWriteError` it holds."""

    def __init__(self, cause: LocalWriteError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class FTPTransport(FileTransport):
    """One control connection to one FTP or FTPS host."""

    protocol = "ftp"

    def __init__(
        self,
        host: Host,
        overrides: ConnectionOverrides | None = None,
        *,
        tls: bool = False,
        settings: FTPSettings | None = None,
    ) -> None:
        self.host = host
        self.protocol = "ftps" if tls else "ftp"
        self._tls = tls
        self._overrides = overrides or ConnectionOverrides()
        # FTP needs a data connection and a round trip or more per file, and a control
        # connection does one thing at a time: like `lftp mirror --parallel`, files go over
        # several connections, lent per operation, opened as the work needs them.
        self.settings = settings or FTPSettings.of(host)
        self.parallel_transfers = self.settings.ftp_connections
        self.pool: ConnectionPool[ftplib.FTP] = ConnectionPool(
            self._open, self.parallel_transfers, alive=answers_noop, hung_up=hung_up
        )
        #: Connections known to be in TYPE I (weak: a new connection never inherits it).
        self._binary: weakref.WeakSet[ftplib.FTP] = weakref.WeakSet()
        #: Learned on the first connection (FEAT, PWD) and from the first listing and upload.
        self._features: Features | None = None
        self._home = "/"
        self._list_all: bool | None = None  # does the server take ``LIST -a``?
        self._listed_modes: bool | None = None  # did LIST show Unix modes?
        self._chmod = True  # False once SITE CHMOD turned out unknown to the server
        self._created_mode: int | None = None  # what STOR gives a new file, once seen
        self._learned_upload = False
        self._skew_s = 0  # see _measure_skew
        self._opening: set[ftplib.FTP] = set()  # connections logging in, for close()
        self._opening_lock = threading.Lock()

    # -- connection -----------------------------------------------------------------------------

    def connect(self) -> None:
        self.pool.add(self._open())

    def _open(self) -> ftplib.FTP:
        """A logged-in control connection; the errors say which step failed. :meth:`close`
        cuts one still being opened too (a server may stall its banner or the login)."""
        timeout = self._overrides.timeout_for(self.settings)
        ftp: ftplib.FTP = (
            TLSControl(context=self._tls_context(), timeout=timeout, encoding=ENCODING)
            if self._tls
            else Control(timeout=timeout, encoding=ENCODING)  # plain: the inventory says so
        )
        with self._opening_lock:
            if self.pool.closed:
                raise UnreachableError("cancelled")
            self._opening.add(ftp)
        try:
            self._log_in(ftp, timeout)
        finally:
            with self._opening_lock:
                self._opening.discard(ftp)
        return ftp

    def _log_in(self, ftp: ftplib.FTP, timeout: float) -> None:
        host, overrides = self.host, self._overrides
        port = overrides.port_for(self.settings, 21)
        user = overrides.user_for(self.settings) or "anonymous"
        password = self._password()
        try:
            with self._translated(f"FTP at {host.address}:{port}", connecting=(timeout, user)):
                ftp.connect(host.address, port)
                if isinstance(ftp, ftplib.FTP_TLS):
                    ftp.auth()
                ftp.login(user, password)
                if isinstance(ftp, ftplib.FTP_TLS):
                    ftp.prot_p()  # data connections encrypted too
                ftp.set_pasv(self.settings.ftp_passive)
                with contextlib.suppress(ftplib.Error, OSError):
                    ftp.sendcmd("OPTS UTF8 ON")
                if self._learn(ftp).mlst:
                    with contextlib.suppress(ftplib.Error, OSError):
                        ftp.sendcmd(f"OPTS MLST {_FACTS}")
        except BaseException:
            ftp.close()
            raise

    def _learn(self, ftp: ftplib.FTP) -> Features:
        """FEAT and the login folder, asked on the host's first connection only."""
        if self._features is None:
            try:  # errors: the caller's (logging in) translator's
                features = Features.parse(ftp.sendcmd("FEAT"))
            except ftplib.error_perm:  # a server older than FEAT (RFC 2389)
                features = Features()
            with contextlib.suppress(ftplib.Error, OSError, EOFError):
                self._home = ftp.pwd() or "/"  # where CWD returns to, after a LIST
            if not features.mlst:
                self._learn_without_mlst(ftp)
            self._features = features
        return self._features

    def _learn_without_mlst(self, ftp: ftplib.FTP) -> None:
        """An older server: its SITE HELP says whether it has CHMOD (a server with MLSD
        shows modes in ``unix.mode`` only where it has)."""
        with contextlib.suppress(ftplib.Error, OSError, EOFError):
            self._chmod = "CHMOD" in ftp.sendcmd("SITE HELP").upper()

    @property
    def fidelity(self) -> Fidelity:
        """Modes if the listings show them and SITE CHMOD works; times if read to the second
        (MLSD, MDTM) and, for :attr:`Times.EXACT`, set with MFMT; never symlinks."""
        features = self._features or Features()
        shown = features.unix_mode if features.mlst else self._listed_modes is not False
        exact = features.mlst or features.mdtm
        times = Times.NONE if not exact else Times.EXACT if features.mfmt else Times.READ
        return Fidelity(modes=shown and self._chmod, times=times, skew_s=self._skew_s, links=False)

    def _password(self) -> str:
        """From ``password_env``; none means an empty one (ftplib makes it ``anonymous@``
        for the anonymous user)."""
        name = self.settings.password_env
        return "" if name is None else secret_from_env(name)

    def _tls_context(self) -> ssl.SSLContext:
        cafile = self.settings.tls_ca_file
        try:
            context = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:  # tls_ca_file missing, unreadable, not PEM
            reason = exc if isinstance(exc, OSError) else f"not a PEM bundle ({exc.reason})"
            raise LocalReadError(f"tls_ca_file {cafile}", reason) from exc
        if not self.settings.tls_verify:  # the CLI warns about it on every run
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def cut_off(self) -> bool:
        return self.pool.closed

    def close(self) -> None:
        """Close every connection, data connections and those being opened included; safe
        from another thread (it then unblocks the workers)."""
        self.pool.close()
        with self._opening_lock:
            opening = list(self._opening)
        for ftp in opening:
            ftp.close()

    @property
    def ftp(self) -> ftplib.FTP:
        """The control connection of the operation running on this thread."""
        return self.pool.current()

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """A connection for the operation (see :class:`ConnectionPool`), and ftplib's
        exceptions as this host's errors: a lost connection is unreachable."""
        with self.pool.session(), self._translated(what):
            yield

    @contextlib.contextmanager
    def _translated(
        self, what: str, *, connecting: tuple[float, str] | None = None
    ) -> Iterator[None]:
        """The FTP transport's one error translator: ftplib's and the sockets' exceptions
        as this host's errors. ``connecting``: (connect timeout, user) while logging in,
        where a timeout is a connect timeout (unreachable) and a refusal says who."""
        try:
            yield
        except HostError:
            raise
        except ssl.SSLCertVerificationError as exc:
            raise HostKeyError(
                f"TLS certificate of {self.host.address} not trusted: {exc}"
            ) from exc
        except (ftplib.error_perm, ftplib.error_temp) as exc:
            if connecting is None and isinstance(exc, ftplib.error_perm):
                raise TransferError(f"{what}: {reason(exc)}") from exc
            if too_many_connections(str(exc)):
                raise TooManyConnectionsError(f"FTP server refused a connection: {exc}") from exc
            if connecting is not None and str(exc).startswith("530"):
                raise AuthenticationError(
                    f"login refused for {connecting[1]}: {reason(exc)}"
                ) from exc
            raise UnreachableError(f"{what}: the FTP server refused us: {reason(exc)}") from exc
        except TimeoutError as exc:
            if connecting is not None:
                raise ConnectTimeoutError(connecting[0], f"no answer from {what}") from exc
            seconds = self._overrides.timeout_for(self.settings)
            raise UnreachableError(
                f"{what}: the FTP server stopped answering (nothing for {seconds:g} s)"
            ) from exc
        except (OSError, EOFError, ftplib.Error) as exc:
            exhausted = local_exhaustion(exc)
            if exhausted is not None:
                raise exhausted from exc
            if connecting is not None:
                raise UnreachableError(f"cannot reach {what}: {reason(exc)}") from exc
            raise UnreachableError(f"{what}: FTP connection lost ({reason(exc)})") from exc
        except (AttributeError, ValueError) as exc:  # ftplib's objects after close()
            if not self.pool.closed:
                raise
            raise UnreachableError(f"{what}: the connection was closed") from exc

    # -- reading --------------------------------------------------------------------------------

    def _folder(self, folder: str, prefix: str) -> list[Entry]:
        """The entries of one folder, named ``prefix/name``: one MLSD, or LIST and MDTMs."""
        if (self._features or Features()).mlst:
            self._binary.discard(self.ftp)  # listings switch the connection to TYPE A
            found = [
                self._entry(f"{prefix}/{name}" if prefix else name, facts)
                for name, facts in self.ftp.mlsd(folder)
                if fact_kind(facts)[0] is not None and name not in (".", "..")
            ]
            if any(e.kind is Kind.SYMLINK and e.target is None for e in found):
                found = self._with_listed_targets(folder, found)
            return found
        return [
            self._listed_entry(f"{prefix}/{listed.name}" if prefix else listed.name, listed, at)
            for listed, at in self._list(folder)
        ]

    def _with_listed_targets(self, folder: str, found: list[Entry]) -> list[Entry]:
        """Links that MLSD shows without a target (ProFTPD's ``OS.unix=symlink``, or a target
        its syntax cannot carry) get it from LIST's ``name -> target``, where shown."""
        targets = {
            listed.name: listed.target
            for listed, _ in self._list(folder)
            if listed.kind is Kind.SYMLINK and listed.target
        }
        return [
            dataclasses.replace(e, target=targets.get(e.path.rpartition("/")[2]))
            if e.kind is Kind.SYMLINK and e.target is None
            else e
            for e in found
        ]

    def _list(self, folder: str) -> list[tuple[Listed, str]]:
        """LIST of a folder, entered with CWD so that ``-a`` (hidden files: our temporaries
        among them) is the only argument; servers that refuse ``-a`` get a plain LIST."""
        ftp = self.ftp
        self._binary.discard(ftp)
        lines: list[str] = []
        ftp.cwd(folder)
        try:
            if self._list_all is not False:
                try:
                    ftp.retrlines("LIST -a", lines.append)
                    self._list_all = True
                except ftplib.error_perm:
                    if self._list_all:  # the server takes -a: this folder is the problem
                        raise
                    lines.clear()
                    ftp.retrlines("LIST", lines.append)
                    self._list_all = False  # only now: plain LIST works where -a did not
            else:
                ftp.retrlines("LIST", lines.append)
        finally:
            ftp.cwd(self._home)
        return [(listed, join_remote(folder, listed.name)) for listed in self._parse(lines)]

    def _parse(self, lines: list[str]) -> list[Listed]:
        listed, unknown = parse_listing("\n".join(lines))
        if unknown:  # an entry read wrong would be re-sent, or worse, missed by --delete
            raise TransferError(f"cannot read the server's LIST line {unknown[0]!r}")
        if listed and self._listed_modes is None:
            self._listed_modes = listed[0].mode is not None
        return listed

    def _listed_entry(self, path: str, listed: Listed, remote: str) -> Entry:
        """An entry from LIST, with MDTM's exact UTC time for files where offered (LIST shows
        the server's local time, to the minute at best)."""
        mtime = listed.mtime
        if listed.kind is Kind.FILE and (self._features or Features()).mdtm:
            with contextlib.suppress(ftplib.error_perm, ValueError):
                mtime = ftp_time(self.ftp.sendcmd(f"MDTM {remote}").partition(" ")[2].strip())
        mode = _DEFAULT_MODES[listed.kind] if listed.mode is None else listed.mode & 0o7777
        size = listed.size if listed.kind is Kind.FILE else 0
        return Entry(path, listed.kind, size, mtime, mode, listed.target)

    @staticmethod
    def _entry(path: str, facts: dict[str, str]) -> Entry:
        """An entry from MLSD or MLST facts; a link with its target where shown."""
        kind, target = fact_kind(facts)
        if kind is None:  # MLST's own type for a folder, or one not copied
            kind = Kind.DIR if facts.get("type", "").lower() in ("cdir", "pdir") else Kind.FILE
        mode = int(facts["unix.mode"], 8) if "unix.mode" in facts else _DEFAULT_MODES[kind]
        return Entry(
            path,
            kind,
            int(facts.get("size", 0)) if kind is Kind.FILE else 0,
            ftp_time(facts["modify"]) if "modify" in facts else 0,
            mode & 0o7777,
            target,
        )

    def list_tree(self, root: str, *, checksum: bool = False) -> list[Entry]:
        if checksum:
            raise UnsupportedError("--checksum needs a host that can hash files; FTP cannot")
        with self._errors(f"cannot list {root}"):
            kind = self.path_kind(root)
        if kind is None:
            return []
        if kind is not Kind.DIR:
            raise TransferError(f"cannot list {root}: not a directory")
        found = self._walk(root)
        if self.fidelity.times is Times.READ and any(e.kind is Kind.FILE for e in found):
            self._measure_skew(root)
        return found

    def _measure_skew(self, root: str) -> None:
        """How far the server's stamps run ahead of our clock, from an empty file stored in
        ``root`` and its listed time (then deleted; a leftover is removed by the next sync).
        Needed only where times are read but not set: there "sent after our last change"
        compares its stamps with ours. Best effort: a server that refuses leaves it at 0."""
        probe = temporary_name(join_remote(root, "clock"))
        with contextlib.suppress(HostError, ValueError), self._errors("cannot check the clock"):
            before = time.time()
            self._store(probe, io.BytesIO())
            after = time.time()
            try:
                stamp = self._one(probe, probe).mtime
            finally:
                self._discard(probe)
            skew = stamp - round((before + after) / 2)
            self._skew_s = skew if abs(skew) > 1 else 0

    def _walk(self, root: str) -> list[Entry]:
        """Every entry below ``root``: one listing per folder (FTP lists no deeper), the
        folders of the tree read over the host's connections at once, as far as it allows."""

        def read(relative: str) -> list[Entry]:
            folder = join_remote(root, relative) if relative else root
            with self._errors(f"cannot list {folder}"):
                return self._folder(folder, relative)

        found: list[Entry] = []
        with ThreadPoolExecutor(self.parallel_transfers, "remoteops-ftp-list") as pool:
            pending = {pool.submit(read, "")}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    for entry in future.result():  # the first failure ends the walk
                        found.append(entry)
                        if entry.kind is Kind.DIR:
                            pending.add(pool.submit(read, entry.path))
        return found

    def list_path(
        self, path: str, *, missing_ok: bool = False, follow: bool = False
    ) -> list[Entry]:
        """See :meth:`Transport.list_path`. Links come with their targets as the server
        shows them (LIST's ``name -> target``, MLSD's ``OS.unix=slink:target``). With
        ``follow`` (``get``) a link whose target the server does not show is refused by
        name: it could be neither checked nor made."""
        name = path.rstrip("/").rpartition("/")[2] or path
        with self._errors(f"cannot read {path}"):
            kind = self.path_kind(path)  # links followed
            if kind is None:
                if missing_ok:
                    return []
                raise TransferError(f"cannot read {path}: no such file or directory")
            top = self._one(path, name) if kind is Kind.FILE else self._top_folder(path, name)
            if top.kind is Kind.SYMLINK and follow:
                top = (
                    self._followed(path, top)
                    if kind is Kind.FILE
                    else Entry(name, Kind.DIR, mtime=top.mtime, mode=_DEFAULT_MODES[Kind.DIR])
                )
        found = [top]
        if top.kind is Kind.DIR:
            # Outside the session: the walk's threads need connections, and with a limit of
            # one (or every connection held by such a caller) waiting would never end.
            found += (dataclasses.replace(e, path=f"{name}/{e.path}") for e in self.list_tree(path))
        unknown = [e.path for e in found if e.kind is Kind.SYMLINK and e.target is None]
        if unknown and follow:
            raise TransferError(
                f"cannot copy {len(unknown)} symlinks of {path}: the server does not show "
                f"where they point ({', '.join(repr(u) for u in unknown[:5])})"
            )
        return found

    def _top_folder(self, path: str, name: str) -> Entry:
        """The entry of a folder (or of a link to one: MLST may show the link itself)."""
        if (self._features or Features()).mlst:
            with contextlib.suppress(ftplib.error_perm):
                return self._entry(name, self._facts(path))
        return Entry(name, Kind.DIR, mode=_DEFAULT_MODES[Kind.DIR])

    def _followed(self, path: str, link: Entry) -> Entry:
        """What the link ``path`` names, as an entry under the link's name: ``get`` copies
        the file a REMOTE_PATH link points to, as scp does."""
        for _ in range(_LINK_HOPS):
            if link.target is None:
                raise TransferError(
                    f"cannot follow {path}: the server does not show where the link points"
                )
            path = posixpath.normpath(posixpath.join(posixpath.dirname(path), link.target))
            link = self._one(path, link.path)
            if link.kind is not Kind.SYMLINK:
                return link
        raise TransferError(f"cannot follow {path}: too many levels of symbolic links")

    def _one(self, path: str, name: str) -> Entry:
        """The entry of the file (or link) ``path``: MLST, or LIST of that one (and MDTM)."""
        if (self._features or Features()).mlst:
            entry = self._entry(name, self._facts(path))
            if entry.kind is not Kind.SYMLINK or entry.target is not None:
                return entry
        listed = self._list_path(path)
        if not listed:
            raise TransferError(f"cannot read {path}: the server lists nothing for it")
        return self._listed_entry(name, listed[0], path)

    def _list_path(self, path: str) -> list[Listed]:
        """LIST with ``path`` as its argument: a file shows itself, a folder its contents."""
        lines: list[str] = []
        self._binary.discard(self.ftp)  # listings switch the connection to TYPE A
        self.ftp.retrlines(f"LIST {path}", lines.append)
        return self._parse(lines)

    def _facts(self, path: str) -> dict[str, str]:
        """MLST of one path: its facts."""
        reply = self.ftp.sendcmd(f"MLST {path}")
        line = next((ln for ln in reply.splitlines()[1:] if ";" in ln), "")
        facts_text = line.strip().partition(" ")[0]
        return {
            key.lower(): value
            for key, _, value in (f.partition("=") for f in facts_text.split(";") if f)
        }

    def path_kind(self, path: str) -> Kind | None:
        with self._errors(f"cannot read {path}"):
            if not (self._features or Features()).mlst:
                return self._listed_kind(path)
            try:
                facts = self._facts(path)
            except ftplib.error_perm as exc:
                if str(exc).startswith("550"):
                    return None
                raise
            if fact_kind(facts)[0] is Kind.SYMLINK:  # MLST shows the link itself
                return self._link_kind(path)
        return Kind.DIR if facts.get("type", "").lower() in ("dir", "cdir") else Kind.FILE

    def _enters(self, path: str) -> bool:
        """Whether CWD enters ``path`` (a folder, or a link to one); back home after."""
        try:
            self.ftp.cwd(path)
        except ftplib.error_perm:
            return False
        self.ftp.cwd(self._home)
        return True

    def _link_kind(self, path: str) -> Kind | None:
        """What the link ``path`` leads to: a folder if CWD enters it, a file if MDTM (which
        follows links) dates it, nothing if neither (a dangling link)."""
        ftp = self.ftp
        if self._enters(path):
            return Kind.DIR
        if not (self._features or Features()).mdtm:
            return Kind.FILE
        try:
            ftp.sendcmd(f"MDTM {path}")
        except ftplib.error_perm:
            return None
        return Kind.FILE

    def _listed_kind(self, path: str) -> Kind | None:
        """Without MLST: a folder is what CWD enters; a file is what LIST shows alone, under
        its own name. A LIST showing anything else is a folder CWD may not enter."""
        if self._enters(path):
            return Kind.DIR
        try:
            listed = self._list_path(path)
        except (ftplib.error_perm, ftplib.error_temp) as exc:  # 450 is a 4xx: error_temp
            if str(exc).startswith(("550", "450")):
                return None
            raise
        name = path.rstrip("/").rpartition("/")[2]
        if len(listed) == 1 and listed[0].kind is not Kind.DIR and listed[0].name in (name, path):
            return Kind.FILE
        return Kind.DIR if listed else None

    def get_file(self, path: str, local: Path, entry: Entry) -> Received:
        def fetch(temporary: Path, offset: int) -> tuple[int, str | None]:
            with self._errors(f"cannot fetch {path}"):
                if offset:
                    try:
                        return offset, self._retrieve(path, temporary, offset, entry.size)
                    except ftplib.error_perm as exc:  # REST refused: from the start then
                        if not str(exc).startswith(("500", "501", "502", "504", "554")):
                            raise
                return 0, self._retrieve(path, temporary, 0, entry.size)

        def fetch_here(temporary: Path, offset: int) -> tuple[int, str | None]:
            try:
                return fetch(temporary, offset)
            except _LocalWriteFailedError as exc:  # our disk, not the host: the host is fine
                raise exc.cause from None

        exact = self.fidelity.times is not Times.NONE  # else two versions may look alike
        return receive_atomically(path, local, entry, fetch_here, resume=exact)

    def _retrieve(self, path: str, temporary: Path, offset: int, size: int) -> str | None:
        """RETR into the temporary, from ``offset`` on with REST (RFC 3659 restart), up to
        the listed ``size``: a file that grew since (a live log) is cut there, its data
        connection closed, and the server's 426 for that is the transfer's expected end.
        Returns "grew" then, else None."""
        ftp = self.ftp
        try:
            return self._retrieve_into(ftp, path, temporary, offset, size)
        except LocalWriteError as exc:
            raise _LocalWriteFailedError(exc) from exc

    def _retrieve_into(
        self, ftp: ftplib.FTP, path: str, temporary: Path, offset: int, size: int
    ) -> str | None:
        grown = False
        with open_partial(temporary, offset) as target:
            ftp.voidcmd("TYPE I")
            self._binary.add(ftp)
            with ftp.transfercmd(f"RETR {path}", rest=offset or None) as data:
                left = size - offset
                while left > 0 and (chunk := data.recv(min(_BLOCK, left))):
                    target.write(chunk)
                    left -= len(chunk)
                grown = left <= 0 and bool(data.recv(1))
                if not grown and isinstance(data, ssl.SSLSocket):
                    data.unwrap()  # a clean TLS end, as retrbinary does
        try:
            ftp.voidresp()
        except ftplib.error_temp:  # 426/451: the transfer we cut short
            if not grown:
                raise
        return "grew" if grown else None

    def home_dir(self) -> str:
        with self._errors("cannot learn the login folder"):
            return self.ftp.pwd()  # connections are always back in it between operations

    def real_path(self, path: str) -> str | None:
        """Where CWD lands, said by PWD; a file is its folder's real path and its name."""
        with self._errors(f"cannot resolve {path}"):
            ftp = self.ftp
            home = ftp.pwd()
            try:
                ftp.cwd(path)
            except ftplib.error_perm:
                if self.path_kind(path) is None:
                    return None
                folder, _, name = path.rstrip("/").rpartition("/")
                parent = self.real_path(folder or ("/" if path.startswith("/") else "."))
                return None if parent is None else join_remote(parent, name)
            try:
                return ftp.pwd()
            finally:
                ftp.cwd(home)

    def list_children(self, folder: str, pattern: str = "*") -> list[Entry]:
        with self._errors(f"cannot list {folder}"):
            if self.path_kind(folder) is not Kind.DIR:
                return []
            if (self._features or Features()).mlst:
                return [e for e in self._folder(folder, "") if fnmatch.fnmatchcase(e.path, pattern)]
            return [
                self._listed_entry(listed.name, listed, at)
                for listed, at in self._list(folder)
                if fnmatch.fnmatchcase(listed.name, pattern)
            ]

    # -- writing --------------------------------------------------------------------------------

    def make_dir(self, path: str, mode: int | None = None) -> None:
        with self._errors(f"cannot create {path}"):
            try:
                self.ftp.mkd(path)  # the usual case first: one round trip
            except ftplib.error_perm:
                kind = self.path_kind(path)
                if kind is Kind.FILE:
                    raise TransferError(f"{path} exists and is not a directory") from None
                if kind is None:  # the parent is missing: make it, then this one
                    parent = path.rstrip("/").rpartition("/")[0]
                    if not parent or parent == path or self.path_kind(parent) is not None:
                        raise
                    self.make_dir(parent)
                    self.ftp.mkd(path)
        if mode is not None:
            self.set_attributes(path, mode=mode)

    def put_file(self, local: Path, path: str, entry: Entry) -> int:
        with self.pool.session():  # one connection from STOR to RNTO
            return self._put(local, path, entry, atomic=True)

    def store_file(self, local: Path, path: str, entry: Entry) -> int:
        """Inside a staged new folder: STOR under the real name, no rename (2 commands of 5)."""
        with self.pool.session():
            return self._put(local, path, entry, atomic=False)

    def rename_path(self, old: str, new: str) -> None:
        with self._errors(f"cannot rename {old} to {new}"):
            self.ftp.rename(old, new)

    def _put(self, local: Path, path: str, entry: Entry, *, atomic: bool) -> int:
        target = temporary_name(path) if atomic else path
        try:
            with open_source(local) as source, self._errors(f"cannot write {path}"):
                sent = self._store(target, source)
            if not self._learned_upload:
                self._learn_upload(target, path, sent)
            fidelity = self.fidelity
            self.set_attributes(
                target,
                mode=entry.mode if fidelity.modes and entry.mode != self._created_mode else None,
                mtime=entry.mtime if fidelity.times is Times.EXACT else None,
            )
            if atomic:
                with self._errors(f"cannot write {path}"):
                    self.ftp.rename(target, path)
        except BaseException:
            if atomic:  # a staged folder is discarded whole by write_entries
                self._discard(target)
            raise
        return sent

    def _learn_upload(self, temporary: str, path: str, sent: int) -> None:
        """Check the host's first upload: all bytes there, and the mode STOR gave it.

        Later uploads skip that round trip: the server's 226 after our complete send already
        says it holds every byte (a connection lost midway gets no 226), and a server gives
        every new file the same mode, so SITE CHMOD is only sent where ours differs.
        """
        with self._errors(f"cannot write {path}"):
            stored = self._one(temporary, temporary)
        if stored.size != sent:
            raise TransferError(f"{path}: wrote {stored.size} bytes of {sent}")
        self._created_mode = stored.mode
        self._learned_upload = True

    def _store(self, name: str, source: LocalSource | io.BytesIO) -> int:
        """STOR without ftplib's storbinary, which sends TYPE I before every file: that is a
        round trip per file, and an eighth of what the server is asked in a sync."""
        ftp = self.ftp
        if ftp not in self._binary:
            ftp.voidcmd("TYPE I")
            self._binary.add(ftp)
        sent = 0
        unreadable: LocalReadError | None = None
        with ftp.transfercmd(f"STOR {name}") as data:
            while True:
                try:
                    chunk = source.read(_BLOCK)
                except LocalReadError as exc:  # our file, not the connection: the upload stops
                    unreadable = exc
                    break
                if not chunk:
                    break
                data.sendall(chunk)
                sent += len(chunk)
            if unreadable is None and isinstance(data, ssl.SSLSocket):
                data.unwrap()  # a clean TLS close, as storbinary does
        if unreadable is not None:
            with contextlib.suppress(ftplib.Error):  # its reply, so the connection stays in step
                ftp.voidresp()
            raise unreadable
        ftp.voidresp()
        return sent

    def _discard(self, temporary: str) -> None:
        """Best effort: the next sync removes what this leaves (see the planner)."""
        with contextlib.suppress(OSError, EOFError, ftplib.Error, HostError):
            self.ftp.delete(temporary)

    def make_symlink(self, target: str, path: str) -> None:
        raise UnsupportedError(f"{path}: FTP cannot make symlinks (copy what it points to: -L)")

    def set_attributes(
        self, path: str, *, mode: int | None = None, mtime: int | None = None
    ) -> None:
        with self._errors(f"cannot set attributes of {path}"):
            if mode is not None and self._chmod:
                try:
                    self.ftp.sendcmd(f"SITE CHMOD {mode & 0o7777:o} {path}")
                except ftplib.error_perm as exc:
                    if not str(exc).startswith(("500", "502", "504")):
                        raise
                    self._chmod = False  # a server without modes: sync compares none
            if mtime is not None and (self._features or Features()).mfmt:
                stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(mtime))
                self.ftp.sendcmd(f"MFMT {stamp} {path}")

    def remove(self, path: str, kind: Kind) -> None:
        # The listing first, outside the session (see list_path), then the deletions.
        inside = self.list_tree(path) if kind is Kind.DIR else []
        with self._errors(f"cannot remove {path}"):
            if kind is not Kind.DIR:
                with contextlib.suppress(ftplib.error_perm):  # already gone is fine
                    self.ftp.delete(path)
                return
            for entry in sorted(inside, key=lambda e: -e.path.count("/")):
                target = join_remote(path, entry.path)
                if entry.kind is Kind.DIR:
                    self.ftp.rmd(target)
                else:
                    self.ftp.delete(target)
            self.ftp.rmd(path)


__all__ = ["FTPTransport"]
