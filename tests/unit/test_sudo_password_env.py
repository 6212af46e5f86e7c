"""A sudo password named (``Privilege.password_env``, ``CommandSpec.sudo_password_env``), read
only by the process that works on the host: work pickled for a cluster worker carries the
variable's name, never its value; an unset variable is that host's ``auth``."""

from __future__ import annotations

import pickle
import secrets

import pytest
import typer

from remoteops.cli.common import privilege_from
from remoteops.diagnostics import register_secret, secrets_in
from remoteops.errors import AuthenticationError
from remoteops.executor import command_work
from remoteops.transports import CommandSpec, Privilege
from remoteops.transports.base import host_privilege, with_host_sudo
from remoteops.transports.settings import HostSettings

VAR = "ROPTEST_DEFERRED_SUDO_PW"


def test_a_password_and_the_variable_naming_one_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        Privilege(password="pw", password_env=VAR)
    with pytest.raises(ValueError, match="not both"):
        CommandSpec("true", sudo=True, sudo_password="pw", sudo_password_env=VAR)
    with pytest.raises(ValueError, match="not the name of an environment variable"):
        Privilege(password_env="NOT A NAME")
    with pytest.raises(ValueError, match="not the name of an environment variable"):
        CommandSpec("true", sudo=True, sudo_password_env="$X")


def test_the_named_password_is_read_where_the_privilege_is_used() -> None:
    named = Privilege("deploy", password_env=VAR)
    assert named.applied_to(CommandSpec("id")).sudo_password_env == VAR
    assert named.applied_to(CommandSpec("id")).sudo_password is None
    read = host_privilege(named, HostSettings(), environ={VAR: "s3cret-pw\n"})
    assert read == Privilege("deploy", "s3cret-pw")  # one line end dropped, as the CLI does
    spec = with_host_sudo(named.applied_to(CommandSpec("id")), HostSettings(), {VAR: "s3cret"})
    assert (spec.sudo, spec.sudo_user, spec.sudo_password) == (True, "deploy", "s3cret")
    assert spec.sudo_password_env is None
    assert named.password_read({VAR: "x"}) == Privilege("deploy", "x")
    assert Privilege("deploy").password_read({}) == Privilege("deploy")


def test_the_commands_own_variable_wins_over_the_inventorys() -> None:
    settings = HostSettings(sudo=True, sudo_user="web", sudo_password_env="INVENTORY_PW")
    environ = {VAR: "own-password", "INVENTORY_PW": "inventory-password"}
    own = Privilege(password_env=VAR)
    assert host_privilege(own, settings, environ=environ) == Privilege("web", "own-password")
    assert host_privilege(own, settings, inventory=False, environ=environ) == Privilege(
        None, "own-password"
    )
    assert host_privilege(None, settings, environ=environ) == Privilege("web", "inventory-password")


def test_an_unset_or_broken_variable_is_the_hosts_auth_naming_the_variable() -> None:
    spec = Privilege(password_env=VAR).applied_to(CommandSpec("id"))
    with pytest.raises(AuthenticationError, match=f"^sudo_password_env {VAR} is not set"):
        with_host_sudo(spec, HostSettings(), {})
    with pytest.raises(AuthenticationError, match=f"^sudo_password_env {VAR} is not set"):
        spec.password_read({})
    with pytest.raises(AuthenticationError, match=f"{VAR} holds a line break"):
        Privilege(password_env=VAR).password_read({VAR: "one\ntwo"})
    # without sudo the variable is not needed, so not read
    unused = CommandSpec("id", sudo_password_env=VAR)
    assert unused.password_read({}) is unused


def test_pickled_command_work_carries_the_variables_name_never_its_value() -> None:
    password = f"never-travels-{secrets.token_hex(8)}"
    register_secret(password)  # as reading it anywhere in this process would
    spec = CommandSpec("id -un", env={"A": "b"}, timeout=5)

    deferred = pickle.dumps(command_work(Privilege(password_env=VAR).applied_to(spec)))
    assert password.encode() not in deferred
    assert VAR.encode() in deferred
    assert secrets_in(deferred) == 0

    carried = pickle.dumps(command_work(Privilege(password=password).applied_to(spec)))
    assert secrets_in(carried) == 1  # what a controller refuses to send


def test_the_cli_names_the_variable_without_reading_it_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(VAR, raising=False)
    named = privilege_from(True, "deploy", VAR, read_where_used=True)
    assert named == Privilege("deploy", password_env=VAR)
    assert privilege_from(True, None, None, read_where_used=True) == Privilege()
    assert privilege_from(False, None, None, read_where_used=True) is None
    with pytest.raises(typer.Exit) as bad:
        privilege_from(True, None, "NOT-A-NAME", read_where_used=True)
    assert bad.value.exit_code == 2
    with pytest.raises(typer.Exit) as unset:  # read at start, as always, by default
        privilege_from(True, None, VAR)
    assert unset.value.exit_code == 2
    monkeypatch.setenv(VAR, "read-at-start\n")
    assert privilege_from(True, None, VAR) == Privilege(None, "read-at-start")
