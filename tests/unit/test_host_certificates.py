"""Host certificate checks on real certificates made by ``ssh-keygen -s``: each reason ssh
refuses one (type, validity, principals, signature, CA) is a reason here too."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from remoteops.errors import HostKeyError
from remoteops.transports.known_hosts import KnownHosts
from remoteops.transports.ssh_certificates import check_host_certificate

NAME = "[web01]:2222"  # as known_hosts names a host on another port


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    return keygen(tmp_path / "ca")


def certificate(ca: Path, tmp_path: Path, *options: str) -> bytes:
    """The blob of a certificate for a fresh host key, signed by ``ca`` with ``options``."""
    key = keygen(tmp_path / "host_key")
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ca), "-I", "web01-key", *options, f"{key}.pub"],
        check=True,
        capture_output=True,
    )
    blob = base64.b64decode((tmp_path / "host_key-cert.pub").read_text().split()[1])
    for stale in (key, Path(f"{key}.pub"), tmp_path / "host_key-cert.pub"):
        stale.unlink()
    return blob


def known_hosts(tmp_path: Path, *lines: str) -> KnownHosts:
    path = tmp_path / "known_hosts"
    path.write_text("".join(line + "\n" for line in lines))
    return KnownHosts([path])


def listed(ca: Path, patterns: str = "*", marker: str = "@cert-authority") -> str:
    key_type, key = Path(f"{ca}.pub").read_text().split()[:2]
    return f"{marker} {patterns} {key_type} {key}"


def check(known: KnownHosts, blob: bytes) -> str | None:
    return check_host_certificate(known, NAME, "web01", blob, extra_file=None)


def test_a_valid_host_certificate_of_a_listed_ca_is_accepted(ca: Path, tmp_path: Path) -> None:
    blob = certificate(ca, tmp_path, "-h", "-n", "web01,web01.example.com")
    assert check(known_hosts(tmp_path, listed(ca, "[web*]:2222")), blob) is None


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (("-n", "web01"), "it is not a host certificate"),  # a user certificate
        (("-h", "-n", "web02,db01"), "it is for other hosts (web02, db01), not web01"),
        (("-h",), "it is for other hosts (none), not web01"),  # no principals: not any host
        (("-h", "-n", "web01", "-V", "20200101:20200201"), "it expired at 2020-02-01"),
        (("-h", "-n", "web01", "-V", "+52w:+53w"), "it is not valid before"),
    ],
)
def test_a_certificate_that_does_not_vouch_for_this_host_now_is_refused(
    ca: Path, tmp_path: Path, options: tuple[str, ...], reason: str
) -> None:
    problem = check(known_hosts(tmp_path, listed(ca)), certificate(ca, tmp_path, *options))
    assert problem is not None
    assert reason in problem


def test_a_certificate_whose_signature_does_not_verify_is_refused(ca: Path, tmp_path: Path) -> None:
    blob = bytearray(certificate(ca, tmp_path, "-h", "-n", "web01"))
    blob[-1] ^= 1  # the last byte of the CA's signature
    problem = check(known_hosts(tmp_path, listed(ca)), bytes(blob))
    assert problem is not None
    assert "does not verify" in problem


def test_only_a_ca_listed_for_this_host_counts(ca: Path, tmp_path: Path) -> None:
    blob = certificate(ca, tmp_path, "-h", "-n", "web01")
    other = keygen(tmp_path / "other_ca")
    problem = check(known_hosts(tmp_path, listed(ca, "[db*]:2222,web01"), listed(other)), blob)
    assert problem is not None
    assert "signed by a CA not listed for [web01]:2222" in problem
    problem = check(known_hosts(tmp_path, listed(ca, "*,![web01]:*")), blob)
    assert problem == "no @cert-authority line in known_hosts matches [web01]:2222"


def test_a_revoked_ca_is_refused_outright(ca: Path, tmp_path: Path) -> None:
    blob = certificate(ca, tmp_path, "-h", "-n", "web01")
    known = known_hosts(tmp_path, listed(ca), listed(ca, marker="@revoked"))
    with pytest.raises(HostKeyError, match=r"CA that signed the host certificate .* is revoked"):
        check(known, blob)
