"""Transports: one interface (:class:`Transport`), one module per protocol.

:func:`open_transport` picks the module from the host's ``protocol`` and imports it only then,
so a run that never touches SSH never pays for importing paramiko.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
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
    ConnectionOverrides,
    OutputCallback,
    RunningCommand,
    Transport,
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
    _ssh_context: SSHContext | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ssh_context(self) -> SSHContext:
        with self._lock:
            return self._ssh_context_locked()

    def _ssh_context_locked(self) -> SSHContext:
        if self._ssh_context is None:
            from remoteops.transports.known_hosts import KnownHosts
            from remoteops.transports.ssh import SSHContext

            self._ssh_context = SSHContext(
                known_hosts=KnownHosts(
                    self.known_hosts_files, accept_new=self.accept_new_host_keys
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

        Configuration errors (an unparsable ``~/.ssh/config``) surface here as exceptions, once,
        instead of failing every host; key passphrases are asked for here, not in a worker.
        """
        ssh_hosts = [h for h in hosts if h.protocol == "ssh"]
        if ssh_hosts:
            self.ssh_context().prepare(ssh_hosts)

    def create(self, host: Host) -> Transport:
        """A transport for the host, not yet connected."""
        if host.protocol == "local":
            from remoteops.transports.local import LocalTransport

            return LocalTransport()
        if host.protocol == "ssh":
            from remoteops.transports.ssh import SSHTransport

            return SSHTransport(host, self.ssh_context())
        if host.protocol in ("ftp", "ftps"):
            from remoteops.transports.ftp import FTPTransport

            return FTPTransport(host, self.overrides, tls=host.protocol == "ftps")
        if host.protocol == "telnet":
            from remoteops.transports.telnet import TelnetTransport

            return TelnetTransport(host, self.overrides)
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
    warning on every run of those would teach to ignore warnings."""
    from remoteops.inventory.ranges import fold_hosts

    warnings = []
    unverified = [h.name for h in hosts if h.protocol == "ftps" and not h.tls_verify]
    if unverified:
        warnings.append(
            f"TLS certificates are NOT verified for {fold_hosts(unverified)} "
            "(tls_verify: false in the inventory): anyone on the path can read and change "
            "what is sent."
        )
    telnet = [
        h.name
        for h in hosts
        if h.protocol == "telnet" and not h.flag("telnet_plaintext_ok", default=False)
    ]
    if telnet:
        warnings.append(
            f"Telnet is plaintext: passwords and output of {fold_hosts(telnet)} cross the "
            "network readable (telnet_plaintext_ok: true says you know)."
        )
    plain_ftp = [
        h.name
        for h in hosts
        if h.protocol == "ftp"
        and h.password_env is not None
        and not h.flag("ftp_plaintext_ok", default=False)
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
    "ConnectionOverrides",
    "OutputCallback",
    "RunningCommand",
    "Transport",
    "TransportFactory",
    "exposure_warnings",
]
