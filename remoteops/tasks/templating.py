"""Jinja2 for task files: templates rendered per host and ``when:`` expressions, strictly.

An undefined variable is an error naming it, never an empty string: a command rendered as
``rm -rf /{{ app_dir }}`` with ``app_dir`` missing must fail that host, not run. Errors are
:class:`~remoteops.errors.TemplateError`, a host's failure: the same text may render on the
hosts that define the variable. Text without ``{{``, ``{%`` or ``{#`` is returned as it is,
without Jinja2 seeing it. This is the only module that imports Jinja2.

Templates are compiled once per text (a cache), then rendered for each host: a step over a
hundred hosts parses its command once.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import jinja2

from remoteops.errors import TemplateError

_Result = TypeVar("_Result")
_MARKERS = ("{{", "{%", "{#")
_TRUE_WORDS = frozenset({"1", "yes", "y", "on", "true", "t"})

# The messages StrictUndefined raises: "'name' is undefined", "'dict object' has no
# attribute 'name'", "... has no element 'name'".
_UNDEFINED_NAME = re.compile(r"^'([^']*)' is undefined|has no (?:attribute|element) '?([^']*)'?$")


def is_template(text: str) -> bool:
    """Whether ``text`` holds Jinja2 markup (and so is rendered, per host)."""
    return any(marker in text for marker in _MARKERS)


def render(text: str, variables: Mapping[str, Any]) -> str:
    """``text`` rendered with ``variables``; :class:`TemplateError` names an undefined one."""
    if not is_template(text):
        return text
    template = _compile_template(text)
    return _call(lambda: str(template.render(variables)), text)


def evaluate(expression: str, variables: Mapping[str, Any]) -> bool:
    """Whether the bare Jinja2 ``expression`` holds (Ansible's ``when:``: no ``{{ }}``), as
    in ``result.exit_code == 0`` or ``inventory_hostname in groups['web']``."""
    compiled = _compile_expression(expression)
    return _call(lambda: bool(compiled(**variables)), expression)


def check_template(text: str) -> None:
    """Raise :class:`TemplateError` when ``text`` is not valid Jinja2 (nothing rendered):
    a loader finds a typo at its line before any host runs."""
    if is_template(text):
        _compile_template(text)


def check_expression(expression: str) -> None:
    """Raise :class:`TemplateError` when ``expression`` does not parse as Jinja2."""
    _compile_expression(expression)


def to_bool(value: object) -> bool:
    """Ansible's ``| bool``: yes/on/true/1 (any case) are true, other strings false."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_WORDS
    return bool(value)


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 (shell commands and config files, not HTML)
    )
    environment.filters["bool"] = to_bool
    # values go into shell commands as written: `{{ path | quote }}` makes one a single word
    environment.filters["quote"] = lambda value: shlex.quote(str(value))
    return environment


@functools.lru_cache(maxsize=512)
def _compile_template(text: str) -> jinja2.Template:
    try:
        return _environment().from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {_located(exc)}") from None


@functools.lru_cache(maxsize=512)
def _compile_expression(expression: str) -> Callable[..., Any]:
    if is_template(expression):
        raise TemplateError(
            f"{expression!r}: an expression is written without {{{{ }}}} "
            "(write `when: x == 1`, not `when: '{{ x == 1 }}'`)"
        )
    try:
        return _environment().compile_expression(expression, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"expression syntax error in {expression!r}: {exc.message}") from None


def _call(work: Callable[[], _Result], source: str) -> _Result:
    """Run a render, turning what a template can raise into :class:`TemplateError`."""
    try:
        return work()
    except jinja2.UndefinedError as exc:
        message = exc.message or ""
        name = _undefined_name(message)
        kind = "variable" if message.endswith("is undefined") else "attribute or key"
        what = f"undefined {kind} {name!r}" if name else "undefined variable"
        raise TemplateError(f"{what} ({exc.message}) in {_short(source)}", variable=name) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{exc.message or exc} in {_short(source)}") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise TemplateError(f"{type(exc).__name__}: {exc} in {_short(source)}") from None


def _undefined_name(message: str) -> str | None:
    found = _UNDEFINED_NAME.search(message)
    if found is None:
        return None
    return found.group(1) or found.group(2)


def _located(exc: jinja2.TemplateSyntaxError) -> str:
    return f"{exc.message} (line {exc.lineno} of the template)"


def _short(text: str, limit: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return repr(line if len(line) <= limit else line[: limit - 3] + "...")
