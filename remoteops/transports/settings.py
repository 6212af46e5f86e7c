"""Every inventory setting a transport reads, declared once: variable, kind, default, meaning.

Each protocol's settings are a frozen dataclass whose fields carry their declaration
(:func:`setting`); :func:`settings_for` reads a host's variables into the one for its protocol,
checking each value, and :func:`check_hosts` does it for every host of a run before anything
connects: a bad value is an :class:`~remoteops.errors.InventoryError` naming the file, the
host and the variable; an unknown variable spelled like a known one is a warning ("did you
mean connect_timeout?"), since variables of one's own are legal (Ansible users keep theirs).

Transports read these objects, never the raw variables. This module imports no transport
library (paramiko, pexpect), so checking an inventory costs nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from remoteops.errors import InventoryError
from remoteops.inventory.model import PROTOCOLS, Host
from remoteops.inventory.values import (
    PORT,
    Choice,
    EnvName,
    Flag,
    Integer,
    Kind,
    Regex,
    Seconds,
    Text,
)

log = logging.getLogger(__name__)

_Settings = TypeVar("_Settings", bound="HostSettings")

#: The Telnet defaults: Linux ``login`` and Cisco-IOS-style device CLIs work without settings.
TELNET_LOGIN_PROMPT = r"(?i)(?:login|username|user name|user)\s*:\s*$"
TELNET_PASSWORD_PROMPT = r"(?i)password\s*:\s*$"  # noqa: S105 - the prompt, not a password
TELNET_PROMPT = r"[^\r\n]*[#>$%]\s*$"
TELNET_DEVICE_ERRORS = (
    r"% Invalid input",
    r"% Unknown command",
    r"% Incomplete command",
    r"% Ambiguous command",
    r"% Bad IP address",
    r"(?m)^\s*Error:",
    r"(?m)^\s*error:",
    r"Invalid command",
    r"Syntax error",
)
#: Connections per FTP host, like ``lftp mirror --parallel``; 64 is far past any gain.
FTP_CONNECTIONS = 4
FTP_MAX_CONNECTIONS = 64


@dataclass(frozen=True)
class Setting:
    """One inventory variable: its name, what values it takes, and what it does."""

    name: str
    kind: Kind
    doc: str
    #: The default as the README shows it, when the field's own default says it badly.
    shown_default: str | None = None


def setting(name: str, kind: Kind, default: Any, doc: str, shown: str | None = None) -> Any:
    """A settings field read from the inventory variable ``name``."""
    return dataclasses.field(default=default, metadata={"setting": Setting(name, kind, doc, shown)})


@dataclass(frozen=True)
class HostSettings:
    """What every host has, whatever its protocol."""

    protocol: str = setting(
        "protocol",
        Choice(PROTOCOLS),
        "ssh",
        "how to reach the host (Ansible: ansible_connection); ftp/ftps transfer files only, "
        "telnet runs commands only",
    )
    sudo: bool = setting(
        "sudo",
        Flag(),
        False,
        "run's commands and task steps go through sudo, as --sudo does (Ansible: "
        "ansible_become); put/get/sync only with --sudo",
    )
    sudo_user: str | None = setting(
        "sudo_user",
        Text(),
        None,
        "whom sudo runs as when sudo is on (Ansible: ansible_become_user)",
        "root",
    )
    sudo_password_env: str | None = setting(
        "sudo_password_env",
        EnvName(),
        None,
        "environment variable holding the sudo password (Ansible: ansible_become_password_env)",
        "--sudo-password-env",
    )
    dask_worker_resource: str | None = setting(
        "dask_worker_resource",
        Text(),
        None,
        "with --executor dask, only Dask workers advertising this resource run the host "
        '(dask worker --resources "site-a=2"); unset: any worker',
        "any worker",
    )

    @classmethod
    def declared(cls) -> tuple[tuple[str, Setting], ...]:
        """(field, declaration) of every setting, in declaration order."""
        return _declared(cls)

    @classmethod
    def of(cls: type[_Settings], host: Host) -> _Settings:
        """The host's settings; an unset variable takes the default, a given one must be valid
        (an empty YAML value too: only a setting that takes an empty string takes it)."""
        values: dict[str, Any] = {}
        for field_name, declared in cls.declared():
            if declared.name not in host.vars:
                continue
            raw = host.vars[declared.name]
            try:
                values[field_name] = declared.kind.parse(raw)
            except ValueError as exc:
                raise _BadSettingError(host, declared.name, raw, str(exc)) from None
        return cls(**values)


_DECLARATIONS: dict[type[HostSettings], tuple[tuple[str, Setting], ...]] = {}


def _declared(kind: type[HostSettings]) -> tuple[tuple[str, Setting], ...]:
    """Read for every host of a run: the fields are looked at once per class."""
    found = _DECLARATIONS.get(kind)
    if found is None:
        found = tuple((f.name, f.metadata["setting"]) for f in dataclasses.fields(kind))
        _DECLARATIONS[kind] = found
    return found


@dataclass(frozen=True)
class LocalSettings(HostSettings):
    """The machine remoteops runs on: nothing to connect with."""


@dataclass(frozen=True)
class TargetSettings(HostSettings):
    """What every host but the local machine has: where it is and whom to act as."""

    address: str | None = setting(
        "address",
        Text(),
        None,
        "name or IP to connect to; podman/docker: the container's name or id "
        "(Ansible: ansible_host)",
        "the host name (ssh: HostName of ~/.ssh/config)",
    )
    user: str | None = setting(
        "user",
        Text(),
        None,
        "login user; podman/docker: whom commands and files run as, exec --user "
        "(Ansible: ansible_user)",
        "your user name; ftp: anonymous; podman/docker: the image's user",
    )


@dataclass(frozen=True)
class ConnectionSettings(TargetSettings):
    """What every networked protocol shares."""

    port: int | None = setting(
        "port", PORT, None, "TCP port (Ansible: ansible_port)", "22 ssh, 21 ftp/ftps, 23 telnet"
    )
    password_env: str | None = setting(
        "password_env", EnvName(), None, "environment variable holding the login password"
    )
    connect_timeout: float | None = setting(
        "connect_timeout",
        Seconds(),
        None,
        "seconds to connect and log in (over SSH one deadline for TCP, banner, negotiation "
        "and every credential tried); past it the host is unreachable, connect timed out "
        "(Ansible: ansible_timeout)",
        "10",
    )


@dataclass(frozen=True)
class SSHSettings(ConnectionSettings):
    """SSH hosts (``~/.ssh/config`` fills what the inventory leaves unset)."""

    identity_file: str | None = setting(
        "identity_file",
        Text(),
        None,
        "private key (Ansible: ansible_ssh_private_key_file); an encrypted one asks for its "
        "passphrase once",
    )
    jump_host: str | None = setting(
        "jump_host",
        Text(),
        None,
        "[user@]host[:port] or inventory host to hop through; a comma list hops in order",
    )
    known_hosts_file: str | None = setting(
        "known_hosts_file",
        Text(),
        None,
        "extra known_hosts file, checked first (and written by --accept-new-host-keys)",
    )
    certificate_file: str | None = setting(
        "certificate_file",
        Text(),
        None,
        "OpenSSH user certificate for the identity key (ssh_config CertificateFile)",
        "the key's -cert.pub, if any",
    )
    forward_agent: bool | None = setting(
        "forward_agent",
        Flag(),
        None,
        "forward the local ssh-agent to commands on this host (ssh -A, ssh_config "
        "ForwardAgent): whoever is root there can use your keys while the command runs",
        "false",
    )


@dataclass(frozen=True)
class FTPSettings(ConnectionSettings):
    """FTP and FTPS hosts (file transfers only)."""

    ftp_connections: int = setting(
        "ftp_connections",
        Integer(1, FTP_MAX_CONNECTIONS),
        FTP_CONNECTIONS,
        "connections per host, files going over them in parallel",
    )
    ftp_passive: bool = setting("ftp_passive", Flag(), True, "passive mode; false for active mode")
    ftp_plaintext_ok: bool = setting(
        "ftp_plaintext_ok",
        Flag(),
        False,
        "true: no plaintext warning for plain FTP with a password",
    )
    tls_verify: bool = setting(
        "tls_verify", Flag(), True, "FTPS: verify the server certificate (warned when false)"
    )
    tls_ca_file: str | None = setting(
        "tls_ca_file", Text(), None, "FTPS: PEM bundle to verify the server with", "system CAs"
    )


@dataclass(frozen=True)
class TelnetSettings(ConnectionSettings):
    """Telnet hosts (commands only): each default works on Linux ``login`` and the common
    device CLIs (Cisco IOS style) without any setting."""

    login_prompt: str = setting(
        "telnet_login_prompt", Regex(), TELNET_LOGIN_PROMPT, "regex of the login prompt"
    )
    password_prompt: str = setting(
        "telnet_password_prompt",
        Regex(),
        TELNET_PASSWORD_PROMPT,
        "regex of the password prompt (login and enable)",
    )
    prompt: str | None = setting(
        "telnet_prompt",
        Regex(),
        None,
        "regex of the prompt after login",
        "a line ending in #, >, $ or %",
    )
    shell: str = setting(
        "telnet_shell", Choice(("auto", "posix", "device")), "auto", "skip the probe when known"
    )
    paging_command: str = setting(
        "telnet_paging_command",
        Text(empty_ok=True),
        "terminal length 0",
        "sent once on devices; empty for none",
    )
    enable_password_env: str | None = setting(
        "enable_password_env",
        EnvName(),
        None,
        "environment variable holding the enable password; enables when set",
    )
    error_patterns: tuple[str, ...] = setting(
        "telnet_error_patterns",
        Regex(several=True),
        TELNET_DEVICE_ERRORS,
        "regexes that fail a device command",
        "% Invalid input, % Unknown command, Error: ...",
    )
    idle_timeout: float = setting(
        "telnet_idle_timeout", Seconds(), 60.0, "seconds without output before giving up", "60"
    )
    plaintext_ok: bool = setting(
        "telnet_plaintext_ok", Flag(), False, "true: no plaintext warning for this host"
    )

    @property
    def shell_prompt(self) -> str:
        return self.prompt or TELNET_PROMPT

    @property
    def custom_prompt(self) -> bool:
        """``telnet_prompt`` given: it, not the learned prompt, ends a command's output."""
        return self.prompt is not None


@dataclass(frozen=True)
class ContainerSettings(TargetSettings):
    """podman and docker hosts: a container on this machine, reached through the engine's
    ``exec`` (like Ansible's docker connection and pyinfra's ``@docker``)."""


#: The settings of each protocol.
SETTINGS: Mapping[str, type[HostSettings]] = {
    "ssh": SSHSettings,
    "ftp": FTPSettings,
    "ftps": FTPSettings,
    "telnet": TelnetSettings,
    "local": LocalSettings,
    "podman": ContainerSettings,
    "docker": ContainerSettings,
}

_DECLARED_BY = {
    protocol: frozenset(declared.name for _, declared in kind.declared())
    for protocol, kind in SETTINGS.items()
}
_UNSET = object()

#: Every variable some protocol reads: a name close to one of these is likely a typo.
KNOWN_VARIABLES = frozenset().union(*_DECLARED_BY.values())


def settings_for(host: Host) -> HostSettings:
    """The host's settings for its protocol, checked; :class:`InventoryError` if one is bad."""
    return SETTINGS.get(host.protocol, HostSettings).of(host)


class _BadSettingError(InventoryError):
    """A setting's value is not one it takes; where it was written, if known."""

    def __init__(self, host: Host, name: str, value: Any, reason: str, shared: str = "") -> None:
        self.host, self.name, self.value, self.explained = host, name, value, reason
        message = f"{shared or 'host ' + host.name}: {name} {reason}, not {value!r}"
        where = host.origins.get(name)
        if where is None:
            super().__init__(message)
        else:
            super().__init__(message, source=where.source, line=where.line, key_path=where.key_path)

    def shared_by(self, hosts: Sequence[Host]) -> _BadSettingError:
        """The same error naming every host the same written value reached."""
        where = self.host.origins.get(self.name)
        names = [
            host.name
            for host in hosts
            if host.vars.get(self.name, _UNSET) is self.value
            and host.origins.get(self.name) == where
            and self.name in _DECLARED_BY.get(host.protocol, ())
        ]
        if len(names) < 2:
            return self
        return _BadSettingError(self.host, self.name, self.value, self.explained, _fold(names))


def read_settings(hosts: Iterable[Host]) -> dict[str, HostSettings]:
    """Every host's settings by name, checked.

    A bad value raises :class:`InventoryError` for the first host with one, naming every
    host the same written value reached.
    """
    hosts = list(hosts)
    checked: dict[str, HostSettings] = {}
    for host in hosts:
        try:
            checked[host.name] = settings_for(host)
        except _BadSettingError as exc:
            raise exc.shared_by(hosts) from None
    return checked


def check_hosts(hosts: Iterable[Host]) -> dict[str, HostSettings]:
    """:func:`read_settings`, and a warning for each unknown variable spelled like a known
    one (one per name and place, naming the hosts): what a run does before connecting."""
    hosts = list(hosts)
    checked = read_settings(hosts)
    suspects: dict[tuple[str, str, str], list[str]] = {}
    for host in hosts:
        for name in host.vars:
            if name not in KNOWN_VARIABLES and (guess := likely_meant(name)) is not None:
                suspects.setdefault((name, guess, _where(host, name)), []).append(host.name)
    for (name, guess, where), names in suspects.items():
        log.warning(
            "%sunknown variable %r of %s: did you mean %s?", where, name, _fold(names), guess
        )
    return checked


@functools.lru_cache(maxsize=4096)  # the same few names on every host of a big inventory
def likely_meant(name: str) -> str | None:
    """The known variable ``name`` is one or two typing slips away from, if any.

    One slip (a letter left out, added, changed, or two swapped) for short names, two for
    names of more than eight letters. A known name plus ``s`` (``users``, ``ports``) is taken
    as a list of one's own, not a typo.
    """
    best: tuple[int, str] | None = None
    for known in KNOWN_VARIABLES:
        if name == known + "s":
            return None
        limit = 2 if len(known) > 8 else 1
        distance = _slips(name, known, limit)
        if distance <= limit and (best is None or (distance, known) < best):
            best = (distance, known)
    return None if best is None else best[1]


def _slips(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (Levenshtein plus swaps), or ``limit + 1`` once over."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            cost = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (char != other))
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, row = row, current
    return row[-1]


def _where(host: Host, name: str) -> str:
    where = host.origins.get(name)
    if where is None:
        return ""
    line = f":{where.line}" if where.line is not None else ""
    return f"{where.source}{line}: "


def _fold(names: Sequence[str]) -> str:
    from remoteops.inventory.ranges import fold_hosts

    return ("host " if len(names) == 1 else "hosts ") + fold_hosts(list(names))


def reference_table(kind: type[HostSettings], *, inherited: bool = False) -> str:
    """The Markdown table of a protocol's settings, as the README shows it.

    Without ``inherited``, only the settings this class adds to its parent's.
    """
    parent = kind.__mro__[1]
    skipped = (
        set() if inherited or parent is object else {f.name for f in dataclasses.fields(parent)}
    )
    lines = ["| variable | allowed | default | meaning |", "|---|---|---|---|"]
    for field in dataclasses.fields(kind):
        if field.name in skipped:
            continue
        declared: Setting = field.metadata["setting"]
        default = declared.shown_default or _shown(field.default)
        if declared.shown_default is None and default:
            default = f"`{default}`"
        cells = [f"`{declared.name}`", declared.kind.allowed, default, declared.doc]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


__all__ = [
    "KNOWN_VARIABLES",
    "SETTINGS",
    "ConnectionSettings",
    "FTPSettings",
    "HostSettings",
    "LocalSettings",
    "SSHSettings",
    "Setting",
    "TelnetSettings",
    "check_hosts",
    "likely_meant",
    "read_settings",
    "reference_table",
    "setting",
    "settings_for",
]
