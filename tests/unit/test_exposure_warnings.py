"""What a run warns about every time: plaintext logins and unverified TLS."""

from __future__ import annotations

from remoteops.inventory.model import Host
from remoteops.transports import exposure_warnings


def _ftp(name: str, **settings: object) -> Host:
    return Host(name, {"protocol": "ftp", **settings})


def test_plain_ftp_with_a_password_is_warned_about_unless_the_host_says_it_knows() -> None:
    hosts = [
        _ftp("ftp1", password_env="FTP_PW"),
        _ftp("ftp2", password_env="FTP_PW"),
        _ftp("known", password_env="FTP_PW", ftp_plaintext_ok=True),
        _ftp("said-no", password_env="FTP_PW", ftp_plaintext_ok="no"),  # no is no
        _ftp("anonymous"),  # sends no secret: not warned about
        _ftp("named-no-password", user="upload"),
        Host("secure", {"protocol": "ftps", "password_env": "FTP_PW"}),
        Host("web1", {"password_env": "SSH_PW"}),
    ]
    assert exposure_warnings(hosts) == [
        "FTP is plaintext: the password and files of ftp[1-2],said-no cross the network "
        "readable (protocol: ftps encrypts them; ftp_plaintext_ok: true says you know)."
    ]
    assert exposure_warnings([h for h in hosts if h.name in ("known", "anonymous")]) == []
