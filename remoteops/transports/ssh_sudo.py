"""File operations as root (or another user) on an SSH host's open connection.

sftp-server is started under sudo on an exec channel of the connection the host already
has, and paramiko's ``SFTPClient`` is handed that channel: every SFTP operation of
:class:`~remoteops.transports.sftp_files.SFTPFiles` and
:class:`~remoteops.transports.ssh_batch.BatchWrites` (atomic temporary-then-rename writes,
modes, pipelined renames, resumable reads) then runs unchanged with sudo's privilege, and so
do the shell commands they run beside it (listings, hashes, tar, removals): :meth:`run`
wraps each in the same sudo. No second TCP connection, no staging area as the login user.

sudo's prompt is unique per channel and answered on stdin only when it appears (as for
``run --sudo``, see :func:`~remoteops.transports.base.await_sudo`); the password is in no
command line, log or output.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

import paramiko

from remoteops.errors import PrivilegeError
from remoteops.transports.base import (
    CommandOutcome,
    CommandSpec,
    OutputCallback,
    Privilege,
    RunningCommand,
    await_sudo,
    wrap_command,
)
from remoteops.transports.sftp_sessions import SFTPSessions
from remoteops.transports.ssh_batch import BatchWrites

if TYPE_CHECKING:
    from remoteops.transports.ssh import SSHTransport

#: Where OpenSSH's sftp-server lives: Debian/Ubuntu, RHEL/Fedora/SUSE, Arch, BSDs/Alpine.
SFTP_SERVERS = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
    "/usr/libexec/sftp-server",
)
#: What the channel's shell exits with when no sftp-server is found.
_NO_SERVER = 127
#: How long sudo may take to let sftp-server start: it answers in a second or two (a
#: refused password takes PAM's fail delay, 2 s by default).
_SUDO_ANSWER_S = 30.0
#: How long a channel whose SFTP start failed is given to say why (its exit status).
_REASON_WAIT_S = 2.0


def sftp_server_command() -> str:
    """Shell code that becomes the first sftp-server found (exec: its stdin and stdout
    are the channel's), or says none was found and exits 127."""
    places = " ".join(SFTP_SERVERS)
    return (
        f'for p in {places}; do [ -x "$p" ] && exec "$p"; done; '
        f"echo 'remoteops: no sftp-server on this host (looked in {places})' >&2; "
        f"exit {_NO_SERVER}"
    )


class ElevatedFiles(BatchWrites):
    """An SSH host's files with sudo's privilege, riding on its :class:`SSHTransport`.

    Lifecycle: made by :meth:`SSHTransport.elevated` on the open connection and kept with
    it; its channels end when the connection closes. :meth:`connect` and :meth:`close`
    are the connection's business and do nothing here.
    """

    protocol = "ssh"
    parallel_transfers = 8

    def __init__(self, connection: SSHTransport, privilege: Privilege) -> None:
        self._connection = connection
        self.privilege = privilege
        self._sessions = SFTPSessions(self._open_sftp)
        self._acting_home: str | None = None

    def connect(self) -> None:
        return None

    def close(self) -> None:
        return None

    def connection_lost(self) -> bool:
        return self._connection.connection_lost()

    def session_lost(self) -> bool:
        return self._connection.gone() or self._sessions.lost_here()

    def sftp(self) -> paramiko.SFTPClient:
        return self._sessions.get()

    def prepare_sftp(self) -> None:
        self._sessions.prepare()

    def start(self, command: str, timeout: float | None = None) -> RunningCommand:
        return self._connection.start(command, timeout)

    def run(self, spec: CommandSpec, on_output: OutputCallback | None = None) -> CommandOutcome:
        """The helper command under the same sudo; sudo refusing it ends the host."""
        outcome = super().run(self.privilege.applied_to(spec), on_output)
        if outcome.error is not None:
            raise PrivilegeError(f"cannot work on files {self.privilege}: {outcome.error}")
        return outcome

    def acting_home(self) -> str | None:
        """sudo's target user's home, as the host's sudo sets it (``sudo -H``), asked once."""
        if self._acting_home is None:
            said = self.run(CommandSpec('printf %s "$HOME"', timeout=_SUDO_ANSWER_S))
            home = said.stdout.decode(errors="replace")
            self._acting_home = home if said.exit_code == 0 and home.startswith("/") else ""
        return self._acting_home or None

    def _open_sftp(self) -> paramiko.SFTPClient:
        """sftp-server under sudo on a new channel, handed to ``SFTPClient`` once sudo let
        it start (and not one byte of its output was read)."""
        spec = self.privilege.applied_to(CommandSpec(sftp_server_command())).password_read()
        wrapped = wrap_command(spec)
        server = self._connection.open_command(wrapped.command, _SUDO_ANSWER_S)
        try:
            try:
                with self._connection.killed_on_close(server):
                    await_sudo(
                        server,
                        wrapped,
                        spec.sudo_password,
                        deadline=time.monotonic() + _SUDO_ANSWER_S,
                    )
            except PrivilegeError as exc:
                raise PrivilegeError(f"cannot work on files {self.privilege}: {exc}") from None
            try:
                return paramiko.SFTPClient(server.channel)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise PrivilegeError(
                    f"cannot work on files {self.privilege}: {_why_not(server)}"
                ) from exc
        except BaseException:
            server.kill()
            raise


def _why_not(server: RunningCommand) -> str:
    """Why sftp-server did not answer: what the channel printed before it ended."""
    said = b""
    deadline = time.monotonic() + _REASON_WAIT_S
    with contextlib.suppress(Exception):  # the reason is a courtesy; the failure stands
        while not server.done() and time.monotonic() < deadline:
            said += b"".join(chunk for _, chunk in server.poll(0.1))
    lines = said.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "sftp-server did not start"


__all__ = ["SFTP_SERVERS", "ElevatedFiles", "sftp_server_command"]
