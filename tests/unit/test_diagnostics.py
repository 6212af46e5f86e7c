"""Secrets blanked from verbose logs: what reaches them, and a filter that never raises."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from remoteops.diagnostics import REDACTED, log_to, redact
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
