"""Config files, verbose logs and the run journal through the real CLI, on playground hosts.

Every run gets its own config and state folders (``XDG_CONFIG_HOME``, ``XDG_STATE_HOME``)
and a working folder of its own, so the project file is the test's and no run of the user's
(or another test's) is journalled with ours.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import by_host, json_lines, local_inventory, remoteops

from remoteops.playground import PlaygroundState


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """Config and state folders of the test's own (the user file goes in ``config/remoteops``)."""
    (tmp_path / "config" / "remoteops").mkdir(parents=True)
    (tmp_path / "project").mkdir()
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}


def _user_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "remoteops" / "config.toml"


def _runs(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["XDG_STATE_HOME"]) / "remoteops" / "runs").glob("*.jsonl"))


# -- config files -----------------------------------------------------------------------------


def test_config_files_give_defaults_below_env_and_flags_and_config_says_where_each_came_from(
    home: dict[str, str], inventory: str, names: list[str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    _user_file(home).write_text('output = "json"\nforks = 3\n[run]\ntimeout = 0.5\n')
    (project / "remoteops.toml").write_text(f"inventory = {json.dumps(inventory)}\nforks = 7\n")

    shown = remoteops("config", env=home, cwd=project)
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line for line in shown.stdout.decode().splitlines()}
    assert lines["forks"].split("#")[1].strip() == str(project / "remoteops.toml")  # project wins
    assert "7" in lines["forks"]
    assert lines["output"].split("#")[1].strip() == str(_user_file(home))
    assert lines["connect-timeout"].endswith("# built-in")
    assert "[run] timeout = 0.5" in shown.stdout.decode()

    # the project's inventory, the user's json output and [run]'s command timeout, no flags
    run = remoteops("run", "-H", names[0], "sleep 5", env=home, cwd=project)
    assert run.returncode == 3, run.stderr  # 3: some host timed out (README)
    assert by_host(run.stdout)[names[0]]["status"] == "timeout"
    # a flag outranks both files
    flagged = remoteops("run", "-H", names[0], "-o", "text", "-t", "30", "echo hi", env=home,
                        cwd=project)  # fmt: skip
    assert flagged.returncode == 0, flagged.stderr
    assert b'"host"' not in flagged.stdout
    assert b"hi" in flagged.stdout

    # the environment outranks the files: REMOTEOPS_INVENTORY names another inventory
    other = local_inventory(tmp_path / "other.yml", ["from-env"])
    with_env = {**home, "REMOTEOPS_INVENTORY": str(other)}
    listed = remoteops("hosts", env=with_env, cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert b"from-env" in listed.stdout  # (in JSON: the user file's output applies to hosts too)
    assert not any(name.encode() in listed.stdout for name in names)
    shown = remoteops("config", env=with_env, cwd=project)
    assert b"# env $REMOTEOPS_INVENTORY" in shown.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("frks = 3\n", "unknown key 'frks'; did you mean forks?", id="unknown-key"),
        pytest.param(
            "[run]\nconect_timeout = 3\n", "unknown key 'run.conect_timeout'", id="unknown-in-table"
        ),
        pytest.param('forks = "3"\n', "forks must be an integer", id="string-for-int"),
        pytest.param("connect-timeout = -1\n", "connect-timeout must be a positive", id="range"),
        pytest.param('output = "yaml"\n', "output must be 'text' or 'json'", id="choice"),
        pytest.param("forks = \n", "not valid TOML", id="syntax"),
    ],
)
def test_a_bad_config_file_stops_every_command_naming_file_and_key(
    home: dict[str, str], tmp_path: Path, content: str, expected: str
) -> None:
    project = tmp_path / "project"
    (project / "remoteops.toml").write_text(content)
    inventory = local_inventory(tmp_path / "hosts.yml", ["h1"])
    for args in (["config"], ["run", "-i", str(inventory), "echo ran"]):
        result = remoteops(*args, env=home, cwd=project)
        assert result.returncode == 2, result
        assert b"ran" not in result.stdout
        message = result.stderr.decode()
        assert str(project / "remoteops.toml") in message
        assert expected in message
    # --help still shows, with the file as it is: it is how one finds the right key
    helped = remoteops("run", "--help", env=home, cwd=project)
    assert helped.returncode == 0, helped.stderr
    assert b"Usage" in helped.stdout


# -- verbose logs without secrets -------------------------------------------------------------


@pytest.mark.usefixtures("requires_root")
def test_verbose_logs_show_connection_steps_and_never_a_password_sudo_password_or_env_value(
    home: dict[str, str], playground: PlaygroundState, names: list[str], tmp_path: Path
) -> None:
    """A real password login and a real sudo password, with -vv and a log file: both logs
    say how the host was reached and never hold either password or an --env value."""
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    data: dict[str, Any] = yaml.safe_load(playground.inventory_path.read_text())
    group = data["all"]["children"]["playground"]
    group["vars"].pop("identity_file")
    group["vars"].update(user=playground.sudo_user, password_env="ROPTEST_LOGIN_PW")
    inventory = tmp_path / "password.yml"
    inventory.write_text(yaml.safe_dump(data))
    log = tmp_path / "run.log"
    env_secret = "envsecret-" + tmp_path.name
    run = remoteops(
        "-vv", "--log-file", str(log), "run", "-i", str(inventory), "-H", names[0],
        "--sudo", "--sudo-password-env", "ROPTEST_SUDO_PW", "-e", f"TOKEN={env_secret}",
        "echo $TOKEN; id -un",
        env={**home, "ROPTEST_LOGIN_PW": password, "ROPTEST_SUDO_PW": password,
             "HOME": str(tmp_path), "SSH_AUTH_SOCK": ""},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert b"root" in run.stdout
    stderr, written = run.stderr.decode(), log.read_text()
    for text in (stderr, written):
        assert "authenticated with password from $ROPTEST_LOGIN_PW" in text
        assert "negotiated in" in text
        assert "host key ssh-" in text
        assert "cipher " in text
        assert "Kex: " in text  # paramiko's own log, at -vv
        assert password not in text
        assert env_secret not in text
    journalled = _runs(home)[-1].read_text()
    assert password not in journalled
    assert env_secret not in journalled  # neither in the command line nor the output

    quiet = remoteops("-v", "run", "-i", str(inventory), "-H", names[0], "true",
                      env={**home, "ROPTEST_LOGIN_PW": password, "HOME": str(tmp_path),
                           "SSH_AUTH_SOCK": ""})  # fmt: skip
    assert quiet.returncode == 0, quiet.stderr
    assert b"authenticated with password" in quiet.stderr
    assert b"Kex: " not in quiet.stderr  # paramiko's log only at -vv


# -- the journal and @failed / @last ----------------------------------------------------------


def test_each_run_is_journalled_and_failed_and_last_select_the_previous_runs_hosts(
    home: dict[str, str], inventory: str, names: list[str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    none_yet = remoteops("run", "-i", inventory, "-H", "@failed", "true", env=home, cwd=project)
    assert none_yet.returncode == 2
    assert b"no previous run" in none_yet.stderr

    fail_two = f"case $(hostname) in {names[1]}|{names[2]}) exit 7;; esac"
    first = remoteops("run", "-i", inventory, "-H", "all", "-o", "json", fail_two, env=home,
                      cwd=project)  # fmt: skip
    assert first.returncode == 1, first.stderr
    (record,) = _runs(home)
    head, *results = [json.loads(line) for line in record.read_text().splitlines()]
    assert head["run"]["argv"] == ["remoteops", "run", "-i", inventory, "-H", "all", "-o",
                                   "json", fail_two]  # fmt: skip
    assert head["run"]["exit_code"] == 1
    assert {r["host"]: r for r in results} == by_host(first.stdout)  # as --output json has them

    retried = remoteops("run", "-i", inventory, "-H", "@failed", "-o", "json", "hostname",
                        env=home, cwd=project)  # fmt: skip
    assert retried.returncode == 0, retried.stderr
    assert sorted(by_host(retried.stdout)) == sorted(names[1:3])
    # the retry is now the previous run: @last is its two hosts, and @failed joins patterns
    last = remoteops("run", "-i", inventory, "-H", f"@last:!{names[1]}", "-o", "json", "true",
                     env=home, cwd=project)  # fmt: skip
    assert [r["host"] for r in json_lines(last.stdout)] == [names[2]]
    nothing_failed = remoteops("run", "-i", inventory, "-H", "@failed", "true", env=home)
    assert nothing_failed.returncode == 2
    assert b"@failed selects no host" in nothing_failed.stderr


def test_the_journal_keeps_only_the_last_runs_it_is_told_to(
    home: dict[str, str], tmp_path: Path
) -> None:
    inventory = local_inventory(tmp_path / "hosts.yml", ["h1"])
    _user_file(home).write_text("keep-runs = 2\n")
    for word in ("one", "two", "three"):
        assert remoteops("run", "-i", str(inventory), f"echo {word}", env=home).returncode == 0
    kept = _runs(home)
    assert len(kept) == 2
    assert ["two" in kept[0].read_text(), "three" in kept[1].read_text()] == [True, True]


def test_a_task_run_is_journalled_and_failed_retries_its_failed_hosts(
    home: dict[str, str], inventory: str, names: list[str], tmp_path: Path
) -> None:
    task = tmp_path / "task.yml"
    task.write_text(
        f"hosts: all\nsteps:\n  - name: fail one\n    run: test $(hostname) != {names[3]}\n"
    )
    first = remoteops("task", "-i", inventory, str(task), env=home)
    assert first.returncode == 1, first.stderr
    retried = remoteops("run", "-i", inventory, "-H", "@failed", "-o", "json", "true", env=home)
    assert retried.returncode == 0, retried.stderr
    assert list(by_host(retried.stdout)) == [names[3]]


def test_ssh_config_and_ssh_options_come_from_the_config_file_too(
    home: dict[str, str], playground: PlaygroundState, tmp_path: Path
) -> None:
    """``ssh-config`` (a path, beside the file when relative) and ``ssh-option`` (a list, as
    text) are keys like the others: an alias only that ssh_config names, whose host key is
    only in the known_hosts file an -O option names, is reached with no flag given."""
    host = playground.hosts[0]
    (tmp_path / "config" / "remoteops" / "ssh_config").write_text(
        f"Host alias-cfg\n    HostName {host.address}\n    Port {host.port}\n"
        f"    User {playground.user}\n    IdentityFile {playground.client_key_path}\n"
    )
    _user_file(home).write_text(
        'ssh-config = "ssh_config"\n'
        f'ssh-option = ["UserKnownHostsFile={playground.known_hosts_path}"]\n'
    )
    args = ("run", "-i", "alias-cfg,", "-H", "alias-cfg", "-o", "json", "true")
    ran = remoteops(*args, env=home, cwd=tmp_path / "project")
    assert ran.returncode == 0, ran.stderr
    assert by_host(ran.stdout)["alias-cfg"]["status"] == "ok"
    shown = remoteops("config", env=home, cwd=tmp_path / "project").stdout.decode()
    assert str(tmp_path / "config" / "remoteops" / "ssh_config") in shown
    # a flag still wins: the key is then in no file searched
    refused = remoteops(
        "run",
        "-O",
        "UserKnownHostsFile=/nonexistent",
        *args[1:],
        env=home,
        cwd=tmp_path / "project",
    )
    assert by_host(refused.stdout)["alias-cfg"]["status"] == "hostkey"
