"""OpenSSH host certificates, checked against the ``@cert-authority`` lines of known_hosts.

paramiko negotiates ``*-cert-v01@openssh.com`` host keys and keeps the certificate the server
sent (``key.public_blob``), but checks nothing in it: not who signed it, not for which host,
not when. This module does what ``ssh`` does before trusting one (PROTOCOL.certkeys): the
certificate is a *host* certificate, signed by a CA that an ``@cert-authority`` line lists for
this host (neither CA nor host key ``@revoked``), valid now, naming the host among its
principals, with no critical option it does not know (host certificates define none).

A certificate that fails is not trusted, and, as in ``ssh``, the plain key inside it is then
checked against known_hosts as any host key is; the refusal then says why the certificate was
not enough.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.pkey import UnknownKeyType

from remoteops.errors import HostKeyError
from remoteops.transports.known_hosts import KnownHosts, fingerprint

CERT_SUFFIX = "-cert-v01@openssh.com"
#: The certificate's ``type`` field for host certificates (1 is a user certificate).
HOST_CERTIFICATE = 2
#: Strings holding the public key after the nonce, by the plain key type.
_KEY_FIELDS = {"ssh-ed25519": 1, "ssh-rsa": 2, "ssh-dss": 4}
_FOREVER = 2**64 - 1
_WEAK_SIGNATURES = ("ssh-rsa", "ssh-dss")


class _Reader:
    def __init__(self, blob: bytes) -> None:
        self.blob, self.at = blob, 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.blob):
            raise ValueError("the certificate is truncated")
        chunk = self.blob[self.at : self.at + size]
        self.at += size
        return chunk

    def string(self) -> bytes:
        (length,) = struct.unpack(">I", self.take(4))
        return self.take(length)

    def uint32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def uint64(self) -> int:
        return int(struct.unpack(">Q", self.take(8))[0])


@dataclass(frozen=True)
class Certificate:
    """The fields of an OpenSSH certificate that decide whether it is trusted."""

    key_type: str
    cert_type: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    critical_options: bytes
    ca_key: bytes
    signed: bytes
    signature: bytes

    @classmethod
    def parse(cls, blob: bytes) -> Certificate:
        """Read a certificate blob (what the server sends); ValueError if it is not one."""
        reader = _Reader(blob)
        key_type = reader.string().decode("ascii", errors="replace")
        if not key_type.endswith(CERT_SUFFIX):
            raise ValueError(f"{key_type} is not a certificate type")
        plain = key_type.removesuffix(CERT_SUFFIX)
        fields = 2 if plain.startswith("ecdsa-sha2-") else _KEY_FIELDS.get(plain)
        if fields is None:
            raise ValueError(f"certificates of {plain} keys are not supported")
        reader.string()  # nonce
        for _ in range(fields):
            reader.string()
        reader.uint64()  # serial
        cert_type = reader.uint32()
        key_id = reader.string().decode("utf-8", errors="replace")
        names = _Reader(reader.string())
        principals: list[str] = []
        while names.at < len(names.blob):
            principals.append(names.string().decode("utf-8", errors="replace"))
        valid_after, valid_before = reader.uint64(), reader.uint64()
        critical_options = reader.string()
        reader.string()  # extensions: none defined for host certificates, ignored as ssh does
        reader.string()  # reserved
        ca_key = reader.string()
        signed = blob[: reader.at]
        signature = reader.string()
        return cls(
            key_type,
            cert_type,
            key_id,
            tuple(principals),
            valid_after,
            valid_before,
            critical_options,
            ca_key,
            signed,
            signature,
        )

    def problem_for_host(self, principal: str, now: float) -> str | None:
        """Why this certificate cannot vouch for host ``principal`` at ``now`` (None: it can)."""
        if self.cert_type != HOST_CERTIFICATE:
            return "it is not a host certificate"
        if now < self.valid_after:
            return f"it is not valid before {_when(self.valid_after)}"
        if now >= self.valid_before:
            return f"it expired at {_when(self.valid_before)}"
        if principal.lower() not in (p.lower() for p in self.principals):
            listed = ", ".join(self.principals) or "none"
            return f"it is for other hosts ({listed}), not {principal}"
        if self.critical_options:
            return "it has critical options, which host certificates must not have"
        return None

    def signed_by(self, ca_key: paramiko.PKey) -> bool:
        return bool(ca_key.verify_ssh_sig(self.signed, paramiko.Message(self.signature)))


def _when(timestamp: int) -> str:
    if timestamp >= _FOREVER:
        return "forever"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def check_host_certificate(
    known_hosts: KnownHosts,
    name: str,
    principal: str,
    blob: bytes,
    *,
    extra_file: Path | None,
    files: Sequence[Path] | None = None,
    now: float | None = None,
) -> str | None:
    """None when the certificate ``blob`` proves host ``principal`` (known_hosts ``name``),
    else why not. A revoked CA or host key is a :class:`HostKeyError`: no fallback then."""
    try:
        certificate = Certificate.parse(blob)
    except ValueError as exc:
        return f"its certificate cannot be read: {exc}"
    ca_b64 = base64.b64encode(certificate.ca_key).decode("ascii")
    revoked = known_hosts.revoked_in(ca_b64, extra_file, files)
    if revoked is not None:
        raise HostKeyError(
            f"the CA that signed the host certificate of {name} is revoked in {revoked} "
            f"({fingerprint(ca_b64)})"
        )
    authorities = known_hosts.authorities(name, extra_file, files)
    if not any(authority.key_b64 == ca_b64 for authority in authorities):
        if not authorities:
            return f"no @cert-authority line in known_hosts matches {name}"
        return f"its certificate is signed by a CA not listed for {name} ({fingerprint(ca_b64)})"
    problem = certificate.problem_for_host(principal, time.time() if now is None else now)
    if problem is not None:
        return f"its certificate {certificate.key_id!r} is not accepted: {problem}"
    try:
        ca_key_type = _Reader(certificate.ca_key).string().decode("ascii", errors="replace")
        algorithm = _Reader(certificate.signature).string().decode("ascii", errors="replace")
        if algorithm in _WEAK_SIGNATURES:  # ssh's CASignatureAlgorithms leaves SHA-1 out
            return f"its certificate is signed with {algorithm} (SHA-1), which is not accepted"
        ca_key = paramiko.PKey.from_type_string(ca_key_type, certificate.ca_key)
        signed = certificate.signed_by(ca_key)
    except (paramiko.SSHException, UnknownKeyType, ValueError, TypeError) as exc:
        return f"the signature of its certificate cannot be checked: {exc}"
    if not signed:
        return f"the signature of its certificate {certificate.key_id!r} does not verify"
    return None
