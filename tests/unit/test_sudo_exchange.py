"""The sudo exchange against a real process on real pipes: a shell script that speaks as
sudo does (a prompt on stderr, the success marker on stdout), with what real hosts add to
it: a PAM warning before the marker, a second question sudo cannot have answered."""

from __future__ import annotations

import time

import pytest

from remoteops.errors import ConfigurationError, HostTimeoutError
from remoteops.transports import CommandSpec, Privilege
from remoteops.transports.base import STDOUT, WrappedCommand, await_sudo, drive
from remoteops.transports.local import LocalTransport

PROMPT = "[remoteops-sudo-0123456789abcdef] password:"
SUCCESS = "REMOTEOPS-SUDO-OK-0123456789abcdef"
PASSWORD = "s3cret pass"
#: A sudo-like front: asks, checks the one line it reads, says the marker, becomes ``then``.
ASKED = f"printf '%s' '{PROMPT}' >&2; IFS= read -r pw; [ \"$pw\" = '{PASSWORD}' ] || exit 1; "


def _wrapped(command: str) -> WrappedCommand:
    return WrappedCommand(command, PROMPT.encode(), SUCCESS.encode())


def _read_stdout(running: object, wanted: int, within_s: float = 10.0) -> bytes:
    got = b""
    deadline = time.monotonic() + within_s
    while len(got) < wanted and time.monotonic() < deadline:
        got += b"".join(c for s, c in running.poll(0.2) if s == STDOUT)  # type: ignore[attr-defined]
    return got


def test_pam_chatter_before_the_marker_is_dropped_and_the_protocol_starts_clean() -> None:
    """A "password will expire" warning on stdout before sudo's marker is sudo's, not the
    protocol's: the file session starts, and its first bytes are its own."""
    command = (
        ASKED
        + f"printf 'Warning: your password will expire in 5 days\\n'; echo {SUCCESS}; exec cat"
    )
    running = LocalTransport().start(command)
    try:
        await_sudo(running, _wrapped(command), PASSWORD, deadline=time.monotonic() + 10)
        running.write_stdin(b"\x00\x00\x00\x05ping!")
        assert _read_stdout(running, 9) == b"\x00\x00\x00\x05ping!"
    finally:
        running.kill()


def test_a_second_question_from_sudo_is_quoted_when_time_runs_out() -> None:
    """A 2FA prompt after the password: the timeout says what sudo asked, for file
    sessions and for ``run --sudo`` alike."""
    command = (
        ASKED + "printf 'Enter the code sent to your phone\\nVerification code: ' >&2; sleep 30"
    )
    running = LocalTransport().start(command)
    try:
        with pytest.raises(HostTimeoutError, match="Verification code:"):
            await_sudo(running, _wrapped(command), PASSWORD, deadline=time.monotonic() + 2)
    finally:
        running.kill()
    spec = CommandSpec("true", timeout=2, sudo=True, sudo_password=PASSWORD)
    with pytest.raises(HostTimeoutError, match=r"timed out after 2 s.*Verification code:"):
        drive(LocalTransport().start(command), spec, _wrapped(command))


@pytest.mark.parametrize("password", ["first\nSECRETTAIL", "first\r\n", "a\rb"])
def test_a_sudo_password_with_a_line_break_is_refused_before_anything_is_sent(
    password: str,
) -> None:
    with pytest.raises(ConfigurationError, match="line break"):
        Privilege(password=password)
    with pytest.raises(ConfigurationError, match="line break"):
        CommandSpec("cat", sudo=True, sudo_password=password)
