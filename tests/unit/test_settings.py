"""Per-protocol settings: declared once, read typed, checked before a run connects."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from remoteops.errors import InventoryError
from remoteops.executor import Executor, NullListener
from remoteops.inventory import load_inventory
from remoteops.inventory.model import Host, Location
from remoteops.results import HostResult
from remoteops.transports import TransportFactory
from remoteops.transports.settings import (
    KNOWN_VARIABLES,
    ConnectionSettings,
    FTPSettings,
    HostSettings,
    LocalSettings,
    SSHSettings,
    TargetSettings,
    TelnetSettings,
    check_hosts,
    likely_meant,
    reference_table,
    settings_for,
)

ROOT = Path(__file__).resolve().parents[2]
README_TABLES = {
    "host": HostSettings,
    "target": TargetSettings,
    "connection": ConnectionSettings,
    "ssh": SSHSettings,
    "ftp": FTPSettings,
    "telnet": TelnetSettings,
}


def test_each_protocol_reads_its_settings_typed_from_any_spelling() -> None:
    """YAML types, INI strings and the defaults all end as the field's type."""
    ftp = settings_for(
        Host("f", {"protocol": "ftps", "ftp_connections": "8", "ftp_passive": "No",
                   "tls_verify": False, "port": "2121", "connect_timeout": "2.5"})
    )  # fmt: skip
    assert isinstance(ftp, FTPSettings)
    assert (ftp.ftp_connections, ftp.ftp_passive, ftp.tls_verify) == (8, False, False)
    assert (ftp.port, ftp.connect_timeout, ftp.ftp_plaintext_ok) == (2121, 2.5, False)
    telnet = settings_for(
        Host("t", {"protocol": "telnet", "telnet_shell": "POSIX", "telnet_idle_timeout": 5,
                   "telnet_error_patterns": "^% ", "telnet_paging_command": None})
    )  # fmt: skip
    assert isinstance(telnet, TelnetSettings)
    assert (telnet.shell, telnet.idle_timeout, telnet.error_patterns) == ("posix", 5.0, ("^% ",))
    assert telnet.paging_command == ""  # YAML's empty value: no paging command
    assert not telnet.custom_prompt
    assert telnet.shell_prompt.endswith(r"[#>$%]\s*$")
    assert isinstance(settings_for(Host("s", {})), SSHSettings)
    assert isinstance(settings_for(Host("l", {"protocol": "local", "port": 1})), LocalSettings)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"protocol": "ftp", "ftp_connections": "lots"},
         "host h1: ftp_connections must be an integer from 1 to 64, not 'lots'"),
        ({"protocol": "ftp", "ftp_connections": 0}, "integer from 1 to 64, not 0"),
        ({"protocol": "ftp", "ftp_passive": "sometimes"}, "ftp_passive must be true or false"),
        ({"protocol": "telnet", "telnet_shell": "bogus"},
         "host h1: telnet_shell must be one of auto, posix, device, not 'bogus'"),
        ({"protocol": "telnet", "telnet_idle_timeout": "soon"},
         "telnet_idle_timeout must be a positive number, not 'soon'"),
        ({"protocol": "telnet", "telnet_idle_timeout": float("inf")}, "positive number"),
        ({"protocol": "telnet", "telnet_login_prompt": "login("}, "a regular expression"),
        ({"protocol": "telnet", "telnet_error_patterns": ["ok", "[x"]}, "regular expressions"),
        ({"protocol": "telnet", "enable_password_env": "my pass"}, "environment variable"),
        ({"protocol": "ssh", "port": True}, "port must be an integer from 1 to 65535, not True"),
        ({"protocol": "ssh", "jump_host": ""}, "jump_host must be a non-empty string"),
        ({"protocol": "ftp", "tls_verify": None}, "tls_verify must be true or false"),
    ],
)  # fmt: skip
def test_a_bad_value_names_the_host_the_variable_and_what_it_takes(
    variables: dict[str, object], message: str
) -> None:
    with pytest.raises(InventoryError, match=re.escape(message)):
        settings_for(Host("h1", variables))


def test_a_bad_value_is_reported_where_it_was_written_with_every_host_it_reached(
    tmp_path: Path,
) -> None:
    (tmp_path / "hosts.ini").write_text(
        "[sw]\nsw[1:3] protocol=telnet\n\n[sw:vars]\ntelnet_shell=bogus\n"
    )
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "sw3.yml").write_text("telnet_shell: device\n")
    hosts = load_inventory([str(tmp_path)]).select("all")
    with pytest.raises(InventoryError) as caught:
        check_hosts(hosts)
    assert caught.value.source == str(tmp_path / "hosts.ini")
    assert caught.value.line == 5
    assert str(caught.value).endswith(  # sw3's own value wins over the group's
        "hosts sw[1-2]: telnet_shell must be one of auto, posix, device, not 'bogus'"
    )
    assert settings_for(hosts[2]) == TelnetSettings(protocol="telnet", shell="device")


def test_hosts_remember_where_each_winning_value_was_written(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars:\n    port: 2200\n    user: ops\n  hosts:\n    web1:\n      port: 2201\n"
    )
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("user: deploy\n")
    (web1,) = load_inventory([str(tmp_path)]).select("web1")
    assert web1.origins["port"] == Location(str(tmp_path / "hosts.yml"), 7, "all.hosts.web1.port")
    assert web1.origins["user"].source == str(tmp_path / "group_vars" / "all.yml")
    assert web1.vars["user"] == "deploy"


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("connect_timout", "connect_timeout"), ("conect_timeout", "connect_timeout"),
        ("adress", "address"), ("prot", "port"), ("usr", "user"), ("tls_verfy", "tls_verify"),
        ("ftp_conections", "ftp_connections"), ("telnet_idle_timout", "telnet_idle_timeout"),
        ("users", None), ("ports", None), ("http_port", None), ("role", None), ("motd", None),
        ("ntp_server", None), ("shell", None), ("ansible_python_interpreter", None),
    ],
)  # fmt: skip
def test_likely_typos_are_one_or_two_slips_from_a_setting(name: str, meant: str | None) -> None:
    assert likely_meant(name) == meant


def test_a_likely_typo_is_one_warning_per_place_naming_its_hosts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars:\n    connect_timout: 5\n    motd: hello\n"
        "  hosts:\n    web[1:3]: {protocol: local}\n"
    )
    hosts = load_inventory([str(tmp_path)]).select("all")
    with caplog.at_level(logging.WARNING, logger="remoteops"):
        checked = check_hosts(hosts)
    assert sorted(checked) == ["web1", "web2", "web3"]
    assert [record.getMessage() for record in caplog.records] == [
        f"{tmp_path / 'hosts.yml'}:3: unknown variable 'connect_timout' of hosts web[1-3]: "
        "did you mean connect_timeout?"
    ]


def test_a_run_checks_settings_before_any_host_starts() -> None:
    """The library's entry point: the factory's prepare raises, no worker ever runs."""
    started: list[str] = []

    def work(host: Host, transport: object, listener: object) -> HostResult:
        started.append(host.name)
        raise AssertionError("no host may start")

    hosts = [Host("here", {"protocol": "local"}),
             Host("sw1", {"protocol": "telnet", "telnet_shell": "bogus"})]  # fmt: skip
    with pytest.raises(InventoryError, match="host sw1: telnet_shell"):
        Executor(TransportFactory(), listener=NullListener()).run(hosts, work)
    assert started == []


def test_the_factory_hands_transports_the_settings_it_checked() -> None:
    factory = TransportFactory()
    host = Host("f1", {"protocol": "ftp", "ftp_connections": "3"})
    factory.prepare([host])
    transport = factory.create(host)
    assert transport.parallel_transfers == 3
    assert factory.settings(host) is factory.settings(host)


def test_transports_read_no_raw_variables() -> None:
    """Only the inventory and the settings module look into ``Host.vars``: every other module
    reads typed settings, so no setting can skip the checks (or be parsed twice)."""
    readers = []
    for path in sorted((ROOT / "remoteops").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(("remoteops/inventory/", "remoteops/playground/")):
            continue
        if relative == "remoteops/transports/settings.py":
            continue
        text = path.read_text()
        if re.search(r"\.vars\.get\(|\.vars\[|\.flag\(", text):
            readers.append(relative)
    assert readers == []


def test_every_setting_is_declared_once_with_a_doc() -> None:
    """Each class adds settings of its own; together they are every known variable."""
    added: list[str] = []
    for kind in README_TABLES.values():
        parent = kind.__mro__[1]
        inherited = {n for n, _ in parent.declared()} if issubclass(parent, HostSettings) else set()
        own = [declared for name, declared in kind.declared() if name not in inherited]
        added += [declared.name for declared in own]
        assert all(declared.doc for declared in own), kind
    assert sorted(added) == sorted(KNOWN_VARIABLES)


@pytest.mark.parametrize("key", sorted(README_TABLES))
def test_the_readme_settings_tables_are_the_declarations(key: str) -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- settings:{key} -->\n(.*?)\n<!-- /settings:{key} -->", readme, re.S)
    assert match is not None, f"README has no settings:{key} table"
    assert match.group(1) == reference_table(README_TABLES[key])
