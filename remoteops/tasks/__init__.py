"""Task files: several steps on every host, in order, with per-host values and rolling batches.

What is here is the pure foundation, no I/O on hosts:

- :mod:`.model`: the frozen :class:`TaskFile` and :class:`Step` (one :class:`Action` each, with
  typed arguments), holding values as written: strings stay Jinja2 templates.
- :mod:`.loader`: :func:`load_task_file`, which checks everything it can before a run and
  reports :class:`~remoteops.errors.TaskFileError` at file, line and step.
- :mod:`.templating`: strict Jinja2 (``render``, ``evaluate`` for ``when:``); the only module
  that imports Jinja2.
- :mod:`.variables`: :func:`host_variables` (precedence) and :func:`parse_extra_vars` (``-e``).
- :mod:`.batches`: ``serial:`` batches and the ``max_fail`` / ``max_fail_percentage`` brake.
- :mod:`.runner`: :func:`run_task_file`, the ``linear`` and ``free`` strategies on a
  :class:`Fleet`'s kept connections, with guards, ``register``, check mode and a
  :class:`TaskReport` of per-host recaps.
- :mod:`.python`: :func:`run_python_task`, a Python function run on every host with a
  :class:`HostSession` (run, put, get, sync, template) on its kept connection, batched and
  reported as a task file is.
- :mod:`.fabfile`: users' Fabric fabfiles run on the same connections, as steps with the same
  report. Not imported here: it imports Fabric, which only ``remoteops fab`` pays for.

"""

from remoteops.tasks.batches import batches, should_stop
from remoteops.tasks.loader import load_task_file, parse_task_file
from remoteops.tasks.model import (
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
)
from remoteops.tasks.python import HostSession, run_python_task
from remoteops.tasks.runner import HostRecap, StepResult, TaskReport, run_task_file
from remoteops.tasks.variables import host_variables, parse_extra_vars

__all__ = [
    "Action",
    "DialogueArgs",
    "ExchangeArgs",
    "GetArgs",
    "HostRecap",
    "HostSession",
    "LocalArgs",
    "PutArgs",
    "RunArgs",
    "Step",
    "StepResult",
    "SyncArgs",
    "TaskFile",
    "TaskReport",
    "TemplateArgs",
    "batches",
    "host_variables",
    "load_task_file",
    "parse_extra_vars",
    "parse_task_file",
    "run_python_task",
    "run_task_file",
    "should_stop",
]
