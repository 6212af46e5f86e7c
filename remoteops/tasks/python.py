"""Python tasks: your own function, run on every host with a session on its kept connection.

::

    from pathlib import Path
    from remoteops import Fleet, HostSession, run_python_task

    def deploy(host: HostSession) -> None:
        host.sync("./site", "/srv/site", delete=True)
        host.template(Path("app.conf.j2"), "/etc/app.conf", sudo=True, port=8080)
        if host.changed:
            host.run("systemctl reload app", sudo=True)

    with Fleet.from_inventory("inventory/", hosts="web") as fleet:
        report = run_python_task(fleet, deploy, serial=[1, "50%"], max_fail=1)

Pyinfra's and Fabric's way of writing a task, without Fabric: the function is called once per
host, in parallel, through :meth:`Fleet.execute <remoteops.fleet.Fleet.execute>`, with a
:class:`HostSession` bound to the host's one kept connection. Each session call is the work a
``Fleet`` verb or a task file step does (:func:`~remoteops.tasks.runner.run_doing`,
``put_doing``, ``sync_doing``, ``get_doing``, ``template_doing``): the same sudo, atomic
uploads, and the same rule for what counts as a change.

The result is a task file's :class:`~remoteops.tasks.runner.TaskReport`, with **one step per
session call** (``run: systemctl reload app``, ``put: motd -> /etc/motd``): the recap counts
changed and failed calls as Ansible counts tasks, a failure names the call that failed, and
the JSON form carries each call's output and transfer counts. One step per function call
would say only "deploy failed". A function that fails outside any call (its own exception)
adds one step named after it.

How a host ends: ``ok`` when the function returns; ``failed`` when it raises (the exception's
message; the traceback at debug level), or when a call failed and the function let the
:class:`~remoteops.errors.StepFailedError` through (the host's exit code is the command's);
a connection's failure keeps its status (``unreachable``, ``timeout``...), even if the
function caught it. A call that failed but whose error the function caught, and a command
run with ``check=False`` that exited non-zero, are ``ignored`` steps: the host went on.
``serial`` batches and the ``max_fail`` brake are the task files' (:func:`run_batches`).

This lives here, not as a ``Fleet`` method: the fleet is a layer below the tasks, whose
actions and report the session reuses.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from remoteops.errors import HostError, StepFailedError, UnreachableError
from remoteops.executor import Listener
from remoteops.fleet import Fleet, PathLike
from remoteops.inventory import Host, Inventory
from remoteops.results import HostResult, Status
from remoteops.sync.local_tree import LocalTree, scan_tree
from remoteops.sync.model import SyncOptions
from remoteops.tasks.batches import run_batches
from remoteops.tasks.model import BatchSize
from remoteops.tasks.runner import (
    Doing,
    HostRecap,
    StepResult,
    TaskReport,
    attempted,
    get_doing,
    put_doing,
    read_template,
    run_doing,
    sync_doing,
    template_doing,
)
from remoteops.tasks.templating import render
from remoteops.tasks.variables import host_variables
from remoteops.transports import CommandSpec, Privilege, Transport
from remoteops.transports.stdin_sources import StdinSource

log = logging.getLogger(__name__)

#: A Python task: called once per host with that host's session.
TaskFunction = Callable[["HostSession"], object]


class HostSession:
    """One host during a Python task: its inventory entry, its variables, and calls that run
    on its kept connection. Made by :func:`run_python_task`, one per host and run, and used
    from that host's thread only.

    Every call but ``run(check=False)`` raises :class:`~remoteops.errors.StepFailedError`
    (carrying the host's result) when it fails on the host; a lost connection raises its
    :class:`~remoteops.errors.HostError`. Local relative paths are relative to the current
    folder. ``sudo=True`` (or ``sudo_user=``) does the call as root (or that user) through
    sudo, answering its prompt with the run's ``sudo_password``.
    """

    def __init__(
        self,
        host: Host,
        variables: Mapping[str, Any],
        *,
        transport: Transport,
        listener: Listener,
        run: _PythonRun,
    ) -> None:
        #: The host as the inventory resolved it.
        self.host = host
        #: What a task file's templates would see: inventory host and group variables, the
        #: run's ``task_vars``, ``inventory_hostname`` and ``groups``.
        self.vars: Mapping[str, Any] = MappingProxyType(dict(variables))
        self._transport = transport
        self._listener = listener
        self._run = run
        #: The calls so far, each a step of the host's recap.
        self.steps: list[StepResult] = []
        #: The connection's failure that ends this host, once one happened.
        self.ended: HostError | None = None

    @property
    def changed(self) -> bool:
        """Whether any call so far changed the host (a command that ran, a file written)."""
        return any(step.changed for step in self.steps)

    def run(
        self,
        command: str,
        *,
        sudo: bool = False,
        sudo_user: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        check: bool = True,
        stdin: bytes | StdinSource | None = None,
        changes: bool = True,
    ) -> HostResult:
        """Run a shell command; its output streams to the run's listener as the host's lines.

        ``check``: a non-zero exit raises :class:`~remoteops.errors.StepFailedError` (as
        Fabric's ``UnexpectedExit``); without it the result is returned, exit code and all.
        ``changes=False`` says the command only reads (``test -e``, ``cat``): it does not mark
        the host changed, which keeps an idempotent task's second run ``ok``.
        """
        spec = CommandSpec(command, stdin=stdin, env=dict(env or {}), timeout=timeout)
        privilege = self._privilege(sudo, sudo_user)
        spec = spec if privilege is None else privilege.applied_to(spec)
        return self._call(f"run: {command}", lambda: run_doing(spec), check=check, changes=changes)

    def put(
        self,
        local: PathLike,
        remote: str,
        *,
        mode: int | None = None,
        recursive: bool = False,
        parents: bool = False,
        sudo: bool = False,
        sudo_user: str | None = None,
    ) -> HostResult:
        """Upload a local file (a folder with ``recursive``), atomically, as ``Fleet.put``;
        ``mode`` sets a file's mode. Unchanged files are not sent, nor counted a change."""
        privilege = self._privilege(sudo, sudo_user)
        return self._call(
            f"put: {os.fspath(local)} -> {remote}",
            lambda: put_doing(
                Path(local),
                remote,
                recursive=recursive,
                parents=parents,
                mode=mode,
                privilege=privilege,
                check=False,
                diff=False,
            ),
        )

    def get(
        self, remote: str, local_dir: PathLike, *, sudo: bool = False, sudo_user: str | None = None
    ) -> HostResult:
        """Download a remote file or folder into ``local_dir/<host>/``, as ``Fleet.get``."""
        privilege = self._privilege(sudo, sudo_user)
        return self._call(
            f"get: {remote}",
            lambda: get_doing(remote, Path(local_dir), privilege, check=False),
        )

    def sync(
        self,
        source: PathLike,
        dest: str,
        *,
        delete: bool = False,
        exclude: Sequence[str] = (),
        checksum: bool = False,
        max_delete: int | None = None,
        sudo: bool = False,
        sudo_user: str | None = None,
    ) -> HostResult:
        """Make ``dest`` match the local folder ``source``, as ``Fleet.sync``. The folder is
        read once for the hosts of a batch, not once per host."""
        privilege = self._privilege(sudo, sudo_user)
        options = SyncOptions(
            delete=delete, checksum=checksum, excludes=tuple(exclude), max_delete=max_delete
        )
        return self._call(
            f"sync: {os.fspath(source)} -> {dest}",
            lambda: sync_doing(
                self._run.tree(Path(source), checksum),
                dest,
                options,
                privilege,
                check=False,
                diff=False,
            ),
        )

    def template(
        self,
        source: str | os.PathLike[str],
        dest: str,
        /,
        *,
        mode: int | None = None,
        sudo: bool = False,
        sudo_user: str | None = None,
        **variables: Any,
    ) -> HostResult:
        """Render a Jinja2 template with :attr:`vars` (and ``variables`` over them) and
        upload it only when the host's bytes or mode differ, as a task file's ``template:``.

        ``source`` is a template *file* when given as a ``Path``, the template's text when
        given as a ``str``. An undefined variable fails the call, naming it.
        """
        privilege = self._privilege(sudo, sudo_user)

        def doing() -> Doing:
            text = source if isinstance(source, str) else read_template(Path(source))
            rendered = render(text, {**self.vars, **variables}).encode("utf-8")
            return template_doing(
                rendered, dest, mode, privilege, parents=False, check=False, diff=False
            )

        return self._call(f"template: {dest}", doing)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _privilege(self, sudo: bool, sudo_user: str | None) -> Privilege | None:
        if not sudo and sudo_user is None:
            return None
        return Privilege(sudo_user, self._run.sudo_password)

    def _call(
        self, name: str, make: Callable[[], Doing], *, check: bool = True, changes: bool = True
    ) -> HostResult:
        """Do one call on the host and record it as a step (see the module docs)."""
        if self.ended is not None:
            raise self.ended  # the connection is gone: no call can work any more
        started = time.monotonic()

        def doing(host: Host, transport: Transport, listener: Listener) -> tuple[HostResult, bool]:
            return make()(host, transport, listener)  # what ``make`` raises is the call's

        try:
            result, changed = attempted(doing, self.host, self._transport, self._listener, started)
        except HostError as exc:  # attempted raises only what ends the host
            self.ended = exc
            ended = HostResult(self.host.name, exc.status, error=str(exc))
            self._record(name, dataclasses.replace(ended, duration_s=time.monotonic() - started))
            raise
        self._record(name, result, changed=changed and changes, ignored=not result.ok and not check)
        if not result.ok and check:
            raise StepFailedError(name, result)
        return result

    def _record(
        self, name: str, result: HostResult, *, changed: bool = False, ignored: bool = False
    ) -> None:
        self.steps.append(StepResult(len(self.steps), name, result, changed, ignored=ignored))

    def failed_outside_calls(self, name: str, error: str) -> HostResult:
        """The function's own failure, as a step named after it; the host's end."""
        result = HostResult(self.host.name, Status.FAILED, error=f"{name}: {error}")
        self._record(name, result)
        return result

    def settle_failures(self, ending: HostResult | None) -> None:
        """Every failed call but the one whose error ended the host (None: the function
        returned) was caught by the function, which went on: it is ``ignored``."""
        self.steps[:] = [
            dataclasses.replace(step, ignored=True)
            if step.status == "failed" and step.result is not ending
            else step
            for step in self.steps
        ]

    def __repr__(self) -> str:
        return f"HostSession({self.host.name!r}, {len(self.steps)} calls)"


def run_python_task(
    fleet: Fleet,
    function: TaskFunction,
    *,
    hosts: str | None = None,
    task_vars: Mapping[str, Any] = MappingProxyType({}),
    serial: Sequence[BatchSize] = (),
    max_fail: int | None = None,
    max_fail_percentage: float | None = None,
    sudo_password: str | None = None,
    listener: Listener | None = None,
) -> TaskReport:
    """Call ``function(session)`` on each host of the fleet (``hosts``: a pattern within it),
    in parallel, batch by batch: see the module docs.

    ``task_vars`` sit between the inventory's variables and ``inventory_hostname`` in
    :attr:`HostSession.vars` (a task file's ``vars:``). ``serial`` and the brake are a task
    file's ``serial:``, ``max_fail:`` and ``max_fail_percentage:``. ``sudo_password``
    answers sudo's prompt for every call with ``sudo``. ``listener`` (else the fleet's) sees
    each host start, its commands' output, and its end.
    """
    started = time.monotonic()
    chosen = fleet.select(hosts)
    inventory = fleet.inventory or Inventory(fleet.hosts)
    run = _PythonRun(
        function,
        {h.name: host_variables(h, inventory, task_vars) for h in chosen},
        sudo_password,
    )

    def run_batch(batch: list[Host]) -> bool:
        run.new_batch()
        report = fleet.execute(run.work, hosts=batch, listener=listener)
        for result in report.results:
            run.settle(result)
        return report.interrupted

    stopped = run_batches(
        chosen,
        serial,
        run_batch,
        lambda host: not run.ends[host.name].ok,
        max_fail=max_fail,
        max_fail_percentage=max_fail_percentage,
    )
    recaps = tuple(run.recap(host.name, stopped) for host in chosen)
    interrupted = stopped == "interrupted"
    return TaskReport(recaps, time.monotonic() - started, interrupted, stopped)


class _PythonRun:
    """The state of one run: each host's session and how it ended."""

    def __init__(
        self,
        function: TaskFunction,
        variables: Mapping[str, Mapping[str, Any]],
        sudo_password: str | None,
    ) -> None:
        self.function = function
        self.name = str(getattr(function, "__name__", None) or repr(function))
        self.variables = variables
        self.sudo_password = sudo_password
        #: Each host's steps: its session's calls, and the executor's end when it cut them.
        self.steps: dict[str, list[StepResult]] = {}
        #: What each host's work returned, and each host's end as the executor said it.
        self.returned: dict[str, HostResult] = {}
        self.ends: dict[str, HostResult] = {}
        self._trees: dict[tuple[Path, bool], LocalTree] = {}
        self._lock = threading.Lock()

    def new_batch(self) -> None:
        """Local folders are read again: the controller's files may change between batches."""
        with self._lock:
            self._trees.clear()

    def tree(self, source: Path, checksum: bool) -> LocalTree:
        """``source`` scanned once for the batch (the hosts asking at once wait for it)."""
        key = (source.absolute(), checksum)
        with self._lock:
            if key not in self._trees:
                self._trees[key] = scan_tree(source, checksum=checksum)
            return self._trees[key]

    def work(self, host: Host, transport: Transport, listener: Listener) -> HostResult:
        """The function on one host; what it raises becomes the host's end."""
        session = HostSession(
            host, self.variables[host.name], transport=transport, listener=listener, run=self
        )
        self.steps[host.name] = session.steps
        started = time.monotonic()
        try:
            self.function(session)
        except StepFailedError as exc:
            if session.ended is not None:
                raise session.ended from exc
            session.settle_failures(exc.result)  # the call is one of the host's steps
            end = HostResult(
                host.name,
                Status.FAILED,
                exit_code=exc.result.exit_code,
                stdout=exc.result.stdout,
                stderr=exc.result.stderr,
                error=str(exc),
            )
        except Exception as exc:  # the user's code: any error fails this host, said as such
            if session.ended is not None and exc is not session.ended:
                raise session.ended from exc  # the connection went first: that is the end
            if isinstance(exc, HostError) and exc.status is not Status.FAILED:
                raise
            if transport.connection_lost():
                raise UnreachableError(f"connection lost during {self.name}: {exc}") from exc
            log.debug("host %s: %s raised", host.name, self.name, exc_info=True)
            said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            end = session.failed_outside_calls(self.name, said)
            session.settle_failures(end)
        else:
            if session.ended is not None:
                raise session.ended  # caught by the function, but the host is still lost
            session.settle_failures(None)
            end = HostResult(host.name, Status.OK)
        end = dataclasses.replace(end, duration_s=time.monotonic() - started)
        self.returned[host.name] = end
        return end

    def settle(self, end: HostResult) -> None:
        """The executor's end for a host. One it made itself (unreachable before the function
        ran, a timeout, Ctrl-C) is put on the host's last step (if that call is what it cut
        short) or on a step named after the function: the recap counts it there."""
        self.ends[end.host] = end
        returned = self.returned.get(end.host)
        if returned is not None and returned.status is end.status:
            return
        steps = self.steps.setdefault(end.host, [])  # none: the function never ran
        last = steps[-1] if steps else None
        if last is not None and last.result.status not in (Status.OK, Status.FAILED):
            steps[-1] = dataclasses.replace(last, result=end)  # the call it cut short
        else:
            steps.append(StepResult(len(steps), self.name, end))

    def recap(self, name: str, stopped: str | None) -> HostRecap:
        steps = tuple(self.steps.get(name, ()))
        end = self.ends.get(name)
        if end is None:
            reason = f"not started: {stopped}" if stopped else "not started"
            return HostRecap(name, Status.CANCELLED, steps, reason)
        return HostRecap(name, end.status, steps, None if end.ok else end.error)


__all__ = ["HostSession", "TaskFunction", "run_python_task"]
