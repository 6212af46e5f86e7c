"""Run a task file on a fleet: its steps in order on every host, batch by batch (``linear``).

Every host of a batch finishes step *k* before any host starts step *k+1*: each step is one
:meth:`Fleet.execute <remoteops.fleet.Fleet.execute>` over the hosts still going, so a host
keeps its one connection for the whole file. What needs no host (``when:``, rendering the
step's arguments) is done here, on this machine, before the step's call; a template error
fails only the host whose variables lack the name.

A host that fails (and does not ``ignore_errors``) or cannot be reached takes no further step.
After each batch the ``max_fail`` brake is asked (:func:`~remoteops.tasks.batches.should_stop`),
and a batch whose every host failed ends the run too; hosts not started then end ``cancelled``
with the reason.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import posixpath
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from remoteops.errors import ConfigurationError, PatternError, RemoteOpsError, TemplateError
from remoteops.executor import Listener, NullListener, command_work
from remoteops.fleet import Fleet
from remoteops.inventory import Host, Inventory
from remoteops.results import ExitCode, HostResult, RunReport, Status, TransferStats
from remoteops.sync.fetch import fetch_work
from remoteops.sync.local_tree import LocalTree, scan_tree
from remoteops.sync.model import SyncOptions
from remoteops.sync.put import PutSource, put_work, read_source
from remoteops.sync.run import sync_work
from remoteops.tasks.batches import batches, should_stop
from remoteops.tasks.model import (
    Action,
    GetArgs,
    LocalArgs,
    PutArgs,
    RunArgs,
    Step,
    SyncArgs,
    TaskFile,
    TemplateArgs,
)
from remoteops.tasks.templating import evaluate, render, to_bool
from remoteops.tasks.variables import host_variables
from remoteops.transports import CommandSpec, Privilege, Transport
from remoteops.transports.base import FileTransport, commands_of, files_of
from remoteops.tree import Entry, Kind

log = logging.getLogger(__name__)

_Value = TypeVar("_Value", int, float, bool)

#: Told of each step as it starts: its index, the step, the hosts it runs on.
StepStarted = Callable[[int, Step, Sequence[Host]], None]

#: What one step did on one host; ``skipped`` is not a :class:`Status` of a run.
StepStatus = Literal["ok", "changed", "failed", "ignored", "skipped"]


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
        return sum(
            1 for s in self.steps if s.status == "failed" and s.result.status is Status.FAILED
        )

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def ignored(self) -> int:
        return self._count("ignored")

    @property
    def unreachable(self) -> int:
        return sum(
            1 for s in self.steps if s.status == "failed" and s.result.status.is_connection_failure
        )


@dataclass(frozen=True)
class TaskReport:
    """Every host of a task run, in the order given; ``stopped`` says why the run ended
    before its last batch (None: it did not)."""

    hosts: tuple[HostRecap, ...]
    duration_s: float = 0.0
    interrupted: bool = False
    stopped: str | None = None
    by_host: Mapping[str, HostRecap] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_host", {r.host: r for r in self.hosts})

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.status is Status.OK for r in self.hosts)

    @property
    def exit_code(self) -> ExitCode:
        """As :attr:`RunReport.exit_code` over each host's end; hosts the brake never started
        add nothing (the failures that pulled it are counted already)."""
        ended = [
            HostResult(r.host, r.status, error=r.error)
            for r in self.hosts
            if r.steps or r.status is not Status.CANCELLED
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
    sudo_password: str | None = None,
) -> TaskReport:
    """Run ``task`` on the fleet's hosts (``linear``): see the module docs. ``on_step`` is
    told of each step as it starts, with the hosts it runs on (the CLI prints a header).
    ``sudo_password`` answers sudo's prompt for the steps with ``sudo:`` / ``sudo_user:``,
    commands and file steps alike (only when sudo asks)."""
    if task.strategy != "linear":
        raise ConfigurationError(
            f"{task.path}: strategy {task.strategy!r} is not supported yet; use linear"
        )
    started = time.monotonic()
    run = _TaskRun(fleet, task, inventory, extra_vars, listener or NullListener(), on_step=on_step)
    run.sudo_password = sudo_password
    hosts = list(fleet.hosts)
    cut = batches(hosts, task.serial)
    done: list[Host] = []
    stopped: str | None = None
    for number, batch in enumerate(cut):
        run.run_batch(batch)
        done += batch
        if run.interrupted:
            stopped = "interrupted"
            break
        failed = sum(1 for h in done if run.host_failed(h.name))
        if number + 1 == len(cut):
            break
        if should_stop(failed, len(done), task.max_fail, task.max_fail_percentage):
            stopped = f"{failed} of {len(done)} hosts failed (the max_fail brake)"
            break
        if all(run.host_failed(h.name) for h in batch):
            stopped = f"every host of batch {number + 1} failed"
            break
    recaps = tuple(run.recap(host.name, stopped) for host in hosts)
    return TaskReport(recaps, time.monotonic() - started, run.interrupted, stopped)


# -- one host's step, prepared here before the host is asked ---------------------------------

#: The action on one host: its result, and whether it changed anything there.
_Doing = Callable[[Host, Transport, Listener], tuple[HostResult, bool]]


@dataclass(frozen=True)
class _Prepared:
    """A step for one host with everything rendered: the guards and the action to take."""

    do: _Doing
    creates: str | None = None
    removes: str | None = None
    unless: str | None = None
    timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    command: str = ""  # a local step's, rendered


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
    ) -> None:
        self.on_step = on_step
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
        self.interrupted = False
        #: Steps every host of a batch reached (an interrupted host stopped before the rest).
        self.reached: dict[int, bool] = {}
        self._warned: set[int] = set()
        #: Local trees scanned for the current step: a source the hosts share is read once
        #: a step, not once a host (a ``local:`` step may change it before the next one).
        self._scans: dict[tuple[Path, bool], LocalTree] = {}
        #: What sudo's prompt is answered with, for every step with sudo.
        self.sudo_password: str | None = None

    def host_failed(self, name: str) -> bool:
        return name in self.stopped_on

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
        for index, step in enumerate(self.task.steps):
            going = [h for h in batch if h.name not in self.stopped_on]
            chosen = self._step_hosts(step, going)
            for host in going:  # left out by the step's hosts: skipped, as by a when:
                if host not in chosen:
                    result = HostResult(host.name, Status.OK, notes=("not in the step's hosts",))
                    self._record(index, step, host, result, skipped=True)
            if chosen:
                self.on_step(index, step, chosen)
                self._run_step(index, step, chosen)
            self.reached[index] = True
            if self.interrupted or not any(h.name not in self.stopped_on for h in batch):
                return

    def _step_hosts(self, step: Step, going: Sequence[Host]) -> list[Host]:
        if step.hosts is None:
            return list(going)
        try:
            names = {h.name for h in self.inventory.select(step.hosts)}
        except PatternError as exc:  # said once a step, never silently
            if step.line not in self._warned:
                self._warned.add(step.line)
                log.warning("%s: hosts: %s; skipped on every host", _step_label(step), exc)
            return []
        return [h for h in going if h.name in names]

    def _run_step(self, index: int, step: Step, hosts: Sequence[Host]) -> None:
        self._scans.clear()
        prepared: dict[str, _Prepared] = {}
        for host in hosts:
            variables = self.variables[host.name]
            try:
                if not all(evaluate(condition, variables) for condition in step.when):
                    self._record(index, step, host, HostResult(host.name, Status.OK), skipped=True)
                    continue
                prepared[host.name] = self._prepare(step, variables)
            except (TemplateError, RemoteOpsError, ValueError) as exc:
                self._record(index, step, host, _failure(host.name, f"{_step_label(step)}: {exc}"))
        if not prepared:
            return
        runners = [h for h in hosts if h.name in prepared]
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
        flags: dict[str, tuple[bool, bool]] = {}  # host -> (changed, skipped by a guard)

        def work(host: Host, transport: Transport, listener: Listener) -> HostResult:
            plan = prepared[host.name]
            started = time.monotonic()
            guard = _guard_skips(plan, transport)
            if guard is not None:
                flags[host.name] = (False, True)
                return HostResult(host.name, Status.OK, notes=(guard,))
            try:
                result, changed = plan.do(host, transport, listener)
            except (RemoteOpsError, OSError) as exc:
                if getattr(exc, "status", Status.FAILED) is not Status.FAILED:
                    raise  # a connection's failure: the executor names its kind
                result, changed = _failure(host.name, str(exc), started), False
            flags[host.name] = (changed, False)
            return result

        report = self.fleet.execute(work, hosts=hosts, listener=self.listener)
        if report.interrupted:
            self.interrupted = True
        return {r.host: (r, *flags.get(r.host, (False, False))) for r in report.results}

    def _run_local(
        self, step: Step, hosts: Sequence[Host], prepared: Mapping[str, _Prepared]
    ) -> dict[str, tuple[HostResult, bool, bool]]:
        """The step's command once here; its result is each host's (a failure fails all)."""
        first = prepared[hosts[0].name]
        started = time.monotonic()
        try:
            done = subprocess.run(  # noqa: S602 (a shell command the task file asks for)
                first.command,
                shell=True,
                capture_output=True,
                timeout=first.timeout,
                env={**os.environ, **first.env},
                cwd=self.base_dir,
                check=False,
            )
        except KeyboardInterrupt:  # the run ends as an interrupted one, with its recap
            self.interrupted = True
            shared = HostResult(
                "", Status.CANCELLED, error="interrupted", duration_s=time.monotonic() - started
            )
        except subprocess.TimeoutExpired as exc:
            shared = _failure("", f"timed out after {exc.timeout:g} s", started)
        except OSError as exc:
            shared = _failure("", f"cannot run: {exc}", started)
        else:
            shared = HostResult(
                "",
                Status.OK if done.returncode == 0 else Status.FAILED,
                exit_code=done.returncode,
                stdout=done.stdout,
                stderr=done.stderr,
                duration_s=time.monotonic() - started,
            )
        for stream, data in (("stdout", shared.stdout), ("stderr", shared.stderr)):
            if data:
                self.listener.host_output("localhost", stream, data)
        changed = shared.ok
        return {h.name: (dataclasses.replace(shared, host=h.name), changed, False) for h in hosts}

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
    ) -> None:
        variables = self.variables[host.name]
        ignored = False
        if not skipped and result.status in (Status.OK, Status.FAILED):
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

    # -- rendering a step's arguments for one host ------------------------------------------

    def _prepare(self, step: Step, variables: Mapping[str, Any]) -> _Prepared:
        def text(value: str) -> str:
            return render(value, variables)

        timeout = None if step.timeout is None else float(_scalar(step.timeout, variables))
        env = {name: text(value) for name, value in step.env.items()}
        sudo_user = None if step.sudo_user is None else text(step.sudo_user)
        privilege = (
            Privilege(sudo_user, self.sudo_password)
            if _flag(step.sudo, variables) or sudo_user is not None
            else None
        )
        guards = {
            "creates": None if step.creates is None else text(step.creates),
            "removes": None if step.removes is None else text(step.removes),
            "unless": None if step.unless is None else text(step.unless),
        }
        args = step.args
        do: _Doing
        local_command = ""
        if isinstance(args, RunArgs):
            spec = CommandSpec(text(args.cmd), env=env, timeout=timeout)
            do = _run_doing(spec if privilege is None else privilege.applied_to(spec))
        elif isinstance(args, LocalArgs):  # once for all, with no host's own variables
            do, local_command = _never, render(args.cmd, self.shared_vars)
        elif isinstance(args, PutArgs):
            mode = None if args.mode is None else _mode(args.mode, variables)
            source = self._local(text(args.src))
            do = _put_doing(
                source,
                text(args.dest),
                recursive=_flag(args.recursive, variables),
                parents=_flag(args.parents, variables),
                mode=mode,
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
            tree = self._tree(text(args.src), options.checksum)
            do = _sync_doing(tree, text(args.dest), options, privilege)
        elif isinstance(args, GetArgs):
            do = _get_doing(text(args.src), self._local(text(args.dest)), privilege)
        elif isinstance(args, TemplateArgs):
            source = self._local(text(args.src))
            try:
                written = source.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise TemplateError(f"cannot read the template {source}: {exc}") from None
            rendered = render(written, variables).encode("utf-8")
            mode = None if args.mode is None else _mode(args.mode, variables)
            do = _template_doing(rendered, text(args.dest), mode, privilege)
        else:
            raise TypeError(f"no runner for {type(args).__name__}")
        return _Prepared(do, timeout=timeout, env=env, command=local_command, **guards)

    def _tree(self, source: str, checksum: bool) -> LocalTree:
        key = (self._local(source), checksum)
        if key not in self._scans:
            self._scans[key] = scan_tree(key[0], checksum=checksum)
        return self._scans[key]

    def _local(self, path: str) -> Path:
        """A local path of the task file: relative to the file's folder."""
        return self.base_dir / os.path.expanduser(path)


# -- the actions ------------------------------------------------------------------------------


def _never(host: Host, transport: Transport, listener: Listener) -> tuple[HostResult, bool]:
    raise AssertionError("a local step runs here, not on a host")


def _run_doing(spec: CommandSpec) -> _Doing:
    work = command_work(spec)

    def do(host: Host, transport: Transport, listener: Listener) -> tuple[HostResult, bool]:
        result = work(host, transport, listener)
        return result, result.status is Status.OK

    return do


def _transfer_changed(result: HostResult) -> bool:
    stats = result.transfer or TransferStats()
    return bool(stats.files_created or stats.files_updated or stats.files_deleted)


def _put_doing(
    source: Path,
    dest: str,
    *,
    recursive: bool,
    parents: bool,
    mode: int | None,
    privilege: Privilege | None,
) -> _Doing:
    read = read_source(source, recursive=recursive)
    if mode is not None and not read.is_dir:
        read = PutSource(read.path, (dataclasses.replace(read.entries[0], mode=mode),))
    work = put_work([read], dest, parents=parents, privilege=privilege)

    def do(host: Host, transport: Transport, listener: Listener) -> tuple[HostResult, bool]:
        result = work(host, transport, listener)
        return result, _transfer_changed(result)

    return do


def _sync_doing(
    tree: LocalTree, dest: str, options: SyncOptions, privilege: Privilege | None
) -> _Doing:
    work = sync_work(tree, dest, options, dry_run=False, privilege=privilege)

    def do(host: Host, transport: Transport, listener: Listener) -> tuple[HostResult, bool]:
        result = work(host, transport, listener)
        return result, _transfer_changed(result)

    return do


def _get_doing(remote: str, local_dir: Path, privilege: Privilege | None) -> _Doing:
    work = fetch_work(remote, local_dir, privilege=privilege)

    def do(host: Host, transport: Transport, listener: Listener) -> tuple[HostResult, bool]:
        result = work(host, transport, listener)
        return result, _transfer_changed(result)

    return do


def _template_doing(
    rendered: bytes, dest: str, mode: int | None, privilege: Privilege | None
) -> _Doing:
    """Upload ``rendered`` to ``dest`` only when the host's bytes (or its mode) differ; the
    upload is a ``put`` of a temporary file, so it is atomic as ``put`` is. With
    ``privilege`` the host's file is read, and written, through sudo."""

    def do(host: Host, connection: Transport, listener: Listener) -> tuple[HostResult, bool]:
        transport = files_of(connection, privilege)
        started = time.monotonic()
        if transport.path_kind(dest) is Kind.DIR:
            return _failure(host.name, f"{dest} is a folder, not a file", started), False
        present = transport.list_path(dest, missing_ok=True, follow=True)
        current = present[0] if present and present[0].kind is Kind.FILE else None
        if current is not None and _same_file(transport, dest, current, rendered, mode):
            stats = TransferStats(files_unchanged=1)
            return HostResult(host.name, Status.OK, transfer=stats), False
        # no mode asked for: an existing file keeps its own (a 0600 secret stays 0600)
        kept = mode if mode is not None else (current.mode & 0o7777 if current else 0o644)
        with tempfile.TemporaryDirectory(prefix="remoteops-template-") as folder:
            local = Path(folder) / (posixpath.basename(dest.rstrip("/")) or "file")
            local.write_bytes(rendered)
            entry = dataclasses.replace(read_source(local, recursive=False).entries[0], mode=kept)
            work = put_work([PutSource(local, (entry,))], dest, privilege=privilege)
            result = work(host, connection, listener)
        return result, result.ok

    return do


def _same_file(
    transport: FileTransport, dest: str, current: Entry, rendered: bytes, mode: int | None
) -> bool:
    if current.size != len(rendered):
        return False
    if mode is not None and current.mode & 0o7777 != mode:
        return False
    with tempfile.TemporaryDirectory(prefix="remoteops-template-") as folder:
        local = Path(folder) / "current"
        transport.get_file(dest, local, current)
        return local.read_bytes() == rendered


# -- guards -----------------------------------------------------------------------------------


def _guard_skips(plan: _Prepared, transport: Transport) -> str | None:
    """Why a guard skips the step on this host (``creates``, ``removes``, ``unless``), or
    None: the step runs."""
    for path, wanted in ((plan.creates, True), (plan.removes, False)):
        if path is not None and _exists(transport, path) is wanted:
            return f"skipped: {path} {'exists' if wanted else 'is missing'}"
    if plan.unless is not None:
        spec = CommandSpec(plan.unless, env=dict(plan.env), timeout=plan.timeout)
        if commands_of(transport).run(spec).exit_code == 0:
            return f"skipped: `{plan.unless}` succeeded"
    return None


def _exists(transport: Transport, path: str) -> bool:
    if isinstance(transport, FileTransport):
        return transport.path_kind(path) is not None
    probe = CommandSpec(f"test -e {shlex.quote(path)}", capture_limit=0)
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


def _flag(value: bool | str, variables: Mapping[str, Any]) -> bool:
    return to_bool(_scalar(value, variables))


def _mode(value: int | str, variables: Mapping[str, Any]) -> int:
    """``0644`` as written (an octal string) or as YAML read it unquoted (an int)."""
    rendered = _scalar(value, variables)
    if isinstance(rendered, int):
        return rendered
    try:
        return int(str(rendered), 8)
    except ValueError:
        raise TemplateError(f"mode {rendered!r} is not an octal number") from None


def _as_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _registered(outcome: StepResult) -> dict[str, Any]:
    """What ``register:`` keeps of a step, for later ``when:`` and templates."""
    result = outcome.result
    stdout = _as_text(result.stdout)
    return {
        "stdout": stdout,
        "stdout_lines": stdout.splitlines(),
        "stderr": _as_text(result.stderr),
        "exit_code": result.exit_code,
        "rc": result.exit_code,
        "changed": outcome.changed,
        "failed": not result.ok,
        "skipped": outcome.skipped,
        "status": result.status.value,
        "error": result.error,
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
