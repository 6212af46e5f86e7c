"""``ssh_config`` files read as OpenSSH reads them, and ``-o Key=Value`` options checked.

paramiko's ``SSHConfig`` knows no ``Include``: it keeps the line as an option named
``include``, so every host of an included file is unknown ("Name or service not known").
Here the files are read first and flattened into one text that paramiko parses: each block
becomes a ``Match`` whose criteria are its own ``Host``/``Match`` line joined (and) with those
of the blocks that included it. That is OpenSSH's readconf.c: an included file starts in the
includer's state, its own ``Host`` lines decide within it, nothing in it can match when the
``Include`` sat in a block that does not, and the includer's state comes back after it.
Blocks keep their order, so the first value obtained still wins.

Relative ``Include`` paths start in ``~/.ssh`` for a user file (``-F`` too) and ``/etc/ssh``
for the system one; globs expand sorted, a pattern matching nothing is skipped; 16 levels at
most, as in OpenSSH. This module imports no paramiko.
"""

from __future__ import annotations

import getpass
import glob
import logging
import os
import re
import shlex
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from remoteops.errors import ConfigurationError

log = logging.getLogger(__name__)

#: ``Key value`` or ``Key=value``, as OpenSSH (and paramiko) split a line.
_LINE = re.compile(r"(\w+)(?:\s*=\s*|\s+)(.+)")
#: readconf.c's READCONF_MAX_DEPTH.
MAX_INCLUDE_DEPTH = 16
USER_CONFIG = Path("~/.ssh/config")
SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")
#: Match criteria that take no argument.
_BARE_CRITERIA = ("all", "canonical", "final")

#: The ssh_config keywords remoteops acts on (lower case, as lookups return them).
HONOURED_OPTIONS = frozenset(
    {
        "certificatefile",
        "connecttimeout",
        "forwardagent",
        "globalknownhostsfile",
        "hostname",
        "identitiesonly",
        "identityfile",
        "port",
        "proxycommand",
        "proxyjump",
        "stricthostkeychecking",
        "user",
        "userknownhostsfile",
    }
)
#: Honoured keywords whose value is one word (quotes taken off, as ssh does): all but the
#: lists of files and the command.
_SINGLE_VALUED = HONOURED_OPTIONS - {"globalknownhostsfile", "proxycommand", "userknownhostsfile"}
#: Every other keyword of ssh_config(5) (OpenSSH 9.x): legal, but remoteops does not use it.
_OTHER_OPENSSH_OPTIONS = frozenset(
    {
        "addkeystoagent",
        "addressfamily",
        "batchmode",
        "bindaddress",
        "bindinterface",
        "canonicaldomains",
        "canonicalizefallbacklocal",
        "canonicalizehostname",
        "canonicalizemaxdots",
        "canonicalizepermittedcnames",
        "casignaturealgorithms",
        "channeltimeout",
        "checkhostip",
        "ciphers",
        "clearallforwardings",
        "compression",
        "connectionattempts",
        "controlmaster",
        "controlpath",
        "controlpersist",
        "dynamicforward",
        "enableescapecommandline",
        "enablesshkeysign",
        "escapechar",
        "exitonforwardfailure",
        "fingerprinthash",
        "forkafterauthentication",
        "forwardx11",
        "forwardx11timeout",
        "forwardx11trusted",
        "gatewayports",
        "gssapiauthentication",
        "gssapidelegatecredentials",
        "hashknownhosts",
        "hostbasedacceptedalgorithms",
        "hostbasedauthentication",
        "hostkeyalgorithms",
        "hostkeyalias",
        "identityagent",
        "ignoreunknown",
        "ipqos",
        "kbdinteractiveauthentication",
        "kbdinteractivedevices",
        "kexalgorithms",
        "knownhostscommand",
        "localcommand",
        "localforward",
        "loglevel",
        "logverbose",
        "macs",
        "nohostauthenticationforlocalhost",
        "numberofpasswordprompts",
        "obscurekeystroketiming",
        "passwordauthentication",
        "permitlocalcommand",
        "permitremoteopen",
        "pkcs11provider",
        "preferredauthentications",
        "pubkeyacceptedalgorithms",
        "pubkeyauthentication",
        "rekeylimit",
        "remotecommand",
        "remoteforward",
        "requesttty",
        "requiredrsasize",
        "revokedhostkeys",
        "securitykeyprovider",
        "sendenv",
        "serveraliveinterval",
        "serveralivecountmax",
        "sessiontype",
        "setenv",
        "stdinnull",
        "streamlocalbindmask",
        "streamlocalbindunlink",
        "tag",
        "tcpkeepalive",
        "tunnel",
        "tunneldevice",
        "updatehostkeys",
        "userknownhostscommand",
        "verifyhostkeydns",
        "visualhostkey",
        "xauthlocation",
    }
)
OPENSSH_OPTIONS = HONOURED_OPTIONS | _OTHER_OPENSSH_OPTIONS

#: StrictHostKeyChecking values, as readconf.c takes them, to what remoteops does.
HOST_KEY_POLICIES = {
    "yes": "yes",
    "true": "yes",
    "ask": "ask",
    "accept-new": "accept-new",
    "no": "no",
    "off": "no",
    "false": "no",
}


@dataclass(frozen=True)
class ConfigFile:
    """One top-level ssh_config file and where its relative ``Include`` paths start."""

    path: Path
    include_base: Path

    @classmethod
    def user(cls, path: Path | None = None) -> ConfigFile:
        """``~/.ssh/config``, or the file given instead (``-F``): includes from ``~/.ssh``."""
        return cls((path or USER_CONFIG).expanduser(), Path("~/.ssh").expanduser())

    @classmethod
    def system(cls) -> ConfigFile:
        return cls(SYSTEM_CONFIG, SYSTEM_CONFIG.parent)


def config_files(path: Path | None) -> list[ConfigFile]:
    """What OpenSSH reads: the ``-F`` file alone, else the user's then the system's."""
    if path is not None:
        return [ConfigFile.user(path)]
    return [ConfigFile.user(), ConfigFile.system()]


def flattened_config(files: Iterable[ConfigFile]) -> str | None:
    """The files with every ``Include`` expanded, as one config text (None: no file exists).

    :class:`ConfigurationError` for a line that is not ``Key value``, an ``Include`` deeper
    than :data:`MAX_INCLUDE_DEPTH` or a file that exists but cannot be read.
    """
    out: list[str] = []
    found = False
    for file in files:
        if file.path.is_file():
            found = True
            _flatten(file.path, file.include_base, (), out, 0)
    return "\n".join(out) + "\n" if found else None


_Criteria = tuple[tuple[str, ...], ...]


def _flatten(path: Path, base: Path, outer: _Criteria, out: list[str], depth: int) -> None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigurationError(f"cannot read SSH config {path}: {exc.strerror}") from exc
    current, header_due = outer, True
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ConfigurationError(f"{path}:{number}: cannot parse SSH config line {line!r}")
        key, value = match.group(1).lower(), match.group(2).strip()
        where = f"{path}:{number}"
        if key == "host":
            current, header_due = (*outer, _host_criterion(value, where)), True
        elif key == "match":
            current, header_due = outer + _match_criteria(value, where), True
        elif key == "include":
            if depth + 1 > MAX_INCLUDE_DEPTH:
                raise ConfigurationError(f"{where}: Include nested more than 16 deep (a loop?)")
            for included in _included_paths(value, base, where):
                _flatten(included, base, current, out, depth + 1)
            header_due = True  # the included blocks changed the block being written
        else:
            if header_due:
                out.append("Match " + _criteria_text(current))
                header_due = False
            out.append("    " + line)


def _host_criterion(value: str, where: str) -> tuple[str, ...]:
    """``Host a b !c`` is ``Match originalhost a,b,!c``: the same pattern-list matching."""
    patterns = _split(value, where)
    if not patterns:
        raise ConfigurationError(f"{where}: Host needs a pattern")
    return ("originalhost", ",".join(patterns))


def _match_criteria(value: str, where: str) -> _Criteria:
    """A Match line's criteria, ``all`` dropped (true, and paramiko takes it alone only)."""
    tokens = _split(value, where)
    criteria: list[tuple[str, ...]] = []
    while tokens:
        kind = tokens.pop(0)
        if kind.lower().lstrip("!") in _BARE_CRITERIA:
            if kind.lower() != "all":
                criteria.append((kind,))
            continue
        if not tokens:
            raise ConfigurationError(f"{where}: Match {kind} needs an argument")
        criteria.append((kind, tokens.pop(0)))
    return tuple(criteria)


def _criteria_text(criteria: _Criteria) -> str:
    if not criteria:
        return "all"
    return " ".join(shlex.quote(token) for criterion in criteria for token in criterion)


def _split(value: str, where: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc


def _included_paths(value: str, base: Path, where: str) -> list[Path]:
    """Each pattern expanded (``~``; relative to ``base``), its matches sorted, as glob(3)."""
    paths: list[Path] = []
    for pattern in _split(value, where):
        expanded = os.path.expanduser(pattern)
        if not os.path.isabs(expanded):
            expanded = str(base / expanded)
        paths.extend(Path(p) for p in sorted(glob.glob(expanded)) if Path(p).is_file())
    return paths


def parse_ssh_option(text: str) -> tuple[str, str]:
    """``Key=Value`` or ``Key Value`` (ssh's ``-o``) -> (key as written, value).

    The value is split as ssh splits a config line: quotes come off (``IdentityFile="/a b"``
    is the file ``/a b``), and a keyword taking one value refuses more. A list of files
    (UserKnownHostsFile) and a command (ProxyCommand) keep their text, split where used.
    :class:`ConfigurationError` for an unknown key (ssh: "Bad configuration option"),
    ``Host``/``Match``/``Include``, or a missing value.
    """
    match = _LINE.match(text.strip())
    if match is None:
        raise ConfigurationError(f"ssh option {text!r}: expected Key=Value")
    key, value = match.group(1), match.group(2).strip()
    lowered, _ = _known_option(key, value)
    if lowered in _SINGLE_VALUED:
        words = _split(value, f"ssh option {key}")
        if len(words) != 1:
            raise ConfigurationError(f"ssh option {key} takes one value, not {value!r}")
        value = words[0]
    return key, value


def _known_option(key: str, value: str) -> tuple[str, str]:
    lowered = key.lower()
    if lowered not in OPENSSH_OPTIONS:
        raise ConfigurationError(f"unknown ssh option {key!r} (not an ssh_config keyword)")
    if not value:
        raise ConfigurationError(f"ssh option {key} needs a value")
    return lowered, value


def checked_ssh_option(key: str, value: str) -> tuple[str, str]:
    """(lower-case key, value) if ``key`` is an ssh_config keyword; a known keyword that
    remoteops does not act on is logged as ignored."""
    lowered, value = _known_option(key, value)
    if lowered not in HONOURED_OPTIONS:
        log.warning("ssh option %s is not used by remoteops; ignored", key)
    return lowered, value


def host_key_policy(value: str | None) -> str | None:
    """StrictHostKeyChecking's value as ``yes``, ``ask``, ``accept-new`` or ``no``."""
    if value is None:
        return None
    policy = HOST_KEY_POLICIES.get(value.lower())
    if policy is None:
        raise ConfigurationError(
            f"StrictHostKeyChecking {value!r}: expected yes, accept-new, no, off or ask"
        )
    return policy


def yes_no(key: str, value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("yes", "true"):
        return True
    if lowered in ("no", "false"):
        return False
    raise ConfigurationError(f"{key} {value!r}: expected yes or no")


def expand_path_tokens(value: str, tokens: Mapping[str, str]) -> str:
    """``%d``-style tokens, ``${VAR}`` and ``~`` in a path, as OpenSSH expands them.

    ``tokens`` maps the letters that depend on the connection (``h``, ``n``, ``p``, ``r``);
    ``%d`` (home), ``%u`` (local user), ``%i`` (uid), ``%l``/``%L`` (local host name) and
    ``%%`` are filled here. An unknown token is a :class:`ConfigurationError`, as in ssh.
    """
    known = {
        "%": "%",
        "d": str(Path("~").expanduser()),
        "u": getpass.getuser(),
        "i": str(os.getuid()),
        "l": socket.gethostname(),
        "L": socket.gethostname().split(".")[0],
        **tokens,
    }

    def token(found: re.Match[str]) -> str:
        letter = found.group(1)
        if letter not in known:
            raise ConfigurationError(f"unknown token %{letter} in {value!r}")
        return known[letter]

    def variable(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in os.environ:
            raise ConfigurationError(f"environment variable {name} in {value!r} is not set")
        return os.environ[name]

    expanded = re.sub(r"\$\{(\w+)\}", variable, value)
    return os.path.expanduser(re.sub(r"%(.)", token, expanded))


def path_list(value: str | Sequence[str], tokens: Mapping[str, str]) -> tuple[Path, ...]:
    """A whitespace-separated list of files (UserKnownHostsFile, GlobalKnownHostsFile),
    each maybe quoted (``"/a b" /c``), each expanded; ``none`` is the empty list."""
    words = _split(value, "known hosts files") if isinstance(value, str) else list(value)
    if [w.lower() for w in words] == ["none"]:
        return ()
    return tuple(Path(expand_path_tokens(word, tokens)) for word in words)


__all__ = [
    "HONOURED_OPTIONS",
    "MAX_INCLUDE_DEPTH",
    "OPENSSH_OPTIONS",
    "ConfigFile",
    "checked_ssh_option",
    "config_files",
    "expand_path_tokens",
    "flattened_config",
    "host_key_policy",
    "parse_ssh_option",
    "path_list",
    "yes_no",
]
