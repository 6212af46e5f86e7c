"""Transports: one interface (:class:`Transport`), one module per protocol.

:func:`open_transport` picks the module from the host's ``protocol`` and imports it only then,
so a run that never touches SSH never pays for importing paramiko.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from remoteops.errors import UnsupportedError
from remoteops.inventory.model import Host
from remoteops.transports.base import (
    PROTOCOL_CAPABILITIES,
    Capability,
    CommandOutcome,
    CommandSpec,
    CommandTransport,
    ConnectionOverrides,
    ElevatingFiles,
    FileTransport,
    OutputCallback,
    Privilege,
    RunningCommand,
    Transport,
    check_sudo_password,
    commands_of,
    files_of,
)
from remoteops.transports.settings import (
    ContainerSettings,
    FTPSettings,
    HostSettings,
    TelnetSettings,
    check_hosts,
    read_settings,
    settings_for,
)

if TYPE_CHECKING:
    from remoteops.transports.ssh import PassphraseCallback, SSHContext


@dataclass
class TransportFactory:
    """Builds the transport for each host of a run, sharing per-protocol state across hosts."""

    accept_new_host_keys: bool = False
    overrides: ConnectionOverrides | None = None
    passphrase_callback: PassphraseCallback | None = None
    #: Login password for SSH hosts without ``password_env`` (asked once, ``--ask-pass``).
    password: str | None = field(default=None, repr=False)
    ssh_config_path: Path | None = None
    known_hosts_files: list[Path] | None = None
    #: Inventory hosts by name, so a ``jump_host`` can name one of them.
    inventory: Mapping[str, Host] | None = None
    #: Told of each host key accepted as new (see KnownHosts.on_record).
    on_new_host_key: Callable[[Path, str, str, str], None] | None = None
    _ssh_context: SSHContext | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Each prepared host (the object checked) and its settings, by name.
    _settings: dict[str, tuple[Host, HostSettings]] = field(default_factory=dict)

    def ssh_context(self) -> SSHContext:
        with self._lock:
            return self._ssh_context_locked()

    def _ssh_context_locked(self) -> SSHContext:
        if self._ssh_context is None:
            from remoteops.transports.known_hosts import KnownHosts
            from remoteops.transports.paramiko_import import import_paramiko

            import_paramiko()
            from remoteops.transports.ssh import SSHContext

            self._ssh_context = SSHContext(
                known_hosts=KnownHosts(
                    self.known_hosts_files,
                    accept_new=self.accept_new_host_keys,
                    on_record=self.on_new_host_key,
                ),
                overrides=self.overrides,
                ssh_config_path=self.ssh_config_path,
                passphrase_callback=self.passphrase_callback,
                password=self.password,
                inventory=self.inventory,
            )
        return self._ssh_context

    def prepare(self, hosts: Sequence[Host]) -> None:
        """Per-run set-up before the fan-out, on the calling thread.

        Configuration errors (a bad inventory setting, an unparsable ``~/.ssh/config``) surface
        here as exceptions, once, before anything connects, instead of failing every host; a
        variable that looks like a mistyped setting is logged as a warning; key passphrases
        are asked for here, not in a worker.
        """
        self.check_settings(hosts)
        ssh_hosts = [h for h in hosts if h.protocol == "ssh"]
        if ssh_hosts:
            self.ssh_context().prepare(ssh_hosts)

    def check_settings(self, hosts: Sequence[Host]) -> None:
        """Check the hosts' inventory settings (InventoryError naming file, host and
        variable); each host once, however many runs it takes part in."""
        with self._lock:
            new = [h for h in hosts if self._settings.get(h.name, (None,))[0] is not h]
        checked = check_hosts(new)
        with self._lock:
            self._settings.update({h.name: (h, checked[h.name]) for h in new})

    def settings(self, host: Host) -> HostSettings:
        """The host's checked settings: as :meth:`prepare` found them, else read now."""
        with self._lock:
            prepared, settings = self._settings.get(host.name, (None, None))
        if prepared is host and settings is not None:
            return settings
        return settings_for(host)

    def create(self, host: Host) -> Transport:
        """A transport for the host, not yet connected."""
        settings = self.settings(host)
        if host.protocol == "local":
            from remoteops.transports.local import LocalTransport

            return LocalTransport()
        if host.protocol == "ssh":
            from remoteops.transports.paramiko_import import import_paramiko

            import_paramiko()
            from remoteops.transports.ssh import SSHTransport

            return SSHTransport(host, self.ssh_context())
        if isinstance(settings, FTPSettings):
            from remoteops.transports.ftp import FTPTransport

            tls = host.protocol == "ftps"
            return FTPTransport(host, self.overrides, tls=tls, settings=settings)
        if isinstance(settings, ContainerSettings):
            from remoteops.transports.container import ContainerTransport

            return ContainerTransport(host, settings)
        if isinstance(settings, TelnetSettings):
            from remoteops.transports.telnet import TelnetTransport

            return TelnetTransport(host, self.overrides, settings)
        raise UnsupportedError(f"the {host.protocol} transport is not available yet")

    def capabilities(self, host: Host) -> frozenset[Capability]:
        """What the host's protocol can do, known without connecting (or importing it)."""
        return PROTOCOL_CAPABILITIES.get(host.protocol, frozenset())

    def settle(self) -> None:
        """Give connections closing in the background the time their kills take."""
        if self._ssh_context is not None:
            self._ssh_context.settle()

    def close(self) -> None:
        """Settle, then close what is shared between hosts (jump host connections)."""
        if self._ssh_context is not None:
            self._ssh_context.close()


def exposure_warnings(hosts: Sequence[Host]) -> list[str]:
    """What a run over these hosts exposes, one line per kind, for the caller to show every
    time: TLS not verified (only an explicit ``tls_verify: false`` does that), Telnet's
    plaintext unless a host says ``telnet_plaintext_ok: true``, and plain FTP's with a
    password unless it says ``ftp_plaintext_ok: true``. Anonymous FTP (no ``password_env``)
    sends no secret and is not warned about: public mirrors are its everyday use, and a
    warning on every run of those would teach to ignore warnings.

    The settings are read checked: a bad one is an :class:`~remoteops.errors.InventoryError`.
    """
    from remoteops.inventory.ranges import fold_hosts

    warnings = []
    found_for = read_settings(hosts)
    settings = [(h, found_for[h.name]) for h in hosts]
    unverified = [
        h.name
        for h, found in settings
        if h.protocol == "ftps" and isinstance(found, FTPSettings) and not found.tls_verify
    ]
    if unverified:
        warnings.append(
            f"TLS certificates are NOT verified for {fold_hosts(unverified)} "
            "(tls_verify: false in the inventory): anyone on the path can read and change "
            "what is sent."
        )
    telnet = [
        h.name
        for h, found in settings
        if isinstance(found, TelnetSettings) and not found.plaintext_ok
    ]
    if telnet:
        warnings.append(
            f"Telnet is plaintext: passwords and output of {fold_hosts(telnet)} cross the "
            "network readable (telnet_plaintext_ok: true says you know)."
        )
    plain_ftp = [
        h.name
        for h, found in settings
        if h.protocol == "ftp"
        and isinstance(found, FTPSettings)
        and found.password_env is not None
        and not found.ftp_plaintext_ok
    ]
    if plain_ftp:
        warnings.append(
            f"FTP is plaintext: the password and files of {fold_hosts(plain_ftp)} cross the "
            "network readable (protocol: ftps encrypts them; ftp_plaintext_ok: true says you "
            "know)."
        )
    return warnings


__all__ = [
    "PROTOCOL_CAPABILITIES",
    "Capability",
    "CommandOutcome",
    "CommandSpec",
    "CommandTransport",
    "ConnectionOverrides",
    "ElevatingFiles",
    "FileTransport",
    "OutputCallback",
    "Privilege",
    "RunningCommand",
    "Transport",
    "TransportFactory",
    "check_sudo_password",
    "commands_of",
    "exposure_warnings",
    "files_of",
]
