"""Defaults from config files: ``~/.config/remoteops/config.toml`` and ``./remoteops.toml``.

Each key is named like a command's long option (``forks``, ``connect-timeout``, ``inventory``,
``output``, ``color``, ``user``, ``port``...); ``connect_timeout`` is read as ``connect-timeout``.
A top-level key is the default of every command that has that option; a table named after a
command (``[run]``, ``[sync]``) holds defaults for that command only (``timeout`` means the
command's time in ``run`` and the host's time in ``sync``). Precedence, highest first::

    flags > environment (REMOTEOPS_INVENTORY, NO_COLOR) > ./remoteops.toml > user file > built-in

An unknown key or a value of the wrong type is a :class:`ConfigFileError` naming the file and
the key (with the closest known keys), so a typo never quietly leaves a default in place. The
user file is ``$XDG_CONFIG_HOME/remoteops/config.toml`` (``~/.config`` when unset); the project
file is read from the current folder only.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remoteops.errors import ConfigurationError

#: The commands a ``[name]`` table may give defaults to (every command taking options the
#: files set: a top-level key reaches each of them).
COMMANDS = ("run", "sync", "put", "get", "task", "hosts", "fab", "shell")
PROJECT_FILE = "remoteops.toml"
BUILT_IN = "built-in"


class ConfigFileError(ConfigurationError):
    """A config file that cannot be used: not TOML, an unknown key, a value of the wrong type."""


@dataclass(frozen=True)
class Setting:
    """One key of the config files: its type, the range it must be in, its environment
    variable (which outranks the files) and its built-in default (None: the command's own)."""

    name: str
    kind: type
    help: str
    builtin: object = None
    env: str | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    #: A path (or list of paths): relative ones are taken from the file's folder.
    paths: bool = False

    @property
    def param(self) -> str:
        """The option's parameter name in the commands (``connect-timeout`` -> connect_timeout)."""
        return self.name.replace("-", "_")

    @property
    def expected(self) -> str:
        if self.choices:
            return " or ".join(repr(choice) for choice in self.choices)
        names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
        if self.kind is list:
            return "a string or a list of strings"
        text = names[self.kind]
        if self.positive:
            text = f"a positive {text.removeprefix('a ')}"
        if self.minimum is not None and self.maximum is not None:
            text += f" from {self.minimum:g} to {self.maximum:g}"
        elif self.minimum is not None:
            text += f" of at least {self.minimum:g}"
        return text


#: The keys the files may hold, in the order ``remoteops config`` shows them.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "inventory",
        list,
        "inventory files, folders or comma lists",
        env="REMOTEOPS_INVENTORY",
        paths=True,
    ),
    Setting("forks", int, "hosts worked on at once", builtin=256, minimum=1),
    Setting("connect-timeout", float, "seconds per connection step", builtin=10.0, positive=True),
    Setting(
        "timeout", float, "seconds a command (run) or a host (transfers) may take", positive=True
    ),
    Setting("user", str, "remote user"),
    Setting("port", int, "remote port", minimum=1, maximum=65535),
    Setting("accept-new-host-keys", bool, "add unknown host keys (OpenSSH accept-new)", False),
    Setting(
        "ssh-config", str, "the ssh_config file read instead of ~/.ssh/config (-F)", paths=True
    ),
    Setting("ssh-option", list, "ssh_config options as KEY=VALUE over the inventory (-O)"),
    Setting("forward-agent", bool, "forward the local ssh-agent to the hosts' commands (-A)"),
    Setting("output", str, "text or json", builtin="text", choices=("text", "json")),
    Setting(
        "color", str, "colour on a terminal", "auto", env="NO_COLOR", choices=("auto", "never")
    ),
    Setting("keep-runs", int, "runs kept in the journal (0: keep no journal)", 50, minimum=0),
    Setting(
        "executor",
        str,
        "where hosts' work runs: local, or dask (--scheduler)",
        builtin="local",
        env="REMOTEOPS_EXECUTOR",
        choices=("local", "dask"),
    ),
    Setting(
        "scheduler",
        str,
        "the Dask scheduler of --executor dask (tcp://HOST:8786)",
        env="REMOTEOPS_DASK_SCHEDULER",
    ),
    Setting(
        "persist",
        str,
        "keep host connections open between commands this long (10m; 'no': off), --persist",
        env="REMOTEOPS_PERSIST",
    ),
)
_BY_NAME = {setting.name: setting for setting in SETTINGS}


@dataclass(frozen=True)
class Value:
    """An effective value and where it came from: ``built-in``, a file's path or ``env $NAME``."""

    value: object
    source: str


@dataclass(frozen=True)
class Config:
    """The effective defaults: top-level values, and each command's table over them."""

    values: Mapping[str, Value]
    commands: Mapping[str, Mapping[str, Value]] = field(default_factory=dict)
    files: tuple[Path, ...] = ()

    def get(self, name: str, command: str | None = None) -> object:
        """The value of ``name`` for ``command`` (its table first), else the top-level one."""
        if command is not None and name in self.commands.get(command, {}):
            return self.commands[command][name].value
        return self.values[name].value

    def default_map(self) -> dict[str, dict[str, object]]:
        """click's ``default_map`` for the application: per command, the option defaults the
        files set. Values from the environment or built in are left out: each command's own
        environment handling and defaults already give them (and outrank the files)."""
        top = {
            _BY_NAME[name].param: value.value
            for name, value in self.values.items()
            if value.source not in (BUILT_IN,) and not value.source.startswith("env ")
        }
        result: dict[str, dict[str, object]] = {}
        for command in COMMANDS:
            table = {
                _BY_NAME[name].param: value.value
                for name, value in self.commands.get(command, {}).items()
                if not _env_set(_BY_NAME[name])
            }
            result[command] = {**top, **table}
        return result


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/remoteops/config.toml``, else ``~/.config/remoteops/config.toml``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "remoteops" / "config.toml"


def load_config(cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The effective defaults: built-in, then the user file, the project file, the environment."""
    env = os.environ if environ is None else environ
    values = {setting.name: Value(setting.builtin, BUILT_IN) for setting in SETTINGS}
    commands: dict[str, dict[str, Value]] = {}
    files: list[Path] = []
    for path in (user_config_path(env), (cwd or Path.cwd()) / PROJECT_FILE):
        if not path.is_file():
            continue
        files.append(path)
        top, tables = _read_file(path)
        values.update(top)
        for command, table in tables.items():
            commands.setdefault(command, {}).update(table)
    for setting in SETTINGS:
        if setting.env and env.get(setting.env):
            values[setting.name] = Value(
                _from_env(setting, env[setting.env]), f"env ${setting.env}"
            )
    return Config(values, commands, tuple(files))


def _env_set(setting: Setting) -> bool:
    return bool(setting.env and os.environ.get(setting.env))


def _from_env(setting: Setting, text: str) -> object:
    if setting.name == "color":  # NO_COLOR: any non-empty value (https://no-color.org)
        return "never"
    if setting.kind is not list:  # a scheduler's tcp://HOST:PORT is one value
        return text
    return [item for item in text.split(os.pathsep) if item.strip()]


def _read_file(path: Path) -> tuple[dict[str, Value], dict[str, dict[str, Value]]]:
    if sys.version_info < (3, 11):  # tomllib is 3.11's
        raise ConfigFileError(f"{path}: reading config files needs Python 3.11 or later")
    import tomllib  # type: ignore[import-not-found, unused-ignore]  # (mypy checks as 3.10)

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: not valid TOML: {exc}") from None
    top: dict[str, Value] = {}
    tables: dict[str, dict[str, Value]] = {}
    for key, raw in data.items():
        if key in COMMANDS and isinstance(raw, dict):
            tables[key] = {
                setting.name: Value(_checked(path, f"{key}.{sub}", setting, value), str(path))
                for sub, value in raw.items()
                for setting in [_setting(path, sub, prefix=f"{key}.")]
            }
            continue
        setting = _setting(path, key)
        top[setting.name] = Value(_checked(path, key, setting, raw), str(path))
    return top, tables


def _setting(path: Path, key: str, prefix: str = "") -> Setting:
    setting = _BY_NAME.get(key.replace("_", "-"))
    if setting is not None:
        return setting
    known = [*_BY_NAME, *([] if prefix else [f"[{command}]" for command in COMMANDS])]
    close = difflib.get_close_matches(key.replace("_", "-"), known, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; known keys: {', '.join(known)}"
    raise ConfigFileError(f"{path}: unknown key {prefix + key!r}{hint}")


def _checked(path: Path, key: str, setting: Setting, raw: Any) -> object:
    """The value as the option takes it; a ConfigFileError naming file, key and type if not."""
    value: object = raw
    place = (lambda text: _path_from(path, text)) if setting.paths else (lambda text: text)
    if setting.kind is list:
        if isinstance(raw, str):
            value = [place(raw)]
        elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            value = [place(item) for item in raw]
        else:
            value = None
    elif setting.kind is float:
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        value = float(raw) if ok else None
    elif setting.kind is int:
        value = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    elif not isinstance(raw, setting.kind):
        value = None
    elif setting.paths and isinstance(raw, str):
        value = place(raw)
    if value is None or not _in_range(setting, value):
        raise ConfigFileError(f"{path}: {key} must be {setting.expected}, not {_shown(raw)}")
    return value


def _path_from(file: Path, text: str) -> str:
    """A path written in ``file``, taken from the file's folder (as ansible.cfg's are): the
    user file's ``inventory = "hosts.yml"`` means the one beside it, whatever the current
    folder. ``~`` is expanded (no shell did); a comma list of hosts is left as written."""
    path = Path(os.path.expanduser(text))
    if path.is_absolute() or not text.strip():
        return str(path)
    beside = file.parent / path
    if "," in text and not beside.exists():
        return text  # a host list (``web1,web2,``), as load_inventory reads it
    return str(beside)


def _in_range(setting: Setting, value: object) -> bool:
    if setting.choices:
        return value in setting.choices
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if setting.positive and not value > 0:
            return False
        if setting.minimum is not None and value < setting.minimum:
            return False
        if setting.maximum is not None and value > setting.maximum:
            return False
    return True


def _shown(raw: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    kind = kinds.get(type(raw), type(raw).__name__)
    return f"{raw!r} ({kind})" if not isinstance(raw, (list, dict)) else f"a {kind}"
