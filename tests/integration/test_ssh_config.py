"""~/.ssh/config is honoured, the inventory wins over it, and jump hosts work."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from remoteops import Fleet
from remoteops.errors import ConfigurationError
from remoteops.executor import run_command
from remoteops.inventory.model import Host
from remoteops.playground import PlaygroundState
from remoteops.results import Status
from remoteops.tasks.fabfile import fabric_config, run_fabfile
from remoteops.transports import CommandSpec, ConnectionOverrides, Privilege, TransportFactory
from remoteops.transports.known_hosts import host_key_name
from remoteops.transports.ssh_config import parse_ssh_option
from tests.integration.conftest import Agent, with_vars
from tests.integration.test_fabfile import write_fabfile


def _ssh_config(tmp_path: Path, playground: PlaygroundState, host: Host) -> Path:
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host alias-one\n"
        f"    HostName {host.address}\n"
        f"    Port {host.port}\n"
        f"    User {playground.user}\n"
        f"    IdentityFile {playground.client_key_path}\n"
        f"Host *\n"
        f"    ConnectTimeout 3\n"
    )
    return config


def test_ssh_config_supplies_hostname_user_port_and_identity(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    config = _ssh_config(tmp_path, playground, ssh_hosts[0])
    alias = Host("alias-one", {"known_hosts_file": str(playground.known_hosts_path)})
    factory = TransportFactory(ssh_config_path=config)
    target = factory.ssh_context().resolve(alias)
    assert (target.address, target.port, target.user) == (
        ssh_hosts[0].address,
        ssh_hosts[0].port,
        playground.user,
    )
    assert target.identity_files == (str(playground.client_key_path),)
    assert target.connect_timeout == 3
    assert run_command([alias], CommandSpec("true"), factory=factory).results[0].ok


def test_inventory_wins_over_ssh_config(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    config = _ssh_config(tmp_path, playground, ssh_hosts[0])
    alias = Host("alias-one", {"known_hosts_file": str(playground.known_hosts_path), "port": 1})
    factory = TransportFactory(ssh_config_path=config)
    assert factory.ssh_context().resolve(alias).port == 1
    result = run_command([alias], CommandSpec("true"), factory=factory).results[0]
    assert result.status is Status.UNREACHABLE


@pytest.mark.usefixtures("requires_root")
def test_jump_host_named_by_inventory_carries_the_connection(ssh_hosts: list[Host]) -> None:
    jump, target = ssh_hosts[0], ssh_hosts[1]
    through = with_vars(target, jump_host=jump.name)
    factory = TransportFactory(inventory={h.name: h for h in ssh_hosts})
    direct = run_command([target], CommandSpec("echo $SSH_CONNECTION")).results[0]
    hopped = run_command([through], CommandSpec("echo $SSH_CONNECTION"), factory=factory).results[0]
    assert hopped.status is Status.OK, hopped.error
    # The target sees the jump host's address as the client, not the bridge's.
    assert hopped.stdout.split()[0].decode() == jump.address
    assert direct.stdout.split()[0].decode() != jump.address


def test_unknown_jump_host_fails_only_that_host(ssh_hosts: list[Host], tmp_path: Path) -> None:
    through = with_vars(ssh_hosts[1], jump_host=f"{ssh_hosts[0].address}:1")
    report = run_command(
        [through, ssh_hosts[2]],
        CommandSpec("true"),
        factory=TransportFactory(ssh_config_path=tmp_path / "none"),
    )
    assert report.results[0].status is Status.UNREACHABLE
    assert "jump host" in (report.results[0].error or "")
    assert report.results[1].ok


@pytest.mark.usefixtures("requires_root")
def test_jump_chain_goes_through_every_hop_in_order(ssh_hosts: list[Host]) -> None:
    first, second, target = ssh_hosts[0], ssh_hosts[1], ssh_hosts[2]
    through = with_vars(target, jump_host=f"{first.name},{second.name}")
    factory = TransportFactory(inventory={h.name: h for h in ssh_hosts})
    result = run_command([through], CommandSpec("echo $SSH_CONNECTION"), factory=factory)
    assert result.results[0].status is Status.OK, result.results[0].error
    assert result.results[0].stdout.split()[0].decode() == second.address


def _proxy_config(tmp_path: Path, playground: PlaygroundState, alias: str, jump: Host) -> Path:
    """An ssh_config sending ``alias`` through ``ssh -W %h:%p`` on the jump host."""
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host {alias}\n"
        f"    ProxyCommand ssh -i {playground.client_key_path} -o BatchMode=yes"
        f" -o UserKnownHostsFile={playground.known_hosts_path} -W %h:%p"
        f" {playground.user}@{jump.address}\n"
    )
    return config


@pytest.mark.usefixtures("requires_root")
def test_proxy_command_from_ssh_config_is_used(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    jump, target = ssh_hosts[0], ssh_hosts[1]
    config = _proxy_config(tmp_path, playground, target.name, jump)
    factory = TransportFactory(ssh_config_path=config)
    result = run_command([target], CommandSpec("echo $SSH_CONNECTION"), factory=factory)
    assert result.results[0].status is Status.OK, result.results[0].error
    assert result.results[0].stdout.split()[0].decode() == jump.address


def test_malformed_jump_host_is_a_clear_error_for_that_host(ssh_hosts: list[Host]) -> None:
    bad = with_vars(ssh_hosts[0], jump_host="root@jump:notaport")
    result = run_command([bad, ssh_hosts[1]], CommandSpec("true"))
    assert result.results[0].status is Status.UNREACHABLE
    assert "cannot parse jump host" in (result.results[0].error or "")
    assert result.results[1].ok


@pytest.mark.usefixtures("requires_root")
def test_proxy_command_tokens_use_the_inventory_address_and_port(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    """``%h:%p`` must be where we connect: the inventory's address, not the ssh_config alias."""
    jump, target = ssh_hosts[0], ssh_hosts[1]
    config = _proxy_config(tmp_path, playground, "behind-proxy", jump)
    alias = Host("behind-proxy", dict(target.vars))  # inventory: address and port of target
    factory = TransportFactory(ssh_config_path=config)
    target_line = factory.ssh_context().resolve(alias).proxy_command or ""
    assert f"-W {target.address}:{target.port} " in target_line
    result = run_command([alias], CommandSpec("hostname"), factory=factory).results[0]
    assert result.status is Status.OK, result.error
    assert result.stdout == f"{target.name}\n".encode()


# -- Include, known_hosts files and host-key policy, IdentitiesOnly, -O ----------------------


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home (no keys, no known_hosts) with ``~/.ssh``: what ``~`` means from now on."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _where(host: Host) -> str:
    return f"    HostName {host.address}\n    Port {host.port}\n"


def _run(alias: str, factory: TransportFactory) -> tuple[Status, str]:
    return _run_host(Host(alias), factory)


def _run_host(host: Host, factory: TransportFactory) -> tuple[Status, str]:
    result = run_command([host], CommandSpec("true"), factory=factory).results[0]
    return result.status, result.error or ""


def test_include_globs_relative_paths_and_includes_inside_host_blocks_as_openssh(
    ssh_hosts: list[Host],
    playground: PlaygroundState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Relative to ~/.ssh, globs sorted, nested, and an Include in a Host block applies only
    to that host (the block in ``other-*`` would break the alias if it leaked)."""
    ssh = _home(tmp_path, monkeypatch) / ".ssh"
    _write(ssh / "config", "Include conf.d/*.conf\nHost alias-*\n    Include extra/keys.conf\n"
           "Host other-*\n    Include extra/wrong.conf\n")  # fmt: skip
    _write(ssh / "conf.d/10-where.conf", f"Host alias-inc\n{_where(ssh_hosts[0])}")
    _write(ssh / "conf.d/20-who.conf", f"Host alias-*\n    User {playground.user}\n")
    known = playground.known_hosts_path
    _write(ssh / "extra/keys.conf", f"IdentityFile {playground.client_key_path}\n"
           f"UserKnownHostsFile {known}\nInclude extra/deeper.conf\n")  # fmt: skip
    _write(ssh / "extra/deeper.conf", "ConnectTimeout 3\n")
    _write(ssh / "extra/wrong.conf", "Port 1\nUser nobody\nConnectTimeout 1\nHost *\n  Port 2\n")
    factory = TransportFactory()
    target = factory.ssh_context().resolve(Host("alias-inc"))
    assert (target.address, target.port, target.user, target.connect_timeout) == (
        ssh_hosts[0].address,
        ssh_hosts[0].port,
        playground.user,
        3,
    )
    assert target.identity_files == (str(playground.client_key_path),)
    assert _run("alias-inc", factory) == (Status.OK, "")


def test_user_known_hosts_file_of_ssh_config_is_searched_with_its_tokens(
    ssh_hosts: list[Host],
    playground: PlaygroundState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = _home(tmp_path, monkeypatch)
    _write(home / "kh" / ssh_hosts[0].address, playground.known_hosts_path.read_text())
    config = _write(tmp_path / "ssh_config", f"Host alias-kh\n{_where(ssh_hosts[0])}"
                    f"    User {playground.user}\n    IdentityFile {playground.client_key_path}\n"
                    "    UserKnownHostsFile ~/kh/none-here %d/kh/%h\n")  # fmt: skip
    assert _run("alias-kh", TransportFactory(ssh_config_path=config)) == (Status.OK, "")


def _policy_config(
    tmp_path: Path, playground: PlaygroundState, host: Host, policy: str, user: str = ""
) -> Path:
    return _write(tmp_path / "ssh_config", f"Host alias-policy\n{_where(host)}"
                  f"    User {user or playground.user}\n"
                  f"    IdentityFile {playground.client_key_path}\n"
                  f"    UserKnownHostsFile {tmp_path / 'known'}\n"
                  f"    GlobalKnownHostsFile {tmp_path / 'global'}\n"
                  f"    StrictHostKeyChecking {policy}\n")  # fmt: skip


@pytest.mark.parametrize("policy", ["accept-new", "no"])
def test_strict_host_key_checking_accept_new_and_no_record_an_unknown_key(
    policy: str, ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    config = _policy_config(tmp_path, playground, ssh_hosts[0], policy)
    assert _run("alias-policy", TransportFactory(ssh_config_path=config)) == (Status.OK, "")
    recorded = (tmp_path / "known").read_text()
    assert recorded.startswith(host_key_name(ssh_hosts[0].address, int(ssh_hosts[0].port)) + " ")
    # the next run trusts it even under the strictest policy
    strict = _policy_config(tmp_path, playground, ssh_hosts[0], "yes")
    assert _run("alias-policy", TransportFactory(ssh_config_path=strict)) == (Status.OK, "")


def test_strict_host_key_checking_ask_is_taken_as_yes_and_says_so(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    config = _policy_config(tmp_path, playground, ssh_hosts[0], "ask")
    status, error = _run("alias-policy", TransportFactory(ssh_config_path=config))
    assert status is Status.HOSTKEY
    assert "StrictHostKeyChecking ask" in error
    assert not (tmp_path / "known").exists()


def _changed_key(tmp_path: Path, playground: PlaygroundState, host: Host) -> None:
    """known_hosts listing another host's key under ``host``'s name: a changed key."""
    name = host_key_name(host.address, int(host.port))
    lines = playground.known_hosts_path.read_text().splitlines()
    other = next(line for line in lines if not line.startswith(name + " "))
    _write(tmp_path / "known", f"{name} {other.split(' ', 1)[1]}\n")


def test_strict_host_key_checking_no_lets_a_changed_key_through_loudly(
    ssh_hosts: list[Host],
    playground: PlaygroundState,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """OpenSSH's ``no``: a changed key connects (keys only, no password), with a warning;
    ``yes`` refuses it; the old key stays."""
    _changed_key(tmp_path, playground, ssh_hosts[0])
    before = (tmp_path / "known").read_text()
    strict = _policy_config(tmp_path, playground, ssh_hosts[0], "yes")
    status, error = _run("alias-policy", TransportFactory(ssh_config_path=strict))
    assert status is Status.HOSTKEY
    assert "HOST KEY CHANGED" in error
    loose = _policy_config(tmp_path, playground, ssh_hosts[0], "no")
    with caplog.at_level("WARNING", logger="remoteops"):
        assert _run("alias-policy", TransportFactory(ssh_config_path=loose)) == (Status.OK, "")
    assert any("HOST KEY CHANGED" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "known").read_text() == before


@pytest.mark.usefixtures("requires_root")
def test_no_sudo_password_is_sent_to_a_changed_key_let_through_by_no(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    """Someone in the middle who accepts any public key gets the commands, and with them
    sudo's password, which is the login password OpenSSH refuses to send there. run --sudo,
    file operations under sudo and a fabfile's ``c.sudo`` all fail at sudo's prompt instead;
    the same key as known (``accept-new`` beside it) gets the password as before."""
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    fabfile = write_fabfile(tmp_path, "@task\ndef who(c):\n    c.sudo('id -un')\n")
    (tmp_path / "motd").write_text("hello\n")
    _changed_key(tmp_path, playground, ssh_hosts[0])
    outcomes = []
    for policy in ("no", "accept-new"):
        if policy == "accept-new":
            (tmp_path / "known").unlink()
        user = playground.sudo_user
        config = _policy_config(tmp_path, playground, ssh_hosts[0], policy, user)
        factory = TransportFactory(ssh_config_path=config)
        with Fleet([Host("alias-policy")], factory=factory) as fleet:
            ran = fleet.run("id -un", sudo=True, sudo_password=password).results[0]
            put = fleet.put(tmp_path / "motd", "/root/motd", sudo=Privilege(password=password))
            fab = run_fabfile(fleet, fabfile, fabfile.calls(["who"]),
                              config=fabric_config(fabfile, sudo_password=password))  # fmt: skip
        outcomes.append((ran, put.results[0], fab.hosts[0]))
    for result in outcomes[0]:
        assert result.status is Status.FAILED, result
        assert "not sent: the host key changed" in (result.error or ""), result.error
    assert [r.status for r in outcomes[1]] == [Status.OK] * 3, outcomes[1]
    assert outcomes[1][0].stdout == b"root\n"


@pytest.mark.usefixtures("requires_root")
def test_no_login_password_is_sent_to_a_changed_key_let_through_by_no(
    ssh_hosts: list[Host],
    playground: PlaygroundState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against the playground's sshd, which takes passwords: with no key to offer, the
    password is held back (``auth``, saying so), and the same login works once the key is
    the known one."""
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    _home(tmp_path, monkeypatch)  # no default key files
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("REMOTEOPS_TEST_LOGIN", playground.sudo_password_file.read_text().strip())
    _changed_key(tmp_path, playground, ssh_hosts[0])
    host = Host("alias-password", {"password_env": "REMOTEOPS_TEST_LOGIN"})
    results = []
    for policy in ("no", "accept-new"):
        if policy == "accept-new":
            (tmp_path / "known").unlink()
        _write(tmp_path / "ssh_config", f"Host alias-password\n{_where(ssh_hosts[0])}"
               f"    User {playground.sudo_user}\n    UserKnownHostsFile {tmp_path / 'known'}\n"
               f"    StrictHostKeyChecking {policy}\n")  # fmt: skip
        factory = TransportFactory(ssh_config_path=tmp_path / "ssh_config")
        results.append(run_command([host], CommandSpec("id -un"), factory=factory).results[0])
    assert results[0].status is Status.AUTH
    assert "(not sent: the host key changed)" in (results[0].error or "")
    assert (results[1].status, results[1].stdout) == (
        Status.OK,
        f"{playground.sudo_user}\n".encode(),
    ), results[1].error


def test_identities_only_keeps_the_agent_keys_out(
    ssh_hosts: list[Host],
    playground: PlaygroundState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ssh_agent: Agent,
) -> None:
    _home(tmp_path, monkeypatch)  # no default key files: only the agent holds the key
    ssh_agent.add(playground.client_key_path)
    text = (f"Host alias-agent\n{_where(ssh_hosts[0])}    User {playground.user}\n"
            f"    UserKnownHostsFile {playground.known_hosts_path}\n")  # fmt: skip
    with_agent = _write(tmp_path / "agent_config", text)
    assert _run("alias-agent", TransportFactory(ssh_config_path=with_agent)) == (Status.OK, "")
    only = _write(tmp_path / "only_config", text + "    IdentitiesOnly yes\n")
    status, _ = _run("alias-agent", TransportFactory(ssh_config_path=only))
    assert status is Status.AUTH


def test_ssh_options_win_over_inventory_and_files_but_not_for_jump_hosts(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    config = _ssh_config(tmp_path, playground, ssh_hosts[0])
    alias = Host("alias-one", {"port": ssh_hosts[0].port})
    forced = ConnectionOverrides(
        ssh_options={"UserKnownHostsFile": str(playground.known_hosts_path), "Port": "1"}
    )
    factory = TransportFactory(ssh_config_path=config, overrides=forced)
    assert factory.ssh_context().resolve(alias).port == 1
    assert factory.ssh_context().resolve(alias, as_jump=True).port == ssh_hosts[0].port
    forced = ConnectionOverrides(
        ssh_options={"userknownhostsfile": str(playground.known_hosts_path)}
    )
    assert _run("alias-one", TransportFactory(ssh_config_path=config, overrides=forced)) == (
        Status.OK,
        "",
    )


def test_an_unknown_ssh_option_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'Bogus'"):
        ConnectionOverrides(ssh_options={"Bogus": "1"})


@pytest.mark.usefixtures("requires_root")  # mknod
@pytest.mark.parametrize("policy", ["accept-new", "no"])
def test_a_new_key_recorded_into_dev_null_or_a_symlink_keeps_the_file_what_it_is(
    policy: str, ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    """``UserKnownHostsFile /dev/null`` with ``StrictHostKeyChecking no`` is the usual "trust
    anything, remember nothing" idiom: OpenSSH appends to the file, so the key goes nowhere.
    Writing by temp file and rename replaced the device (as root, /dev/null itself) with a
    regular file, and a known_hosts symlinked elsewhere with a copy. Here a null device of the
    test's own stands for /dev/null."""
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    stored = _write(tmp_path / "dotfiles" / "known_hosts", "# kept in a dotfiles repo\n")
    (tmp_path / "known").symlink_to(stored)
    for user_file in (null, tmp_path / "known"):
        config = _write(tmp_path / "ssh_config", f"Host alias-null\n{_where(ssh_hosts[0])}"
                        f"    User {playground.user}\n"
                        f"    IdentityFile {playground.client_key_path}\n"
                        f"    UserKnownHostsFile {user_file}\n    GlobalKnownHostsFile none\n"
                        f"    StrictHostKeyChecking {policy}\n")  # fmt: skip
        assert _run("alias-null", TransportFactory(ssh_config_path=config)) == (Status.OK, "")
    assert stat.S_ISCHR(null.stat().st_mode)
    assert null.read_bytes() == b""
    assert (tmp_path / "known").is_symlink()
    name = host_key_name(ssh_hosts[0].address, int(ssh_hosts[0].port))
    assert stored.read_text().splitlines()[1].startswith(name + " ")


def test_ssh_options_take_quoted_values_with_spaces_as_ssh_does(
    ssh_hosts: list[Host], playground: PlaygroundState, tmp_path: Path
) -> None:
    """ssh splits an ``-o`` value as a config line, quotes taken off: ``IdentityFile="/a b"``
    is the file ``/a b``; UserKnownHostsFile lists several, each maybe quoted. The quotes
    were kept, part of the file name, and a quoted file with a space split in two."""
    spaced = tmp_path / "with space"
    spaced.mkdir()
    key = spaced / "client key"
    key.write_bytes(playground.client_key_path.read_bytes())
    key.chmod(0o600)
    known = spaced / "known hosts"
    known.write_text(playground.known_hosts_path.read_text())
    typed = [f'IdentityFile="{key}"', f"UserKnownHostsFile '{tmp_path}/none' \"{known}\""]
    options = dict(parse_ssh_option(text) for text in typed)
    factory = TransportFactory(
        ssh_config_path=tmp_path / "none", overrides=ConnectionOverrides(ssh_options=options)
    )
    host = Host("spaced", {"address": ssh_hosts[0].address, "port": ssh_hosts[0].port,
                           "user": playground.user})  # fmt: skip
    target = factory.ssh_context().resolve(host)
    assert target.identity_files == (str(key),)
    assert target.known_hosts_files is not None
    assert target.known_hosts_files[:2] == (tmp_path / "none", known)
    assert _run_host(host, factory) == (Status.OK, "")
