"""OpenSSH certificates against a real sshd of this module's own: user certificates signed
by a CA the server trusts (``TrustedUserCAKeys``) and host certificates (``HostCertificate``)
checked against ``@cert-authority`` lines of known_hosts. Keys are signed with ``ssh-keygen -s``."""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.playground import _sshd
from remoteops.playground._system import find_tool, terminate
from remoteops.results import Status
from remoteops.transports import CommandSpec, TransportFactory
from tests.integration.conftest import free_port, with_vars


def keygen(path: Path) -> Path:
    """A passphrase-less ed25519 key pair; returns the private key's path."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
    )
    return path


def sign(ca: Path, public_key: Path, *options: str) -> Path:
    """``ssh-keygen -s``: the certificate is written next to the key as ``<key>-cert.pub``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ca), "-I", "remoteops-test", *options, str(public_key)],
        check=True,
        capture_output=True,
    )
    return public_key.with_name(public_key.name.removesuffix(".pub") + "-cert.pub")


@dataclass
class CertHost:
    """The sshd: where it listens, its files, and the CAs it trusts and is signed by."""

    files: _sshd.HostFiles
    user_ca: Path
    host_ca: Path
    authorized_keys: Path

    def host(self, **variables: object) -> Host:
        return Host("certhost", {"address": "127.0.0.1", "port": self.files.port, **variables})

    def known_hosts(self, path: Path, line: str) -> Path:
        path.write_text(line + "\n")
        return path

    @property
    def revoked_ca_line(self) -> str:
        key_type, key = self.host_ca.with_name(self.host_ca.name + ".pub").read_text().split()[:2]
        return f"@revoked * {key_type} {key}\n"

    @property
    def plain_key_line(self) -> str:
        key_type, key = self.files.host_pubkey.read_text().split()[:2]
        return f"[127.0.0.1]:{self.files.port} {key_type} {key}"


@pytest.fixture(scope="module")
def cert_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertHost]:
    """An sshd whose authorized_keys is empty: only a certificate of ``user_ca`` logs in."""
    base = tmp_path_factory.mktemp("certhost")
    files = _sshd.HostFiles("certhost", "127.0.0.1", free_port(), None, base / "host")
    files.directory.mkdir()
    authorized = base / "authorized_keys"
    authorized.write_text("")
    _sshd.prepare(files, authorized, new_key=True)
    user_ca, host_ca = keygen(base / "user_ca"), keygen(base / "host_ca")
    host_cert = sign(host_ca, files.host_pubkey, "-h", "-n", "127.0.0.1,certhost")
    with files.config.open("a") as config:
        config.write(f"TrustedUserCAKeys {user_ca}.pub\nHostCertificate {host_cert}\n")
    _sshd.ensure_privsep_dir()
    pid = _sshd.start(files, find_tool("sshd", "openssh-server"), private=False)
    try:
        yield CertHost(files, user_ca, host_ca, authorized)
    finally:
        terminate([pid])
        shutil.rmtree(base, ignore_errors=True)


def run_true(host: Host, tmp_path: Path) -> tuple[Status, str | None]:
    factory = TransportFactory(ssh_config_path=tmp_path / "no-config", known_hosts_files=[])
    result = run_command([host], CommandSpec("true"), factory=factory).results[0]
    return result.status, result.error


def test_a_refused_certificate_falls_back_to_the_plain_key(
    cert_host: CertHost, tmp_path: Path
) -> None:
    """ssh offers ``<key>-cert.pub`` first, then the key itself: paramiko alone offers only the
    certificate, so a certificate the server refuses locked out a key it would accept."""
    key = keygen(tmp_path / "id_ed25519")
    known = cert_host.known_hosts(tmp_path / "known_hosts", cert_host.plain_key_line)
    host = cert_host.host(identity_file=str(key), known_hosts_file=str(known))
    status, error = run_true(host, tmp_path)
    assert status is Status.AUTH, error  # the plain key is not authorized
    sign(cert_host.user_ca, key.with_suffix(".pub"), "-n", getpass.getuser())
    assert run_true(host, tmp_path) == (Status.OK, None)  # the certificate next to it is
    sign(cert_host.user_ca, key.with_suffix(".pub"), "-n", "somebody-else")
    assert run_true(host, tmp_path)[0] is Status.AUTH
    cert_host.authorized_keys.write_text(key.with_suffix(".pub").read_text())
    try:
        assert run_true(host, tmp_path) == (Status.OK, None)
    finally:
        cert_host.authorized_keys.write_text("")


def test_certificate_file_names_a_certificate_kept_elsewhere(
    cert_host: CertHost, tmp_path: Path
) -> None:
    key = keygen(tmp_path / "deploy")
    cert = sign(cert_host.user_ca, key.with_suffix(".pub"), "-n", getpass.getuser())
    elsewhere = cert.rename(tmp_path / "signed.pub")
    known = cert_host.known_hosts(tmp_path / "known_hosts", cert_host.plain_key_line)
    host = cert_host.host(identity_file=str(key), known_hosts_file=str(known))
    assert run_true(host, tmp_path)[0] is Status.AUTH
    assert run_true(with_vars(host, certificate_file=str(elsewhere)), tmp_path) == (Status.OK, None)


def test_certificate_file_from_ssh_config(cert_host: CertHost, tmp_path: Path) -> None:
    key = keygen(tmp_path / "deploy")
    cert = sign(cert_host.user_ca, key.with_suffix(".pub"), "-n", getpass.getuser())
    elsewhere = cert.rename(tmp_path / "signed.pub")
    known = cert_host.known_hosts(tmp_path / "known_hosts", cert_host.plain_key_line)
    (tmp_path / "config").write_text(f"Host certhost\n  CertificateFile {elsewhere}\n")
    host = cert_host.host(identity_file=str(key), known_hosts_file=str(known))
    factory = TransportFactory(ssh_config_path=tmp_path / "config", known_hosts_files=[])
    result = run_command([host], CommandSpec("true"), factory=factory).results[0]
    assert (result.status, result.error) == (Status.OK, None)


def test_a_certificate_for_another_principal_is_refused(
    cert_host: CertHost, tmp_path: Path
) -> None:
    key = keygen(tmp_path / "id_ed25519")
    sign(cert_host.user_ca, key.with_suffix(".pub"), "-n", "somebody-else")
    known = cert_host.known_hosts(tmp_path / "known_hosts", cert_host.plain_key_line)
    host = cert_host.host(identity_file=str(key), known_hosts_file=str(known))
    status, error = run_true(host, tmp_path)
    assert status is Status.AUTH
    assert "with its certificate" in (error or "")  # it was offered, and the server said no


def authority_line(ca: Path, patterns: str) -> str:
    key_type, key = (ca.with_name(ca.name + ".pub")).read_text().split()[:2]
    return f"@cert-authority {patterns} {key_type} {key}"


@pytest.mark.parametrize("patterns", ["[127.0.0.1]:*", "*,!other", "|hashed|"])
def test_a_host_certificate_signed_by_a_listed_ca_is_trusted(
    cert_host: CertHost, tmp_path: Path, patterns: str
) -> None:
    """known_hosts holds no key of the host at all: only the CA that signed its certificate."""
    key = keygen(tmp_path / "id_ed25519")
    sign(cert_host.user_ca, key.with_suffix(".pub"), "-n", getpass.getuser())
    known = tmp_path / "known_hosts"
    if patterns == "|hashed|":  # as HashKnownHosts writes names (ssh-keygen -H skips markers)
        salt = os.urandom(20)
        name = f"[127.0.0.1]:{cert_host.files.port}".encode()
        digest = hmac.new(salt, name, hashlib.sha1).digest()
        patterns = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    known.write_text(authority_line(cert_host.host_ca, patterns) + "\n")
    host = cert_host.host(identity_file=str(key), known_hosts_file=str(known))
    assert run_true(host, tmp_path) == (Status.OK, None)


def test_a_host_certificate_of_an_unlisted_ca_is_refused_and_says_why(
    cert_host: CertHost, tmp_path: Path
) -> None:
    """Refused unless the plain key inside is known: as in ssh, it is then checked as any
    host key is; a revoked CA is refused outright."""
    key = keygen(tmp_path / "id_ed25519")
    sign(cert_host.user_ca, key.with_suffix(".pub"), "-n", getpass.getuser())
    known = tmp_path / "known_hosts"
    lines = [
        authority_line(cert_host.user_ca, "*"),  # a CA, but not the one that signed the host
        authority_line(cert_host.host_ca, "!127.0.0.1,!*:*,*"),  # the signer, not for this host
    ]
    known.write_text("\n".join(lines) + "\n")
    host = cert_host.host(identity_file=str(key), known_hosts_file=str(known))
    status, error = run_true(host, tmp_path)
    assert status is Status.HOSTKEY
    assert "signed by a CA not listed for [127.0.0.1]" in (error or ""), error
    known.write_text(authority_line(cert_host.host_ca, "*") + "\n" + cert_host.revoked_ca_line)
    status, error = run_true(host, tmp_path)
    assert status is Status.HOSTKEY
    assert "is revoked in" in (error or ""), error
    known.write_text("\n".join([*lines, cert_host.plain_key_line]) + "\n")
    assert run_true(host, tmp_path) == (Status.OK, None)
