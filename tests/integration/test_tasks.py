"""Task files run on the real playground hosts: every step kind, per-host values, guards,
one connection per host for the whole file, rolling batches and the max-fail brake.

The playground's hosts share this machine's file system, so every path a step writes names
its host (``{{ inventory_hostname }}``).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import textwrap
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remoteops import Fleet, Status
from remoteops.executor import run_command
from remoteops.inventory import Inventory
from remoteops.inventory.model import Host
from remoteops.playground import PlaygroundState
from remoteops.results import ExitCode
from remoteops.tasks import load_task_file
from remoteops.tasks.runner import KEPT_OUTPUT_TAIL, StepResult, TaskReport, run_task_file
from remoteops.transports import CommandSpec
from tests.integration.conftest import with_vars


@pytest.fixture
def hosts(ssh_hosts: list[Host]) -> list[Host]:
    return ssh_hosts[:3]


@pytest.fixture
def connected(hosts: list[Host], fleet: Inventory) -> Iterator[Fleet]:
    with Fleet(hosts, inventory=fleet) as kept:
        yield kept


@pytest.fixture(params=["linear", "free"])
def strategy(request: pytest.FixtureRequest) -> str:
    """The semantics of a step are the same under both strategies: tests taking this run
    under each."""
    return str(request.param)


def run_text(
    fleet_: Fleet,
    inventory: Inventory,
    folder: Path,
    text: str,
    *,
    extra_vars: dict[str, Any] | None = None,
    strategy: str | None = None,
) -> TaskReport:
    """Write ``text`` as ``folder/task.yml``, load it and run it on the fleet (with
    ``strategy`` instead of the file's, when given)."""
    path = folder / "task.yml"
    path.write_text(textwrap.dedent(text))
    task = load_task_file(path)
    if strategy is not None:
        task = dataclasses.replace(task, strategy=strategy)
    return run_task_file(fleet_, task, inventory=inventory, extra_vars=extra_vars or {})


def step_statuses(report: TaskReport, host: str) -> list[str]:
    return [s.status for s in report.by_host[host].steps]


def test_every_step_kind_runs_in_order_on_every_host(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("site\n")
    (tmp_path / "motd.txt").write_text("hello\n")
    (tmp_path / "app.conf.j2").write_text("name={{ inventory_hostname }} port={{ port }}\n")
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        vars: {{out: "{tmp_path}/out"}}
        steps:
          - name: local marker
            local: echo local >> {tmp_path}/local.log
          - name: folder
            run: mkdir -p {{{{ out }}}}/{{{{ inventory_hostname }}}}
          - name: put
            put: {{src: motd.txt, dest: "{{{{ out }}}}/{{{{ inventory_hostname }}}}/motd.txt"}}
          - name: sync
            sync: {{src: site, dest: "{{{{ out }}}}/{{{{ inventory_hostname }}}}/site"}}
          - name: template
            template:
              src: app.conf.j2
              dest: "{{{{ out }}}}/{{{{ inventory_hostname }}}}/app.conf"
          - name: get
            get: {{src: "{{{{ out }}}}/{{{{ inventory_hostname }}}}/app.conf", dest: fetched}}
        """,
        extra_vars={"port": "8080"},
        strategy=strategy,
    )
    assert report.exit_code == ExitCode.OK, report
    assert (tmp_path / "local.log").read_text() == "local\n"  # once, not once per host
    for host in hosts:
        out = tmp_path / "out" / host.name
        assert (out / "motd.txt").read_text() == "hello\n"
        assert (out / "site" / "index.html").read_text() == "site\n"
        assert (out / "app.conf").read_text() == f"name={host.name} port=8080\n"
        assert (tmp_path / "fetched" / host.name / "app.conf").read_text() == (
            f"name={host.name} port=8080\n"
        )
        assert step_statuses(report, host.name) == ["changed"] * 6
        recap = report.by_host[host.name]
        assert (recap.status, recap.ok, recap.changed, recap.failed) == (Status.OK, 6, 6, 0)


def test_one_connection_per_host_for_the_whole_file(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    (tmp_path / "f.txt").write_text("x")
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        steps:
          - {{name: first, run: echo $SSH_CONNECTION, register: first}}
          - name: a file step between
            put: {{src: f.txt, dest: "{tmp_path}/f-{{{{ inventory_hostname }}}}.txt"}}
          - {{name: second, run: echo $SSH_CONNECTION, register: second}}
          - name: compare
            run: "test '{{{{ first.stdout }}}}' = '{{{{ second.stdout }}}}'"
        """,
        strategy=strategy,
    )
    assert report.exit_code == ExitCode.OK, report
    ports = {
        host.name: [
            s.result.stdout.split()[1] for s in report.by_host[host.name].steps if s.result.stdout
        ]
        for host in hosts
    }
    for seen in ports.values():
        assert len(seen) == 2, ports
        assert seen[0] == seen[1], ports
    assert len({seen[0] for seen in ports.values()}) == len(hosts)


def test_register_and_when_choose_per_host(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    first = hosts[0].name
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        steps:
          - name: probe
            run: "test {{{{ inventory_hostname }}}} = {first} && echo yes || echo no"
            register: probe
          - name: only where yes
            run: echo picked {{{{ probe.stdout | trim }}}} rc={{{{ probe.rc }}}}
            when: probe.stdout.strip() == 'yes'
            register: picked
          - name: sees the skip
            run: echo skipped={{{{ picked.skipped }}}}
        """,
        strategy=strategy,
    )
    assert report.exit_code == ExitCode.OK, report
    for host in hosts:
        steps = report.by_host[host.name].steps
        if host.name == first:
            assert steps[1].status == "changed"
            assert steps[1].result.stdout == b"picked yes rc=0\n"
            assert steps[2].result.stdout == b"skipped=False\n"
        else:
            assert steps[1].status == "skipped"
            assert steps[2].result.stdout == b"skipped=True\n"
    assert report.by_host[hosts[1].name].skipped == 1


def test_guards_make_a_second_run_change_nothing(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    (tmp_path / "conf.j2").write_text("host={{ inventory_hostname }}\n")
    text = f"""
        steps:
          - name: create once
            run: echo made >> {tmp_path}/made-{{{{ inventory_hostname }}}}
            creates: "{tmp_path}/made-{{{{ inventory_hostname }}}}"
          - name: unless already there
            run: echo line >> {tmp_path}/lines-{{{{ inventory_hostname }}}}
            unless: grep -q line {tmp_path}/lines-{{{{ inventory_hostname }}}}
          - name: remove only what exists
            run: rm {tmp_path}/made-{{{{ inventory_hostname }}}}.old
            removes: "{tmp_path}/made-{{{{ inventory_hostname }}}}.old"
          - name: template
            template: {{src: conf.j2, dest: "{tmp_path}/conf-{{{{ inventory_hostname }}}}"}}
        """
    first = run_text(connected, fleet, tmp_path, text, strategy=strategy)
    second = run_text(connected, fleet, tmp_path, text, strategy=strategy)
    assert first.exit_code == second.exit_code == ExitCode.OK, (first, second)
    for host in hosts:
        assert step_statuses(first, host.name) == ["changed", "changed", "skipped", "changed"]
        assert step_statuses(second, host.name) == ["skipped", "skipped", "skipped", "ok"]
        assert second.by_host[host.name].changed == 0
        assert (tmp_path / f"made-{host.name}").read_text() == "made\n"
        assert (tmp_path / f"lines-{host.name}").read_text() == "line\n"
    changed_conf = tmp_path / f"conf-{hosts[0].name}"
    changed_conf.write_text("edited by hand\n")
    third = run_text(connected, fleet, tmp_path, text, strategy=strategy)
    assert step_statuses(third, hosts[0].name)[3] == "changed"
    assert step_statuses(third, hosts[1].name)[3] == "ok"
    assert changed_conf.read_text() == f"host={hosts[0].name}\n"


def test_an_undefined_variable_fails_only_the_host_lacking_it(
    fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    lacking = hosts[1].name
    given = [h if h.name == lacking else with_vars(h, app_dir="/srv/app") for h in hosts]
    with Fleet(given, inventory=fleet) as some_defined:
        report = run_text(
            some_defined,
            fleet,
            tmp_path,
            f"""
            steps:
              - name: uses it
                run: echo {{{{ app_dir }}}} > {tmp_path}/app-{{{{ inventory_hostname }}}}
              - name: after
                run: echo after
            """,
            strategy=strategy,
        )
    recap = report.by_host[lacking]
    assert recap.status is Status.FAILED
    assert "'app_dir'" in (recap.error or ""), recap.error
    assert "uses it" in (recap.error or "")
    assert step_statuses(report, lacking) == ["failed"]  # no step after the failure
    assert not (tmp_path / f"app-{lacking}").exists()
    for host in hosts:
        if host.name != lacking:
            assert step_statuses(report, host.name) == ["changed", "changed"]
            assert (tmp_path / f"app-{host.name}").read_text() == "/srv/app\n"
    assert report.exit_code == ExitCode.COMMAND_FAILED


#: A path's part that names the host the step runs on.
NAME = "{{ inventory_hostname }}"


def stamps(folder: Path, pattern: str) -> dict[str, float]:
    """The times hosts wrote into files matching ``pattern`` (``date +%s.%N``), by file name."""
    return {path.name: float(path.read_text()) for path in folder.glob(pattern)}


def test_linear_every_host_ends_a_step_before_any_starts_the_next(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path
) -> None:
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        steps:
          - name: slow for one host
            run: >-
              {{% if inventory_hostname == '{hosts[0].name}' %}}sleep 0.5;{{% endif %}}
              date +%s.%N > {tmp_path}/one-{{{{ inventory_hostname }}}}
          - name: two
            run: date +%s.%N > {tmp_path}/two-{{{{ inventory_hostname }}}}
        """,
    )
    assert report.exit_code == ExitCode.OK, report
    ones, twos = stamps(tmp_path, "one-*"), stamps(tmp_path, "two-*")
    assert len(ones) == len(twos) == len(hosts)
    assert max(ones.values()) <= min(twos.values()), (ones, twos)


def test_free_a_slow_host_does_not_delay_the_others_later_steps(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path
) -> None:
    """Under free, the fast hosts finish both steps before the slow one ends its first."""
    slow = hosts[0].name
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        strategy: free
        steps:
          - name: slow for one host
            run: sleep 1
            when: inventory_hostname == '{slow}'
          - name: one
            run: date +%s.%N > {tmp_path}/one-{NAME}
          - name: two
            run: date +%s.%N > {tmp_path}/two-{NAME}
        """,
    )
    assert report.exit_code == ExitCode.OK, report
    ones, twos = stamps(tmp_path, "one-*"), stamps(tmp_path, "two-*")
    assert len(ones) == len(twos) == len(hosts)
    fast_twos = [stamp for name, stamp in twos.items() if name != f"two-{slow}"]
    assert max(fast_twos) < ones[f"one-{slow}"], (ones, twos)
    for host in hosts:
        expected = ["changed"] * 3 if host.name == slow else ["skipped", "changed", "changed"]
        assert step_statuses(report, host.name) == expected


def test_free_a_local_step_runs_once_and_every_host_waits_for_it(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path
) -> None:
    """The first host to reach the local step runs it; the others, reaching it meanwhile,
    take its result once it has ended, never before."""
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        strategy: free
        steps:
          - name: build here
            local: sleep 0.5; echo built >> {tmp_path}/built.log; date +%s.%N > {tmp_path}/built
          - name: after the build
            run: date +%s.%N > {tmp_path}/after-{NAME}
        """,
    )
    assert report.exit_code == ExitCode.OK, report
    assert (tmp_path / "built.log").read_text() == "built\n"
    built = float((tmp_path / "built").read_text())
    afters = stamps(tmp_path, "after-*")
    assert len(afters) == len(hosts)
    assert built <= min(afters.values()), (built, afters)
    for host in hosts:
        assert step_statuses(report, host.name) == ["changed", "changed"]


def test_a_step_timeout_fails_the_step_and_the_host_takes_no_further_step(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    slow = hosts[0].name
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        steps:
          - name: too slow on one
            run: "{{% if inventory_hostname == '{slow}' %}}sleep 5{{% else %}}true{{% endif %}}"
            timeout: 0.5
          - {{name: after, run: "touch {tmp_path}/after-{NAME}"}}
        """,
        strategy=strategy,
    )
    recap = report.by_host[slow]
    assert recap.status is Status.FAILED  # the step's failure: the connection is fine
    assert "timed out after 0.5 s" in (recap.error or ""), recap.error
    assert step_statuses(report, slow) == ["failed"]
    assert sorted(p.name for p in tmp_path.glob("after-*")) == sorted(
        f"after-{h.name}" for h in hosts[1:]
    )


def test_a_large_output_is_whole_for_register_and_on_result_and_only_its_tail_is_kept(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    size = 3_000_000
    seen: dict[str, int] = {}
    path = tmp_path / "task.yml"
    path.write_text(
        textwrap.dedent(
            f"""
            steps:
              - name: a large output
                run: head -c {size} /dev/zero | tr '\\0' x; echo the end
                register: big
              - name: register kept it whole
                run: touch {tmp_path}/whole-{{{{ inventory_hostname }}}}
                when: big.stdout | length == {size + len("the end")}
            """
        )
    )
    task = dataclasses.replace(load_task_file(path), strategy=strategy)

    def on_result(outcome: StepResult, host: Host) -> None:
        if outcome.step == 0:
            seen[host.name] = len(outcome.result.stdout)

    report = run_task_file(connected, task, inventory=fleet, extra_vars={}, on_result=on_result)
    assert report.exit_code == ExitCode.OK, report
    for host in hosts:
        assert seen[host.name] == size + len("the end\n")
        assert (tmp_path / f"whole-{host.name}").exists()
        kept = report.by_host[host.name].steps[0].result
        assert len(kept.stdout) == KEPT_OUTPUT_TAIL
        assert kept.stdout.endswith(b"x" * 100 + b"the end\n")
        assert kept.stdout_bytes == size + len("the end\n")
        assert kept.truncated


def test_registered_output_loses_its_trailing_newlines_as_in_ansible(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path
) -> None:
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        steps:
          - {{name: two lines, run: "printf 'a\\nb\\n\\n'", register: r}}
          - name: used on one line
            run: echo "out=[{{{{ r.stdout }}}}] {{{{ r.stdout_lines }}}}" > {tmp_path}/{NAME}
        """,
    )
    assert report.exit_code == ExitCode.OK, report
    for host in hosts:
        assert (tmp_path / host.name).read_text() == "out=[a\nb] ['a', 'b', '']\n"


def test_an_unless_guard_keeps_none_of_its_output(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path
) -> None:
    tracemalloc.start()
    try:
        report = run_text(
            connected,
            fleet,
            tmp_path,
            """
            steps:
              - name: guarded by a chatty check
                run: "true"
                unless: head -c 40000000 /dev/zero; false
            """,
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.exit_code == ExitCode.OK, report
    assert peak < 20_000_000, peak  # 40 MB of output on each of three hosts was all kept


def test_ignore_errors_covers_a_step_timeout_and_the_connection_goes_on(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        steps:
          - {{name: too slow, run: sleep 5, timeout: 0.5, ignore_errors: true}}
          - {{name: after, run: "touch {tmp_path}/after-{NAME}"}}
        """,
        strategy=strategy,
    )
    assert report.exit_code == ExitCode.OK, report
    for host in hosts:
        recap = report.by_host[host.name]
        assert (recap.status, recap.ignored, recap.unreachable) == (Status.OK, 1, 0), recap
        assert "timed out after 0.5 s" in (recap.steps[0].result.error or "")
        assert (tmp_path / f"after-{host.name}").exists()


@pytest.mark.parametrize(
    ("written", "shown"), [('"{{ -1 }}"', "'-1'"), ("'{{ \"nan\" }}'", "'nan'")]
)
def test_a_rendered_timeout_that_is_no_positive_number_fails_the_host_before_running(
    connected: Fleet, fleet: Inventory, tmp_path: Path, written: str, shown: str
) -> None:
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        steps:
          - {{name: odd timeout, run: "touch {tmp_path}/ran-{NAME}", timeout: {written}}}
        """,
    )
    assert list(tmp_path.glob("ran-*")) == []
    assert report.exit_code == ExitCode.COMMAND_FAILED
    for recap in report.hosts:
        error = recap.error or ""
        assert "odd timeout" in error, error
        assert f"timeout {shown} is not a positive number of seconds" in error, error


def test_failed_when_false_does_not_hide_a_template_error(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    report = run_text(
        connected,
        fleet,
        tmp_path,
        """
        steps:
          - {name: never rendered, run: "rm -rf /tmp/{{ nosuchvar }}", failed_when: false}
        """,
        strategy=strategy,
    )
    for host in hosts:
        recap = report.by_host[host.name]
        assert recap.status is Status.FAILED, recap
        assert "nosuchvar" in (recap.error or ""), recap.error


def test_a_file_step_timeout_closes_its_connection_and_ends_the_host_timeout(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    with (tmp_path / "big.bin").open("wb") as big:
        big.truncate(400 * 1024 * 1024)  # sparse here, 400 MB on the wire
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        steps:
          - {{name: slow upload, put: {{src: big.bin, dest: "{tmp_path}/up-{NAME}"}}, timeout: 0.2}}
          - {{name: after, run: "touch {tmp_path}/after-{NAME}"}}
        """,
        strategy=strategy,
    )
    assert list(tmp_path.glob("after-*")) == []
    for host in hosts:
        recap = report.by_host[host.name]
        assert recap.status is Status.TIMEOUT, recap
        assert "slow upload" in (recap.error or ""), recap.error
        assert "timed out after 0.2 s (the step's timeout)" in (recap.error or ""), recap.error


def test_serial_runs_batches_one_after_another(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        serial: 1
        steps:
          - {{name: start, run: "date +%s.%N > {tmp_path}/start-{{{{ inventory_hostname }}}}"}}
          - {{name: work, run: sleep 0.2}}
          - {{name: end, run: "date +%s.%N > {tmp_path}/end-{{{{ inventory_hostname }}}}"}}
        """,
        strategy=strategy,
    )
    assert report.exit_code == ExitCode.OK, report
    starts, ends = stamps(tmp_path, "start-*"), stamps(tmp_path, "end-*")
    order = [h.name for h in hosts]
    for before, after in itertools.pairwise(order):
        assert ends[f"end-{before}"] <= starts[f"start-{after}"], (starts, ends)


def test_max_fail_stops_before_the_next_batch_and_cancels_the_rest(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    first = hosts[0].name
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        serial: 1
        max_fail: 1
        steps:
          - name: the canary fails
            run: test {{{{ inventory_hostname }}}} != {first}
          - name: mark
            run: touch {tmp_path}/ran-{{{{ inventory_hostname }}}}
        """,
        strategy=strategy,
    )
    assert report.by_host[first].status is Status.FAILED
    for host in hosts[1:]:
        recap = report.by_host[host.name]
        assert recap.status is Status.CANCELLED
        assert "max_fail" in (recap.error or ""), recap.error
        assert recap.steps == ()
    assert list(tmp_path.glob("ran-*")) == []
    assert report.stopped is not None
    assert report.exit_code == ExitCode.COMMAND_FAILED


def test_max_fail_percentage_without_serial_stops_every_host_after_the_failing_step(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    first = hosts[0].name
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        max_fail_percentage: 0
        steps:
          - name: one host fails at once, the others a second later still ok
            run: "{{% if inventory_hostname == '{first}' %}}false{{% else %}}sleep 1{{% endif %}}"
          - name: mark
            run: touch {tmp_path}/ran-{{{{ inventory_hostname }}}}
        """,
        strategy=strategy,
    )
    assert list(tmp_path.glob("ran-*")) == []
    assert report.by_host[first].status is Status.FAILED
    for host in hosts[1:]:
        recap = report.by_host[host.name]
        assert recap.status is Status.CANCELLED, recap
        done = step_statuses(report, host.name)
        # under free a host still connecting when the other failed starts no step at all
        assert done == ["changed"] or (strategy == "free" and done == []), done
        said = f"stopped by the max_fail brake after step {len(done)}"
        assert said in (recap.error or ""), recap.error
    assert "max_fail_percentage" in (report.stopped or "")
    assert report.exit_code == ExitCode.COMMAND_FAILED


def test_a_batch_whose_every_host_failed_ends_the_run(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        serial: 2
        steps:
          - {{name: fails, run: "test {{{{ inventory_hostname }}}} = {hosts[2].name}"}}
        """,
        strategy=strategy,
    )
    assert [report.by_host[h.name].status for h in hosts] == [
        Status.FAILED,
        Status.FAILED,
        Status.CANCELLED,
    ]
    assert "every host of batch 1 failed" in (report.by_host[hosts[2].name].error or "")


def test_failed_when_changed_when_and_ignore_errors(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    report = run_text(
        connected,
        fleet,
        tmp_path,
        """
        steps:
          - name: exit 3 is fine here
            run: echo hi; exit 3
            failed_when: result.rc not in [0, 3]
            changed_when: false
            register: three
          - name: a real failure, ignored
            run: echo {{ three.rc }} >&2; exit 1
            ignore_errors: true
          - name: output decides
            run: echo same
            failed_when: "'same' not in result.stdout"
            changed_when: three.rc == 4
          - name: fails on output
            run: echo broken
            failed_when: "'broken' in result.stdout"
        """,
        strategy=strategy,
    )
    for host in hosts:
        recap = report.by_host[host.name]
        assert step_statuses(report, host.name) == ["ok", "ignored", "ok", "failed"]
        assert recap.steps[1].result.stderr == b"3\n"
        assert (recap.ok, recap.changed, recap.ignored, recap.failed) == (2, 0, 1, 1)
        assert recap.status is Status.FAILED
        assert "failed_when" in (recap.error or "")
    assert report.exit_code == ExitCode.COMMAND_FAILED


def test_a_failed_local_step_fails_every_host_of_the_step(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        steps:
          - {{name: ok first, run: "true"}}
          - {{name: build here, local: "echo no compiler >&2; exit 4"}}
          - {{name: never, run: "touch {tmp_path}/never-{{{{ inventory_hostname }}}}"}}
        """,
        strategy=strategy,
    )
    for host in hosts:
        assert step_statuses(report, host.name) == ["changed", "failed"]
        assert report.by_host[host.name].steps[1].result.exit_code == 4
    assert list(tmp_path.glob("never-*")) == []
    assert report.exit_code == ExitCode.COMMAND_FAILED


def test_an_unreachable_host_stops_and_the_others_go_on(
    ssh_hosts: list[Host], fleet: Inventory, tmp_path: Path, silent_port: int, strategy: str
) -> None:
    down = Host("down1", {"address": "127.0.0.1", "port": silent_port, "connect_timeout": 1})
    with Fleet([ssh_hosts[0], down], inventory=fleet) as some_down:
        report = run_text(
            some_down,
            fleet,
            tmp_path,
            """
            steps:
              - {name: one, run: echo one}
              - {name: two, run: echo two}
            """,
            strategy=strategy,
        )
    assert step_statuses(report, ssh_hosts[0].name) == ["changed", "changed"]
    recap = report.by_host["down1"]
    assert recap.status.is_connection_failure
    assert (recap.unreachable, len(recap.steps)) == (1, 1)
    assert report.exit_code == ExitCode.HOST_FAILED


def test_put_and_template_set_the_mode_asked_and_a_new_mode_is_a_change(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("s\n")
    (tmp_path / "key.j2").write_text("key for {{ inventory_hostname }}\n")
    text = """
        steps:
          - name: put
            put: {{src: secret.txt, dest: "{here}/secret-{name}", mode: "0600"}}
          - name: template
            template: {{src: key.j2, dest: "{here}/key-{name}", mode: "{mode}"}}
        """
    first = run_text(connected, fleet, tmp_path, text.format(here=tmp_path, name=NAME, mode="0640"))
    again = run_text(connected, fleet, tmp_path, text.format(here=tmp_path, name=NAME, mode="0640"))
    other = run_text(connected, fleet, tmp_path, text.format(here=tmp_path, name=NAME, mode="0600"))
    for host in hosts:
        assert step_statuses(first, host.name) == ["changed", "changed"]
        assert step_statuses(again, host.name) == ["ok", "ok"]
        assert step_statuses(other, host.name) == ["ok", "changed"]
        assert (tmp_path / f"secret-{host.name}").stat().st_mode & 0o777 == 0o600
        key = tmp_path / f"key-{host.name}"
        assert key.stat().st_mode & 0o777 == 0o600
        assert key.read_text() == f"key for {host.name}\n"


@pytest.mark.usefixtures("requires_root")
def test_sudo_file_steps_write_and_read_as_root_on_the_hosts_one_connection(
    hosts: list[Host], fleet: Inventory, playground: PlaygroundState, reachable: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Logged in as a user whose sudo asks for a password: put, sync, template (twice: the
    second reads the 0600 root file to find it unchanged) and get as root, on one connection."""
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    password = playground.sudo_password_file.read_text().strip()
    as_user = [with_vars(h, user=playground.sudo_user) for h in hosts[:2]]
    root = reachable / "root-only"
    root.mkdir()
    root.chmod(0o755)
    (tmp_path / "motd").write_text("welcome\n")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("home\n")
    (tmp_path / "app.j2").write_text("host={{ inventory_hostname }}\n")
    dest = f"{root}/{{{{ inventory_hostname }}}}"
    template = f"{{src: app.j2, dest: '{dest}.conf', mode: '0600'}}"
    path = tmp_path / "task.yml"
    path.write_text(textwrap.dedent(f"""
        steps:
          - {{name: first, run: echo $SSH_CONNECTION, register: first}}
          - {{name: put, put: {{src: motd, dest: "{dest}-motd"}}, sudo: true}}
          - {{name: sync, sync: {{src: site, dest: "{dest}-site"}}, sudo: true}}
          - {{name: template, template: {template}, sudo: true}}
          - {{name: template again, template: {template}, sudo: true}}
          - {{name: get, get: {{src: "{dest}.conf", dest: fetched}}, sudo: true}}
          - {{name: whoami, run: id -un, sudo: true}}
          - {{name: second, run: echo $SSH_CONNECTION, register: second}}
        """))  # fmt: skip
    with Fleet(as_user, inventory=fleet) as kept:
        report = run_task_file(
            kept, load_task_file(path), inventory=fleet, extra_vars={}, sudo_password=password
        )
    assert report.exit_code == ExitCode.OK, report
    for host in as_user:
        steps = report.by_host[host.name].steps
        assert [s.status for s in steps] == [
            "changed", "changed", "changed", "changed", "ok", "changed", "changed", "changed",
        ]  # fmt: skip
        assert steps[6].result.stdout == b"root\n"
        assert steps[0].result.stdout.split()[1] == steps[7].result.stdout.split()[1]
        written = [
            root / f"{host.name}-motd", root / f"{host.name}-site" / "index.html",
            root / f"{host.name}.conf",
        ]  # fmt: skip
        assert {p.stat().st_uid for p in written} == {0}
        assert (root / f"{host.name}.conf").stat().st_mode & 0o777 == 0o600
        copy = tmp_path / "fetched" / host.name / f"{host.name}.conf"
        assert copy.read_text() == f"host={host.name}\n"
        assert password.encode() not in b"".join(s.result.stdout + s.result.stderr for s in steps)


@pytest.mark.usefixtures("requires_root")
def test_an_explicit_sudo_false_step_runs_as_the_login_on_a_host_whose_inventory_sudoes(
    hosts: list[Host], fleet: Inventory, tmp_path: Path, strategy: str
) -> None:
    """The inventory's ``sudo: true`` (``ansible_become``) covers a step that says nothing,
    but a step's own ``sudo: false`` wins, as in Ansible (it ran as the sudo user anyway)."""
    becoming = [with_vars(h, sudo=True, sudo_user="nobody") for h in hosts[:2]]
    with Fleet(becoming, inventory=fleet) as kept:
        report = run_text(
            kept,
            fleet,
            tmp_path,
            """
            vars: {no_sudo: false}
            steps:
              - {name: unsaid, run: id -un}
              - {name: said off, run: id -un, sudo: false}
              - {name: templated off, run: id -un, sudo: "{{ no_sudo }}"}
              - {name: said on, run: id -un, sudo: true}
            """,
            strategy=strategy,
        )
    assert report.exit_code == ExitCode.OK, report
    for host in becoming:
        users = [s.result.stdout for s in report.by_host[host.name].steps]
        assert users == [b"nobody\n", b"root\n", b"root\n", b"nobody\n"]


#: The environment variable the become tests' inventory names for sudo's password.
_BECOME_PASSWORD_ENV = "ROPTEST_GUARD_BECOME_PW"


@pytest.fixture
def become_logins(
    hosts: list[Host], playground: PlaygroundState, monkeypatch: pytest.MonkeyPatch
) -> list[Host]:
    """Two hosts logged in as the playground's sudo user (whose sudo asks for a password),
    their inventory saying ``sudo: true`` (Ansible's become) with the password's variable."""
    assert playground.sudo_user is not None
    assert playground.sudo_password_file is not None
    monkeypatch.setenv(_BECOME_PASSWORD_ENV, playground.sudo_password_file.read_text().strip())
    return [
        with_vars(h, user=playground.sudo_user, sudo=True, sudo_password_env=_BECOME_PASSWORD_ENV)
        for h in hosts[:2]
    ]


@pytest.fixture
def root_only(reachable: Path, hosts: list[Host]) -> Path:
    """A 0700 root folder holding a file per host: there for root, missing to any login."""
    folder = reachable / "root-only"
    folder.mkdir(mode=0o700)
    for host in hosts:
        (folder / host.name).write_text("made\n")
    return folder


@pytest.mark.usefixtures("requires_root")
def test_a_become_hosts_step_looks_at_its_guards_as_root(
    become_logins: list[Host], root_only: Path, fleet: Inventory, tmp_path: Path, strategy: str
) -> None:
    """A run step on a host whose inventory sudoes runs as root, and its ``creates``,
    ``removes`` and ``unless`` must look as root too: they looked as the login user, so a
    root-only path seemed missing (``creates`` ran the step again, ``removes`` skipped it)
    and ``unless`` ran unprivileged."""
    mine = f"{root_only}/{{{{ inventory_hostname }}}}"
    with Fleet(become_logins, inventory=fleet) as kept:
        report = run_text(
            kept,
            fleet,
            tmp_path,
            f"""
            steps:
              - {{name: created, run: id -un, creates: "{mine}"}}
              - {{name: removed, run: id -un, removes: "{mine}"}}
              - {{name: unless root, run: id -un, unless: 'test "$(id -un)" = root'}}
              - {{name: unguarded, run: id -un}}
            """,
            strategy=strategy,
        )
    assert report.exit_code == ExitCode.OK, report
    for host in become_logins:
        steps = report.by_host[host.name].steps
        assert [s.status for s in steps] == ["skipped", "changed", "skipped", "changed"]
        assert steps[0].result.notes == (f"skipped: {root_only}/{host.name} exists",)
        assert [steps[1].result.stdout, steps[3].result.stdout] == [b"root\n", b"root\n"]


@pytest.mark.usefixtures("requires_root")
def test_a_become_hosts_step_that_sudoes_not_looks_at_its_guards_as_the_login(
    become_logins: list[Host], root_only: Path, fleet: Inventory, reachable: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    """The guards follow the step, not the inventory: a step saying ``sudo: false`` runs as
    the login user there, and so do its guards (the login may not look into a 0700 root
    folder: the guard fails, it does not take the path for there or missing); a ``put``
    (which the inventory's sudo does not reach: it writes as the login user) looks as the
    login user too."""
    (tmp_path / "motd").write_text("hi\n")
    mine = f"{root_only}/{{{{ inventory_hostname }}}}"
    with Fleet(become_logins, inventory=fleet) as kept:
        report = run_text(
            kept,
            fleet,
            tmp_path,
            f"""
            steps:
              - name: said off
                run: id -un
                sudo: false
                creates: "{mine}"
                ignore_errors: true
              - name: said off removes
                run: id -un
                sudo: false
                removes: "{mine}"
                ignore_errors: true
              - name: said off unless
                run: id -un
                sudo: false
                unless: 'test "$(id -un)" = root'
              - name: put
                put: {{src: motd, dest: "{reachable}/motd-{{{{ inventory_hostname }}}}"}}
                creates: "{mine}"
                ignore_errors: true
            """,
        )
    for host in become_logins:
        steps = report.by_host[host.name].steps
        assert [s.status for s in steps] == ["ignored", "ignored", "changed", "ignored"]
        for guarded in (steps[0], steps[1], steps[3]):
            assert "Permission denied" in (guarded.result.error or ""), guarded
        assert steps[2].result.stdout == f"{host.vars['user']}\n".encode()
        assert not (reachable / f"motd-{host.name}").exists()


def test_a_template_without_mode_keeps_the_mode_of_the_file_it_replaces(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path
) -> None:
    """A 0600 file holding a secret was made 0644 (world-readable) by its next render."""
    (tmp_path / "secret.j2").write_text("secret={{ inventory_hostname }}\n")
    for host in hosts:
        existing = tmp_path / f"{host.name}.conf"
        existing.write_text("old\n")
        existing.chmod(0o600)
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        steps:
          - template: {{src: secret.j2, dest: "{tmp_path}/{{{{ inventory_hostname }}}}.conf"}}
        """,
    )
    assert report.ok
    for host in hosts:
        written = tmp_path / f"{host.name}.conf"
        assert written.read_text() == f"secret={host.name}\n"
        assert written.stat().st_mode & 0o777 == 0o600


def test_hosts_left_out_of_a_step_are_skipped_and_registered_so(
    connected: Fleet,
    fleet: Inventory,
    hosts: list[Host],
    tmp_path: Path,
    caplog: Any,
    *,
    strategy: str,
) -> None:
    """A host outside a step's hosts: had no record and no register (a later step failed on
    the undefined name); a pattern that matches nothing was skipped without a word."""
    first = hosts[0].name
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f"""
        steps:
          - name: only the first
            hosts: {first}
            run: echo picked
            register: picked
          - name: a typo in a group name
            hosts: no-such-group
            run: echo never
          - name: everyone reads the register
            run: echo "{{{{ picked.skipped }}}}"
        """,
        strategy=strategy,
    )
    assert report.ok, [r.error for r in report.hosts]
    for host in hosts:
        statuses = step_statuses(report, host.name)
        assert statuses[1] == "skipped"
        assert statuses[0] == ("changed" if host.name == first else "skipped")
        last = report.by_host[host.name].steps[2].result.stdout
        assert last == (b"False\n" if host.name == first else b"True\n")
    assert any("no-such-group" in r.getMessage() for r in caplog.records)


def test_a_mode_rendered_to_no_mode_fails_the_host_naming_the_step(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path
) -> None:
    (tmp_path / "f.txt").write_text("f\n")
    (tmp_path / "f.j2").write_text("f\n")
    for mode in ("-1", "77777", "rw"):
        report = run_text(
            connected,
            fleet,
            tmp_path,
            f"""
            vars: {{wanted: "{mode}"}}
            steps:
              - name: loose put
                put: {{src: f.txt, dest: "{tmp_path}/put-{NAME}", mode: "{{{{ wanted }}}}"}}
                ignore_errors: true
              - name: loose template
                template: {{src: f.j2, dest: "{tmp_path}/tpl-{NAME}", mode: "{{{{ wanted }}}}"}}
            """,
        )
        assert report.exit_code == ExitCode.COMMAND_FAILED, report
        for host in hosts:
            put, template = report.by_host[host.name].steps
            assert put.status == "ignored"
            assert template.status == "failed"
            assert "step 'loose template' (line 7): mode" in (template.result.error or "")
            assert f"{mode!r} is not an octal mode" in (template.result.error or "")
            assert not (tmp_path / f"put-{host.name}").exists()
            assert not (tmp_path / f"tpl-{host.name}").exists()


def test_tilde_is_the_login_home_in_template_dest_and_in_creates_and_removes(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    folder = f"task-tilde-{os.getpid()}"
    (tmp_path / "conf.j2").write_text("host={{ inventory_hostname }}\n")
    text = f"""
        steps:
          - name: marker
            run: mkdir -p ~/{folder} && touch ~/{folder}/marker
          - name: template
            template: {{src: conf.j2, dest: "~/{folder}/conf"}}
          - name: creates
            run: echo ran >> ~/{folder}/creates-ran
            creates: "~/{folder}/marker"
          - name: removes
            run: echo ran >> ~/{folder}/removes-ran
            removes: "~/{folder}/marker"
        """
    try:
        first = run_text(connected, fleet, tmp_path, text, strategy=strategy)
        second = run_text(connected, fleet, tmp_path, text, strategy=strategy)
        assert first.exit_code == second.exit_code == ExitCode.OK, (first, second)
        shown = run_command(hosts, CommandSpec(f"cd ~/{folder} && cat conf && ls"))
        for host in hosts:
            assert step_statuses(first, host.name) == ["changed", "changed", "skipped", "changed"]
            assert step_statuses(second, host.name) == ["changed", "ok", "skipped", "changed"]
            assert shown.by_host[host.name].stdout.decode().split() == [
                f"host={host.name}",
                "conf",
                "marker",
                "removes-ran",
            ]
    finally:
        run_command(hosts, CommandSpec(f"rm -rf ~/{folder}"))


def test_two_syncs_written_on_one_line_each_send_the_tree_as_it_is_then(
    connected: Fleet, fleet: Inventory, hosts: list[Host], tmp_path: Path, strategy: str
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "f").write_text("f\n")
    first = f'{{sync: {{src: site, dest: "{tmp_path}/a-{NAME}"}}}}'
    second = f'{{sync: {{src: site, dest: "{tmp_path}/b-{NAME}"}}}}'
    report = run_text(
        connected,
        fleet,
        tmp_path,
        f'steps: [{first}, {{local: "echo g > site/g"}}, {second}]\n',
        strategy=strategy,
    )
    assert report.exit_code == ExitCode.OK, report
    for host in hosts:
        assert sorted(p.name for p in (tmp_path / f"a-{host.name}").iterdir()) == ["f"]
        assert sorted(p.name for p in (tmp_path / f"b-{host.name}").iterdir()) == ["f", "g"]
