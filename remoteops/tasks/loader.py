"""Reading a task file: YAML into a :class:`~remoteops.tasks.model.TaskFile`, every mistake
reported at its file, line and step before any host is touched.

The document is composed with the inventory's loader (:func:`~remoteops.inventory.yaml_loader.
compose`: the same nesting and alias limits), then walked node by node so each error has the
line of the key or value at fault. Values are kept as written: strings may be Jinja2 templates,
rendered per host by the runner; only their syntax is checked here, so a typo in a template is a
load error with its line rather than a failure on every host. An unknown key or action gets a
"did you mean", including the Ansible names people bring along (``tasks``, ``become``, ``shell``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from remoteops.errors import ConfigurationError, PatternError, TaskFileError, TemplateError
from remoteops.inventory.patterns import check_pattern
from remoteops.inventory.yaml_loader import SafeLineLoader, compose, repeated_key
from remoteops.tasks import templating
from remoteops.tasks.model import (
    MODE_HINT,
    SKIPPED_IN_CHECK,
    Action,
    BatchSize,
    DialogueArgs,
    ExchangeArgs,
    GetArgs,
    LocalArgs,
    PutArgs,
    RunArgs,
    Step,
    StepArgs,
    Strategy,
    SyncArgs,
    TaskFile,
    TemplateArgs,
    octal_mode,
)
from remoteops.tasks.variables import refuse_built_in
from remoteops.transports.dialogue import pattern_problem

_NULL_TAG = "tag:yaml.org,2002:null"
_STRATEGIES: tuple[Strategy, ...] = ("linear", "free")
_FILE_KEYS = ("hosts", "vars", "serial", "max_fail", "max_fail_percentage", "strategy", "steps")
_STEP_KEYS = (
    "name",
    "hosts",
    "when",
    "register",
    "creates",
    "removes",
    "unless",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "timeout",
    "env",
    "sudo",
    "sudo_user",
    "check_safe",
)
_ACTIONS = tuple(action.value for action in Action)
#: A step's own ``send:``/``expect:``: a dialogue of that one exchange (the issue's pair).
_SHORTHAND = ("send", "send_secret", "expect")
_EXCHANGE_KEYS = (*_SHORTHAND, "timeout")

#: What people write out of habit (Ansible, Fabric), and what it is called here.
_KNOWN_AS = {
    "tasks": "steps",
    "become": "sudo",
    "become_user": "sudo_user",
    "environment": "env",
    "shell": "run",
    "command": "run",
    "raw": "run",
    "copy": "put",
    "fetch": "get",
    "synchronize": "sync",
    "local_action": "local",
    "check_mode": "check_safe",
    "max_fail_percent": "max_fail_percentage",
    "cli_command": "dialogue",
    "prompt": "expect",
    "answer": "send",
    "responses": "dialogue",
}


def load_task_file(path: str | Path) -> TaskFile:
    """Read and check the task file at ``path``; :class:`TaskFileError` says what is wrong."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise TaskFileError("not UTF-8 text", source=source) from None
    except OSError as exc:
        raise TaskFileError(f"cannot read: {exc.strerror}", source=source) from None
    return parse_task_file(text, source)


def parse_task_file(text: str, source: str = "<task file>") -> TaskFile:
    """A task file from its text; ``source`` names it in errors."""
    loader = SafeLineLoader(text)
    try:
        root = compose(loader, source, TaskFileError)
        return _Reader(loader, source).task_file(root)
    finally:
        loader.dispose()


@dataclass(frozen=True)
class _Where:
    """The step being read (if any), so every error inside it names it."""

    number: int | None = None
    name: str | None = None


class _Reader:
    """Walks one composed document into a :class:`TaskFile`."""

    def __init__(self, loader: SafeLineLoader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.step = _Where()

    # -- errors and plumbing -------------------------------------------------------------

    def error(self, node: Node | None, message: str) -> TaskFileError:
        line = None if node is None or node.start_mark is None else node.start_mark.line + 1
        return TaskFileError(
            message, source=self.source, line=line, step=self.step.number, step_name=self.step.name
        )

    def pairs(self, node: MappingNode, what: str, known: tuple[str, ...]) -> dict[str, Node]:
        """The mapping's values by key, each key known; a key written twice is refused, one
        written over a merged one (``<<: *base``) wins, as YAML says."""
        self.refuse_repeated_keys(node, what)
        try:
            self.loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            raise self.error(node, f"invalid merge key: {exc.problem}") from None
        found: dict[str, Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) and key.tag != _NULL_TAG else None
            if not isinstance(name, str) or not name:
                raise self.error(key, f"expected a key name in {what}, found {_kind(key)}")
            if name not in known:
                raise self.error(key, f"unknown key {name!r} in {what}{_did_you_mean(name, known)}")
            found[name] = value
        return found

    def refuse_repeated_keys(self, node: Node, what: str, *, deep: bool = False) -> None:
        repeated = repeated_key(node, deep=deep)
        if repeated is not None:
            raise self.error(repeated, f"{repeated.value!r} is given twice in {what}")

    def value(self, node: Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise self.error(node, f"invalid value: {exc.problem}") from None
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. 2020-02-30, !!int abc
            raise self.error(node, f"invalid value: {exc}") from None

    # -- the file ------------------------------------------------------------------------

    def task_file(self, root: Node | None) -> TaskFile:
        if root is None or _is_null(root):
            raise self.error(root, "the task file is empty; it needs at least 'steps:'")
        if not isinstance(root, MappingNode):
            hint = (
                " (an Ansible playbook is a list of plays: write one play's keys at the top, "
                "with 'steps:' for its tasks)"
                if isinstance(root, SequenceNode)
                else ""
            )
            raise self.error(root, f"a task file must be a mapping, not {_kind(root)}{hint}")
        keys = self.pairs(root, "the task file", _FILE_KEYS)
        if "steps" not in keys:
            raise self.error(root, "no 'steps:': a task file needs a list of steps")
        steps = self.steps(keys["steps"])
        return TaskFile(
            path=self.source,
            steps=steps,
            hosts=self.optional(keys, "hosts", self.pattern),
            vars=self.optional(keys, "vars", self.variables) or MappingProxyType({}),
            serial=self.optional(keys, "serial", self.serial) or (),
            max_fail=self.optional(keys, "max_fail", self.max_fail),
            max_fail_percentage=self.optional(keys, "max_fail_percentage", self.percentage),
            strategy=self.optional(keys, "strategy", self.strategy) or "linear",
        )

    def optional(self, keys: Mapping[str, Node], key: str, read: Callable[[Node, str], Any]) -> Any:
        node = keys.get(key)
        return None if node is None else read(node, key)

    def pattern(self, node: Node, key: str) -> str:
        value = self.value(node)
        if not isinstance(value, str) or not value.strip():
            raise self.error(
                node, f"{key} must be a host pattern such as 'web:!web03', not {_shown(value)}"
            )
        try:  # its syntax here; the names it uses are the inventory's to know, when run
            check_pattern(value)
        except PatternError as exc:
            raise self.error(node, f"{key}: {exc}") from None
        return value

    def variables(self, node: Node, key: str) -> Mapping[str, Any]:
        if _is_null(node):
            return MappingProxyType({})
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{key} must be a mapping of names to values, not {_kind(node)}")
        self.refuse_repeated_keys(node, key, deep=True)
        values = self.value(node)
        bad = [name for name in values if not isinstance(name, str) or not name.isidentifier()]
        if bad:
            raise self.error(node, f"{key}: {bad[0]!r} is not a variable name")
        for name in values:
            self.refuse_built_in(_key_node(node, name) or node, name, key)
        return MappingProxyType(values)

    def serial(self, node: Node, key: str) -> tuple[BatchSize, ...]:
        value = self.value(node)
        entries = value if isinstance(value, list) else [value]
        if not entries:
            raise self.error(node, f"{key} is an empty list; leave it out to run all hosts at once")
        for entry in entries:
            if not _is_batch_size(entry):
                raise self.error(
                    node,
                    f"{key} entries are positive numbers of hosts or percentages 'N%' "
                    f"(0 < N <= 100), not {_shown(entry)}",
                )
        return tuple(entries)

    def max_fail(self, node: Node, key: str) -> int:
        value = self.value(node)
        if not _is_int(value) or value < 1:
            raise self.error(
                node, f"{key} must be a number of hosts, at least 1, not {_shown(value)}"
            )
        return int(value)

    def percentage(self, node: Node, key: str) -> float:
        value = self.value(node)
        if not _is_number(value) or not 0 <= value <= 100:
            raise self.error(node, f"{key} must be a number from 0 to 100, not {_shown(value)}")
        return value  # type: ignore[no-any-return]

    def strategy(self, node: Node, key: str) -> Strategy:
        value = self.value(node)
        for strategy in _STRATEGIES:
            if value == strategy:
                return strategy
        raise self.error(
            node,
            f"{key} is 'linear' or 'free', not {_shown(value)}"
            + (_did_you_mean(value, _STRATEGIES) if isinstance(value, str) else ""),
        )

    # -- steps ---------------------------------------------------------------------------

    def steps(self, node: Node) -> tuple[Step, ...]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, f"steps must be a list of steps, not {_kind(node)}")
        if not node.value:
            raise self.error(node, "steps is empty: a task file needs at least one step")
        steps = []
        for number, item in enumerate(node.value, start=1):
            self.step = _Where(number, _step_name(item))
            steps.append(self.one_step(item))
        self.step = _Where()
        return tuple(steps)

    def one_step(self, node: Node) -> Step:
        if not isinstance(node, MappingNode):
            raise self.error(
                node, f"a step must be a mapping with a name and an action, not {_kind(node)}"
            )
        keys = self.pairs(node, "a step", (*_STEP_KEYS, *_ACTIONS, *_SHORTHAND))
        actions: list[str] = []
        for key in keys:  # a send: with its expect: is one action
            if key in _ACTIONS or (key in _SHORTHAND and not set(actions) & set(_SHORTHAND)):
                actions.append(key)
        if not actions:
            raise self.error(node, f"no action: a step needs one of {', '.join(_ACTIONS)}")
        if len(actions) > 1:
            raise self.error(
                keys[actions[1]],
                f"two actions ({actions[0]} and {actions[1]}): a step has exactly one; "
                "split it into two steps",
            )
        shorthand = actions[0] in _SHORTHAND
        action = Action.DIALOGUE if shorthand else Action(actions[0])
        if "check_safe" in keys and action not in SKIPPED_IN_CHECK:
            raise self.error(
                keys["check_safe"],
                f"check_safe is for run, local and dialogue steps; a {action.value} step never "
                "writes in check mode, it says what it would change",
            )
        if shorthand:
            own = {key: keys[key] for key in _SHORTHAND if key in keys}
            args: StepArgs = DialogueArgs((self.exchange(own, node),))
        else:
            args = self.arguments(action, keys[action.value])
        name_node = keys.get("name")
        name = self.text(name_node, "name") if name_node is not None else _default_name(args)
        options = {
            key: read(keys[key], key) for key, read in self.step_options().items() if key in keys
        }
        return Step(
            name=name,
            action=action,
            args=args,
            line=node.start_mark.line + 1,
            **options,
        )

    def step_options(self) -> dict[str, Callable[[Node, str], Any]]:
        return {
            "hosts": self.pattern,
            "when": self.expressions,
            "register": self.register,
            "creates": self.text,
            "removes": self.text,
            "unless": self.text,
            "changed_when": self.expressions,
            "failed_when": self.expressions,
            "ignore_errors": self.flag,
            "timeout": self.timeout,
            "env": self.env,
            "sudo": self.flag,
            "sudo_user": self.text,
            "check_safe": self.plain_flag,
        }

    def arguments(self, action: Action, node: Node) -> StepArgs:
        if action is Action.DIALOGUE:
            return self.dialogue(node)
        if action in (Action.RUN, Action.LOCAL):
            value = self.value(node)
            if not isinstance(value, str) or not value.strip():
                raise self.error(
                    node,
                    f"{action.value} takes a command as a string, not {_shown(value)} "
                    f'(write `{action.value}: "..."`)',
                )
            self.check_template(node, value)
            return RunArgs(value) if action is Action.RUN else LocalArgs(value)
        readers = _FILE_ARGS[action]
        what = action.value
        if not isinstance(node, MappingNode):
            raise self.error(
                node,
                f"{action.value} takes a mapping ({', '.join(readers)}), not {_kind(node)}",
            )
        keys = self.pairs(node, what, tuple(readers))
        missing = [key for key in ("src", "dest") if key not in keys]
        if missing:
            raise self.error(node, f"{action.value} needs {' and '.join(missing)}")
        values = {key: readers[key](self, keys[key], key) for key in keys}
        return _ARGS_CLASS[action](**values)

    # -- dialogues -----------------------------------------------------------------------

    def dialogue(self, node: Node) -> DialogueArgs:
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.error(
                node,
                "dialogue takes a list of exchanges such as "
                f"{{send: enable, expect: 'Password:'}}, not {_kind(node)}",
            )
        exchanges = []
        for item in node.value:
            if isinstance(item, MappingNode):
                keys = self.pairs(item, "an exchange", _EXCHANGE_KEYS)
            elif isinstance(item, ScalarNode) and not _is_null(item):
                keys = {"send": item}  # a line alone: sent, then the prompt awaited
            else:
                raise self.error(
                    item,
                    f"an exchange is a mapping ({', '.join(_EXCHANGE_KEYS)}) or a line to "
                    f"send, not {_kind(item)}",
                )
            exchanges.append(self.exchange(keys, item))
        return DialogueArgs(tuple(exchanges))

    def exchange(self, keys: Mapping[str, Node], node: Node) -> ExchangeArgs:
        if "send" in keys and "send_secret" in keys:
            raise self.error(
                keys["send_secret"], "send and send_secret: an exchange sends one line"
            )
        if not set(keys) & set(_SHORTHAND):
            raise self.error(node, "an exchange needs send, send_secret or expect")
        secret = "send_secret" in keys
        sent = keys.get("send_secret" if secret else "send")
        expect = keys.get("expect")
        return ExchangeArgs(
            send=None if sent is None else self.sent_line(sent, secret=secret),
            expect=None if expect is None else self.regex(expect, "expect"),
            timeout=self.optional(keys, "timeout", self.timeout),
            secret=secret,
            line=node.start_mark.line + 1,
        )

    def sent_line(self, node: Node, *, secret: bool) -> str:
        """A line to type: any string, empty too (Enter alone). Numbers are refused rather
        than guessed at (YAML reads ``0123`` as 83)."""
        key = "send_secret" if secret else "send"
        value = self.value(node)
        if not isinstance(value, str):
            shown = "a number" if secret and not isinstance(value, (list, dict)) else _shown(value)
            raise self.error(node, f'{key} must be a string (quote it: {key}: "..."), not {shown}')
        if "\n" in value or "\r" in value:
            raise self.error(node, f"{key} types one line: write one exchange per line")
        self.check_template(node, value)
        return value

    def regex(self, node: Node, key: str) -> str:
        value = self.value(node)
        if not isinstance(value, str) or not value:
            raise self.error(
                node, f"{key} must be a regular expression as a string, not {_shown(value)}"
            )
        if templating.is_template(value):  # checked once rendered, for each host
            self.check_template(node, value)
            return value
        problem = pattern_problem(value)
        if problem is not None:
            raise self.error(node, f"{key}: {problem}")
        return value

    # -- values --------------------------------------------------------------------------

    def check_template(self, node: Node, text: str) -> None:
        try:
            templating.check_template(text)
        except TemplateError as exc:
            raise self.error(node, str(exc)) from None

    def text(self, node: Node, key: str) -> str:
        value = self.value(node)
        if not isinstance(value, str) or not value:
            raise self.error(node, f"{key} must be a string, not {_shown(value)}")
        self.check_template(node, value)
        return value

    def register(self, node: Node, key: str) -> str:
        value = self.value(node)
        if not isinstance(value, str) or not value.isidentifier():
            raise self.error(
                node, f"{key} must be a variable name such as 'result', not {_shown(value)}"
            )
        self.refuse_built_in(node, value, key)
        return value

    def refuse_built_in(self, node: Node, name: str, key: str) -> None:
        try:
            refuse_built_in(name, key)
        except ConfigurationError as exc:
            raise self.error(node, str(exc)) from None

    def expressions(self, node: Node, key: str) -> tuple[str, ...]:
        value = self.value(node)
        items = value if isinstance(value, list) else [value]
        found = []
        for item in items:
            if isinstance(item, bool):
                found.append(str(item))
                continue
            if not isinstance(item, str) or not item.strip():
                raise self.error(
                    node, f"{key} takes an expression or a list of them, not {_shown(item)}"
                )
            try:
                templating.check_expression(item)
            except TemplateError as exc:
                raise self.error(node, f"{key}: {exc}") from None
            found.append(item)
        return tuple(found)

    def plain_flag(self, node: Node, key: str) -> bool:
        value = self.value(node)
        if not isinstance(value, bool):
            raise self.error(node, f"{key} must be true or false, not {_shown(value)}")
        return value

    def flag(self, node: Node, key: str) -> bool | str:
        value = self.value(node)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and templating.is_template(value):
            self.check_template(node, value)
            return value
        raise self.error(
            node, f"{key} must be true, false or a {{{{ template }}}}, not {_shown(value)}"
        )

    def timeout(self, node: Node, key: str) -> float | str:
        value = self.value(node)
        if _is_number(value) and value > 0:
            return value  # type: ignore[no-any-return]
        if isinstance(value, str) and templating.is_template(value):
            self.check_template(node, value)
            return value
        raise self.error(node, f"{key} must be a positive number of seconds, not {_shown(value)}")

    def count(self, node: Node, key: str) -> int | str:
        value = self.value(node)
        if _is_int(value) and value >= 0:
            return int(value)
        if isinstance(value, str) and templating.is_template(value):
            self.check_template(node, value)
            return value
        raise self.error(node, f"{key} must be a whole number, 0 or more, not {_shown(value)}")

    def mode(self, node: Node, key: str) -> int | str:
        """A mode as :func:`octal_mode` reads it, or a template checked once rendered. An
        unquoted number counts only when written with its leading 0 (``0644``, which YAML 1.1
        reads as octal): ``644`` is the decimal 644, mode 1204, never what was meant."""
        value = self.value(node)
        if isinstance(value, str) and templating.is_template(value):
            self.check_template(node, value)
            return value
        if isinstance(value, str) and octal_mode(value) is not None:
            return value
        if _is_int(value) and isinstance(node, ScalarNode):
            written = node.value.strip()
            if written.startswith("0") and octal_mode(written) == value:
                return int(value)
            if written.isdigit() and octal_mode(written) is not None:
                raise self.error(
                    node,
                    f"{key}: {written} unquoted is the decimal number {value} (mode "
                    f'{value:o}); write {key}: "{written.zfill(4)}" (quoted)',
                )
        raise self.error(node, f"{key} must be {MODE_HINT}, not {_shown(value)}")

    def patterns(self, node: Node, key: str) -> tuple[str, ...]:
        value = self.value(node)
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) and item for item in items):
            raise self.error(
                node, f"{key} takes a pattern or a list of patterns, not {_shown(value)}"
            )
        return tuple(items)

    def env(self, node: Node, key: str) -> Mapping[str, str]:
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{key} must be a mapping of names to values, not {_kind(node)}")
        self.refuse_repeated_keys(node, key)
        values = self.value(node)
        found = {}
        for name, value in values.items():
            if not isinstance(name, str) or not name or "=" in name:
                raise self.error(node, f"{key}: {name!r} is not an environment variable name")
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise self.error(
                    node, f"{key}: {name} must be a string or number, not {_shown(value)}"
                )
            text = str(value)
            self.check_template(node, text)
            found[name] = text
        return MappingProxyType(found)


_Read = Callable[[_Reader, Node, str], Any]


#: For each file action, its keys and how each one is read.
_FILE_ARGS: Mapping[Action, Mapping[str, _Read]] = {
    Action.PUT: {
        "src": _Reader.text,
        "dest": _Reader.text,
        "mode": _Reader.mode,
        "parents": _Reader.flag,
        "recursive": _Reader.flag,
    },
    Action.GET: {"src": _Reader.text, "dest": _Reader.text},
    Action.SYNC: {
        "src": _Reader.text,
        "dest": _Reader.text,
        "delete": _Reader.flag,
        "checksum": _Reader.flag,
        "exclude": _Reader.patterns,
        "max_delete": _Reader.count,
    },
    Action.TEMPLATE: {
        "src": _Reader.text,
        "dest": _Reader.text,
        "mode": _Reader.mode,
        "parents": _Reader.flag,
    },
}
_ARGS_CLASS: Mapping[Action, Callable[..., StepArgs]] = {
    Action.PUT: PutArgs,
    Action.GET: GetArgs,
    Action.SYNC: SyncArgs,
    Action.TEMPLATE: TemplateArgs,
}


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    known = _KNOWN_AS.get(word)
    if known in choices:
        return f"; did you mean {known!r}?"
    # a slip in another tool's name counts too (shel -> shell -> run)
    for other in difflib.get_close_matches(word, list(_KNOWN_AS), n=1):
        if _KNOWN_AS[other] in choices:
            return f"; did you mean {_KNOWN_AS[other]!r}?"
    close = difflib.get_close_matches(word, choices, n=3)
    if not close:
        return f"; expected one of {', '.join(choices)}"
    return "; did you mean " + " or ".join(repr(choice) for choice in close) + "?"


def _step_name(node: Node) -> str | None:
    """The step's ``name:`` as written, to name the step in errors found before it is read."""
    if not isinstance(node, MappingNode):
        return None
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.value == "name" and isinstance(value, ScalarNode):
            return str(value.value) or None
    return None


def _default_name(args: StepArgs) -> str:
    """A step without ``name:`` is called by what it does: ``run: make install``."""
    if isinstance(args, (RunArgs, LocalArgs)):
        kind = "run" if isinstance(args, RunArgs) else "local"
        first = args.cmd.strip().splitlines()[0]
        return f"{kind}: {first if len(first) <= 60 else first[:57] + '...'}"
    if isinstance(args, DialogueArgs):
        said = "; ".join(
            "****" if e.secret else ("<Enter>" if e.send == "" else e.send or f"/{e.expect}/")
            for e in args.exchanges
        )
        return f"dialogue: {said if len(said) <= 60 else said[:57] + '...'}"
    kind = {PutArgs: "put", GetArgs: "get", SyncArgs: "sync", TemplateArgs: "template"}[type(args)]
    return f"{kind}: {args.src} -> {args.dest}"


def _key_node(node: MappingNode, name: str) -> Node | None:
    """Where ``name`` is written as a key of ``node`` (None: it came from a merge)."""
    for key, _ in node.value:
        if isinstance(key, ScalarNode) and key.value == name:
            return key
    return None


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG


def _kind(node: Node | None) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    if node is None or _is_null(node):
        return "nothing"
    return f"the value {node.value!r}"


def _shown(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _is_batch_size(entry: object) -> bool:
    if _is_int(entry):
        return entry > 0  # type: ignore[operator]
    if isinstance(entry, str) and entry.endswith("%"):
        digits = entry[:-1].strip()
        return digits.isascii() and digits.isdigit() and 0 < int(digits) <= 100
    return False
