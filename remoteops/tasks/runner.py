"""Run a task file on a fleet: its steps in order on every host, batch by batch.

Two strategies, as Ansible's, with the same step semantics (one code path per host and step:
:meth:`_TaskRun._prepare_host`, :func:`_carried_out`, :meth:`_TaskRun._record`):

- ``linear`` (the default): every host of a batch finishes step *k* before any host starts
  step *k+1*: each step is one :meth:`Fleet.execute <remoteops.fleet.Fleet.execute>` over the
  hosts still going. What needs no host (``when:``, rendering the step's arguments) is done
  here, on this machine, before the step's call; a template error fails only the host whose
  variables lack the name.
- ``free``: each host of a batch runs its whole step list as fast as it can, never waiting
  for the others: the batch is one ``Fleet.execute`` whose work for a host is all its steps
  in turn, so a slow host delays no other. A ``local:`` step runs once, when the first host
  reaches it (and its ``when:`` holds); hosts reaching it meanwhile wait for that one run and
  share its result. The first Ctrl-C lets each host end the step it is in and start no other.

Either way a host keeps its one connection for the whole file.

A host that fails (and does not ``ignore_errors``) or cannot be reached takes no further step.
The ``max_fail`` brake (:func:`~remoteops.tasks.batches.brake_reason`) is asked after every
step under ``linear`` and as each host fails under ``free``: once it holds, the hosts of the
batch still going take no further step (``cancelled``, "stopped by the max_fail brake after
step K") and no further batch starts; a batch whose every host failed ends the run too. Hosts
not started then end ``cancelled`` with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import os
import posixpath
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from remoteops.errors import (
    ConfigurationError,
    DialogueError,
    HostTimeoutError,
    PatternError,
    RemoteOpsError,
    TemplateError,
    UnreachableError,
)
from remoteops.executor import (
    HostWork,
    Listener,
    NullListener,
    command_work,
    needing,
    sigterm_pending,
)
from remoteops.fleet import Fleet
from remoteops.inventory import Host, Inventory
from remoteops.results import (
    ExitCode,
    HostResult,
    PlannedChange,
    RunReport,
    Status,
    TransferStats,
)
from remoteops.sessions import close_quietly
from remoteops.sync.diff import file_diff, read_remote, text_diff
from remoteops.sync.fetch import fetch_work
from remoteops.sync.local_tree import LocalTree, scan_tree
from remoteops.sync.model import SyncOptions
from remoteops.sync.paths import expand_home, refuse_user_home, shell_word
from remoteops.sync.put import PutSource, put_work, read_source, require_folder
from remoteops.sync.run import describe, sync_work
from remoteops.tasks.batches import brake_reason, run_batches
from remoteops.tasks.model import (
    MODE_HINT,
    SKIPPED_IN_CHECK,
    Action,
    DialogueArgs,
    ExchangeArgs,
    GetArgs,
    LocalArgs,
    PutArgs,
    RunArgs,
    Step,
    SyncArgs,
    TaskFile,
    TemplateArgs,
    octal_mode,
)
from remoteops.tasks.templating import evaluate, render, to_bool
from remoteops.tasks.variables import host_variables
from remoteops.transports import Capability, CommandSpec, Privilege, Transport
from remoteops.transports.base import (
    ElevatingFiles,
    FileTransport,
    commands_of,
    files_of,
    host_privilege,
)
from remoteops.transports.deadlines import after
from remoteops.transports.dialogue import (
    DEFAULT_EXCHANGE_TIMEOUT_S,
    Exchange,
    dialogues_of,
    pattern_problem,
)
from remoteops.transports.settings import settings_for
from remoteops.tree import Entry, Kind

log = logging.getLogger(__name__)

_Value = TypeVar("_Value", int, float, bool)

#: What a step's kept result holds of each output stream once ``on_result`` (``-o json``),
#: ``failed_when``/``changed_when`` and ``register`` have had it whole: its last 64 KiB (the
#: end of a failing command's output says why). Without it a run held every step's output,
#: up to 64 MiB a stream and host, to its end: 10 steps of 10 MB on 4 hosts kept 540 MB.
KEPT_OUTPUT_TAIL = 64 * 1024

#: How often a running ``local:`` step looks at its timeout and at Ctrl-C under ``free``.
_LOCAL_POLL_S = 0.1

#: Told of each step as it starts: its index, the step, the hosts it runs on (``linear``).
StepStarted = Callable[[int, Step, Sequence[Host]], None]

#: Told of each step as it ends on a host (skipped ones too), on the host's own thread under
#: ``free``: what streamed output (``-o json``) prints at once.
StepEnded = Callable[["StepResult", Host], None]

#: What one step did on one host; ``skipped`` is not a :class:`Status` of a run.
StepStatus = Literal["ok", "changed", "failed", "ignored", "skipped"]


@dataclass(frozen=True)
class _StepOutcome(HostResult):
    """A step's result on a host with whether it changed anything or a guard skipped it."""

    changed: bool = False
    skipped: bool = False

    @classmethod
    def of(cls, result: HostResult, *, changed: bool, skipped: bool) -> _StepOutcome:
        values = {f.name: getattr(result, f.name) for f in dataclasses.fields(HostResult)}
        return cls(**values, changed=changed, skipped=skipped)

    @staticmethod
    def split(result: HostResult) -> tuple[HostResult, bool, bool]:
        """The plain result and its flags (a host that failed before its work: none)."""
        if not isinstance(result, _StepOutcome):
            return result, False, False
        values = {f.name: getattr(result, f.name) for f in dataclasses.fields(HostResult)}
        return HostResult(**values), result.changed, result.skipped


@dataclass(frozen=True)
class StepResult:
    """One step on one host: the host's result for it, and what the task makes of it.

    ``ignored``: the step failed, and ``ignore_errors`` let the host go on.
    """

    step: int
    name: str
    result: HostResult
    changed: bool = False
    skipped: bool = False
    ignored: bool = False

    @property
    def status(self) -> StepStatus:
        if self.skipped:
            return "skipped"
        if self.ignored:
            return "ignored"
        if not self.result.ok:
            return "failed"
        return "changed" if self.changed else "ok"


#: The ends the recap counts as ``unreachable``: the connection could not be made or was lost.
_UNREACHED = frozenset({Status.UNREACHABLE, Status.AUTH, Status.HOSTKEY})


@dataclass(frozen=True)
class HostRecap:
    """A host at the end of a task file (Ansible's recap line), with its steps in order.

    ``status`` is how the host ended: ``ok``; ``failed`` (a step failed); a connection kind
    (``unreachable``, ``timeout``...); ``cancelled`` when it was never started or the run was
    interrupted (``error`` says why).
    """

    host: str
    status: Status
    steps: tuple[StepResult, ...] = ()
    error: str | None = None

    def _count(self, status: StepStatus) -> int:
        return sum(1 for s in self.steps if s.status == status)

    @property
    def ok(self) -> int:
        """Steps that ended well, changed or not (as Ansible counts ``ok``)."""
        return sum(1 for s in self.steps if s.status in ("ok", "changed"))

    @property
    def changed(self) -> int:
        return self._count("changed")

    @property
    def failed(self) -> int:
        """Failed steps that are not the connection's: a command that failed, timed out,
        was unsupported or cancelled (the host's end, after the counts, says which)."""
        return sum(
            1 for s in self.steps if s.status == "failed" and s.result.status not in _UNREACHED
        )

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def ignored(self) -> int:
        return self._count("ignored")

    @property
    def unreachable(self) -> int:
        """Steps the connection failed (Ansible's ``unreachable``): refused or lost, login or
        host key refused; never a timeout or a cancelled step."""
        return sum(1 for s in self.steps if s.status == "failed" and s.result.status in _UNREACHED)


@dataclass(frozen=True)
class TaskReport:
    """Every host of a task run, in the order given; ``stopped`` says why the run ended
    before its last batch (None: it did not)."""

    hosts: tuple[HostRecap, ...]
    duration_s: float = 0.0
    interrupted: bool = False
    stopped: str | None = None
    #: A check run (``--check``): nothing was changed, ``changed`` says what would be.
    check: bool = False
    by_host: Mapping[str, HostRecap] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_host", {r.host: r for r in self.hosts})

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.status is Status.OK for r in self.hosts)

    @property
    def exit_code(self) -> ExitCode:
        """As :attr:`RunReport.exit_code` over each host's end; hosts the brake stopped or
        never started add nothing (the failures that pulled it are counted already): outside
        an interruption only the brake cancels."""
        ended = [
            HostResult(r.host, r.status, error=r.error)
            for r in self.hosts
            if r.status is not Status.CANCELLED or (self.interrupted and r.steps)
        ]
        return RunReport(ended, interrupted=self.interrupted).exit_code


def run_task_file(
    fleet: Fleet,
    task: TaskFile,
    *,
    inventory: Inventory,
    extra_vars: Mapping[str, Any],
    listener: Listener | None = None,
    on_step: StepStarted = lambda index, step, hosts: None,
    on_result: StepEnded = lambda outcome, host: None,
    check: bool = False,
    diff: bool = False,
    sudo_password: str | None = None,
) -> TaskReport:
    """Run ``task`` on the fleet's hosts with its strategy: see the module docs.

    ``on_step`` is told of each step as it starts, with the hosts it runs on (the CLI prints a
    header); under ``free`` steps have no common start and it is never called. ``on_result``
    is told of each step as it ends on a host (under ``free`` from the hosts' threads, so it
    must be thread-safe).

    ``check`` (Ansible's check mode) changes nothing: file steps plan and report what they
    would change, ``run`` and ``local`` steps are skipped unless ``check_safe``, guards are
    still evaluated (``unless`` runs). ``diff`` keeps (and shows on the listener) a unified
    diff of the text files that ``put``, ``sync`` and ``template`` change or would change.
    ``sudo_password`` answers sudo's prompt for the steps with ``sudo:`` / ``sudo_user:``,
    commands and file steps alike (only when sudo asks).
    """
    if task.strategy not in ("linear", "free"):
        raise ConfigurationError(f"{task.path}: unknown strategy {task.strategy!r}")
    started = time.monotonic()
    run = _TaskRun(
        fleet,
        task,
        inventory,
        extra_vars,
        listener or NullListener(),
        on_step=on_step,
        on_result=on_result,
        mode=_Mode(check=check, diff=diff),
    )
    run.sudo_password = sudo_password
    hosts = list(fleet.hosts)

    def run_batch(batch: list[Host]) -> bool:
        run.run_batch(batch)
        return run.interrupted

    stopped = run_batches(
        hosts,
        task.serial,
        run_batch,
        lambda host: run.host_failed(host.name),
        max_fail=task.max_fail,
        max_fail_percentage=task.max_fail_percentage,
    )
    recaps = tuple(run.recap(host.name, stopped) for host in hosts)
    interrupted = run.interrupted or stopped == "interrupted"
    return TaskReport(recaps, time.monotonic() - started, interrupted, stopped, check)


# -- one host's step, prepared here before the host is asked ---------------------------------

#: The action on one host: its result, and whether it changed anything there.
Doing = Callable[[Host, Transport, Listener], tuple[HostResult, bool]]

#: The note of a step that check mode does not run.
CHECK_SKIPPED = "skipped in check mode"


#: What a step's action asks of a host beyond what every protocol's session gives (the
#: others find out on the host: a file step on Telnet says ``unsupported`` there).
_NEEDS: Mapping[Action, frozenset[Capability]] = {
    Action.DIALOGUE: frozenset({Capability.DIALOGUES}),
}


@dataclass(frozen=True)
class _Mode:
    """How the run treats its steps: ``check`` plans instead of changing; ``diff`` keeps
    the unified diff of each file changed."""

    check: bool = False
    diff: bool = False


@dataclass(frozen=True)
class _Prepared:
    """A step for one host with everything rendered: the guards and the action to take."""

    do: Doing
    creates: str | None = None
    removes: str | None = None
    unless: str | None = None
    timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    command: str = ""  # a local step's, rendered
    check_skipped: bool = False  # a command check mode does not run (guards still do)
    privilege: Privilege | None = None  # the step's own sudo (its ``sudo:``/``sudo_user:``)
    #: Whether the host's inventory sudo reaches the step (a ``run`` step not saying
    #: ``sudo: false``): :meth:`effective` says as whom the step, and so its guards, work.
    host_sudo: bool = False

    def effective(self, host: Host) -> Privilege | None:
        """The step's privilege on ``host``, its guards' too (as Ansible's become covers a
        task's ``creates``): a root-only path must not look missing to a step run as root."""
        return host_privilege(self.privilege, settings_for(host), inventory=self.host_sudo)


class _TaskRun:
    """The state of one run: each host's variables, steps, and whether it goes on."""

    def __init__(
        self,
        fleet: Fleet,
        task: TaskFile,
        inventory: Inventory,
        extra_vars: Mapping[str, Any],
        listener: Listener,
        *,
        on_step: StepStarted,
        on_result: StepEnded,
        mode: _Mode,
    ) -> None:
        self.on_step = on_step
        self.on_result = on_result
        self.mode = mode
        self.fleet = fleet
        self.task = task
        self.inventory = inventory
        self.listener = listener
        self.base_dir = Path(task.path).parent if task.path else Path()
        self.variables: dict[str, dict[str, Any]] = {
            h.name: host_variables(h, inventory, task.vars, extra_vars) for h in fleet.hosts
        }
        self.shared_vars: dict[str, Any] = {
            **task.vars,
            **extra_vars,
            "groups": self.variables[fleet.hosts[0].name]["groups"] if fleet.hosts else {},
        }
        self.steps: dict[str, list[StepResult]] = {h.name: [] for h in fleet.hosts}
        self.stopped_on: dict[str, HostResult] = {}  # hosts that take no further step
        self.started: set[str] = set()
        #: Hosts the brake stopped: ``cancelled``, not counted as failed by the brake.
        self.braked: set[str] = set()
        self._batch: Sequence[Host] = ()
        self.interrupted = False
        #: Steps every host of a batch reached (an interrupted host stopped before the rest).
        self.reached: dict[int, bool] = {}
        self._warned: set[int] = set()  # step indexes (two steps may share a line)
        #: Local trees scanned, by step index: a source the hosts share is read once a step and
        #: batch, not once a host (a ``local:`` step may change it before the next one).
        self._scans: dict[tuple[int, Path, bool], LocalTree] = {}
        #: Under ``free``, host threads record, register and scan at once: one lock for the
        #: shared state (a host's own variables are only touched by its own thread).
        self._lock = threading.RLock()
        self._free = _FreeState()
        #: What sudo's prompt is answered with, for every step with sudo.
        self.sudo_password: str | None = None

    def host_failed(self, name: str) -> bool:
        stopped = name in self.stopped_on and name not in self.braked
        return stopped or name in self._free.lost

    def _brake(self) -> str | None:
        """Why the brake holds over the current batch and the run so far, or None."""
        return brake_reason(
            self._batch,
            [h for h in self.fleet.hosts if h.name in self.started],
            lambda host: self.host_failed(host.name),
            max_fail=self.task.max_fail,
            max_fail_percentage=self.task.max_fail_percentage,
        )

    def _braked(self, host: Host, why: str) -> HostResult:
        """``host`` stopped by the brake after the steps it did (under the lock)."""
        done = max((s.step + 1 for s in self.steps[host.name]), default=0)
        said = f"stopped by the max_fail brake after step {done} ({why})"
        end = HostResult(host.name, Status.CANCELLED, error=said)
        self.braked.add(host.name)
        self.stopped_on[host.name] = end
        return end

    def recap(self, name: str, stopped: str | None) -> HostRecap:
        steps = tuple(self.steps[name])
        if name in self.stopped_on:
            end = self.stopped_on[name]
            return HostRecap(name, end.status, steps, end.error)
        if name not in self.started:
            reason = f"not started: {stopped}" if stopped else "not started"
            return HostRecap(name, Status.CANCELLED, steps, reason)
        if self.interrupted and len({s.step for s in steps}) < len(self.task.steps):
            last = max((s.step + 1 for s in steps), default=0)
            return HostRecap(name, Status.CANCELLED, steps, f"interrupted after step {last}")
        return HostRecap(name, Status.OK, steps)

    # -- a batch, step by step ---------------------------------------------------------------

    def run_batch(self, batch: Sequence[Host]) -> None:
        self.started.update(h.name for h in batch)
        self._batch = batch
        self._scans.clear()
        if self.task.strategy == "free":
            self._run_batch_free(batch)
            return
        for index, step in enumerate(self.task.steps):
            if sigterm_pending():  # a SIGTERM between two steps (the CLI held it): no next one
                self.interrupted = True
                return
            going = [h for h in batch if h.name not in self.stopped_on]
            chosen = self._step_hosts(index, step, going)
            for host in going:  # left out by the step's hosts: skipped, as by a when:
                if host not in chosen:
                    self._left_out(index, step, host)
            if chosen:
                self.on_step(index, step, chosen)
                self._run_step(index, step, chosen)
            self.reached[index] = True
            if self.interrupted or not any(h.name not in self.stopped_on for h in batch):
                return
            why = self._brake() if index + 1 < len(self.task.steps) else None
            if why is not None:
                for host in batch:
                    if host.name not in self.stopped_on:
                        self._braked(host, why)
                return

    def _step_hosts(self, index: int, step: Step, going: Sequence[Host]) -> list[Host]:
        if step.hosts is None:
            return list(going)
        try:
            names = {h.name for h in self.inventory.select(step.hosts)}
        except PatternError as exc:  # said once a step, never silently
            with self._lock:
                if index not in self._warned:
                    self._warned.add(index)
                    log.warning("%s: hosts: %s; skipped on every host", _step_label(step), exc)
            return []
        return [h for h in going if h.name in names]

    def _left_out(self, index: int, step: Step, host: Host) -> None:
        """A host the step's ``hosts:`` leaves out: skipped, as by a ``when:``."""
        result = HostResult(host.name, Status.OK, notes=("not in the step's hosts",))
        self._record(index, step, host, result, skipped=True)

    def _prepare_host(self, index: int, step: Step, host: Host) -> _Prepared | None:
        """The step rendered for ``host``, or None when it ends here, recorded: skipped by its
        ``when:``, or failed rendering (a template error fails only this host)."""
        variables = self.variables[host.name]
        try:
            if not all(evaluate(condition, variables) for condition in step.when):
                self._record(index, step, host, HostResult(host.name, Status.OK), skipped=True)
                return None
            return self._prepare(index, step, variables)
        except (TemplateError, RemoteOpsError, ValueError) as exc:
            failed = _failure(host.name, f"{_step_label(step)}: {exc}")
            self._record(index, step, host, failed, judged=False)  # nothing ran to judge
            return None

    def _run_step(self, index: int, step: Step, hosts: Sequence[Host]) -> None:
        prepared: dict[str, _Prepared] = {}
        for host in hosts:
            plan = self._prepare_host(index, step, host)
            if plan is not None:
                prepared[host.name] = plan
        if not prepared:
            return
        runners = [h for h in hosts if h.name in prepared]
        if step.action is Action.LOCAL and prepared[runners[0].name].check_skipped:
            for host in runners:
                self._record(index, step, host, _skipped_by_check(host), skipped=True)
            return
        if step.action is Action.LOCAL:
            results = self._run_local(step, runners, prepared)
        else:
            results = self._run_remote(step, runners, prepared)
        for host in runners:
            result, changed, skipped = results[host.name]
            self._record(index, step, host, result, changed=changed, skipped=skipped)

    def _run_remote(
        self, step: Step, hosts: Sequence[Host], prepared: Mapping[str, _Prepared]
    ) -> dict[str, tuple[HostResult, bool, bool]]:

        def work(host: Host, transport: Transport, listener: Listener) -> HostResult:
            result, changed, skipped = _carried_out(prepared[host.name], host, transport, listener)
            # the flags ride in the result: on a Dask worker, nothing else comes back
            return _StepOutcome.of(result, changed=changed, skipped=skipped)

        needs = _NEEDS.get(step.action)  # a host that cannot is refused before connecting
        chosen = work if needs is None else needing(needs, work)
        report = self.fleet.execute(chosen, hosts=hosts, listener=self.listener)
        if report.interrupted:
            self.interrupted = True
        return {r.host: _StepOutcome.split(r) for r in report.results}

    def _run_local(
        self, step: Step, hosts: Sequence[Host], prepared: Mapping[str, _Prepared]
    ) -> dict[str, tuple[HostResult, bool, bool]]:
        """The step's command once here; its result is each host's (a failure fails all)."""
        shared = self._local_command(prepared[hosts[0].name])
        if shared.status is Status.CANCELLED:  # the run ends as an interrupted one
            self.interrupted = True
        changed = shared.ok
        return {h.name: (dataclasses.replace(shared, host=h.name), changed, False) for h in hosts}

    def _local_command(self, plan: _Prepared) -> HostResult:
        """A ``local:`` step's command, run here; its output goes to the listener as
        ``localhost``'s. Ctrl-C (here, or the first one under ``free``) ends it ``cancelled``."""
        started = time.monotonic()
        try:
            process = subprocess.Popen(  # noqa: S602 (a shell command the task file asks for)
                plan.command,
                shell=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, **plan.env},
                cwd=self.base_dir,
                start_new_session=True,  # its own process group, killed whole by _end
            )
        except OSError as exc:
            return _failure("", f"cannot run: {exc}", started)
        deadline = None if plan.timeout is None else started + plan.timeout
        try:
            while True:
                try:  # asked again after a timeout, communicate() loses no output
                    stdout, stderr = process.communicate(timeout=_LOCAL_POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    if self._free.halt.is_set() or sigterm_pending():
                        raise KeyboardInterrupt from None
                    if deadline is not None and time.monotonic() >= deadline:
                        _end(process)
                        return _failure("", f"timed out after {plan.timeout:g} s", started)
        except KeyboardInterrupt:
            _end(process)
            return HostResult(
                "", Status.CANCELLED, error="interrupted", duration_s=time.monotonic() - started
            )
        for stream, data in (("stdout", stdout), ("stderr", stderr)):
            if data:
                self.listener.host_output("localhost", stream, data)
        return HostResult(
            "",
            Status.OK if process.returncode == 0 else Status.FAILED,
            exit_code=process.returncode,
            stdout=stdout,
            stderr=stderr,
            duration_s=time.monotonic() - started,
        )

    # -- the free strategy: each host its whole step list, as fast as it can ------------------

    def _run_batch_free(self, batch: Sequence[Host]) -> None:
        """One executor call over the batch; each host's work is all its steps in turn. The
        executor's own end for a host (unreachable, timed out, cancelled) is recorded after,
        on the step the host was in."""
        self._free = _FreeState()
        events = _FreeEvents(self.listener, self._free)
        report = self.fleet.execute(self._free_work, hosts=batch, listener=events)
        if report.interrupted:
            self.interrupted = True
        by_name = {h.name: h for h in batch}
        for result in report.results:
            self._settle_free(by_name[result.host], result)

    def _free_work(self, host: Host, transport: Transport, listener: Listener) -> HostResult:
        """One host's steps, in order, on its connection; its end is what it stopped on."""
        braked_by: str | None = None
        for index, step in enumerate(self.task.steps):
            if self._free.halt.is_set() or self.interrupted:
                break
            if self._free.brake is not None:
                braked_by = self._free.brake
                break
            if not self._step_hosts(index, step, [host]):
                self._left_out(index, step, host)
                continue
            with self._lock:
                self._free.current[host.name] = index
            plan = self._prepare_host(index, step, host)
            if plan is not None:
                if step.action is Action.LOCAL and plan.check_skipped:
                    result, changed, skipped = _skipped_by_check(host), False, True
                elif step.action is Action.LOCAL:
                    shared = self._free.local_result(
                        index, functools.partial(self._local_command, plan)
                    )
                    result, changed, skipped = (
                        dataclasses.replace(shared, host=host.name),
                        shared.ok,
                        False,
                    )
                else:
                    try:
                        result, changed, skipped = _carried_out(plan, host, transport, listener)
                    except Exception:  # the connection's failure: the executor names it
                        self._free_failed(host, lost=True)
                        raise
                    listener.host_finished(result)  # as linear's executor does after each step
                self._record(index, step, host, result, changed=changed, skipped=skipped)
            if host.name in self.stopped_on:
                self._free_failed(host)
                break
        with self._lock:
            self._free.current.pop(host.name, None)  # between steps no more: its work is done
            end = self.stopped_on.get(host.name)
            if end is None and braked_by is not None:
                end = self._braked(host, braked_by)
            if end is None and (self._free.halt.is_set() or self.interrupted):
                end = HostResult(host.name, Status.CANCELLED, error="interrupted")
            end = end or HostResult(host.name, Status.OK)
            self._free.ended[host.name] = end.status
        return end

    def _free_failed(self, host: Host, *, lost: bool = False) -> None:
        """Under ``free`` the brake is asked as each host fails (``lost``: its connection)."""
        with self._lock:
            if lost:
                self._free.lost.add(host.name)
            if self._free.brake is None:
                self._free.brake = self._brake()

    def _settle_free(self, host: Host, result: HostResult) -> None:
        """The executor's end for ``host``: recorded when it is not the one the host's work
        returned (a connection lost, a timeout, Ctrl-C); then the host takes no more records
        (a worker the executor gave up on may still be winding down)."""
        with self._lock:
            if self._free.ended.get(host.name) is not result.status:
                # the step the host is in, until its work ends (none yet: the connection for its
                # first step); already recorded: the host was between steps, and no step it
                # never reached takes the result
                done = self.steps[host.name]
                index = self._free.current.get(host.name, None if done else 0)
                if index is not None and all(s.step != index for s in done):
                    self._record(index, self.task.steps[index], host, result)
                elif result.status is not Status.OK:
                    self.stopped_on[host.name] = result
            self._free.sealed.add(host.name)

    # -- results: changed_when, failed_when, register --------------------------------------

    def _record(
        self,
        index: int,
        step: Step,
        host: Host,
        result: HostResult,
        *,
        changed: bool = False,
        skipped: bool = False,
        judged: bool = True,
    ) -> None:
        """``judged``: ``failed_when``/``changed_when`` apply (not to a step that failed
        before running: a ``failed_when: false`` must not hide a template error)."""
        with self._lock:
            if host.name in self._free.sealed:
                return
            outcome = self._recorded(
                index, step, host, result, changed=changed, skipped=skipped, judged=judged
            )
        self.on_result(outcome, host)
        kept = _output_tail(outcome.result)
        if kept is not outcome.result:
            with self._lock:
                steps = self.steps[host.name]
                at = next(i for i in range(len(steps) - 1, -1, -1) if steps[i] is outcome)
                steps[at] = dataclasses.replace(outcome, result=kept)

    def _recorded(
        self,
        index: int,
        step: Step,
        host: Host,
        result: HostResult,
        *,
        changed: bool,
        skipped: bool,
        judged: bool,
    ) -> StepResult:
        variables = self.variables[host.name]
        ignored = False
        if judged and not skipped and result.status in (Status.OK, Status.FAILED):
            try:
                result, changed = _judged(step, result, changed, variables)
            except TemplateError as exc:
                result = _failure(host.name, f"{_step_label(step)}: {exc}")
        if not skipped and not result.ok:
            try:
                ignored = result.status is Status.FAILED and _flag(step.ignore_errors, variables)
            except TemplateError:
                ignored = False
        outcome = StepResult(index, step.name, result, changed, skipped, ignored)
        self.steps[host.name].append(outcome)
        if step.register:
            variables[step.register] = _registered(outcome)
        if result.status is Status.CANCELLED:
            self.interrupted = True
        if not skipped and not result.ok and not ignored:
            label = _step_label(step)
            why = result.error or (
                f"exit code {result.exit_code}" if result.exit_code is not None else "failed"
            )
            said = why if why.startswith(label) else f"{label}: {why}"
            self.stopped_on[host.name] = dataclasses.replace(result, error=said)
        return outcome

    # -- rendering a step's arguments for one host ------------------------------------------

    def _prepare(self, index: int, step: Step, variables: Mapping[str, Any]) -> _Prepared:
        def text(value: str) -> str:
            return render(value, variables)

        timeout = None if step.timeout is None else _seconds(step.timeout, variables)
        env = {name: text(value) for name, value in step.env.items()}
        sudo_user = None if step.sudo_user is None else text(step.sudo_user)
        sudo = None if step.sudo is None else _flag(step.sudo, variables)
        privilege = (
            Privilege(sudo_user, self.sudo_password) if sudo or sudo_user is not None else None
        )
        guards = {
            "creates": None if step.creates is None else text(step.creates),
            "removes": None if step.removes is None else text(step.removes),
            "unless": None if step.unless is None else text(step.unless),
        }
        for path in (guards["creates"], guards["removes"]):
            if path is not None:  # ~user fails this host here, not its guard on the host
                refuse_user_home(path)
        args = step.args
        check, diff = self.mode.check, self.mode.diff
        do: Doing
        local_command = ""
        host_sudo = False  # only a run step takes the inventory's sudo, unless it says no
        if isinstance(args, RunArgs):
            spec = CommandSpec(text(args.cmd), env=env, timeout=timeout)
            host_sudo = sudo is not False
            do = run_doing(
                spec if privilege is None else privilege.applied_to(spec), host_sudo=host_sudo
            )
        elif isinstance(args, DialogueArgs):
            exchanges = tuple(_exchange(e, timeout, variables) for e in args.exchanges)
            do = _dialogue_doing(exchanges, timeout)
        elif isinstance(args, LocalArgs):  # once for all, with no host's own variables
            do, local_command = _never, render(args.cmd, self.shared_vars)
        elif isinstance(args, PutArgs):
            mode = None if args.mode is None else _mode(args.mode, variables)
            source = self._local(text(args.src))
            do = put_doing(
                source,
                text(args.dest),
                recursive=_flag(args.recursive, variables),
                parents=_flag(args.parents, variables),
                mode=mode,
                check=check,
                diff=diff,
                privilege=privilege,
            )
        elif isinstance(args, SyncArgs):
            max_delete = args.max_delete
            options = SyncOptions(
                delete=_flag(args.delete, variables),
                checksum=_flag(args.checksum, variables),
                excludes=tuple(text(e) for e in args.exclude),
                max_delete=None if max_delete is None else int(_scalar(max_delete, variables)),
            )
            tree = self._tree(index, text(args.src), options.checksum)
            do = sync_doing(tree, text(args.dest), options, privilege, check=check, diff=diff)
        elif isinstance(args, GetArgs):
            do = get_doing(text(args.src), self._local(text(args.dest)), privilege, check=check)
        elif isinstance(args, TemplateArgs):
            written = read_template(self._local(text(args.src)))
            rendered = render(written, variables).encode("utf-8")
            mode = None if args.mode is None else _mode(args.mode, variables)
            do = template_doing(
                rendered,
                text(args.dest),
                mode,
                privilege,
                parents=_flag(args.parents, variables),
                check=check,
                diff=diff,
            )
        else:
            raise TypeError(f"no runner for {type(args).__name__}")
        if timeout is not None and isinstance(args, _FILE_ARGS):
            do = _within(do, timeout)
        check_skipped = check and not step.check_safe and step.action in SKIPPED_IN_CHECK
        return _Prepared(
            do,
            timeout=timeout,
            env=env,
            command=local_command,
            check_skipped=check_skipped,
            privilege=privilege,
            host_sudo=host_sudo,
            **guards,
        )

    def _tree(self, index: int, source: str, checksum: bool) -> LocalTree:
        """Step ``index``'s source tree, scanned once for all hosts (keyed by the step's
        index, not its line: steps written on one line, or one step aliased twice, share a
        line, and a later one must not send the tree as an earlier one saw it)."""
        key = (index, self._local(source), checksum)
        with self._lock:  # hosts reaching the step at once wait for the one scan
            if key not in self._scans:
                self._scans[key] = scan_tree(key[1], checksum=checksum)
            return self._scans[key]

    def _local(self, path: str) -> Path:
        """A local path of the task file: relative to the file's folder."""
        return self.base_dir / os.path.expanduser(path)


class _FreeState:
    """What the hosts of one ``free`` batch share: the first Ctrl-C, the step each host is in,
    how each host's work ended, and each ``local:`` step's one run."""

    def __init__(self) -> None:
        self.halt = threading.Event()
        self.current: dict[str, int] = {}
        self.ended: dict[str, Status] = {}
        self.sealed: set[str] = set()
        #: Why the brake holds (the hosts start no further step), once it does.
        self.brake: str | None = None
        #: Hosts whose connection failed under a step (the executor records their end).
        self.lost: set[str] = set()
        self._locals: dict[int, HostResult] = {}
        self._local_locks: dict[int, threading.Lock] = {}
        self._lock = threading.Lock()

    def local_result(self, index: int, run: Callable[[], HostResult]) -> HostResult:
        """Step ``index``'s local command, run by the first host to ask; the others wait for
        it and get the same result."""
        with self._lock:
            step_lock = self._local_locks.setdefault(index, threading.Lock())
        with step_lock:
            if index not in self._locals:
                self._locals[index] = run()
            return self._locals[index]


class _FreeEvents:
    """The listener a ``free`` batch gives the executor: a host's end that its work already
    reported step by step is not said again, and the first Ctrl-C tells every host to start
    no further step."""

    def __init__(self, inner: Listener, state: _FreeState) -> None:
        self.inner = inner
        self.state = state

    def host_started(self, host: str) -> None:
        self.inner.host_started(host)

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        self.inner.host_output(host, stream, data)

    def host_finished(self, result: HostResult) -> None:
        if self.state.ended.get(result.host) is not result.status:
            self.inner.host_finished(result)

    def interrupted(self, running: Sequence[str]) -> None:
        self.state.halt.set()
        self.inner.interrupted(running)


# -- the actions ------------------------------------------------------------------------------


def _carried_out(
    plan: _Prepared, host: Host, transport: Transport, listener: Listener
) -> tuple[HostResult, bool, bool]:
    """A prepared step on one host: its guards, then its action. Returns the result, whether
    it changed the host, and whether a guard skipped it. A connection's failure is raised:
    the executor names its kind."""
    started = time.monotonic()
    guard = _guard_skips(plan, host, transport)
    if guard is not None:
        return HostResult(host.name, Status.OK, notes=(guard,)), False, True
    if plan.check_skipped:
        return _skipped_by_check(host), False, True
    result, changed = attempted(plan.do, host, transport, listener, started)
    return result, changed, False


def attempted(
    do: Doing, host: Host, transport: Transport, listener: Listener, started: float
) -> tuple[HostResult, bool]:
    """``do`` on one host: a failure of the step alone (a local file unreadable, a host
    path refused) is a ``failed`` result; a connection's failure is raised, for the
    executor to name its kind. A step that failed because its connection was closed under
    it (the host's time ran out, the fleet was closed) is that connection's failure too, not
    the step's: the caller must not go on as if only the step had failed."""
    try:
        result, changed = do(host, transport, listener)
    except (RemoteOpsError, OSError) as exc:
        if getattr(exc, "status", Status.FAILED) is not Status.FAILED:
            raise
        result, changed = _failure(host.name, str(exc), started), False
    if not result.ok and transport.cut_off():
        raise UnreachableError(f"the connection was lost: {result.error or 'step cut short'}")
    return result, changed


def _skipped_by_check(host: Host) -> HostResult:
    return HostResult(host.name, Status.OK, notes=(CHECK_SKIPPED,))


def _end(process: subprocess.Popen[bytes]) -> None:
    """Kill a local step's whole process group and reap its shell: killing the shell alone
    left its children running, orphaned (``sleep 30 & wait``, or dash's ``sh -c "sleep
    30"``, which forks), past the step's timeout, Ctrl-C and SIGTERM. The shell is not reaped
    yet, so its pid (the group's id) cannot be anyone else's."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _never(host: Host, transport: Transport, listener: Listener) -> tuple[HostResult, bool]:
    raise AssertionError("a local step runs here, not on a host")


def run_doing(spec: CommandSpec, *, host_sudo: bool = True) -> Doing:
    """The command on the host. Its own ``timeout`` running out is the step's failure (as an
    Ansible task timeout, ``ignore_errors`` covers it): the command was killed and the
    connection is fine. A connection closed under it (the host's time ran out) is not.
    ``host_sudo=False``: the step said ``sudo: false``, which the inventory's sudo obeys."""
    work = command_work(spec, host_sudo=host_sudo)

    def do(host: Host, transport: Transport, listener: Listener) -> tuple[HostResult, bool]:
        started = time.monotonic()
        try:
            result = work(host, transport, listener)
        except HostTimeoutError as exc:
            if spec.timeout is None or transport.cut_off():
                raise
            failed = _failure(host.name, str(exc), started)
            return dataclasses.replace(failed, stdout=exc.stdout, stderr=exc.stderr), False
        return result, result.status is Status.OK

    return do


def _exchange(
    exchange: ExchangeArgs, step_timeout: float | None, variables: Mapping[str, Any]
) -> Exchange:
    """An exchange rendered for one host; without its own ``timeout`` it waits the step's,
    else the default. A pattern that renders to no regular expression fails this host."""
    expect = None if exchange.expect is None else render(exchange.expect, variables)
    problem = None if expect is None else pattern_problem(expect)
    if problem is not None:
        raise TemplateError(f"expect (line {exchange.line}): {problem}")
    own = exchange.timeout
    timeout = (
        _seconds(own, variables)
        if own is not None
        else (step_timeout or DEFAULT_EXCHANGE_TIMEOUT_S)
    )
    send = None if exchange.send is None else render(exchange.send, variables)
    return Exchange(send, expect, timeout, exchange.secret)


def _dialogue_doing(exchanges: tuple[Exchange, ...], timeout: float | None) -> Doing:
    """The exchanges on the host's session; a dialogue that went astray keeps what was
    received as the step's output (a dialogue changes the host, as ``run`` does)."""

    def do(host: Host, transport: Transport, listener: Listener) -> tuple[HostResult, bool]:
        started = time.monotonic()

        def on_output(stream: str, data: bytes) -> None:
            listener.host_output(host.name, stream, data)

        try:
            outcome = dialogues_of(transport).converse(exchanges, on_output, timeout)
        except DialogueError as exc:
            failed = _failure(host.name, str(exc), started)
            return dataclasses.replace(failed, stdout=exc.stdout), False
        took = time.monotonic() - started
        done = HostResult(
            host.name,
            Status.OK,
            stdout=outcome.transcript,
            duration_s=took,
            replies=outcome.replies,
        )
        return done, True

    return do


#: The file steps: a transfer has no deadline of its own, so ``timeout:`` is :func:`_within`.
_FILE_ARGS = (PutArgs, SyncArgs, GetArgs, TemplateArgs)


def _within(do: Doing, seconds: float) -> Doing:
    """A file step given ``seconds``: then its connection is closed under it (as the host's
    ``--timeout`` does: a transfer has no cheaper way to stop) and the host ends ``timeout``
    naming the step; it takes no further step, its connection being gone."""

    def do_within(host: Host, transport: Transport, listener: Listener) -> tuple[HostResult, bool]:
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            close_quietly(host.name, transport)

        said = f"timed out after {seconds:g} s (the step's timeout)"
        deadline = after(seconds, expire)
        try:
            done = do(host, transport, listener)
        except (RemoteOpsError, OSError):
            if expired.is_set():
                raise HostTimeoutError(said) from None
            raise
        finally:
            deadline.cancel()
        if expired.is_set():
            raise HostTimeoutError(said)
        return done

    return do_within


def _transfer_changed(result: HostResult) -> bool:
    return (result.transfer or TransferStats()).changed


def _transfer_doing(work: HostWork) -> Doing:
    """A transfer's work as a step: it changed the host when it created, updated or deleted."""

    def do(host: Host, transport: Transport, listener: Listener) -> tuple[HostResult, bool]:
        result = work(host, transport, listener)
        return result, _transfer_changed(result)

    return do


def put_doing(
    source: Path,
    dest: str,
    *,
    recursive: bool,
    parents: bool,
    mode: int | None,
    privilege: Privilege | None,
    check: bool,
    diff: bool,
) -> Doing:
    read = read_source(source, recursive=recursive)
    if mode is not None and not read.is_dir:
        read = PutSource(read.path, (dataclasses.replace(read.entries[0], mode=mode),))
    return _transfer_doing(
        put_work([read], dest, parents=parents, dry_run=check, diff=diff, privilege=privilege)
    )


def sync_doing(
    tree: LocalTree,
    dest: str,
    options: SyncOptions,
    privilege: Privilege | None,
    *,
    check: bool,
    diff: bool,
) -> Doing:
    return _transfer_doing(
        sync_work(tree, dest, options, dry_run=check, diff=diff, privilege=privilege)
    )


def get_doing(remote: str, local_dir: Path, privilege: Privilege | None, *, check: bool) -> Doing:
    """In check mode, what would be fetched: the host's path listed, nothing written here
    (Ansible's ``fetch`` writes nothing in check mode either)."""
    return _transfer_doing(fetch_work(remote, local_dir, dry_run=check, privilege=privilege))


def read_template(source: Path) -> str:
    """A local template's text; unreadable is the host's :class:`TemplateError`."""
    try:
        return source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read the template {source}: {exc}") from None


def template_doing(
    rendered: bytes,
    dest: str,
    mode: int | None,
    privilege: Privilege | None,
    *,
    parents: bool,
    check: bool,
    diff: bool,
) -> Doing:
    """Upload ``rendered`` to ``dest`` (``~`` the login's home) only when the host's bytes
    (or its mode) differ; the upload is a ``put`` of a temporary file, so it is atomic as
    ``put`` is, and a missing folder fails it unless ``parents``. ``check`` says what would
    change and writes nothing, and fails where the upload would; ``diff`` keeps the unified
    diff of the content. With ``privilege`` the host's file is read, and written, through
    sudo."""
    refuse_user_home(dest)

    def do(host: Host, connection: Transport, listener: Listener) -> tuple[HostResult, bool]:
        transport = files_of(connection, privilege)
        started = time.monotonic()
        path = expand_home(transport, dest)
        kind = transport.path_kind(path)
        if kind is Kind.DIR:
            return _failure(host.name, f"{path} is a folder, not a file", started), False
        if kind is None:  # where the upload would fail, check mode fails too
            parent = posixpath.dirname(path.rstrip("/")) or "."
            require_folder(parent, transport.path_kind(parent), parents=parents)
        present = transport.list_path(path, missing_ok=True, follow=True)
        current = present[0] if present and present[0].kind is Kind.FILE else None
        # no mode asked for: an existing file keeps its own (a 0600 secret stays 0600)
        kept = mode if mode is not None else (current.mode & 0o7777 if current else 0o644)
        same_size = current is not None and current.size == len(rendered)
        before = read_remote(transport, path, current) if current and same_size else None
        change = _template_change(path, current, before == rendered, kept)
        shown = None
        if diff:
            known = before is not None
            shown = text_diff(path, before, rendered) if known else None
            shown = file_diff(transport, path, current, rendered) if shown is None else shown
        said = (describe((change,), ()) if check and change else b"") + (shown or "").encode()
        if said:
            listener.host_output(host.name, "stdout", said)
        if change is None:
            stats = TransferStats(files_unchanged=1)
            return HostResult(host.name, Status.OK, transfer=stats, diff=shown), False
        if check:
            new = current is None
            stats = TransferStats(files_created=int(new), files_updated=int(not new))
            planned = HostResult(
                host.name,
                Status.OK,
                duration_s=time.monotonic() - started,
                transfer=stats,
                plan=(change,),
                diff=shown,
            )
            return planned, True
        with tempfile.TemporaryDirectory(prefix="remoteops-template-") as folder:
            local = Path(folder) / (posixpath.basename(path.rstrip("/")) or "file")
            local.write_bytes(rendered)
            entry = dataclasses.replace(read_source(local, recursive=False).entries[0], mode=kept)
            work = put_work(
                [PutSource(local, (entry,))], path, parents=parents, privilege=privilege
            )
            result = work(host, connection, listener)
        return dataclasses.replace(result, diff=shown), result.ok

    return do


def _template_change(
    dest: str, current: Entry | None, same_content: bool, mode: int
) -> PlannedChange | None:
    """What a template does to the host's file ``current`` (None: there is none), or None:
    the same bytes and mode are there already."""
    if current is None:
        return PlannedChange("upload", dest, "new")
    if not same_content:
        return PlannedChange("upload", dest, "content differs")
    if current.mode & 0o7777 != mode:
        return PlannedChange(
            "chmod", dest, f"mode differs ({current.mode & 0o7777:04o} -> {mode:04o})"
        )
    return None


# -- guards -----------------------------------------------------------------------------------


def _guard_skips(plan: _Prepared, host: Host, transport: Transport) -> str | None:
    """Why a guard skips the step on this host (``creates``, ``removes``, ``unless``), or
    None: the step runs. The guards look as the step runs (as Ansible's do): as its sudo
    user, the host's inventory sudo included (:meth:`_Prepared.effective`)."""
    if plan.creates is None and plan.removes is None and plan.unless is None:
        return None  # no guard: the inventory's sudo settings need not even be read
    privilege = plan.effective(host)
    for path, wanted in ((plan.creates, True), (plan.removes, False)):
        if path is not None and _exists(transport, path, privilege) is wanted:
            return f"skipped: {path} {'exists' if wanted else 'is missing'}"
    if plan.unless is not None:
        spec = CommandSpec(plan.unless, env=dict(plan.env), timeout=plan.timeout, capture_limit=0)
        if privilege is not None:
            spec = privilege.applied_to(spec)
        if commands_of(transport).run(spec).exit_code == 0:
            return f"skipped: `{plan.unless}` succeeded"
    return None


def _exists(transport: Transport, path: str, privilege: Privilege | None) -> bool:
    """Whether ``path`` is on the host (as the step's sudo user, if it has one), ``~`` being
    the login's home as for ``put`` (only ``~``: ``$HOME`` is a name like any other)."""
    if isinstance(transport, ElevatingFiles if privilege else FileTransport):
        files = files_of(transport, privilege)
        return files.path_kind(expand_home(files, path)) is not None
    probe = CommandSpec(f"test -e {shell_word(path)}", capture_limit=0)
    if privilege is not None:
        probe = privilege.applied_to(probe)
    return commands_of(transport).run(probe).exit_code == 0


# -- helpers ----------------------------------------------------------------------------------


def _failure(host: str, error: str, started: float | None = None) -> HostResult:
    duration = 0.0 if started is None else time.monotonic() - started
    return HostResult(host, Status.FAILED, error=error, duration_s=duration)


def _step_label(step: Step) -> str:
    return f"step {step.name!r} (line {step.line})"


def _scalar(value: _Value | str, variables: Mapping[str, Any]) -> _Value | str:
    """A number or yes/no as written, or the text its template renders to."""
    return render(value, variables) if isinstance(value, str) else value


def _seconds(value: float | str, variables: Mapping[str, Any]) -> float:
    """A ``timeout`` as written or rendered: a positive finite number of seconds, or the
    host's :class:`TemplateError` naming the value (``{{ -1 }}``, ``nan``)."""
    rendered = _scalar(value, variables)
    try:
        seconds = float(rendered)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise TemplateError(f"timeout {rendered!r} is not a positive number of seconds")
    return seconds


def _flag(value: bool | str, variables: Mapping[str, Any]) -> bool:
    return to_bool(_scalar(value, variables))


def _mode(value: int | str, variables: Mapping[str, Any]) -> int:
    """A mode as the loader kept it (an int it checked, or text), its template rendered and
    read as at load time: what renders to no mode fails the host."""
    rendered = _scalar(value, variables)
    mode = rendered if isinstance(rendered, int) else octal_mode(str(rendered))
    if mode is None or not 0 <= mode <= 0o7777:
        raise TemplateError(f"mode {rendered!r} is not {MODE_HINT}")
    return mode


def _output_tail(result: HostResult) -> HostResult:
    """``result`` keeping only the last :data:`KEPT_OUTPUT_TAIL` bytes of each stream (the
    byte counts still say how much was written); itself when it is that small already."""
    if max(len(result.stdout), len(result.stderr)) <= KEPT_OUTPUT_TAIL:
        return result

    def tail(data: bytes) -> bytes:
        start = max(0, len(data) - KEPT_OUTPUT_TAIL)
        for _ in range(3):  # never from inside a character (JSON would call it binary)
            if start < len(data) and data[start] & 0xC0 == 0x80:
                start += 1
        return data[start:]

    return dataclasses.replace(
        result,
        stdout=tail(result.stdout),
        stderr=tail(result.stderr),
        stdout_bytes=len(result.stdout) if result.stdout_bytes is None else result.stdout_bytes,
        stderr_bytes=len(result.stderr) if result.stderr_bytes is None else result.stderr_bytes,
    )


def _as_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _registered(outcome: StepResult) -> dict[str, Any]:
    """What ``register:`` keeps of a step, for later ``when:`` and templates: as Ansible's,
    ``stdout`` and ``stderr`` without their trailing line ends (``echo out=[{{ r.stdout }}]``
    stays on one line)."""
    result = outcome.result
    stdout = _as_text(result.stdout)
    return {
        "stdout": stdout.rstrip("\r\n"),
        "stdout_lines": stdout.splitlines(),
        "stderr": _as_text(result.stderr).rstrip("\r\n"),
        "exit_code": result.exit_code,
        "rc": result.exit_code,
        "changed": outcome.changed,
        "failed": not result.ok,
        "skipped": outcome.skipped,
        "status": result.status.value,
        "error": result.error,
        # a dialogue's exchanges: what each received before its pattern, the match, groups
        "exchanges": [reply.to_json() for reply in result.replies],
    }


def _judged(
    step: Step, result: HostResult, changed: bool, variables: Mapping[str, Any]
) -> tuple[HostResult, bool]:
    """``failed_when`` and ``changed_when`` applied to a finished step (with ``result``, and
    the ``register`` name, standing for it)."""
    if not step.failed_when and not step.changed_when:
        return result, changed
    seen = _registered(StepResult(0, step.name, result, changed))
    scope = {**variables, "result": seen}
    if step.register:
        scope[step.register] = seen
    if step.failed_when:
        failed = all(evaluate(condition, scope) for condition in step.failed_when)
        if failed and result.ok:
            result = dataclasses.replace(result, status=Status.FAILED, error="failed_when held")
        elif not failed and not result.ok:
            result = dataclasses.replace(result, status=Status.OK, error=None)
        seen = {**seen, "failed": failed}
        scope["result"] = seen
        if step.register:
            scope[step.register] = seen
    if step.changed_when:
        changed = all(evaluate(condition, scope) for condition in step.changed_when)
    return result, changed and result.ok


__all__ = ["HostRecap", "StepResult", "StepStatus", "TaskReport", "run_task_file"]
