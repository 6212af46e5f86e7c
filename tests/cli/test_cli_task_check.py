"""`remoteops task --check --diff`: what a check prints in text and JSON, and that it leaves
the hosts' files as they were."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.cli_support import json_lines, remoteops

NAME = "{{ inventory_hostname }}"


def test_check_with_diff_shows_each_hosts_diff_and_says_it_was_a_check(
    inventory: str, names: list[str], tmp_path: Path
) -> None:
    (tmp_path / "app.conf.j2").write_text("name={{ inventory_hostname }}\nmode=new\n")
    for name in names:
        (tmp_path / f"app-{name}.conf").write_text(f"name={name}\nmode=old\n")
    task = tmp_path / "task.yml"
    task.write_text(
        "steps:\n"
        "  - name: conf\n"
        f'    template: {{src: app.conf.j2, dest: "{tmp_path}/app-{NAME}.conf"}}\n'
        "  - name: restart\n"
        f"    run: touch {tmp_path}/restarted-{NAME}\n"
    )

    as_json = remoteops("task", str(task), "-i", inventory, "--check", "--diff", "-o", "json")

    assert as_json.returncode == 0, as_json.stderr.decode()
    objects = json_lines(as_json.stdout)
    finals = [o for o in objects if o["step"] is None]
    assert sorted(o["host"] for o in finals) == sorted(names)
    assert all(o["check"] is True for o in finals)
    confs = {o["host"]: o for o in objects if o.get("name") == "conf"}
    for name in names:
        assert confs[name]["changed"] is True
        assert "-mode=old\n+mode=new\n" in confs[name]["diff"]
        assert confs[name]["plan"] == f"upload {tmp_path}/app-{name}.conf: content differs\n"
    restarts = [o for o in objects if o.get("name") == "restart"]
    assert all(o["step_status"] == "skipped" for o in restarts)
    assert all(o["notes"] == ["skipped in check mode"] for o in restarts)

    as_text = remoteops("task", str(task), "-i", inventory, "-C", "-D")

    assert as_text.returncode == 0, as_text.stderr.decode()
    out = as_text.stdout.decode()
    for name in names:  # the host's line, then its diff, each line under the host's name
        upload = out.index(f"{name} | upload {tmp_path}/app-{name}.conf: content differs")
        assert out.index(f"{name} | -mode=old") > upload
        assert f"{name} | +mode=new" in out
    assert "check mode: nothing was changed" in as_text.stderr.decode()
    for name in names:
        assert (tmp_path / f"app-{name}.conf").read_text() == f"name={name}\nmode=old\n"
        assert not (tmp_path / f"restarted-{name}").exists()


def test_help_says_a_diff_shows_file_content(inventory: str) -> None:
    shown = remoteops("task", "--help").stdout.decode()
    assert "--check" in shown
    assert "secrets included" in re.sub(r"[│\s]+", " ", shown), shown
