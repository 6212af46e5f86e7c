"""Check mode (``--check``) and ``--diff`` of task files on the real playground hosts: a
check changes nothing on any host, and says what a real run then does.

The playground's hosts share this machine's file system, so every path a step writes names
its host, and one hash of ``out/`` covers every host's tree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import textwrap
from pathlib import Path

from remoteops import Fleet
from remoteops.inventory import Inventory
from remoteops.inventory.model import Host
from remoteops.results import ExitCode
from remoteops.sync.diff import DIFF_LIMIT
from remoteops.tasks import load_task_file
from remoteops.tasks.runner import TaskReport, run_task_file
from tests.integration.conftest import with_vars
from tests.integration.test_tasks import connected, hosts, strategy  # noqa: F401 (fixtures)

NAME = "{{ inventory_hostname }}"


def tree_state(folder: Path) -> str:
    """A hash of everything below ``folder``: names, kinds, modes, mtimes and contents."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        digest.update(f"{path.relative_to(folder)} {info.st_mode:o} {info.st_mtime_ns}".encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def run_file(
    fleet_: Fleet,
    inventory: Inventory,
    path: Path,
    *,
    check: bool = False,
    diff: bool = False,
    strategy: str = "linear",  # noqa: F811 (the fixture's name, as a plain argument here)
) -> TaskReport:
    task = dataclasses.replace(load_task_file(path), strategy=strategy)
    return run_task_file(fleet_, task, inventory=inventory, extra_vars={}, check=check, diff=diff)


def file_steps_changed(report: TaskReport, names: list[str]) -> dict[tuple[str, str], bool]:
    """(host, step name) -> changed, for the steps named."""
    return {
        (host, s.name): s.changed
        for host, recap in report.by_host.items()
        for s in recap.steps
        if s.name in names
    }


def test_check_changes_nothing_and_says_what_a_real_run_then_changes(
    connected: Fleet,  # noqa: F811
    fleet: Inventory,
    hosts: list[Host],  # noqa: F811
    tmp_path: Path,
    strategy: str,  # noqa: F811
) -> None:
    out = tmp_path / "out"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("new page\n")
    (tmp_path / "site" / "about.html").write_text("about\n")
    (tmp_path / "motd.txt").write_text("hello\n")
    (tmp_path / "app.conf.j2").write_text("name={{ inventory_hostname }}\n")
    first, second = hosts[0].name, hosts[1].name
    for host in hosts:
        (out / host.name / "site").mkdir(parents=True)
        (out / host.name / "site" / "index.html").write_text("the old page\n")
        (out / host.name / "site" / "stale.html").write_text("stale\n")
    # per host, some steps have nothing to do: the check must tell them apart
    shutil.copy2(tmp_path / "motd.txt", out / first / "motd.txt")
    (out / first / "app.conf").write_text(f"name={first}\n")
    (out / first / "app.conf").chmod(0o644)
    (out / second / "done").write_text("")
    here = f"{out}/{NAME}"
    task = tmp_path / "task.yml"
    task.write_text(
        textwrap.dedent(f"""
        steps:
          - name: put
            put: {{src: motd.txt, dest: "{here}/motd.txt"}}
          - name: sync
            sync: {{src: site, dest: "{here}/site", delete: true}}
          - name: template
            template: {{src: app.conf.j2, dest: "{here}/app.conf"}}
          - name: would create a file
            run: touch {here}/ran
            creates: "{here}/done"
            register: would
          - name: read-only probe
            run: echo probe {{{{ would.skipped }}}}
            check_safe: true
            register: probe
          - name: local
            local: touch {tmp_path}/local-ran
          - name: get
            get: {{src: "{here}/site/index.html", dest: fetched}}
        """)
    )
    before = tree_state(out)

    checked = run_file(connected, fleet, task, check=True, strategy=strategy)

    assert checked.exit_code == ExitCode.OK, checked
    assert checked.check
    assert tree_state(out) == before  # files, modes, mtimes: nothing written, no temporaries
    assert not (tmp_path / "local-ran").exists()
    assert not (tmp_path / "fetched").exists()
    for host in hosts:
        steps = {s.name: s for s in checked.by_host[host.name].steps}
        would, probe = steps["would create a file"], steps["read-only probe"]
        assert would.status == "skipped"
        guard = "exists" if host.name == second else "skipped in check mode"
        assert any(guard in note for note in would.result.notes), would.result.notes
        assert probe.status == "changed"  # it ran, and saw the step before skipped
        assert probe.result.stdout == b"probe True\n"
        assert steps["local"].status == "skipped"
        assert steps["local"].result.notes == ("skipped in check mode",)
        sync_plan = {(c.action, c.path) for c in steps["sync"].result.plan or ()}
        assert sync_plan >= {("delete", "stale.html"), ("upload", "index.html")}, sync_plan
        assert [c.action for c in steps["get"].result.plan or ()] == ["fetch"]
    expected_unchanged = {(first, "put"), (first, "template")}
    file_steps = ["put", "sync", "template", "get"]
    said = file_steps_changed(checked, file_steps)
    assert {key for key, changed in said.items() if not changed} == expected_unchanged

    done = run_file(connected, fleet, task, strategy=strategy)

    assert done.exit_code == ExitCode.OK, done
    assert file_steps_changed(done, file_steps) == said  # the check told the truth
    assert (out / second / "site" / "index.html").read_text() == "new page\n"
    assert not (out / second / "site" / "stale.html").exists()
    after_real = tree_state(out)

    again = run_file(connected, fleet, task, check=True, strategy=strategy)

    assert tree_state(out) == after_real
    again_said = file_steps_changed(again, ["put", "sync", "template"])
    assert not any(again_said.values()), again_said


def test_diff_shows_what_a_host_variable_changes_in_a_template(
    fleet: Inventory,
    hosts: list[Host],  # noqa: F811
    tmp_path: Path,
) -> None:
    (tmp_path / "app.conf.j2").write_text(
        "# app\nname={{ inventory_hostname }}\nlisten={{ listen }}\n"
    )
    task = tmp_path / "task.yml"
    dest = f"{tmp_path}/app-{NAME}.conf"
    task.write_text(f'steps:\n  - name: conf\n    template: {{src: app.conf.j2, dest: "{dest}"}}\n')
    with Fleet([with_vars(h, listen=80) for h in hosts], inventory=fleet) as old:
        assert run_file(old, fleet, task).exit_code == ExitCode.OK
    moved = hosts[0].name
    given = [with_vars(h, listen=8080 if h.name == moved else 80) for h in hosts]
    before = tree_state(tmp_path)
    with Fleet(given, inventory=fleet) as new:
        checked = run_file(new, fleet, task, check=True, diff=True)
    assert tree_state(tmp_path) == before
    conf = f"{tmp_path}/app-{moved}.conf"
    step = checked.by_host[moved].steps[0]
    assert step.changed
    assert step.result.diff == (
        f"--- {conf} (on the host)\n+++ {conf} (new)\n@@ -1,3 +1,3 @@\n"
        f" # app\n name={moved}\n-listen=80\n+listen=8080\n"
    )
    for host in hosts[1:]:
        unchanged = checked.by_host[host.name].steps[0]
        assert not unchanged.changed
        assert not unchanged.result.diff


def test_diff_of_a_binary_or_large_file_says_so_and_never_dumps_it(
    connected: Fleet,  # noqa: F811
    fleet: Inventory,
    hosts: list[Host],  # noqa: F811
    tmp_path: Path,
) -> None:
    secret = b"\x00\x01BINARY-CONTENT\xff" * 10
    (tmp_path / "blob.bin").write_bytes(secret + b"new")
    (tmp_path / "big.txt").write_text("line\n" * (DIFF_LIMIT // 5 + 10))
    for host in hosts:
        (tmp_path / f"blob-{host.name}.bin").write_bytes(secret + b"the old one")
        (tmp_path / f"big-{host.name}.txt").write_text("other line\n" * 10)
    task = tmp_path / "task.yml"
    task.write_text(
        textwrap.dedent(f"""
        steps:
          - name: blob
            put: {{src: blob.bin, dest: "{tmp_path}/blob-{NAME}.bin"}}
          - name: big
            put: {{src: big.txt, dest: "{tmp_path}/big-{NAME}.txt"}}
        """)
    )
    report = run_file(connected, fleet, task, check=True, diff=True)
    assert report.exit_code == ExitCode.OK, report
    for host in hosts:
        blob, big = (s.result.diff or "" for s in report.by_host[host.name].steps)
        assert blob.startswith("binary file differs:"), blob
        assert "BINARY" not in blob
        assert big.startswith("file differs, too large to show:"), big
        assert len(big.splitlines()) == 1, big
    assert not any(name.startswith(".") for name in os.listdir(tmp_path))  # no temporaries


def test_diff_of_a_sync_shows_each_changed_text_file(
    connected: Fleet,  # noqa: F811
    fleet: Inventory,
    hosts: list[Host],  # noqa: F811
    tmp_path: Path,
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<h1>new</h1>\n")
    (tmp_path / "site" / "same.html").write_text("same\n")
    for host in hosts:
        copy = tmp_path / "out" / host.name
        copy.mkdir(parents=True)
        (copy / "index.html").write_text("<h1>the old one</h1>\n")
        shutil.copy2(tmp_path / "site" / "same.html", copy / "same.html")
    task = tmp_path / "task.yml"
    task.write_text(
        f'steps:\n  - name: site\n    sync: {{src: site, dest: "{tmp_path}/out/{NAME}"}}\n'
    )
    before = tree_state(tmp_path / "out")
    report = run_file(connected, fleet, task, check=True, diff=True)
    assert tree_state(tmp_path / "out") == before
    for host in hosts:
        index = f"{tmp_path}/out/{host.name}/index.html"
        assert report.by_host[host.name].steps[0].result.diff == (
            f"--- {index} (on the host)\n+++ {index} (new)\n@@ -1 +1 @@\n"
            "-<h1>the old one</h1>\n+<h1>new</h1>\n"
        )


def test_check_fails_a_template_into_a_missing_folder_as_the_real_run_does(
    connected: Fleet,  # noqa: F811 (fixture)
    fleet: Inventory,
    hosts: list[Host],  # noqa: F811 (fixture)
    tmp_path: Path,
) -> None:
    (tmp_path / "conf.j2").write_text("host={{ inventory_hostname }}\n")
    path = tmp_path / "task.yml"
    step = f'template: {{src: conf.j2, dest: "{tmp_path}/missing-{NAME}/conf"'
    path.write_text(f"steps:\n  - name: conf\n    {step}}}\n")
    checked = run_file(connected, fleet, path, check=True)
    real = run_file(connected, fleet, path)
    for report in (checked, real):
        assert report.exit_code == ExitCode.COMMAND_FAILED, report
        for host in hosts:
            error = report.by_host[host.name].error or ""
            assert f"missing-{host.name}: no such folder (" in error, error
            assert "parents: true" in error
            assert not (tmp_path / f"missing-{host.name}").exists()
    path.write_text(f"steps:\n  - name: conf\n    {step}, parents: true}}\n")
    planned = run_file(connected, fleet, path, check=True)
    made = run_file(connected, fleet, path)
    assert planned.exit_code == made.exit_code == ExitCode.OK, (planned, made)
    for host in hosts:
        assert [s.status for s in planned.by_host[host.name].steps] == ["changed"]
        assert (tmp_path / f"missing-{host.name}" / "conf").read_text() == f"host={host.name}\n"
