"""Under ``free``, the executor's end for a host (a second Ctrl-C, a lost connection) is
recorded on the step the host was in, never on one it had not reached."""

from __future__ import annotations

from remoteops import Fleet
from remoteops.executor import NullListener
from remoteops.inventory import Host, Inventory
from remoteops.results import HostResult, Status
from remoteops.tasks.model import Action, RunArgs, Step, TaskFile
from remoteops.tasks.runner import _Mode, _TaskRun


def _run() -> tuple[_TaskRun, Host]:
    host = Host("web1")
    steps = tuple(
        Step(name=f"s{i}", line=i + 1, action=Action.RUN, args=RunArgs("true")) for i in range(2)
    )
    task = TaskFile("task.yml", steps, strategy="free")
    run = _TaskRun(
        Fleet([host]),
        task,
        Inventory([host]),
        {},
        NullListener(),
        on_step=lambda index, step, hosts: None,
        on_result=lambda outcome, host: None,
        mode=_Mode(),
    )
    return run, host


def test_a_host_cancelled_between_steps_records_no_step_it_never_reached() -> None:
    run, host = _run()
    run._free.current[host.name] = 0  # the host in step 1, which then ends well
    run._record(0, run.task.steps[0], host, HostResult(host.name, Status.OK))
    run._settle_free(host, HostResult(host.name, Status.CANCELLED, error="interrupted"))
    assert [s.step for s in run.steps[host.name]] == [0]
    assert run.recap(host.name, None).status is Status.CANCELLED


def test_a_host_cut_off_within_a_step_records_the_end_on_that_step() -> None:
    run, host = _run()
    run._free.current[host.name] = 1
    run._record(0, run.task.steps[0], host, HostResult(host.name, Status.OK))
    run._settle_free(host, HostResult(host.name, Status.UNREACHABLE, error="lost"))
    assert [(s.step, s.result.status) for s in run.steps[host.name]] == [
        (0, Status.OK),
        (1, Status.UNREACHABLE),
    ]
