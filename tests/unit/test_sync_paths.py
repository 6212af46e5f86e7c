"""Remote path rules without a host: temporary names within NAME_MAX, the protected
destinations, normalising spellings, and the ``~user`` refusal."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from remoteops.errors import ConfigurationError
from remoteops.sync.paths import normalise, protected, refuse_user_home, shell_word
from remoteops.transports.listing import split_where, where_command
from remoteops.tree import (
    NAME_MAX,
    TEMPORARY_NAME,
    VISIBLE_MAX,
    hidden_name,
    is_temporary_of,
    temporary_name,
)

LONGEST = ["a" * 255, "é" * 127 + "x", "日本" * 42 + "abc", "x" * 231, "x" * 232]


@pytest.mark.parametrize("name", LONGEST)
def test_a_temporary_of_the_longest_name_still_fits_name_max(name: str) -> None:
    assert len(os.fsencode(name)) <= NAME_MAX
    hidden = temporary_name(f"some/folder/{name}").rpartition("/")[2]
    assert len(os.fsencode(hidden)) <= NAME_MAX
    assert TEMPORARY_NAME.fullmatch(hidden)
    assert is_temporary_of(hidden, {name})
    assert not is_temporary_of(hidden, {"other"})


def test_short_names_keep_their_whole_name_and_cut_ones_match_only_their_prefix() -> None:
    assert hidden_name("app.conf", "0123abcd") == ".app.conf.remoteops-0123abcd.tmp"
    cut = hidden_name("a" * 240, "0123abcd")
    assert cut == "." + "a" * VISIBLE_MAX + ".remoteops-0123abcd.tmp"
    assert is_temporary_of(cut, {"a" * 250})  # any name it begins stands for it
    assert not is_temporary_of(cut, {"a" * (VISIBLE_MAX - 1)})
    assert not is_temporary_of(".app.conf.remoteops-0123abcd.tmp", {"app.con"})
    assert not is_temporary_of(".app.conf.remoteops-xyz.tmp", {"app.conf"})


@pytest.mark.parametrize(
    ("spelled", "meant"),
    [
        ("/etc/.", "/etc"),
        ("//etc", "/etc"),
        ("///etc//", "/etc"),
        ("/./etc", "/etc"),
        ("/usr/../etc", "/etc"),
        ("/etc/./", "/etc"),
        ("/.", "/"),
        ("/tmp/..", "/"),
        ("/var/lib/..", "/var"),
        ("/..", "/"),
    ],
)
def test_spellings_are_normalised_as_the_host_reads_them(spelled: str, meant: str) -> None:
    assert normalise(spelled) == meant


def test_relative_paths_start_at_the_login_folder() -> None:
    assert normalise(".", "/root") == "/root"
    assert normalise("..", "/home/ann") == "/home"
    assert normalise("site/../..", "/home/ann") == "/home"
    assert normalise("www", "/srv") == "/srv/www"


@pytest.mark.parametrize(
    "path",
    ["/", "/etc", "/boot", "/sbin", "/lib", "/lib64", "/libx32", "/opt", "/srv", "/usr", "/var",
     "/tmp", "/proc", "/sys", "/dev", "/run", "/home", "/root", "/media", "/mnt", "/usr/bin",
     "/usr/local", "/usr/local/bin", "/var/lib", "/var/log", "/var/www", "/home/ann"],
)  # fmt: skip
def test_system_and_home_folders_are_protected(path: str) -> None:
    assert protected(path) is not None


@pytest.mark.parametrize(
    "path", ["/etc/nginx", "/srv/www", "/var/www/html", "/home/ann/site", "/tmp/x", "/data"]
)
def test_folders_inside_them_are_not(path: str) -> None:
    assert protected(path) is None


def test_the_login_home_and_the_folders_holding_it_are_protected() -> None:
    home = "/var/lib/service/app"
    assert protected("/var/lib/service/app", home) == "the login's home folder"
    assert "holding the login's home" in (protected("/var/lib/service", home) or "")
    assert protected("/var/lib/service/app/site", home) is None
    assert protected("/var/lib/service2", home) is None


@pytest.mark.parametrize("path", ["~root", "~ann/x", "~+", "~-/x"])
def test_tilde_user_forms_are_refused_with_the_way_out(path: str) -> None:
    with pytest.raises(ConfigurationError, match=r"is not expanded.*write the folder out"):
        refuse_user_home(path)


@pytest.mark.parametrize("path", ["~", "~/", "~/x", "a/~", "./~ann", "/x/~y"])
def test_the_login_home_and_literal_tildes_pass(path: str) -> None:
    refuse_user_home(path)


def test_a_leftover_with_a_cut_name_is_removed_like_any_other() -> None:
    """The planner's leftover rule matches the old shape and the cut one alike."""
    from remoteops.sync.model import ActionKind, SyncOptions
    from remoteops.sync.plan import plan_sync
    from remoteops.tree import Entry, Kind

    cut = "d/" + hidden_name("n" * 255, "0badc0de")
    old = "d/.app.conf.remoteops-0123abcd.tmp"
    remote = [Entry("d", Kind.DIR, mode=0o755), Entry(cut, Kind.FILE), Entry(old, Kind.FILE)]
    plan = plan_sync([Entry("d", Kind.DIR, mode=0o755)], remote, SyncOptions())
    assert sorted(a.path for a in plan.actions if a.kind is ActionKind.DELETE) == sorted([cut, old])


def test_a_temporary_beside_a_file_of_the_root_folder_stays_in_the_root_folder() -> None:
    """``/x`` gave a relative ``.x....tmp``: written to the login's folder, renamed across."""
    assert temporary_name("/x").startswith("/.x.remoteops-")
    assert temporary_name("x").startswith(".x.remoteops-")


@pytest.mark.parametrize(
    ("path", "word"),
    [
        ("~", "~"),
        ("~/", "~/"),
        ("~/a b", "~/'a b'"),
        ("/x/$HOME", "'/x/$HOME'"),
        ("./~x", "'./~x'"),
    ],
)
def test_a_shell_word_leaves_only_a_leading_tilde_unquoted(path: str, word: str) -> None:
    assert shell_word(path) == word


def test_the_shell_expands_the_tilde_of_a_shell_word(tmp_path: Path) -> None:
    """What a guard's ``test -e`` asks a host with no file protocol (Telnet)."""
    (tmp_path / "a b").write_text("")
    for path, found in (("~/a b", 0), ("~/a", 1)):
        probe = subprocess.run(
            ["sh", "-c", f"test -e {shell_word(path)}"], env={"HOME": str(tmp_path)}, check=False
        )
        assert probe.returncode == found


def test_a_shell_word_refuses_another_users_home() -> None:
    with pytest.raises(ConfigurationError, match="~root is not expanded"):
        shell_word("~root/x")


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_where_command_resolves_as_realpath_does_with_the_missing_rest_joined(
    tmp_path: Path, shell: str
) -> None:
    """The sync's destination check without SFTP: the login folder, and the destination
    as the host resolves it (links followed, the part still to make joined as is)."""
    real = tmp_path / "real"
    (real / "sub dir").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "new\nline").mkdir()
    start = tmp_path / "start"
    start.mkdir()
    (start / "up").symlink_to(tmp_path)
    cases = {
        f"{tmp_path}/link/sub dir": f"{real}/sub dir",
        f"{tmp_path}/link/missing/more": f"{real}/missing/more",
        "up/link/x": f"{real}/x",  # relative: from the login folder
        "up/new\nline/": f"{tmp_path}/new\nline",
        "/": "/",
    }
    for path, expected in cases.items():
        done = subprocess.run(
            [shell, "-c", where_command(path)], cwd=start, capture_output=True, check=True
        )
        home, resolved, rest = split_where(done.stdout)
        assert (home, os.path.normpath(resolved), rest) == (str(start), expected, b"")
