"""Config files and the run journal at their edges, through the real CLI on playground hosts:
``@failed`` across inventories, secrets in raw output, relative paths in the user file, a
command table's key the command lacks, and the commands the files must reach.

Every run gets its own config and state folders, as in ``test_cli_config_journal``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from cli_support import by_host, local_inventory, remoteops

from remoteops.playground import PlaygroundState


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "config" / "remoteops").mkdir(parents=True)
    (tmp_path / "project").mkdir()
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}


def _runs(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["XDG_STATE_HOME"]) / "remoteops" / "runs").glob("*.jsonl"))


def test_failed_after_a_run_of_another_inventory_is_refused_though_host_names_match(
    home: dict[str, str], inventory: str, names: list[str], tmp_path: Path
) -> None:
    """staging's web1 is not production's web1: a retry must not reach the wrong one."""
    other = tmp_path / "production.yml"
    other.write_text(Path(inventory).read_text())  # the same host names, another inventory
    failed = remoteops("run", "-i", inventory, "-H", names[0], "exit 3", env=home)
    assert failed.returncode == 1, failed.stderr

    elsewhere = remoteops("run", "-i", str(other), "-H", "@failed", "echo RAN", env=home)
    assert elsewhere.returncode == 2, elsewhere.stderr
    assert b"RAN" not in elsewhere.stdout
    message = elsewhere.stderr.decode()
    assert f"previous run used inventory {inventory}" in message
    assert str(other) in message

    (record,) = _runs(home)  # the refused run is no run: nothing journalled
    assert json.loads(record.read_text().splitlines()[0])["run"]["inventory"] == [inventory]
    same = remoteops("run", "-i", inventory, "-H", "@failed", "-o", "json", "true", env=home)
    assert same.returncode == 0, same.stderr
    assert list(by_host(same.stdout)) == [names[0]]


def test_the_journal_blanks_a_secret_in_output_that_is_kept_as_base64(
    home: dict[str, str], inventory: str, names: list[str]
) -> None:
    """Output that is not UTF-8 is journalled as base64 beside the text: the secret blanked
    in ``stdout`` must not come back by decoding ``stdout_base64``."""
    secret = "base64-secret-value"
    run = remoteops("run", "-i", inventory, "-H", names[0], "-o", "json", "-e", "TOKEN",
                    r"printf '\377'; echo $TOKEN", env={**home, "TOKEN": secret})  # fmt: skip
    assert run.returncode == 0, run.stderr
    shown = by_host(run.stdout)[names[0]]
    assert base64.b64decode(shown["stdout_base64"]) == b"\xff" + secret.encode() + b"\n"

    record = _runs(home)[-1].read_text()
    assert secret not in record
    (journalled,) = [json.loads(line) for line in record.splitlines()[1:]]
    raw = base64.b64decode(journalled["stdout_base64"])
    assert secret.encode() not in raw
    assert raw == b"\xff********\n"


def test_shell_and_fab_take_their_defaults_from_the_config_files(
    home: dict[str, str], inventory: str, names: list[str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "remoteops.toml").write_text(f"inventory = {json.dumps(inventory)}\n")
    shell = remoteops("shell", "-H", names[0], input_bytes=b"hostname\n", env=home, cwd=project)
    assert shell.returncode == 0, shell.stderr
    assert names[0].encode() in shell.stdout

    fabfile = project / "fabfile.py"
    fabfile.write_text("from fabric import task\n\n@task\ndef name(c):\n    c.run('hostname')\n")
    fab = remoteops("fab", "-H", names[0], "-o", "json", "name", env=home, cwd=project)
    assert fab.returncode == 0, fab.stderr
    assert names[0] in fab.stdout.decode()
    assert "localhost" not in fab.stdout.decode()


def test_a_relative_inventory_in_the_user_file_is_the_one_beside_that_file(
    home: dict[str, str], tmp_path: Path
) -> None:
    """As ansible.cfg's paths: the user file's ``hosts.yml`` is not whatever the current
    folder happens to hold under that name."""
    user_folder = Path(home["XDG_CONFIG_HOME"]) / "remoteops"
    local_inventory(user_folder / "hosts.yml", ["beside-the-file"])
    (user_folder / "config.toml").write_text('inventory = "hosts.yml"\n')
    project = tmp_path / "project"
    local_inventory(project / "hosts.yml", ["in-the-current-folder"])

    listed = remoteops("hosts", env=home, cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.decode().split() == ["beside-the-file"]
    shown = remoteops("config", env=home, cwd=project)
    assert str(user_folder / "hosts.yml") in shown.stdout.decode()


@pytest.mark.parametrize(
    ("table", "command"),
    [
        pytest.param("[hosts]\ntimeout = 5\n", ["hosts"], id="hosts-timeout"),
        pytest.param("[task]\ntimeout = 5\n", ["task", "nope.yml"], id="task-timeout"),
    ],
)
def test_a_command_table_key_the_command_has_no_option_for_stops_it(
    home: dict[str, str], tmp_path: Path, table: str, command: list[str]
) -> None:
    """click ignores a default for an option a command lacks: the file would silently not
    apply, where every other mistake in it stops the command."""
    project = tmp_path / "project"
    (project / "remoteops.toml").write_text(table)
    result = remoteops(*command, env=home, cwd=project)
    assert result.returncode == 2, result
    name = command[0]
    message = result.stderr.decode()
    assert f"[{name}] timeout: remoteops {name} has no --timeout option" in message
    assert str(project / "remoteops.toml") in message


@pytest.mark.usefixtures("requires_root")
def test_put_to_hosts_whose_inventory_asks_for_sudo_says_it_works_as_the_login_user(
    home: dict[str, str], playground: PlaygroundState, names: list[str], tmp_path: Path
) -> None:
    """ansible_become applies to run and task only (README): a put to such a host is not
    silently done as the login user."""
    data = yaml.safe_load(playground.inventory_path.read_text())
    data["all"]["children"]["playground"]["hosts"][names[0]]["ansible_become"] = True
    inventory = tmp_path / "become.yml"
    inventory.write_text(yaml.safe_dump(data))
    source = tmp_path / "file.txt"
    source.write_text("x\n")
    target = f"{tmp_path}/put-target.txt"
    put = remoteops("put", "-i", str(inventory), "-H", ",".join(names[:2]), str(source), target,
                    env=home)  # fmt: skip
    assert put.returncode == 0, put.stderr
    warning = put.stderr.decode()
    assert f"WARNING: {names[0]}: the inventory's sudo (ansible_become) applies to run" in warning
    assert names[1] not in warning
    with_sudo = remoteops("put", "-i", str(inventory), "-H", names[0], "--sudo", str(source),
                          target, env=home)  # fmt: skip
    assert with_sudo.returncode == 0, with_sudo.stderr
    assert b"ansible_become" not in with_sudo.stderr


def test_a_journal_folder_that_cannot_be_written_never_fails_the_run(
    home: dict[str, str], tmp_path: Path
) -> None:
    """A file where the state folder should be: the run that worked still exits 0 with its
    output (the cleanup of the unwritten journal raised out of ``finish``, exit 1 with an
    internal error's traceback). A read-only folder cannot be tried here: tests run as root."""
    inventory = local_inventory(tmp_path / "hosts.yml", ["h1"])
    Path(home["XDG_STATE_HOME"]).write_text("not a folder\n")
    run = remoteops("run", "-i", str(inventory), "echo worked", env=home)
    assert run.returncode == 0, run.stderr
    assert b"worked" in run.stdout
    assert b"Traceback" not in run.stderr
