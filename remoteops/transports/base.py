"""The transport interface and the command runner every exec-capable transport shares.

A transport only has to start a command and hand back a :class:`RunningCommand` (poll for output,
write stdin, report the exit code, kill). Stream pumping, stdin feeding, timeouts and the sudo
password exchange live once, in :func:`drive`, like Invoke's ``Runner``.

Lifecycle of a :class:`Transport`: constructing one does no I/O; :meth:`Transport.connect`
opens the connection (raising a :class:`~remoteops.errors.HostError` subclass); :meth:`run` may
be called many times on the open connection; :meth:`close` is idempotent and may be called
from another thread to cancel work in progress.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import os
import re
import secrets
import shlex
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from remoteops.diagnostics import register_secret
from remoteops.errors import (
    AuthenticationError,
    ConfigurationError,
    HostError,
    HostTimeoutError,
    PrivilegeError,
    TransferError,
    UnsupportedError,
)
from remoteops.transports.file_ops import (
    Received,
    partial_batch,
    run_in_parallel,
    stage_new_folders,
)
from remoteops.transports.settings import ConnectionSettings, HostSettings
from remoteops.transports.stdin_sources import StdinSource, StdinStream
from remoteops.tree import Advance, Entry, Fidelity, Kind, join_remote, no_progress
from remoteops.utf8 import whole_characters

STDOUT = "stdout"
STDERR = "stderr"

#: Called with ("stdout" | "stderr", chunk) as output arrives; chunks are not line-aligned.
OutputCallback = Callable[[str, bytes], None]
#: Input made on the fly (e.g. a tar stream): called once with a write function, on the
#: stdin thread; stdin is closed when it returns.
StdinProducer = Callable[[Callable[[memoryview], None]], None]

_POLL_CEILING_S = 1.0
_STDIN_CHUNK = 32 * 1024
#: How long a command's end waits for its stdin thread, which is stopped first.
_FEEDER_JOIN_S = 1.0

#: Bytes of each output stream a command's result keeps by default when it is the user's
#: command (``run``): the rest is counted, passed on as it arrives, and not kept, so a command
#: that floods its output cannot take the controller's memory.
DEFAULT_CAPTURE_LIMIT = 64 * 1024 * 1024


#: Seconds to connect and log in, unless the inventory or the command line says otherwise.
DEFAULT_CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ConnectionOverrides:
    """Command-line settings that win over the inventory (and ``~/.ssh/config``)."""

    user: str | None = None
    port: int | None = None
    connect_timeout: float | None = None
    #: ssh_config options for every SSH target (ssh's ``-o Key=Value``), winning over the
    #: inventory and the config files; not for jump hosts (ssh does not pass ``-o`` on either).
    #: Keys are checked: one that is no ssh_config keyword is a ConfigurationError.
    ssh_options: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: ``-A``: forward the local ssh-agent to every SSH host's commands.
    forward_agent: bool = False

    def __post_init__(self) -> None:
        from remoteops.transports.ssh_config import checked_ssh_option

        checked = dict(checked_ssh_option(k, v) for k, v in self.ssh_options.items())
        object.__setattr__(self, "ssh_options", checked)

    def port_for(self, settings: ConnectionSettings, default: int) -> int:
        return self.port or settings.port or default

    def user_for(self, settings: ConnectionSettings) -> str | None:
        return self.user or settings.user

    def timeout_for(self, settings: ConnectionSettings) -> float:
        return self.connect_timeout or settings.connect_timeout or DEFAULT_CONNECT_TIMEOUT_S


def secret_from_env(
    name: str, setting: str = "password_env", environ: Mapping[str, str] | None = None
) -> str:
    """The value of the environment variable a ``*_env`` setting names (never argv, never
    the inventory); unset is the host's ``auth`` failure, said with the setting's name.
    The value is a secret from here on: never in a log or the journal (sudo's, FTP's and
    Telnet's passwords come only through here)."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        raise AuthenticationError(f"{setting} {name} is not set in the environment")
    register_secret(value)
    return value


def check_sudo_password(password: str | None) -> None:
    """Refuse a sudo password holding a line end: sudo reads one line, and the rest would go
    to the command's input (shown in its output) instead. Raised before anything is sent."""
    if password is not None and ("\n" in password or "\r" in password):
        raise ConfigurationError(
            "the sudo password holds a line break: sudo reads only its first line "
            "(and the rest would reach the command's input); nothing was sent"
        )


#: What a ``*_env`` setting may name: a portable environment variable name.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_sudo_source(password: str | None, password_env: str | None) -> None:
    """A sudo password is given, or named, or neither: never both (which would win is a guess).
    Misuse of the library, not the user's configuration: a ``ValueError``."""
    if password_env is None:
        check_sudo_password(password)
        return
    if password is not None:
        raise ValueError("give the sudo password or the variable that holds it, not both")
    if not _ENV_NAME.fullmatch(password_env):
        raise ValueError(f"{password_env!r} is not the name of an environment variable")


def sudo_password_from_env(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The sudo password the environment variable ``name`` holds, read in the process that
    works on the host (a cluster worker, not the controller that sent it the work), so the
    value never travels with the work. Unset is the host's ``auth`` failure, naming ``name``.

    One trailing line end is dropped, as ``--sudo-password-env`` drops it on the controller
    (CI secrets and ``$(cat file)`` carry one); a line break left inside is ``auth`` too:
    sudo would read only the first line. Either way nothing was sent to the host."""
    value = secret_from_env(name, "sudo_password_env", environ)
    value = value.removesuffix("\r\n") if value.endswith("\r\n") else value.removesuffix("\n")
    if "\n" in value or "\r" in value:
        raise AuthenticationError(
            f"sudo_password_env {name} holds a line break: sudo reads only its first line; "
            "nothing was sent"
        )
    register_secret(value)
    return value


@dataclass(frozen=True)
class CommandSpec:
    """What to run on a host. ``sudo_password`` is only ever sent on stdin, on sudo's prompt,
    and ``env`` values on stdin before the command's own input: never in a command line,
    where the host's process list would show them.

    ``capture_limit``: bytes of each output stream the outcome keeps (0: none, the output
    only streams to the caller's callback); None keeps everything, as a transport's own
    listings need. The bytes beyond it are counted (:attr:`CommandOutcome.stdout_bytes`).
    """

    command: str
    stdin: bytes | StdinProducer | StdinSource | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float | None = None
    sudo: bool = False
    sudo_password: str | None = field(default=None, repr=False)
    capture_limit: int | None = None
    #: With ``sudo``: the user to run as (``sudo -u``); None is root.
    sudo_user: str | None = None
    #: With ``sudo``: the name of the environment variable holding the password, instead of
    #: ``sudo_password``; read where the command runs (:meth:`password_read`).
    sudo_password_env: str | None = None

    def __post_init__(self) -> None:
        _check_sudo_source(self.sudo_password, self.sudo_password_env)

    def password_read(self, environ: Mapping[str, str] | None = None) -> CommandSpec:
        """This spec with ``sudo_password_env`` read into ``sudo_password`` (see
        :func:`sudo_password_from_env`); itself when it names no variable or has no sudo."""
        if self.sudo_password_env is None or not self.sudo:
            return self
        password = sudo_password_from_env(self.sudo_password_env, environ)
        return dataclasses.replace(self, sudo_password=password, sudo_password_env=None)


@dataclass(frozen=True)
class CommandOutcome:
    """The finished command: exit code and the captured output. A device CLI has no exit
    code (None): it failed only if ``error`` says so. ``stdout_bytes``/``stderr_bytes``
    count what the command wrote, kept or not (None: exactly what ``stdout`` holds)."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    error: str | None = None
    stdout_bytes: int | None = None
    stderr_bytes: int | None = None


class RunningCommand(Protocol):
    """The primitives a backend provides for one started command."""

    def poll(self, timeout: float) -> list[tuple[str, bytes]]:
        """Wait up to ``timeout`` for output; return the chunks available (maybe none)."""

    def done(self) -> bool:
        """True once all output was read and the exit code is known."""

    def exit_code(self) -> int | None:
        """The exit code; only valid once :meth:`done` is true. None: the host has no exit
        codes (a network device's CLI), :meth:`refusal` says whether it failed."""

    def refusal(self) -> str | None:
        """Why a host without exit codes refused the command (a device's ``% Invalid
        input``); None otherwise. Only valid once :meth:`done` is true."""

    def write_stdin(self, data: bytes | memoryview) -> None:
        """Write to the command's stdin, blocking as needed."""

    def close_stdin(self) -> None:
        """Signal end of input."""

    def kill(self) -> None:
        """Stop the command and release its resources; safe to call twice."""

    def secrets_withheld(self) -> str | None:
        """Why no secret (sudo's password) may be written to this command; None: it may."""


class StdinGate:
    """Writes to a command's input and its one close, for commands whose writes may block
    (a pipe, a terminal): the close never lands in the middle of a write. A close asked for
    while a write is under way (from another thread) happens as soon as that write returns;
    writes after it fail with BrokenPipeError."""

    def __init__(
        self, write: Callable[[bytes | memoryview], None], end: Callable[[], None]
    ) -> None:
        self._write = write
        self._end = end
        self._lock = threading.Lock()
        self._closed = False
        self._close_asked = False

    def write(self, data: bytes | memoryview) -> None:
        wrote = False
        try:
            with self._lock:
                if self._closed or self._close_asked:
                    raise BrokenPipeError("the command's input is closed")
                self._write(data)
                wrote = True
        finally:
            if self._close_asked:  # asked while we wrote: the close is ours to make
                if wrote:
                    self.close()
                else:  # the write's own error is the one to report
                    with contextlib.suppress(Exception):
                        self.close()

    def close(self) -> None:
        # The flag goes up before the lock is tried, and a writer looks at it after letting
        # go of the lock: one of the two always sees the other, so no close is lost.
        self._close_asked = True
        if self._lock.acquire(blocking=False):
            try:
                if not self._closed:
                    self._closed = True
                    self._end()
            finally:
                self._lock.release()


class Capability(str, enum.Enum):
    """What a protocol can do; work declares what it needs, and a host whose protocol lacks
    it ends ``unsupported`` before anything is sent to it."""

    COMMANDS = "commands"  # run shell commands
    FILES = "files"  # list, read and write files
    SUDO_FILES = "sudo_files"  # list, read and write files as root (or another user), via sudo
    DIALOGUES = "dialogues"  # hold send/expect dialogues on the session (a device's CLI)


#: Each protocol's capabilities, known without importing (or connecting) its transport.
PROTOCOL_CAPABILITIES: Mapping[str, frozenset[Capability]] = {
    "local": frozenset({Capability.COMMANDS, Capability.FILES, Capability.SUDO_FILES}),
    "ssh": frozenset({Capability.COMMANDS, Capability.FILES, Capability.SUDO_FILES}),
    "ftp": frozenset({Capability.FILES}),
    "ftps": frozenset({Capability.FILES}),
    "telnet": frozenset({Capability.COMMANDS, Capability.DIALOGUES}),
    "podman": frozenset({Capability.COMMANDS, Capability.FILES, Capability.SUDO_FILES}),
    "docker": frozenset({Capability.COMMANDS, Capability.FILES, Capability.SUDO_FILES}),
}


class Transport(ABC):
    """One connection to one host. See the module docstring for the lifecycle.

    What it can do is what it derives from: :class:`CommandTransport` (run commands) and
    :class:`FileTransport` (transfer files); :attr:`capabilities` says the same as a value.
    """

    #: What this transport can do: set from the kinds it derives from.
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: The capability a kind of transport adds (set by the two kinds below).
    _adds: ClassVar[Capability | None] = None
    protocol: str = ""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        added = (vars(base).get("_adds") for base in cls.__mro__)
        cls.capabilities = frozenset(c for c in added if c is not None)

    @abstractmethod
    def connect(self) -> None:
        """Open the connection; raises a HostError subclass on failure."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection; idempotent and safe from another thread."""

    def connection_lost(self) -> bool:
        """True once a connection that was open is known to be gone (the server closed it
        while idle, say): a kept session then connects afresh instead of failing the call."""
        return False

    def cut_off(self) -> bool:
        """True once the connection was closed under its work (:meth:`close` from another
        thread: the host's time ran out, the fleet was closed) or lost: work that failed
        then failed because of it, not on its own."""
        return self.connection_lost()


class CommandTransport(Transport):
    """A transport that runs shell commands (SSH, Telnet, local)."""

    _adds = Capability.COMMANDS

    @abstractmethod
    def start(self, command: str, timeout: float | None = None) -> RunningCommand:
        """Start a shell command within ``timeout``; :meth:`run` drives it to its end."""

    def run(self, spec: CommandSpec, on_output: OutputCallback | None = None) -> CommandOutcome:
        """Run one command to completion on the open connection; the timeout covers it all."""
        deadline = None if spec.timeout is None else time.monotonic() + spec.timeout
        spec = spec.password_read()  # before anything starts: an unset variable sends nothing
        wrapped = wrap_command(spec)
        running = self.start(wrapped.command, spec.timeout)
        return drive(running, spec, wrapped, on_output, deadline=deadline)


def commands_of(transport: Transport) -> CommandTransport:
    """``transport`` as one that runs commands, or ``unsupported`` for the host."""
    if not isinstance(transport, CommandTransport):
        raise UnsupportedError(f"{transport.protocol.upper()} hosts cannot run commands")
    return transport


def files_of(transport: Transport, privilege: Privilege | None = None) -> FileTransport:
    """``transport`` as one that transfers files (as ``privilege`` says, if given: see
    :class:`ElevatingFiles`), or ``unsupported`` for the host."""
    if not isinstance(transport, FileTransport):
        raise UnsupportedError(f"{transport.protocol.upper()} hosts cannot transfer files")
    if privilege is None:
        return transport
    if not isinstance(transport, ElevatingFiles):
        raise UnsupportedError(
            f"{transport.protocol.upper()} hosts cannot transfer files with sudo "
            "(only SSH hosts can); nothing was sent to the host"
        )
    return transport.elevated(privilege.password_read())


def file_needs(privilege: Privilege | None) -> frozenset[Capability]:
    """What file work asks of a host: files, and doing them with sudo if ``privilege``."""
    if privilege is None:
        return frozenset({Capability.FILES})
    return frozenset({Capability.FILES, Capability.SUDO_FILES})


@dataclass(frozen=True)
class Privilege:
    """File operations done as root, or as ``user``, through sudo on the host.

    ``password`` answers sudo's prompt if it asks (only then, on stdin: never in a command
    line, a log or the output); None suits hosts whose sudo asks for none (NOPASSWD).
    ``password_env`` names the environment variable holding it instead, read only where the
    host's work runs (:meth:`password_read`): work sent to another process (a cluster worker)
    then carries the name, never the value. Giving both is a ``ValueError``."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    password_env: str | None = None

    def __post_init__(self) -> None:
        _check_sudo_source(self.password, self.password_env)

    def password_read(self, environ: Mapping[str, str] | None = None) -> Privilege:
        """This privilege with ``password_env`` read into ``password`` (see
        :func:`sudo_password_from_env`: unset is ``auth``); itself when it names none."""
        if self.password_env is None:
            return self
        return Privilege(self.user, sudo_password_from_env(self.password_env, environ))

    def applied_to(self, spec: CommandSpec) -> CommandSpec:
        """``spec`` run with this privilege (its password, or the variable naming it)."""
        return dataclasses.replace(
            spec,
            sudo=True,
            sudo_user=self.user,
            sudo_password=self.password,
            sudo_password_env=self.password_env,
        )

    def __str__(self) -> str:
        return f"as {self.user or 'root'} (sudo)"


def host_privilege(
    own: Privilege | None,
    settings: HostSettings,
    *,
    inventory: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Privilege | None:
    """The privilege a command (or a task step, and so its guards) effectively has on a host:
    its own (``--sudo``, a step's ``sudo:``/``sudo_user:``), with the sudo the host's
    inventory asks for (``sudo: true``, Ansible's ``ansible_become``), as Ansible's inventory
    become applies to every task of the host. None: as the login user.

    ``inventory=False`` leaves the inventory out: a step's explicit ``sudo: false`` wins over
    it, as does work the inventory's sudo does not reach. The command's own sudo is never
    turned off here, and its user and password win; the host fills only what they leave
    unsaid: the user (``sudo_user``, Ansible's ``ansible_become_user``, which alone turns
    nothing on, as in Ansible) and the password (from ``sudo_password_env``; unset there is
    the host's ``auth`` failure, as for ``password_env``).

    The returned privilege holds the password itself: an own ``password_env`` is read here,
    in the process that works on the host (unset: ``auth``, naming the variable).
    """
    if own is not None:
        own = own.password_read(environ)
    if not inventory or not (own is not None or settings.sudo):
        return own
    own = own or Privilege()
    password = own.password
    if password is None and settings.sudo_password_env is not None:
        password = sudo_password_from_env(settings.sudo_password_env, environ)
    user = own.user if own.user is not None else settings.sudo_user
    if (user, password) == (own.user, own.password):
        return own
    return Privilege(user, password)


def with_host_sudo(
    spec: CommandSpec,
    settings: HostSettings,
    environ: Mapping[str, str] | None = None,
    *,
    inventory: bool = True,
) -> CommandSpec:
    """``spec`` with the privilege :func:`host_privilege` gives it on the host (its own
    sudo, filled or turned on by the host's inventory unless ``inventory=False``)."""
    own = (
        Privilege(spec.sudo_user, spec.sudo_password, spec.sudo_password_env) if spec.sudo else None
    )
    privilege = host_privilege(own, settings, inventory=inventory, environ=environ)
    if privilege is None or privilege is own:
        return spec
    return privilege.applied_to(spec)


@dataclass(frozen=True)
class Whereabouts:
    """A listing and where it was taken, from one request (:meth:`FileTransport.list_tree_where`).

    ``home``: the login's home as the host resolves it; ``resolved``: the listed folder as
    the host resolves it (its longest part that exists, links followed, and the rest joined
    to that, as ``mkdir -p`` would follow it). Either is empty where the host could not say.
    ``missing``: nothing at all is at the listed path (no folder, file or link), as the
    listing saw it: a sync into a new folder then needs no other look (an SFTP session and
    a stat: four round trips).
    """

    home: str
    resolved: str
    entries: list[Entry]
    missing: bool = False


class FileTransport(Transport):
    """A transport that lists, reads and writes files (SSH/SFTP, FTP/FTPS, local).

    The operations a protocol lacks (FTP makes no symlinks) say ``unsupported``.
    """

    _adds = Capability.FILES
    #: How many file operations the sync engine may have in flight on this host at once.
    parallel_transfers: int = 1

    @property
    def fidelity(self) -> Fidelity:
        """What the host keeps of modes and times; known for sure once it was listed."""
        return Fidelity()

    # -- file operations (Capability.FILES); paths on the host are POSIX strings --------------

    @abstractmethod
    def list_tree(self, root: str, *, checksum: bool = False) -> list[Entry]:
        """Every entry below ``root`` in one round trip; empty if ``root`` does not exist."""

    @abstractmethod
    def list_path(
        self, path: str, *, missing_ok: bool = False, follow: bool = False
    ) -> list[Entry]:
        """``path`` itself and everything below it, named from its basename (for ``get``).

        A missing path is an error, or an empty list with ``missing_ok``. With ``follow`` a
        ``path`` that is a symlink is listed as what it points to."""

    @abstractmethod
    def get_file(self, path: str, local: Path, entry: Entry) -> Received:
        """Copy the host's ``path`` to ``local`` atomically with its mode and mtime: the
        ``entry.size`` bytes it had when listed, no more (a file still growing, a live log,
        arrives as it was then, with a note); fewer is an error."""

    # -- paths as the host sees them: ``~``, links, ``.`` and ``..`` ----------------------------

    @abstractmethod
    def home_dir(self) -> str:
        """The login's home folder, absolute: what ``~`` means on this host."""

    def acting_home(self) -> str | None:
        """The home folder of the user the files are worked as when that is not the login
        (sudo's target user), which a destructive sync must spare as it spares the login's;
        None when the login works on them itself."""
        return None

    def list_tree_where(
        self, root: str, *, checksum: bool = False, deltas: Sequence[Entry] = ()
    ) -> Whereabouts | None:
        """:meth:`list_tree` of ``root`` with, in the same request, what a sync checks before
        it writes there: the login's home and ``root`` as the host resolves it (see
        :class:`Whereabouts`). None if the transport has no such single request: the caller
        asks :meth:`home_dir` and :meth:`real_path` separately. ``deltas``: local files (paths
        below ``root``) the sync may send as deltas; a transport that does may read the
        host's copies that differ in size or mtime in the same request, for
        :meth:`write_entries` to use."""
        return None

    @abstractmethod
    def real_path(self, path: str) -> str | None:
        """``path`` as the host resolves it: absolute, every link followed, no ``.``, ``..``
        or doubled ``/``; a relative path starts at the login folder. None if its folder is
        missing; a missing last name may come back joined to its folder's real path (as
        OpenSSH's realpath does) or as None."""

    @abstractmethod
    def list_children(self, folder: str, pattern: str = "*") -> list[Entry]:
        """The entries directly in ``folder`` whose names match the glob ``pattern``, named
        as in the folder (not recursive; links not followed); empty if there is no folder."""

    @abstractmethod
    def make_dir(self, path: str, mode: int | None = None) -> None:
        """Create a directory (parents included); an existing one is fine; ``mode`` if given."""

    @abstractmethod
    def put_file(self, local: Path, path: str, entry: Entry) -> int:
        """Write ``local`` to ``path`` atomically (temporary name, then rename) with the entry's
        mode and mtime; returns the bytes sent. The real name never holds a partial file."""

    @abstractmethod
    def make_symlink(self, target: str, path: str) -> None:
        """Create or replace the symlink ``path`` -> ``target``."""

    def write_entries(
        self,
        root: str,
        items: Sequence[tuple[Entry, Path | None]],
        advance: Advance = no_progress,
        *,
        basis: Mapping[str, Entry] | None = None,
    ) -> int:
        """Create entries below ``root`` (made first if missing, with its parents), each with
        its local file (None but for files). ``basis`` names the host files some of them
        replace, for transports that can send only what changed (SSH does, for big files).

        Paths are relative, parents before children. Directories get ``entry.mode`` (existing
        ones are left alone); files are written as :meth:`put_file` does and links replaced
        atomically; returns the bytes sent. This default does one operation per entry,
        :attr:`parallel_transfers` at a time: folders one depth after the other (parents
        first), then files and links; transports with a bulk path override it. A new folder
        is filled under a temporary name and renamed once it is complete (see
        :func:`stage_new_folders`), so its files need no rename each.

        An entry the host refuses (a :class:`TransferError` of its own, not a lost connection
        or an unreadable local file) fails alone, as in SSH's tar stream: what is inside a
        folder that failed is not tried, everything else is written, and
        :func:`~remoteops.transports.file_ops.partial_batch` decides what takes its real name
        and the :class:`EntriesFailedError` raised.
        """
        if not items:
            return 0
        self.make_dir(root)
        placed, pending = stage_new_folders(items)
        written = [(n or e.path, e.path) for (e, _), n in zip(items, placed, strict=True)]
        refused: dict[str, str | None] = {}  # where it was written -> why (None: inside one)
        failure: TransferError | None = None
        try:
            sent = self._write_placed(root, items, written, advance, refused)
            if refused:
                why = "\n".join(r for n, _ in written if (r := refused.get(n)) is not None)
                batch = partial_batch(root, written, refused, pending, reason=why, sent=sent)
                for temporary in batch.discard:
                    self._discard_staged(root, temporary)
                pending[:], failure = batch.renames, batch.error
            while pending:
                temporary, real = pending[0]
                self.rename_path(join_remote(root, temporary), join_remote(root, real))
                pending.pop(0)
        except BaseException:
            for temporary, _ in pending:
                self._discard_staged(root, temporary)
            raise
        if failure is not None:
            raise failure
        return sent

    def _discard_staged(self, root: str, temporary: str) -> None:
        """Best effort: the next sync removes what is left."""
        with contextlib.suppress(HostError, OSError):
            self.remove(join_remote(root, temporary), Kind.DIR)

    def _write_placed(
        self,
        root: str,
        items: Sequence[tuple[Entry, Path | None]],
        written: Sequence[tuple[str, str]],
        advance: Advance,
        refused: dict[str, str | None],
    ) -> int:
        """Folders depth by depth, then files and links; an entry the host refuses is put in
        ``refused`` (by where it was written) and the others go on."""

        def alone(name: str, job: Callable[[], int]) -> Callable[[], int]:
            def attempt() -> int:
                parts = name.split("/")
                if any("/".join(parts[:i]) in refused for i in range(1, len(parts))):
                    refused[name] = None  # its folder is not there
                    return 0
                try:
                    return job()
                except TransferError as exc:
                    if type(exc) is not TransferError:  # not the host's refusal of this entry
                        raise
                    refused[name] = str(exc)
                    return 0

            return attempt

        def make(entry: Entry, remote: str) -> int:
            self.make_dir(remote, entry.mode)
            return 0

        def link(entry: Entry, remote: str) -> int:
            self.make_symlink(entry.target or "", remote)
            return 0

        def upload(entry: Entry, local: Path | None, remote: str, staged: bool) -> int:
            if local is None:
                raise ValueError(f"{entry.path}: a file needs its local path")
            sent = (self.store_file if staged else self.put_file)(local, remote, entry)
            advance(1, sent)
            return sent

        folders: dict[int, list[Callable[[], int]]] = {}
        others: list[Callable[[], int]] = []
        for (entry, local), (name, path) in zip(items, written, strict=True):
            remote = join_remote(root, name)
            if entry.kind is Kind.DIR:
                job = functools.partial(make, entry, remote)
                folders.setdefault(path.count("/"), []).append(alone(name, job))
            elif entry.kind is Kind.FILE:
                others.append(
                    alone(name, functools.partial(upload, entry, local, remote, name != path))
                )
            else:
                others.append(alone(name, functools.partial(link, entry, remote)))
        for depth in sorted(folders):
            run_in_parallel(folders[depth], self.parallel_transfers)
        return run_in_parallel(others, self.parallel_transfers)

    def store_file(self, local: Path, path: str, entry: Entry) -> int:
        """Write ``local`` to ``path`` inside a folder nobody sees yet (a staged new folder):
        no temporary name needed. Transports where that saves work override it."""
        return self.put_file(local, path, entry)

    @abstractmethod
    def rename_path(self, old: str, new: str) -> None:
        """Rename ``old`` to ``new`` (a staged folder to its real name)."""

    @abstractmethod
    def path_kind(self, path: str) -> Kind | None:
        """What ``path`` is, links followed (as cp and scp see a destination); None: nothing."""

    @abstractmethod
    def set_attributes(
        self, path: str, *, mode: int | None = None, mtime: int | None = None
    ) -> None:
        """Set the mode and/or the mtime of ``path`` (links not followed where possible)."""

    @abstractmethod
    def remove(self, path: str, kind: Kind) -> None:
        """Remove a file, a symlink, or a directory with everything in it."""


class ElevatingFiles(FileTransport):
    """A file transport that can also work with sudo's privilege on the host
    (:attr:`Capability.SUDO_FILES`)."""

    _adds = Capability.SUDO_FILES

    @abstractmethod
    def elevated(self, privilege: Privilege) -> FileTransport:
        """This host's files as ``privilege`` sees them, on the open connection: a view
        kept (and closed) with the transport, so many calls pay for sudo once. Raises the
        host's failure (sudo refused, no password given...) if sudo will not let it."""


@dataclass(frozen=True)
class WrappedCommand:
    """The shell command actually sent, and the markers the sudo exchange looks for.

    ``stdin_prefix`` goes to the command's stdin before its own input: the environment."""

    command: str
    prompt_marker: bytes | None = None
    success_marker: bytes | None = None
    stdin_prefix: bytes = field(default=b"", repr=False)


#: Bytes an encoded environment value keeps as they are; every other byte is ``\0ooo``.
_PLAIN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,-./:=@_")


def encode_value(value: str) -> str:
    """``value`` as printable ASCII for ``printf '%b'``: its bytes (non-UTF-8 ones kept,
    as surrogate escapes carry them) with everything but letters, digits and ``+,-./:=@_``
    as an octal escape. No quote, backslash, line end or control byte is left to be read by
    a shell or a terminal as anything but data."""
    raw = value.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if b in _PLAIN_BYTES else f"\\0{b:03o}" for b in raw)


def _decoded(name: str, source: str) -> str:
    """Shell code that sets and exports ``name`` from the encoded value held in ``source``
    (a variable reference or a quoted word). ``printf`` is a builtin in every POSIX shell
    we know of (dash, bash, BusyBox ash, ksh, zsh), so the value is in no process's
    arguments; the ``x`` keeps trailing line ends, which ``$(...)`` would drop."""
    return f'{name}=$(printf "%bx" {source}) && export {name}="${{{name}%x}}"'


def shell_exports(env: Mapping[str, str]) -> str:
    """Exports of ``env`` to type into a POSIX shell, one statement per name, in name order:
    every value encoded (see :func:`encode_value`)."""
    return "".join(
        _decoded(name, f"'{encode_value(value)}'") + "; " for name, value in sorted(env.items())
    )


def _read_environment(names: Sequence[str]) -> str:
    """Shell code that reads one encoded value per name from stdin (sent ahead of the
    command's own input) and exports it, so no value is ever in an argument list
    (``/proc/PID/cmdline`` is readable by every user of the host).

    ``read`` takes its input a byte at a time from a pipe, so exactly these lines are taken
    and the command's own input is left as it was; each value is one line whatever it holds,
    and each is read into its own variable: no helper variable can clash with the user's.
    """
    missing = "{ echo 'remoteops: the environment did not arrive' >&2; exit 126; }"
    return "".join(
        f"{{ IFS= read -r {name} && {_decoded(name, chr(34) + '$' + name + chr(34))}; }} "
        f"|| {missing}; "
        for name in names
    )


def wrap_command(spec: CommandSpec) -> WrappedCommand:
    """Add the environment and, with sudo, the prompt/success markers (as Ansible does).

    Neither the password nor an environment value appears here: sudo prints a unique prompt
    on stderr and :func:`drive` answers it on stdin, and the exports follow on stdin once sudo
    is done with it (see :func:`_read_environment`). The success marker tells "no password
    asked" apart from the command's own output, so stdin meant for the command is held until
    sudo is done with it.
    """
    names = sorted(spec.env)
    prefix = "".join(encode_value(spec.env[name]) + "\n" for name in names).encode("ascii")
    inner = _read_environment(names) + spec.command
    if not spec.sudo:
        return WrappedCommand(inner, stdin_prefix=prefix)
    token = secrets.token_hex(8)
    prompt = f"[remoteops-sudo-{token}] password:"
    success = f"REMOTEOPS-SUDO-OK-{token}"
    as_user = f"-u {shlex.quote(spec.sudo_user)} " if spec.sudo_user else ""
    command = (
        f"sudo -H -S -p {shlex.quote(prompt)} {as_user}-- /bin/sh -c "
        f"{shlex.quote(f'echo {success}; ' + inner)}"
    )
    return WrappedCommand(command, prompt.encode(), success.encode(), prefix)


class _StdinFeeder(threading.Thread):
    """Feeds stdin on its own thread so a full output window can never deadlock a big input.

    ``prefix`` (the environment) goes first; :meth:`stop` ends the feeding from another thread
    (the command ended or timed out while its input was still arriving).
    """

    def __init__(
        self,
        running: RunningCommand,
        data: bytes | StdinProducer | StdinStream | None,
        prefix: bytes = b"",
    ) -> None:
        super().__init__(daemon=True, name="remoteops-stdin")
        self._running = running
        self._data = data
        self._prefix = prefix
        self.error: BaseException | None = None

    def run(self) -> None:
        write = self._running.write_stdin
        try:
            if self._prefix:
                write(self._prefix)
            data = self._data
            if data is None:
                pass
            elif isinstance(data, bytes):
                view = memoryview(data)
                for offset in range(0, len(view), _STDIN_CHUNK):
                    write(bytes(view[offset : offset + _STDIN_CHUNK]))
            elif callable(data):
                data(write)
            else:
                while chunk := data.read():
                    write(chunk)
        except (OSError, EOFError) as exc:  # the command exited without reading everything
            self.error = exc
        except HostError as exc:  # the input itself could not be read: the host fails
            self.error = exc
        finally:  # also after a failed producer: a command waiting for more input never ends
            with contextlib.suppress(OSError, EOFError):
                self._running.close_stdin()
            self.stop()

    def stop(self) -> None:
        """Stop a stream's reading (the rest ends with the command: its writes then fail)."""
        data = self._data
        if not (data is None or isinstance(data, bytes) or callable(data)):
            data.close()


class OutputCapture:
    """One output stream as a result keeps it: the first ``limit`` bytes, and a count."""

    def __init__(self, limit: int | None) -> None:
        self.kept = bytearray()
        self.total = 0
        self._limit = limit

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = len(chunk) if self._limit is None else self._limit - len(self.kept)
        if room <= 0:
            return
        if room < len(chunk):  # the cut: never inside a character (JSON would call it binary)
            room = whole_characters(chunk, room)
            self._limit = len(self.kept) + room  # nothing more after the cut
        self.kept += chunk[:room]


class _SudoExchange:
    """Watches the head of stdout/stderr for sudo's markers and strips them from the output."""

    def __init__(self, wrapped: WrappedCommand, password: str | None) -> None:
        self.prompt = wrapped.prompt_marker
        self.success = wrapped.success_marker
        self.password = password
        self.done = wrapped.success_marker is None
        self.refused: str | None = None
        #: The success marker came without its line end, which is still to be taken out.
        self.line_open = False
        self._answered = False
        self._stdout_head = b""
        self._stderr_head = b""
        #: What sudo or PAM printed on stdout before the success marker (a password expiry
        #: warning): not the command's output, though ``run`` shows it as such.
        self.chatter = b""

    def feed(self, running: RunningCommand, stream: str, data: bytes) -> list[tuple[str, bytes]]:
        """Consume sudo's own bytes; return the chunks that belong to the command's output."""
        if self.line_open and stream == STDOUT and data:
            self.line_open = False
            data = data.removeprefix(b"\n")
        if self.done or self.prompt is None or self.success is None:
            return [(stream, data)] if data else []
        if stream == STDERR:
            self._stderr_head += data
            self._stderr_head = self._answered_in(running, self._stderr_head)
            return []
        self._stdout_head += data
        # a terminal (Telnet) has one stream: sudo's prompt arrives with the output there
        self._stdout_head = self._answered_in(running, self._stdout_head)
        if self.success not in self._stdout_head:
            return []
        before, _, after = self._stdout_head.partition(self.success)
        self.done = True
        self.chatter = before
        self.line_open = not after
        self._stdout_head = before + after.removeprefix(b"\n")
        return self.release()

    def release(self) -> list[tuple[str, bytes]]:
        """Hand over what was held back while waiting for sudo (once)."""
        held = [(STDERR, self._stderr_head), (STDOUT, self._stdout_head)]
        self._stdout_head = self._stderr_head = b""
        return [(stream, data) for stream, data in held if data]

    def held_stderr(self) -> bytes:
        """What sudo wrote on stderr so far while the command had not started (its reason,
        when it gives up: ``unknown user``, ``you must have a tty``)."""
        return self._stderr_head

    def waiting_on(self) -> str:
        """Why sudo has not let the command start, for a timeout's message: the last line of
        an unanswered question (a second prompt: ``Verification code:``), if it asked one."""
        if self.done:
            return ""
        held = (self._stderr_head + b"\n" + self._stdout_head).decode(errors="replace")
        lines = [line.strip() for line in held.splitlines() if line.strip()]
        if not lines:
            return ""
        return f"sudo asked something remoteops cannot answer: {lines[-1]!r}"

    def _answered_in(self, running: RunningCommand, head: bytes) -> bytes:
        """``head`` without sudo's prompt, which is answered if it is there."""
        if self.prompt is None or self.prompt not in head:
            return head
        before, _, after = head.partition(self.prompt)
        self._answer_prompt(running)
        return before + after

    def _answer_prompt(self, running: RunningCommand) -> None:
        withheld = running.secrets_withheld()
        if self.password is None:
            self.refused = "sudo asked for a password and none was given (see --sudo)"
        elif withheld is not None:
            self.refused = f"sudo asked for a password, not sent: {withheld}"
        elif self._answered:
            self.refused = "sudo refused the password"
        else:
            self._answered = True
            running.write_stdin(self.password.encode() + b"\n")


def drive(
    running: RunningCommand,
    spec: CommandSpec,
    wrapped: WrappedCommand,
    on_output: OutputCallback | None = None,
    *,
    deadline: float | None = None,
) -> CommandOutcome:
    """Pump output until the command ends, feeding stdin and enforcing the command timeout.

    ``deadline`` (monotonic) defaults to ``spec.timeout`` from now; :meth:`Transport.run` sets
    it before starting the command, so starting counts against the timeout too. Every output
    chunk reaches ``on_output``; the outcome keeps up to ``spec.capture_limit`` of each stream.
    """
    if deadline is None and spec.timeout is not None:
        deadline = time.monotonic() + spec.timeout
    sudo = _SudoExchange(wrapped, spec.sudo_password)
    captured = {
        STDOUT: OutputCapture(spec.capture_limit),
        STDERR: OutputCapture(spec.capture_limit),
    }
    feeder: _StdinFeeder | None = None

    def start_stdin() -> None:
        nonlocal feeder
        data = spec.stdin
        if data is None and not wrapped.stdin_prefix:
            running.close_stdin()
            return
        if data is None or isinstance(data, bytes) or callable(data):
            feeder = _StdinFeeder(running, data, wrapped.stdin_prefix)
        else:  # each host reads the shared input from its start
            feeder = _StdinFeeder(running, data.open(), wrapped.stdin_prefix)
        feeder.start()

    def emit(chunks: list[tuple[str, bytes]]) -> None:
        for stream, chunk in chunks:
            captured[stream].add(chunk)
            if on_output is not None:
                on_output(stream, chunk)

    def outcome(exit_code: int | None, error: str | None = None) -> CommandOutcome:
        out, err = captured[STDOUT], captured[STDERR]
        return CommandOutcome(
            exit_code, bytes(out.kept), bytes(err.kept), error, out.total, err.total
        )

    try:
        if sudo.done:
            start_stdin()
        while not running.done():
            wait = _POLL_CEILING_S
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    asked = sudo.waiting_on()
                    raise HostTimeoutError(
                        f"command timed out after {spec.timeout:g} s"
                        + (f" ({asked})" if asked else "")
                    )
                wait = min(wait, _POLL_CEILING_S)
            for stream, received in running.poll(wait):
                was_done = sudo.done
                chunks = sudo.feed(running, stream, received)
                if sudo.refused:
                    emit(sudo.release())
                    return outcome(1, sudo.refused)
                if sudo.done and not was_done:
                    start_stdin()
                emit(chunks)
        emit(sudo.release())  # sudo itself failed (e.g. not installed): show what it said
        if feeder is not None and isinstance(feeder.error, HostError):
            raise feeder.error
        return outcome(running.exit_code(), running.refusal())
    except HostError as exc:  # keep what the command printed before it was lost
        if not (exc.stdout or exc.stderr):
            kept = outcome(None)
            exc.stdout, exc.stderr = kept.stdout, kept.stderr
            exc.stdout_bytes, exc.stderr_bytes = kept.stdout_bytes, kept.stderr_bytes
        raise
    finally:
        if feeder is not None:
            feeder.stop()
        running.kill()
        if feeder is not None and running.done():  # ended on its own: its input soon stops
            feeder.join(timeout=_FEEDER_JOIN_S)  # (killed: a blocked write waits for the kill)


def await_sudo(
    running: RunningCommand, wrapped: WrappedCommand, password: str | None, *, deadline: float
) -> None:
    """Answer sudo's prompt and wait until it lets the command start, for a command whose
    input and output are a protocol the caller takes over (sftp-server): on return not one
    byte of the command's own output has been read, sudo's marker line is consumed whole.

    Raises :class:`~remoteops.errors.PrivilegeError` when sudo refuses (wrong or no
    password, not allowed) or ends before the command starts, saying what sudo said;
    :class:`HostTimeoutError` past ``deadline`` (monotonic). The command is left running
    either way: the caller kills it on failure.
    """
    sudo = _SudoExchange(wrapped, password)
    said = bytearray()  # what sudo wrote on stderr: the reason, if it gives up
    while not sudo.done or sudo.line_open:
        if running.done():
            said += sudo.held_stderr()  # sudo gave up before its marker: all of it is held
            lines = bytes(said).decode(errors="replace").splitlines()
            reason = "; ".join(line.strip() for line in lines if line.strip())
            raise PrivilegeError(
                f"sudo ended before the command started (exit code {running.exit_code()})"
                + (f": {reason}" if reason else "")
            )
        wait = deadline - time.monotonic()
        if wait <= 0:
            raise HostTimeoutError(sudo.waiting_on() or "sudo did not answer in time")
        for stream, received in running.poll(min(wait, _POLL_CEILING_S)):
            for kind, chunk in sudo.feed(running, stream, received):
                # sudo's or PAM's chatter before the marker is dropped; anything after it
                # is the protocol speaking first: not what was started
                if kind == STDERR:
                    said += chunk
                elif spoken := chunk.removeprefix(sudo.chatter):
                    raise PrivilegeError(f"unexpected output under sudo: {spoken[:80]!r}")
            if sudo.refused:
                raise PrivilegeError(sudo.refused)
