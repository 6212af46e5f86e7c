"""Secrets blanked from verbose logs: what reaches them, and a filter that never raises."""

from __future__ import annotations

import io
import logging
import pickle
import secrets
from collections.abc import Iterator

import pytest

from remoteops.diagnostics import REDACTED, log_to, redact, register_secret, secrets_in
from remoteops.transports.base import CommandSpec, with_host_sudo
from remoteops.transports.settings import HostSettings


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = log_to(stream, logging.DEBUG, paramiko=True)
    yield stream
    for name in ("remoteops", "paramiko"):
        logging.getLogger(name).removeHandler(handler)


def test_a_log_call_whose_arguments_do_not_fit_is_written_not_raised_into_its_caller(
    log: io.StringIO,
) -> None:
    """A handler reports such a call and goes on; the filter runs outside its guard, so with
    -v a library's slip would have crashed the thread that logged (a host's connection)."""
    logging.getLogger("paramiko.transport").debug("two %s %s", "one")  # noqa: PLE1206
    assert "two %s %s (arguments that do not fit: ('one',))" in log.getvalue()


def test_the_sudo_password_an_inventory_become_reads_is_blanked_from_logs(
    log: io.StringIO,
) -> None:
    """``sudo_password_env`` (ansible_become_password_env) is read by the run, not the CLI:
    it must be registered as the --sudo-password-env one is."""
    password = "become-password-from-env"
    settings = HostSettings(sudo=True, sudo_password_env="ROPTEST_BECOME_PW")
    spec = with_host_sudo(CommandSpec("true"), settings, {"ROPTEST_BECOME_PW": password})
    assert spec.sudo_password == password
    logging.getLogger("remoteops.test").info("sudo answered with %s", password)
    assert password not in log.getvalue()
    assert REDACTED in log.getvalue()
    assert redact(f"x{password}x") == f"x{REDACTED}x"


def test_secrets_in_counts_the_registered_secrets_a_byte_string_holds_and_names_none() -> None:
    first, second = (f"pw-{secrets.token_hex(8)}-é" for _ in range(2))
    register_secret(first)
    register_secret(second)
    shipped = pickle.dumps({"a": first, "b": [second, second], "c": "harmless"})
    assert secrets_in(shipped) == 2  # each counted once, however often it appears
    assert secrets_in(bytearray(pickle.dumps({"a": first}))) == 1
    assert secrets_in(memoryview(b"nothing of the kind")) == 0
    assert secrets_in(pickle.dumps("pw-")) == 0  # a part of a secret is not the secret


def test_secrets_in_does_not_see_values_too_short_to_be_registered() -> None:
    """As in the logs: a 2-character value is not kept (it would blank every such pair)."""
    register_secret("q7")
    assert secrets_in(b"xxq7xx") == 0
