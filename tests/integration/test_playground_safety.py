"""Teardown never deletes or kills what the playground did not make."""

from __future__ import annotations

import json
from pathlib import Path

from remoteops.playground import Playground
from remoteops.playground._files import StateRecord


def test_down_in_a_folder_that_never_held_a_playground_deletes_nothing(tmp_path: Path) -> None:
    precious = {"inventory.yml": "mine", "known_hosts": "mine", "client_key": "mine"}
    for name, text in precious.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep").write_text("mine")
    Playground(tmp_path).down()
    assert {p.name: p.read_text() for p in tmp_path.iterdir() if p.is_file()} == precious
    assert (tmp_path / "run" / "keep").read_text() == "mine"


def test_a_tampered_state_file_cannot_aim_teardown_elsewhere(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data").write_text("keep")
    state = {
        "version": 1,
        "mode": "netns",
        "prefix": "pg",
        "user": "root",
        "runtime_dir": str(victim),
        "owner": None,
        "sudo_user": None,
        "private_home": False,
        "hosts": [
            {"name": "x", "address": "10.203.9.9", "port": 22, "pid": None,
             "netns": "../../proc/1/ns/net", "veth": None},
        ],
    }  # fmt: skip
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "state.json").write_text(json.dumps(state))
    assert StateRecord.load(state_dir / "state.json") is not None  # the test means something
    Playground(state_dir).down()
    assert (victim / "data").read_text() == "keep"
