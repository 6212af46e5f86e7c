"""Known host keys, loaded once per run and shared read-only by every connection.

Parsing known_hosts per connection is quadratic in fleet size (see FACTS.md), so files are read
once into an index of ``name -> {key type: base64 key}``; hashed entries (``|1|salt|hash``) are
kept aside and matched with HMAC. Keys are compared as base64 text: no key object is built.
New keys (``accept-new``) are appended under a lock and written atomically (temp file + rename).
``@cert-authority`` lines are kept as :class:`CertificateAuthority` entries matched by pattern
(:mod:`~remoteops.transports.ssh_certificates` checks the certificates they sign).

A line that cannot be read (bad base64, a key whose blob names another type, a truncated line,
a malformed hashed name, an unknown marker) is skipped, as OpenSSH skips it, and the rest of the
file still counts. Each such line is logged once, as a warning naming the file and the line, on
the ``remoteops.transports.known_hosts`` logger: the library never prints, the CLI shows it.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import logging
import os
import re
import struct
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from remoteops.errors import HostKeyError, local_exhaustion

_log = logging.getLogger(__name__)
_log.addHandler(logging.NullHandler())  # no "last resort" printing for library users

_MARKERS = ("@revoked", "@cert-authority")
_SHA1_SIZE = 20  # bytes of the HMAC-SHA1 in a hashed name


def fingerprint(key_blob_b64: str) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint of a base64 public key blob."""
    digest = hashlib.sha256(base64.b64decode(key_blob_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def host_key_name(address: str, port: int) -> str:
    """The name known_hosts files use: ``addr`` on port 22, ``[addr]:port`` elsewhere."""
    return address if port == 22 else f"[{address}]:{port}"


@dataclass
class _HashedEntry:
    salt: bytes
    digest: bytes
    key_type: str
    key_b64: str


@dataclass(frozen=True)
class CertificateAuthority:
    """An ``@cert-authority`` line: host certificates it signs are trusted for the hosts its
    patterns match (``*``, ``?``, ``!`` negation, hashed names; as OpenSSH matches them)."""

    patterns: tuple[str, ...]
    key_type: str
    key_b64: str

    def covers(self, name: str) -> bool:
        """A negated pattern that matches wins over every other: the host is left out."""
        name = name.lower()
        matched = False
        for pattern in self.patterns:
            negated = pattern.startswith("!")
            if _pattern_matches(pattern[1:] if negated else pattern, name):
                if negated:
                    return False
                matched = True
        return matched


def _pattern_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|"):
        entry = _hashed_entry(pattern, "", "")
        mac = hmac.new(entry.salt, name.encode(), hashlib.sha1).digest() if entry else b""
        return entry is not None and hmac.compare_digest(mac, entry.digest)
    wildcards = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower()
    )  # not fnmatch: "[host]:port" is no character class here
    return re.fullmatch(wildcards, name) is not None


@dataclass
class _KnownHostsFile:
    path: Path
    keys: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    hashed: list[_HashedEntry] = field(default_factory=list)
    authorities: list[CertificateAuthority] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> _KnownHostsFile:
        loaded = cls(path)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return loaded
        except OSError as exc:
            raise local_exhaustion(exc) or HostKeyError(
                f"cannot read known hosts file {path}: {exc}"
            ) from exc
        for number, line in enumerate(text.splitlines(), start=1):
            problem = loaded._add_line(line)
            if problem is not None:
                _log.warning("%s:%d: %s; line ignored", path, number, problem)
        return loaded

    def _add_line(self, line: str) -> str | None:
        """Index one line; return why it cannot be read, or None (comments and blanks too)."""
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            return None
        marker = None
        if fields[0].startswith("@"):
            marker, fields = fields[0], fields[1:]
            if marker not in _MARKERS:
                return f"unknown marker {marker!r}"
        if len(fields) < 3:
            return "truncated line: expected host names, key type and key"
        names, key_type, key_b64 = fields[0], fields[1], fields[2]
        problem = _key_problem(key_type, key_b64)
        if problem is not None:
            return problem
        hashed: list[_HashedEntry] = []
        for name in names.split(","):
            if name.startswith("|"):
                entry = _hashed_entry(name, key_type, key_b64)
                if entry is None:
                    return f"malformed hashed host name {name!r}"
                hashed.append(entry)
        if marker == "@revoked":
            self.revoked.add(key_b64)
            return None
        if marker == "@cert-authority":
            self.authorities.append(
                CertificateAuthority(tuple(names.split(",")), key_type, key_b64)
            )
            return None
        self.hashed.extend(hashed)
        for name in names.split(","):
            if not name.startswith(("|", "!")):
                self.keys.setdefault(name, {}).setdefault(key_type, set()).add(key_b64)
        return None

    def lookup(self, name: str) -> dict[str, set[str]]:
        """Every key of every type listed for ``name``, plain and hashed lines alike."""
        found = {key_type: set(keys) for key_type, keys in self.keys.get(name, {}).items()}
        for entry in self.hashed:
            mac = hmac.new(entry.salt, name.encode(), hashlib.sha1).digest()
            if hmac.compare_digest(mac, entry.digest):
                found.setdefault(entry.key_type, set()).add(entry.key_b64)
        return found


def _key_problem(key_type: str, key_b64: str) -> str | None:
    """Why a key field cannot be a key of ``key_type``: OpenSSH's blob starts with its type."""
    try:
        blob = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        return f"key is not valid base64 ({exc})"
    if len(blob) < 4:
        return "key is too short"
    (length,) = struct.unpack(">I", blob[:4])
    blob_type = blob[4 : 4 + length].decode("ascii", errors="replace")
    if length > len(blob) - 4 or blob_type != key_type:
        return f"key is not a {key_type} key"
    return None


def _hashed_entry(name: str, key_type: str, key_b64: str) -> _HashedEntry | None:
    """``|1|salt|hmac`` (the only hashing OpenSSH writes), or None when malformed."""
    parts = name.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return None
    try:
        salt = base64.b64decode(parts[2], validate=True)
        digest = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(digest) != _SHA1_SIZE:
        return None
    return _HashedEntry(salt, digest, key_type, key_b64)


class KnownHosts:
    """The known host keys of a run: user and system files plus per-host inventory files."""

    def __init__(
        self,
        default_files: list[Path] | None = None,
        *,
        accept_new: bool = False,
        on_record: Callable[[Path, str, str, str], None] | None = None,
    ):
        if default_files is None:
            default_files = [
                Path("~/.ssh/known_hosts").expanduser(),
                Path("/etc/ssh/ssh_known_hosts"),
            ]
        self.accept_new = accept_new
        #: Told of each key accept-new wrote (file, name, key type, base64 key): a Dask
        #: worker writes to its copy of the controller's known_hosts and sends the key home.
        self.on_record = on_record
        self._default_files = default_files
        self._files: dict[Path, _KnownHostsFile] = {}
        self._lock = threading.RLock()  # verify() holds it across lookup and accept-new write

    def _file(self, path: Path) -> _KnownHostsFile:
        with self._lock:
            loaded = self._files.get(path)
            if loaded is None:
                loaded = self._files[path] = _KnownHostsFile.load(path)
            return loaded

    def known_types(
        self, name: str, extra_file: Path | None = None, files: Sequence[Path] | None = None
    ) -> dict[str, set[str]]:
        """Every known key for ``name`` in every file searched: key type -> base64 keys."""
        found: dict[str, set[str]] = {}
        for path in self._search_path(extra_file, files):
            for key_type, keys in self._file(path).lookup(name).items():
                found.setdefault(key_type, set()).update(keys)
        return found

    def _search_path(
        self, extra_file: Path | None, files: Sequence[Path] | None = None
    ) -> list[Path]:
        """The inventory's file, then the host's own list (ssh_config), else the run's."""
        chosen = self._default_files if files is None else list(files)
        return ([extra_file] if extra_file is not None else []) + chosen

    def authorities(
        self, name: str, extra_file: Path | None = None, files: Sequence[Path] | None = None
    ) -> list[CertificateAuthority]:
        """The ``@cert-authority`` lines whose host patterns match ``name``, in every file."""
        return [
            authority
            for path in self._search_path(extra_file, files)
            for authority in self._file(path).authorities
            if authority.covers(name)
        ]

    def revoked_in(
        self, key_b64: str, extra_file: Path | None = None, files: Sequence[Path] | None = None
    ) -> Path | None:
        """The file that revokes this key (``@revoked``), if one does."""
        for path in self._search_path(extra_file, files):
            if key_b64 in self._file(path).revoked:
                return path
        return None

    def verify_not_revoked(
        self,
        name: str,
        key_type: str,
        key_b64: str,
        extra_file: Path | None,
        files: Sequence[Path] | None = None,
    ) -> None:
        revoked = self.revoked_in(key_b64, extra_file, files)
        if revoked is not None:
            raise HostKeyError(
                f"host key for {name} is revoked in {revoked} ({key_type} {fingerprint(key_b64)})"
            )

    def verify(
        self,
        name: str,
        key_type: str,
        key_b64: str,
        extra_file: Path | None,
        *,
        files: Sequence[Path] | None = None,
        policy: str | None = None,
    ) -> bool:
        """Accept a known key, record a new one when the policy allows, refuse the rest.

        ``files`` replaces the run's files for this host (UserKnownHostsFile and
        GlobalKnownHostsFile); ``policy`` is StrictHostKeyChecking (``yes``, ``ask``,
        ``accept-new``, ``no``), else the run's (``accept_new``). Returns False only when
        ``no`` let a CHANGED key through (as OpenSSH does, warned loudly): the caller must
        then not send a password.
        """
        search = self._search_path(extra_file, files)
        policy = policy or ("accept-new" if self.accept_new else "yes")
        self.verify_not_revoked(name, key_type, key_b64, extra_file, files)
        with self._lock:  # look-up and accept-new write as one step: one key wins per host
            known = self.known_types(name, extra_file, files)
            if key_b64 in known.get(key_type, set()):
                return True
            shown = f"{key_type} {fingerprint(key_b64)}"
            if known:
                listed = ", ".join(
                    f"{t} {fingerprint(k)}"
                    for t, keys in sorted(known.items())
                    for k in sorted(keys)
                )
                if policy == "no":
                    _log.warning(
                        "HOST KEY CHANGED for %s: offered %s, known %s; connecting anyway "
                        "because StrictHostKeyChecking is no, with password authentication "
                        "disabled (someone may be intercepting this connection)",
                        name,
                        shown,
                        listed,
                    )
                    return False
                raise HostKeyError(
                    f"HOST KEY CHANGED for {name}: offered {shown}, known {listed}; "
                    "refusing to connect (remove the old key if the change is expected)"
                )
            if policy in ("yes", "ask"):
                note = (
                    " (StrictHostKeyChecking ask cannot ask during a fan-out: taken as yes)"
                    if policy == "ask"
                    else ""
                )
                raise HostKeyError(
                    f"unknown host key for {name}: {shown}; verify it and add it to known_hosts, "
                    f"or use --accept-new-host-keys{note}"
                )
            if not search:
                raise HostKeyError(
                    f"unknown host key for {name}: {shown}; no known_hosts file to add it to"
                )
            self._record(search[0], name, key_type, key_b64)
            if self.on_record is not None:
                self.on_record(search[0], name, key_type, key_b64)
            return True

    def _record(self, path: Path, name: str, key_type: str, key_b64: str) -> None:
        """Append one line, under a thread lock and a file lock for other processes.

        A regular file is rewritten atomically (temp file + rename); a symlink is written
        through (the link stays); a file that is not a regular one (``UserKnownHostsFile
        /dev/null``) is appended to, as OpenSSH does: a rename over /dev/null made it a
        regular file for the whole machine.
        """
        line = f"{name} {key_type} {key_b64}\n"
        with self._lock:
            real = Path(os.path.realpath(path))
            if real.exists() and not real.is_file():
                with real.open("ab") as device:
                    device.write(line.encode())
            else:
                _append_atomically(real, line.encode())
            cached = self._files.get(path)
            if cached is not None:
                cached._add_line(line.strip())


def _append_atomically(path: Path, line: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    dir_fd = os.open(path.parent, os.O_RDONLY)  # lock the folder: no stray lock file
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)
        current = path.read_bytes() if path.exists() else b""
        if current and not current.endswith(b"\n"):
            current += b"\n"
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(current + line)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        os.close(dir_fd)  # closing releases the lock
