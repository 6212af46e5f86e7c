"""A task file as read: its settings and its steps, each with one action and its arguments.

Everything here is a frozen value and holds what the file says, untouched: a string may be a
Jinja2 template (``dest: /etc/{{ app }}.conf``) and is rendered per host by the runner, never
at load time. Where a field takes a number or a yes/no, a string holding ``{{`` is accepted as
a template for one (:data:`Templated`); any other string there is refused by the loader.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

#: A value as written, or a Jinja2 template string that renders to one (per host).
Templated: TypeAlias = str

#: An entry of ``serial:``: a number of hosts, or a percentage of them written ``"N%"``.
BatchSize: TypeAlias = int | str

Strategy: TypeAlias = Literal["linear", "free"]

#: How a file mode is written: 3 or 4 octal digits, maybe after ``0o`` or one more ``0``.
#: Five digits are refused (``"77777"`` would be masked to a setuid, world-writable 7777).
_OCTAL_MODE = re.compile(r"(?:0o|0)?([0-7]{3,4})")

#: How to write a mode, for messages.
MODE_HINT = 'an octal mode of 3 or 4 digits such as "0644" (quoted), at most "07777"'


def octal_mode(text: str) -> int | None:
    """The permission bits ``text`` spells (``"0644"``, ``"644"``, ``"0o644"``), or None when
    it is no mode: the only reading of a mode, at load time and once a template renders."""
    found = _OCTAL_MODE.fullmatch(text.strip())
    return None if found is None else int(found.group(1), 8)


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


class Action(str, enum.Enum):
    """What a step does. ``local`` runs once on this machine, before the hosts' step."""

    RUN = "run"
    PUT = "put"
    GET = "get"
    SYNC = "sync"
    TEMPLATE = "template"
    LOCAL = "local"
    DIALOGUE = "dialogue"


#: The actions check mode skips unless the step is ``check_safe``: they may change anything.
SKIPPED_IN_CHECK = frozenset({Action.RUN, Action.LOCAL, Action.DIALOGUE})


@dataclass(frozen=True)
class RunArgs:
    """``run: CMD``: a shell command on each host."""

    cmd: Templated


@dataclass(frozen=True)
class LocalArgs:
    """``local: CMD``: a shell command on this machine, once per step."""

    cmd: Templated


@dataclass(frozen=True)
class PutArgs:
    """``put: {src, dest, ...}``: local files (folders with ``recursive``) to each host.
    ``mode`` is as written: ``"0644"``, or the int YAML makes of an unquoted ``0644`` (420)."""

    src: Templated
    dest: Templated
    mode: int | Templated | None = None
    parents: bool | Templated = False
    recursive: bool | Templated = False


@dataclass(frozen=True)
class GetArgs:
    """``get: {src, dest}``: a remote file or folder into ``dest/<host>/`` here."""

    src: Templated
    dest: Templated


@dataclass(frozen=True)
class SyncArgs:
    """``sync: {src, dest, ...}``: make ``dest`` on each host match the local folder, with
    the ``sync`` verb's options."""

    src: Templated
    dest: Templated
    delete: bool | Templated = False
    checksum: bool | Templated = False
    exclude: tuple[Templated, ...] = ()
    max_delete: int | Templated | None = None


@dataclass(frozen=True)
class TemplateArgs:
    """``template: {src, dest, mode, parents}``: render the local Jinja2 file ``src`` per
    host and upload it to ``dest`` when the rendered bytes differ (``parents``: creating the
    folders missing, as ``put``'s)."""

    src: Templated
    dest: Templated
    mode: int | Templated | None = None
    parents: bool | Templated = False


@dataclass(frozen=True)
class ExchangeArgs:
    """One exchange of a dialogue: ``send`` a line (``secret``: written ``send_secret:``,
    masked everywhere), then wait up to ``timeout`` seconds for ``expect``, a regular
    expression (None: the host's prompt). ``line`` is where it is written."""

    send: Templated | None = field(default=None, repr=False)
    expect: Templated | None = None
    timeout: float | Templated | None = None
    secret: bool = False
    line: int = 0


@dataclass(frozen=True)
class DialogueArgs:
    """``dialogue: [...]`` (or a step's own ``send:``/``expect:``): exchanges held in turn
    on a Telnet host's session, which is back at its prompt after the last one."""

    exchanges: tuple[ExchangeArgs, ...]


StepArgs: TypeAlias = (
    RunArgs | LocalArgs | PutArgs | GetArgs | SyncArgs | TemplateArgs | DialogueArgs
)

#: The arguments' class of each action.
ARGS_OF: Mapping[Action, type[StepArgs]] = MappingProxyType(
    {
        Action.RUN: RunArgs,
        Action.LOCAL: LocalArgs,
        Action.PUT: PutArgs,
        Action.GET: GetArgs,
        Action.SYNC: SyncArgs,
        Action.TEMPLATE: TemplateArgs,
        Action.DIALOGUE: DialogueArgs,
    }
)


@dataclass(frozen=True)
class Step:
    """One step: exactly one action with its arguments, and the options every step takes.

    ``line`` is where the step starts in its file, for messages. ``when``, ``changed_when``
    and ``failed_when`` are bare Jinja2 expressions, all of which must hold (a list in the file;
    a yes/no written there becomes ``"True"``/``"False"``); empty means no condition.
    ``creates``/``removes`` are remote paths and ``unless`` a command: guards that skip the
    step when the path exists, is absent, or the command succeeds.
    """

    name: str
    action: Action
    args: StepArgs
    line: int
    hosts: str | None = None
    when: tuple[str, ...] = ()
    register: str | None = None
    creates: Templated | None = None
    removes: Templated | None = None
    unless: Templated | None = None
    changed_when: tuple[str, ...] = ()
    failed_when: tuple[str, ...] = ()
    ignore_errors: bool | Templated = False
    timeout: float | Templated | None = None
    env: Mapping[str, Templated] = field(default_factory=_empty)
    #: None: not said, the host's inventory decides (its ``sudo:``/``ansible_become``); an
    #: explicit false runs the step as the login user even on a host whose inventory sudoes.
    sudo: bool | Templated | None = None
    sudo_user: Templated | None = None
    check_safe: bool = False


@dataclass(frozen=True)
class TaskFile:
    """A task file: the hosts it is for by default, its variables, how hosts are batched and
    when the run stops, and its steps in order.

    ``serial`` empty means every host at once; see :func:`~remoteops.tasks.batches.batches`
    and :func:`~remoteops.tasks.batches.should_stop` for ``max_fail`` and
    ``max_fail_percentage``.
    """

    path: str
    steps: tuple[Step, ...]
    hosts: str | None = None
    vars: Mapping[str, Any] = field(default_factory=_empty)
    serial: tuple[BatchSize, ...] = ()
    max_fail: int | None = None
    max_fail_percentage: float | None = None
    strategy: Strategy = "linear"
