"""The known-hosts index: plain and hashed names, changed keys, revoked keys, accept-new."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from pathlib import Path

import pytest

from remoteops.errors import HostKeyError
from remoteops.transports.known_hosts import KnownHosts, fingerprint, host_key_name

KEY_A = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"A" * 36).decode()
KEY_B = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"B" * 36).decode()


def _hashed(name: str) -> str:
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_host_key_name_brackets_non_default_ports() -> None:
    assert host_key_name("10.0.0.1", 22) == "10.0.0.1"
    assert host_key_name("10.0.0.1", 2222) == "[10.0.0.1]:2222"


def test_fingerprint_matches_openssh_format() -> None:
    expected = base64.b64encode(hashlib.sha256(base64.b64decode(KEY_A)).digest()).decode()
    assert fingerprint(KEY_A) == "SHA256:" + expected.rstrip("=")


def test_known_plain_and_hashed_entries_are_accepted(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    hashed = _hashed("[db]:2222")
    known.write_text(
        f"# comment\nweb1,10.0.0.1 ssh-ed25519 {KEY_A}\n{hashed} ssh-ed25519 {KEY_B}\n"
    )
    store = KnownHosts([known])
    store.verify("10.0.0.1", "ssh-ed25519", KEY_A, None)
    store.verify("[db]:2222", "ssh-ed25519", KEY_B, None)
    assert store.known_types("web1") == {"ssh-ed25519": {KEY_A}}


def test_changed_key_is_refused_with_both_fingerprints(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"web1 ssh-ed25519 {KEY_A}\n")
    store = KnownHosts([known], accept_new=True)
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED") as info:
        store.verify("web1", "ssh-ed25519", KEY_B, None)
    assert fingerprint(KEY_A) in str(info.value)
    assert fingerprint(KEY_B) in str(info.value)
    assert known.read_text() == f"web1 ssh-ed25519 {KEY_A}\n"


def test_unknown_key_refused_by_default_with_fingerprint(tmp_path: Path) -> None:
    store = KnownHosts([tmp_path / "known_hosts"])
    with pytest.raises(HostKeyError, match="unknown host key") as info:
        store.verify("web1", "ssh-ed25519", KEY_A, None)
    assert fingerprint(KEY_A) in str(info.value)
    assert not (tmp_path / "known_hosts").exists()


def test_revoked_key_is_refused(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"@revoked * ssh-ed25519 {KEY_A}\nweb1 ssh-ed25519 {KEY_A}\n")
    with pytest.raises(HostKeyError, match="revoked"):
        KnownHosts([known]).verify("web1", "ssh-ed25519", KEY_A, None)


def test_accept_new_appends_atomically_and_keeps_existing_lines(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"old ssh-ed25519 {KEY_A}")  # no trailing newline
    store = KnownHosts([known], accept_new=True)
    threads = [
        threading.Thread(target=store.verify, args=(f"h{i}", "ssh-ed25519", KEY_B, None))
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = known.read_text().splitlines()
    assert lines[0] == f"old ssh-ed25519 {KEY_A}"
    assert sorted(lines[1:]) == sorted(f"h{i} ssh-ed25519 {KEY_B}" for i in range(20))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".known_hosts.")]
    KnownHosts([known]).verify("h7", "ssh-ed25519", KEY_B, None)  # a new run trusts it


def test_inventory_file_is_searched_first_and_receives_new_keys(tmp_path: Path) -> None:
    user_file = tmp_path / "user_known_hosts"
    inventory_file = tmp_path / "inv_known_hosts"
    store = KnownHosts([user_file], accept_new=True)
    store.verify("web1", "ssh-ed25519", KEY_A, inventory_file)
    assert inventory_file.read_text() == f"web1 ssh-ed25519 {KEY_A}\n"
    assert not user_file.exists()


def test_every_listed_key_of_a_type_is_accepted_across_files(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text(f"web1 ssh-ed25519 {KEY_A}\nweb1 ssh-ed25519 {KEY_B}\n")
    second.write_text(f"{_hashed('web2')} ssh-ed25519 {KEY_A}\nweb2 ssh-ed25519 {KEY_B}\n")
    store = KnownHosts([first, second])
    for name in ("web1", "web2"):
        store.verify(name, "ssh-ed25519", KEY_A, None)
        store.verify(name, "ssh-ed25519", KEY_B, None)


def test_accept_new_lets_only_one_key_win_for_a_name(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    store = KnownHosts([known], accept_new=True)
    outcomes: list[str] = []

    def offer(key: str) -> None:
        try:
            store.verify("web1", "ssh-ed25519", key, None)
            outcomes.append("accepted")
        except HostKeyError:
            outcomes.append("refused")

    threads = [threading.Thread(target=offer, args=(k,)) for k in (KEY_A, KEY_B) * 5]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(known.read_text().splitlines()) == 1
    assert outcomes.count("accepted") == 5
    assert outcomes.count("refused") == 5


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", "not valid base64"),
        (f"web1 ssh-rsa {KEY_A}", "not a ssh-rsa key"),
        ("web1 ssh-ed25519", "truncated line"),
        (f"|1|bm90|c2FsdA== ssh-ed25519 {KEY_A}", "malformed hashed host name"),
        (f"|2|{_hashed('web1')[3:]} ssh-ed25519 {KEY_A}", "malformed hashed host name"),
        (f"@trusted web1 ssh-ed25519 {KEY_A}", "unknown marker"),
        ("@revoked * ssh-ed25519 not*base64", "not valid base64"),
    ],
)
def test_an_unreadable_line_is_skipped_with_a_warning_naming_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, line: str, reason: str
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"# keys\n{line}\nweb1 ssh-ed25519 {KEY_B}\n")
    store = KnownHosts([known])
    with caplog.at_level("WARNING", logger="remoteops"):
        store.verify("web1", "ssh-ed25519", KEY_B, None)  # the next line still counts
        assert store.known_types("web1") == {"ssh-ed25519": {KEY_B}}
    (record,) = caplog.records
    assert record.getMessage().startswith(f"{known}:2: ")
    assert reason in record.getMessage()


def test_a_host_named_only_by_an_unreadable_line_is_unknown(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("web1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n")
    with pytest.raises(HostKeyError, match="unknown host key for web1"):
        KnownHosts([known]).verify("web1", "ssh-ed25519", KEY_A, None)
