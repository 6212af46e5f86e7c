"""Shell completion, driven the way typer's bash, zsh and fish scripts drive it: the program
run with ``_REMOTEOPS_COMPLETE`` and the words typed so far in the environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import cli_env, remoteops, write_inventory

_INVENTORY = {
    "all": {
        "hosts": {"lonely": {"protocol": "local"}},
        "children": {
            "web": {"hosts": {"web01": {}, "web02": {}}},
            "db": {"hosts": {"db01": {}}},
        },
    }
}


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return write_inventory(tmp_path / "hosts.yml", _INVENTORY)


def bash(line: str, *, env: dict[str, str] | None = None, cwd: Path | None = None) -> list[str]:
    """What bash's completion offers for ``line`` (the last word is the one completed)."""
    words = line.split(" ")
    run = remoteops(
        env={
            "_REMOTEOPS_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1),
            **(env or {}),
        },
        cwd=cwd,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == b""
    return run.stdout.decode().split()


def test_sub_commands_and_options_complete() -> None:
    assert bash("remoteops ") == [
        "run", "sync", "put", "get", "hosts", "task", "fab", "config", "shell",
        "playground", "serve", "persist",
    ]  # fmt: skip
    assert bash("remoteops pl") == ["playground"]
    assert bash("remoteops run --ho") == ["--hosts"]
    assert "--count" in bash("remoteops playground up --")


def test_hosts_option_completes_groups_then_hosts_from_the_inventory(inventory: Path) -> None:
    assert bash(f"remoteops run -i {inventory} --hosts ") == [
        "all", "db", "ungrouped", "web", "lonely", "web01", "web02", "db01",
    ]  # fmt: skip
    assert bash(f"remoteops sync -i {inventory} -H we") == ["web", "web01", "web02"]
    assert bash(f"remoteops hosts -i {inventory} d") == ["db", "db01"]
    assert bash(f"remoteops task site.yml -i {inventory} --hosts db") == ["db", "db01"]


def test_a_pattern_s_last_term_is_completed_keeping_the_rest(inventory: Path) -> None:
    assert bash(f"remoteops run -i {inventory} -H web,!web0") == ["web,!web01", "web,!web02"]
    assert bash(f"remoteops run -i {inventory} -H all,&d") == ["all,&db", "all,&db01"]


def test_hosts_come_from_the_default_inventory_when_none_is_typed(
    inventory: Path, tmp_path: Path
) -> None:
    assert bash("remoteops run -H db", env={"REMOTEOPS_INVENTORY": str(inventory)}) == [
        "db", "db01",
    ]  # fmt: skip
    project = tmp_path / "project"
    (project / "inventory").mkdir(parents=True)
    write_inventory(project / "inventory" / "hosts.yml", _INVENTORY)
    assert bash("remoteops put -H web0", cwd=project) == ["web01", "web02"]


def test_an_inventory_that_does_not_load_completes_nothing_quietly(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("all: [unclosed\n")
    assert bash(f"remoteops run -i {broken} -H w") == []
    assert bash(f"remoteops run -i {tmp_path / 'missing.yml'} -H w") == []


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_complete_hosts_too(inventory: Path, shell: str) -> None:
    run = remoteops(
        env={
            "_REMOTEOPS_COMPLETE": f"complete_{shell}",
            "_TYPER_COMPLETE_ARGS": f"remoteops run -i {inventory} --hosts web0",
            "_TYPER_COMPLETE_FISH_ACTION": "get-args",
        }
    )
    assert run.returncode == 0, run.stderr
    shown = run.stdout.decode()
    assert "web01" in shown
    assert "web02" in shown
    assert "db01" not in shown


def test_show_completion_prints_a_script_for_the_remoteops_command() -> None:
    # No shell argument: typer (with shellingham) writes for the shell it is run from, and a
    # word after the flag is not read (README "Shell completion").
    run = remoteops("--show-completion")
    assert run.returncode == 0, run.stderr
    script = run.stdout.decode()
    assert "_REMOTEOPS_COMPLETE" in script
    assert "remoteops" in script


#: ``remoteops`` run in a Python that lists, on exit, every module the run imported.
_LISTING_IMPORTS = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('MODULES ' + ' '.join(sys.modules)))\n"
    "sys.argv[0] = 'remoteops'\n"
    "from remoteops.cli import main\n"
    "main()\n"
)


def _imported(*args: str, env: dict[str, str] | None = None) -> set[str]:
    run = subprocess.run(
        [sys.executable, "-c", _LISTING_IMPORTS, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=cli_env(env),
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return set(run.stderr.decode().rpartition("MODULES ")[2].split())


def test_completing_an_option_imports_only_its_command_and_running_imports_no_completion(
    inventory: Path,
) -> None:
    completing = _imported(
        env={
            "_REMOTEOPS_COMPLETE": "complete_bash",
            "COMP_WORDS": f"remoteops run -i {inventory} -H w",
            "COMP_CWORD": "5",
        }
    )
    assert "remoteops.cli.run_cmd" in completing
    assert "remoteops.cli.sync_cmd" not in completing
    assert "remoteops.inventory.completion" in completing
    helping = _imported("run", "--help")
    assert "remoteops.cli.run_cmd" in helping
    assert "remoteops.inventory.completion" not in helping
