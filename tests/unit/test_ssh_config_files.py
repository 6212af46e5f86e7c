"""ssh_config files read as OpenSSH reads them: Include semantics of readconf.c, -o keys."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from remoteops.errors import ConfigurationError
from remoteops.transports.ssh_config import (
    ConfigFile,
    expand_path_tokens,
    flattened_config,
    parse_ssh_option,
)


def _lookup(top: Path, base: Path, name: str) -> dict[str, object]:
    text = flattened_config([ConfigFile(top, base)])
    assert text is not None
    return dict(paramiko.SSHConfig.from_text(text).lookup(name))


def test_an_include_inside_a_block_that_does_not_match_never_matches(tmp_path: Path) -> None:
    """OpenSSH's SSHCONF_NEVERMATCH: even a ``Host *`` in the included file stays inactive,
    and after the Include the includer's block goes on."""
    (tmp_path / "inner").write_text("Port 1\nHost *\n    User leaked\n")
    top = tmp_path / "config"
    top.write_text("Host db\n    Include inner\n    HostName db.example\nHost *\n    User ok\n")
    assert _lookup(top, tmp_path, "web")["user"] == "ok"
    assert "port" not in _lookup(top, tmp_path, "web")
    db = _lookup(top, tmp_path, "db")
    assert (db["port"], db["user"], db["hostname"]) == ("1", "leaked", "db.example")


def test_the_first_value_obtained_wins_across_included_files(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("Host *\n    Port 2201\n")
    (tmp_path / "b.conf").write_text("Host *\n    Port 2202\n")
    top = tmp_path / "config"
    top.write_text("Include *.conf\nPort 2203\n")
    assert _lookup(top, tmp_path, "any")["port"] == "2201"


def test_an_include_loop_is_a_configuration_error(tmp_path: Path) -> None:
    top = tmp_path / "config"
    top.write_text("Include config\n")
    with pytest.raises(ConfigurationError, match="16 deep"):
        flattened_config([ConfigFile(top, tmp_path)])


def test_relative_includes_start_in_the_base_folder_not_the_including_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "x.conf").write_text("User from-base\n")
    (tmp_path / "elsewhere").mkdir()
    top = tmp_path / "elsewhere" / "config"
    top.write_text("Include x.conf\n")
    assert _lookup(top, tmp_path / "base", "h")["user"] == "from-base"


def test_an_unparsable_line_names_file_and_line(tmp_path: Path) -> None:
    top = tmp_path / "config"
    top.write_text("Host a\n    Port\n")
    with pytest.raises(ConfigurationError, match=r"config:2"):
        flattened_config([ConfigFile(top, tmp_path)])


def test_ssh_options_take_both_spellings_and_refuse_unknown_keys() -> None:
    assert parse_ssh_option("StrictHostKeyChecking=no") == ("StrictHostKeyChecking", "no")
    assert parse_ssh_option("Port 2222") == ("Port", "2222")
    for bad in ("Bogus=1", "Host=x", "Port="):
        with pytest.raises(ConfigurationError):
            parse_ssh_option(bad)


def test_path_tokens_expand_as_openssh_and_an_unknown_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KH", "kh")
    assert expand_path_tokens("%d/${KH}/%h_%p%%", {"h": "web1", "p": "22"}) == (
        f"{tmp_path}/kh/web1_22%"
    )
    assert expand_path_tokens("~/x", {}) == f"{tmp_path}/x"
    with pytest.raises(ConfigurationError, match="%Z"):
        expand_path_tokens("%Z", {})
