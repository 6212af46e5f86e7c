"""Telnet hosts: a telnet client program driven by pexpect, for legacy Unix boxes and devices.

Python 3.13 has no telnetlib, so the session is the system's own ``telnet`` (package
``telnet``/``inetutils-telnet``; BusyBox's applet too) under a pseudo-terminal, as a person
would use it. The dialogue, the same one Netmiko and Exscript hold:

1. log in: answer the login and password prompts; a login prompt asked again, or a failure
   message, is status ``auth``;
2. learn the prompt: send an empty line until the last line comes back the same twice;
3. find out what answers: a POSIX shell prints 42 for ``$((6*7))`` (it then gets our own
   prompt, no echo, no history, no pagers); anything else is a device CLI, whose paging is
   switched off (``terminal length 0``) and whose ``--More--`` is answered anyway, with
   ``enable`` entered when an enable password is set;
4. run each command through the shared :func:`~remoteops.transports.base.drive` (timeout,
   stdin, environment, sudo, capture limit: all as over SSH), the session read as output
   arrives: on a shell as ``sh -c '...'`` between two markers, the second carrying ``$?``,
   its stdin typed encoded for a reader on the host; on a device line by line, the output
   being what came before the prompt came back, without the echoed command. A device has
   no exit code (``exit_code: null``) and fails only on its error patterns
   (``% Invalid input`` ...).

A dialogue (:meth:`TelnetTransport.converse`, the ``send``/``expect`` exchanges of a task
step) is held on the same session between commands: see :mod:`remoteops.transports.dialogue`.

Every wait has a deadline (idle and overall); a wait that ends says what it expected and
the last bytes seen, with any password masked. Passwords go to the terminal only, at its
prompts: never into argv, logs or captured output.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import shutil
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from remoteops.errors import (
    AuthenticationError,
    ConnectTimeoutError,
    DialogueError,
    HostError,
    HostTimeoutError,
    UnreachableError,
    UnsupportedError,
    local_exhaustion,
)
from remoteops.inventory.model import Host
from remoteops.results import Reply
from remoteops.transports.base import (
    STDOUT,
    CommandOutcome,
    CommandSpec,
    CommandTransport,
    ConnectionOverrides,
    OutputCallback,
    RunningCommand,
    StdinGate,
    secret_from_env,
)
from remoteops.transports.dialogue import DialogueOutcome, DialogueTransport, Exchange
from remoteops.transports.settings import TelnetSettings
from remoteops.utf8 import whole_characters

if TYPE_CHECKING:
    import pexpect

    #: What pexpect's expect takes in its list (its stubs' list is invariant).
    _Pattern = (
        re.Pattern[str]
        | re.Pattern[bytes]
        | str
        | bytes
        | type[pexpect.EOF]
        | type[pexpect.TIMEOUT]
    )

_LOGIN_FAILED = (
    r"(?i)(?:login incorrect|authentication failed|access denied|bad password"
    r"|invalid (?:login|password|user))"
)
#: A device's pager, at the end of what it sent: it waits for a key there.
_PAGER = r"(?i)[ \t]*(?:-+ ?more ?-+|<--- more --->|--more--|press any key to continue)[ \t]*$"
_PAGER_AT_END = re.compile(_PAGER.encode())
#: A terminal keeps at most 4095 bytes of one input line (Linux N_TTY); longer ones are cut
#: short and what is left would run as if complete.
_LINE_MAX = 3500
#: Bytes of an unfinished line held back at most before it is handed on anyway: a line that
#: never ends (a device dumping hex) never piles up.
_CARRY_LIMIT = 256 * 1024
#: Bytes at the end of such a line kept back from handing on, for a prompt or a pager that a
#: read cut in two (a device's ends a command, or waits for a key, only when seen whole).
_PROMPT_ROOM = 1024
_QUIET_S = 0.3
_EVERYTHING = re.compile(rb".+\Z", re.DOTALL)
#: What devices send after the pager text once answered, to erase it from the screen.
_ERASURE = re.compile(rb"\A *(?:\x08+ *\x08*|\r +\r|\r?\x1b\[K)")
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|[^\n\x08]\x08|\x08")


def telnet_client() -> list[str]:
    """The client program: ``telnet``, else BusyBox's applet; a clear error if neither."""
    if shutil.which("telnet"):
        return ["telnet", "-8"]
    if shutil.which("busybox"):
        return ["busybox", "telnet"]
    raise UnsupportedError(
        "no telnet client: install the `telnet` package (Debian/Ubuntu: apt install telnet; "
        "Fedora: dnf install telnet; Alpine: apk add busybox-extras)"
    )


class TelnetTransport(CommandTransport, DialogueTransport):
    """One Telnet session to one host; commands and dialogues run one after the other in it."""

    protocol = "telnet"

    def __init__(
        self,
        host: Host,
        overrides: ConnectionOverrides | None = None,
        settings: TelnetSettings | None = None,
    ) -> None:
        self.host = host
        self._overrides = overrides or ConnectionOverrides()
        self.settings = settings or TelnetSettings.of(host)
        self._child: pexpect.spawn[bytes] | None = None  # pexpect imported when connecting
        self._secrets: list[bytes] = []
        self.prompt = b""
        self.posix = False
        self._ready = False  # logged in and set up: a command may be typed
        self._busy = False  # a command is running
        self._lost = False  # hung up after a dialogue that went astray: connect afresh

    # -- the session ----------------------------------------------------------------------------

    def connect(self) -> None:
        import pexpect

        host, overrides = self.host, self._overrides
        port = overrides.port_for(self.settings, 23)
        timeout = overrides.timeout_for(self.settings)
        argv = [*telnet_client(), host.address, str(port)]
        with _translated(f"Telnet to {host.address}:{port}", connecting=timeout):
            # pexpect searches its whole buffer on every read; our patterns end at the end of
            # it, so a window keeps a megabyte of output linear (25 s before, 0.5 s with it).
            self._child = pexpect.spawn(
                argv[0],
                argv[1:],
                timeout=timeout,
                echo=False,
                env={**os.environ, "TERM": "vt100"},
                maxread=65536,
                searchwindowsize=8192,
            )
            self._login(timeout)
            self.prompt = self._learn_prompt(timeout)
            self.posix = self._is_posix(timeout)
            if self.posix:
                self._own_prompt(timeout)
            else:
                self._prepare_device(timeout)
        self._ready = True

    def _spawn(self) -> pexpect.spawn[bytes]:
        if self._child is None:
            raise UnreachableError("connection is not open")
        return self._child

    def _login(self, timeout: float) -> None:
        """Answer the login and password prompts, each once: a prompt asked again is a
        refusal (answering again could lock the account)."""
        child = self._spawn()
        user = self._overrides.user_for(self.settings)
        settings = self.settings
        sent_user = sent_password = False
        deadline = time.monotonic() + timeout
        while True:
            index = self._expect(
                [
                    settings.login_prompt,
                    settings.password_prompt,
                    _LOGIN_FAILED,
                    # the client's own complaint, on a line of its own: never a banner's words
                    r"(?im)^telnet: [^\r\n]*(?:unable to connect|connection refused"
                    r"|no route to host|name or service not known|could not resolve)[^\r\n]*",
                    settings.shell_prompt,
                ],
                deadline,
                "a login or password prompt",
            )
            if index == 3:  # what the client said, whole
                said = child.after if isinstance(child.after, bytes) else b""
                raise UnreachableError(said.decode(errors="replace").strip())
            if index == 2:
                if not (sent_user or sent_password):
                    continue  # a banner ("access denied to unauthorized users"), not an answer
                raise AuthenticationError(f"login refused for {user}")
            if (index == 0 and sent_user) or (index == 1 and sent_password):
                raise AuthenticationError(f"login refused for {user}")
            if index == 0:
                if user is None:
                    raise AuthenticationError("the host asks for a login: set user")
                child.sendline(user)
                sent_user = True
            elif index == 1:
                child.sendline(self._password())
                sent_password = True
            else:
                return  # a prompt: logged in (with or without a password, or no login at all)

    def _password(self) -> str:
        name = self.settings.password_env
        if name is None:
            raise AuthenticationError("the host asks for a password: set password_env")
        value = secret_from_env(name)
        self._secrets.append(value.encode())
        return value

    def _learn_prompt(self, timeout: float) -> bytes:
        """Send empty lines until the last line is the same twice: that is the prompt. The
        line that ended the last wait is the first guess, so one empty line usually does."""
        child = self._spawn()
        deadline = time.monotonic() + timeout
        after = child.after if isinstance(child.after, bytes) else b""
        previous = after.replace(b"\r", b"").strip().rpartition(b"\n")[2].strip()
        if previous:
            child.sendline("")
            guess = re.escape(previous) + rb"\s*$"
            with contextlib.suppress(HostTimeoutError):
                self._expect([guess], min(deadline, time.monotonic() + 2), "the prompt again")
                return previous
        while time.monotonic() < deadline:
            child.sendline("")
            seen = self._read_quiet(deadline)
            last = seen.replace(b"\r", b"").rstrip(b"\n").rpartition(b"\n")[2].strip()
            if last and last == previous:
                return last
            previous = last
        raise HostTimeoutError(
            f"no steady prompt within {timeout:g} s (last line seen: {self._mask(previous)!r})"
        )

    def _read_quiet(self, deadline: float, *, at_least_one: bool = True) -> bytes:
        """Everything that arrives until the line stays quiet for a moment (after something
        arrived, with ``at_least_one``), starting with what pexpect still holds."""
        import pexpect

        child = self._spawn()
        seen = self._take_pending()
        while time.monotonic() < deadline:
            try:
                seen += child.read_nonblocking(65536, timeout=_QUIET_S)
            except pexpect.TIMEOUT:
                if seen or not at_least_one:
                    break
            except pexpect.EOF as exc:
                raise UnreachableError("the host closed the Telnet session") from exc
        return seen

    def _take_pending(self) -> bytes:
        """What pexpect holds unmatched, taken out of it. (Assigning its ``buffer`` is not
        enough: pexpect 4.9 refills it from what it keeps for ``before``.)"""
        import pexpect

        child = self._spawn()
        try:
            child.expect([_EVERYTHING], timeout=0)
        except (pexpect.TIMEOUT, pexpect.EOF):
            return b""
        before, after = child.before, child.after
        return (before if isinstance(before, bytes) else b"") + (
            after if isinstance(after, bytes) else b""
        )

    def _is_posix(self, timeout: float) -> bool:
        """A POSIX shell prints 42 for ``$((6*7))``; a device answers with an error and its
        prompt. The probe's own result ends the wait, not just any prompt (a clock in the
        prompt, or a stale one, would end it early)."""
        if self.settings.shell in ("posix", "device"):
            return self.settings.shell == "posix"
        child = self._spawn()
        deadline = time.monotonic() + timeout
        # Nothing said before the probe may answer it: prompts still coming for the empty
        # lines sent while learning the prompt are let through first.
        self._read_quiet(deadline, at_least_one=False)
        child.sendline("echo RO$((6*7))PROBE")
        index = self._expect(
            [rb"RO42PROBE", self._prompt_pattern()], deadline, "the answer to a shell probe"
        )
        return index == 0

    def _own_prompt(self, timeout: float) -> None:
        """On a shell, a prompt of our own (the user's may hold the folder or the time) and
        no echo, no history (commands may carry exported secrets) and no pagers."""
        token = secrets.token_hex(4)
        prompt = f"[ro-{token}]$ "
        setup = [
            "stty -echo",
            "PS2=''",
            f"PS1='[ro-''{token}]$ '",  # typed split: its echo cannot look like the prompt
            "unset PROMPT_COMMAND HISTFILE",
            "export PAGER=cat GIT_PAGER=cat MANPAGER=cat SYSTEMD_PAGER= LESS=FRX",
            # bash's history and ! expansion; `command` keeps dash, which has neither, from
            # abandoning the line at the unknown option
            "command set +o history 2>/dev/null",
            "command set +H 2>/dev/null",
        ]
        child = self._spawn()
        child.sendline("; ".join(setup))
        self.prompt = prompt.encode()
        self._until(time.monotonic() + timeout, "the shell to take our prompt")

    def _prepare_device(self, timeout: float) -> None:
        if self.settings.enable_password_env is not None and not self.prompt.endswith(b"#"):
            self._enable(timeout)
        if self.settings.paging_command:
            self._spawn().sendline(self.settings.paging_command)
            self._until(time.monotonic() + timeout, "the prompt after the paging command")

    def _enable(self, timeout: float) -> None:
        child = self._spawn()
        secret = secret_from_env(self.settings.enable_password_env or "", "enable_password_env")
        self._secrets.append(secret.encode())
        child.sendline("enable")
        deadline = time.monotonic() + timeout
        asked = self._expect(
            [self.settings.password_prompt, self._prompt_pattern()],
            deadline,
            "enable's password prompt",
        )
        if asked == 0:
            child.sendline(secret)
            self._until(deadline, "the prompt after enable")
        self.prompt = self._learn_prompt(timeout)
        if not self.prompt.endswith(b"#"):
            raise AuthenticationError("enable refused (the prompt did not end in #)")

    def _prompt_pattern(self) -> bytes | str:
        """What ends a command's output: our own prompt on a shell; on a device the
        ``telnet_prompt`` setting if given, else the learned prompt's name with any mode in
        brackets, so that ``switch1(config)#`` still ends a command started at ``switch1#``."""
        if self.posix:
            return re.escape(self.prompt) + rb"\s*$"
        if self.settings.custom_prompt:
            return self.settings.shell_prompt
        name = self.prompt.rstrip(b"#>$% ")
        # at the start of a line: output that ends in the device's name and a > is no prompt
        return rb"(?:\A|(?<=\n))" + re.escape(name) + rb"(?:\([^)\r\n]*\))?[#>$%]\s*$"

    def _until(self, deadline: float, expected: str, end: bytes | str | None = None) -> bytes:
        """What arrives before ``end`` (the prompt by default); a device's pagers are
        answered on the way and their erasure dropped. A wait that fails keeps what arrived
        (as the command's output so far)."""
        child = self._spawn()
        patterns: list[bytes | str] = [end or self._prompt_pattern()]
        if not self.posix:
            patterns.append(_PAGER)
        collected = b""
        paged = False
        try:
            while True:
                index = self._expect(patterns, deadline, expected)
                chunk = child.before if isinstance(child.before, bytes) else b""
                collected += _ERASURE.sub(b"", chunk, count=1) if paged else chunk
                if index == 0:
                    return collected
                child.send(" ")
                paged = True
        except HostError as exc:
            pending = child.buffer if isinstance(child.buffer, bytes) else b""
            exc.stdout = self._mask(_clean(collected + pending))
            raise

    def _expect(self, patterns: Sequence[bytes | str], deadline: float, expected: str) -> int:
        """pexpect's expect with our deadlines: the idle one and the overall ``deadline``."""
        import pexpect

        child = self._spawn()
        compiled: list[_Pattern] = [
            re.compile(p if isinstance(p, bytes) else p.encode(), re.DOTALL) for p in patterns
        ]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HostTimeoutError(
                    f"timed out waiting for {expected}; last bytes seen: {self._last(child)!r}"
                )
            waiting = len(child.buffer)
            try:
                return int(child.expect(compiled, timeout=min(left, self.settings.idle_timeout)))
            except pexpect.TIMEOUT:
                arrived = len(child.buffer) > waiting
                if not arrived and time.monotonic() < deadline:
                    raise HostTimeoutError(
                        f"no output for {self.settings.idle_timeout:g} s while waiting for "
                        f"{expected}; last bytes seen: {self._last(child)!r}"
                    ) from None
            except pexpect.EOF as exc:
                raise UnreachableError(
                    f"the host closed the Telnet session while waiting for {expected}; "
                    f"last bytes seen: {self._last(child)!r}"
                ) from exc

    def _last(self, child: pexpect.spawn[bytes]) -> bytes:
        """The last bytes seen, passwords masked before the cut (a password crossing the
        cut would otherwise show its end)."""
        before = child.before if isinstance(child.before, bytes) else b""
        buffered = child.buffer if isinstance(child.buffer, bytes) else b""
        # after a timeout pexpect's before is the unmatched data that buffer still holds
        seen = before if before.endswith(buffered) else before + buffered
        return self._mask(seen)[-120:]

    def _mask(self, data: bytes) -> bytes:
        # longest first: a secret line holding a shorter secret is masked whole
        for secret in sorted(self._secrets, key=len, reverse=True):
            data = data.replace(secret, b"****")
        return data

    def connection_lost(self) -> bool:
        child = self._child
        return self._lost or (child is not None and not child.isalive())

    def cut_off(self) -> bool:
        """Not after our own hang-up of a dialogue that went astray: that is the step's
        failure, and only the next step needs a new session."""
        child = self._child
        return not self._lost and (child is None or not child.isalive())

    def close(self) -> None:
        """Log out with ``exit`` when the session is idle and ready (the shell then ends
        as a person's would); hang up at once otherwise (a timeout, Ctrl-C, another thread)."""
        child, self._child = self._child, None
        if child is None:
            return
        if self._ready and not self._busy:
            import pexpect

            with contextlib.suppress(Exception):
                child.sendline("exit")
                child.expect([pexpect.EOF], timeout=1)
        with contextlib.suppress(Exception):  # best effort, from any thread
            child.close(force=True)

    # -- dialogues ------------------------------------------------------------------------------

    def converse(
        self,
        exchanges: Sequence[Exchange],
        on_output: OutputCallback | None = None,
        timeout: float | None = None,
    ) -> DialogueOutcome:
        """Each exchange in turn, then the prompt: see :mod:`remoteops.transports.dialogue`.
        On a device, an exchange whose output holds an error pattern (``% Invalid input``)
        fails the dialogue as it fails a command; the lines after it are not sent."""
        if not self._ready:
            raise UnreachableError("the Telnet session is not logged in")
        self._secrets.extend(e.send.encode() for e in exchanges if e.secret and e.send)
        overall = time.monotonic() + (24 * 3600.0 if timeout is None else timeout)
        talk = _Dialogue(self, on_output)
        self._busy = True
        try:
            replies: list[Reply] = []
            for number, exchange in enumerate(exchanges, 1):
                where = f"exchange {number} of {len(exchanges)}"
                if exchange.send is not None:
                    _check_line_length(exchange.send)
                    talk.send(exchange.send)
                deadline = min(overall, time.monotonic() + exchange.timeout)
                awaited = exchange.expect
                reply = talk.wait(awaited, deadline, f"{where}: {_awaited(awaited)}")
                self._refuse_errors(reply.output, where)
                replies.append(reply)
            if exchanges and not talk.at_prompt:
                deadline = min(overall, time.monotonic() + exchanges[-1].timeout)
                talk.wait(None, deadline, "the prompt after the last exchange")
        except HostError as exc:
            exc.stdout = talk.transcript + exc.stdout
            self._lost = True
            self.close()  # what the session does with our next line is anyone's guess
            raise
        self._busy = False
        return DialogueOutcome(talk.transcript, tuple(replies))

    def _refuse_errors(self, output: str, where: str) -> None:
        """A device's error line in what an exchange received fails the dialogue."""
        if self.posix:
            return
        for pattern in self.settings.error_patterns:
            found = re.search(pattern, output, re.MULTILINE)
            if found is not None:
                line = next(ln for ln in output.splitlines() if re.search(pattern, ln))
                raise DialogueError(f"{where}: the device refused it: {line.strip()}")

    # -- commands -------------------------------------------------------------------------------

    def run(self, spec: CommandSpec, on_output: OutputCallback | None = None) -> CommandOutcome:
        """As every exec transport runs (:func:`~remoteops.transports.base.drive`), once a
        device CLI was refused what it cannot take: it has no stdin, environment or sudo."""
        if not self.posix and (spec.stdin is not None or spec.env or spec.sudo):
            raise UnsupportedError("device CLIs take no stdin, environment variables or sudo")
        return super().run(spec, on_output)

    def start(self, command: str, timeout: float | None = None) -> RunningCommand:
        deadline = time.monotonic() + (timeout or 24 * 3600.0)
        if not self.posix:
            return _DeviceCommand(self, command)
        token = secrets.token_hex(6)
        line = (
            f"printf '__RO_GO_{token}\\n'; ( {_STDIN_DECODER} ) | "
            f"{{ sh -c {shlex.quote(command)}; printf '__RO_RC_%s_{token}\\n' \"$?\"; }}"
        )
        _check_line_length(line)
        self._busy = True
        self._spawn().sendline(line)
        try:
            go = rb"__RO_GO_" + token.encode() + rb"\r?\n"
            self._until(deadline, "the command to start", end=go)
        except HostError:
            self.close()  # what the host does with our next line is anyone's guess
            raise
        return _ShellCommand(self, token.encode())


#: Shell code that turns the lines :meth:`_ShellCommand.write_stdin` types into the command's
#: stdin: ``#`` and a chunk of it (printable ASCII, see :func:`_stdin_line`), ``#`` alone at
#: its end. A terminal takes control bytes, long lines and a byte 255 for anything but data,
#: so the bytes travel encoded; ``printf`` is a builtin, so this costs no process per line.
#: It reads up to the end line even after the command stopped reading (its pipe broken,
#: SIGPIPE ignored), so no line of the input is left for the login shell; and were one left,
#: it would be a comment there.
_STDIN_DECODER = (
    "trap '' PIPE; while IFS= read -r l; do case $l in "
    "'#') break;; '#'*) printf %b \"${l#?}\" 2>/dev/null;; esac; done"
)
#: Input bytes per line typed: encoded (at most five bytes each) well under _LINE_MAX.
_STDIN_CHUNK = 600
#: Input bytes kept as they are when typed; the rest are octal escapes (``\\0ooo``).
_TYPABLE = frozenset(range(0x20, 0x7F)) - {ord("\\")}
#: Bytes of what the session sent last, for the message of a wait that ends.
_SEEN_KEPT = 512
#: Characters of a dialogue's transcript a failed exchange shows.
_TAIL = 200


def _stdin_line(chunk: bytes) -> bytes:
    return b"#" + b"".join(bytes((b,)) if b in _TYPABLE else b"\\0%03o" % b for b in chunk) + b"\n"


class _SessionCommand:
    """What a command in a Telnet session shares, shell or device: the session is read as
    output arrives, with the idle deadline (``telnet_idle_timeout``: a session that goes
    quiet is given up on, whatever the command's own timeout); what goes on is cleaned of
    terminal codes and has the passwords masked. Everything else (the command's timeout,
    its input, capture limit, environment, sudo) is :func:`drive`'s, as for SSH."""

    expected = "the end of the command"

    def __init__(self, transport: TelnetTransport) -> None:
        self._transport = transport
        self._child = transport._spawn()
        self._raw = transport._take_pending()  # read, not handed on yet
        self._seen = self._raw[-_SEEN_KEPT:]
        self._heard = time.monotonic()
        self._finished = False
        transport._busy = True

    def poll(self, timeout: float) -> list[tuple[str, bytes]]:
        chunks = self._take(quiet=False)
        if chunks or self._finished:
            return chunks
        return self._take(quiet=not self._read(timeout))

    def done(self) -> bool:
        return self._finished

    def secrets_withheld(self) -> None:
        return None

    def kill(self) -> None:
        """Nothing once the prompt is back; before, hang up: a command that ran out of time
        is stopped as a dropped terminal stops it, and what the host makes of our next line
        would be anyone's guess."""
        if not self._finished:
            self._transport.close()

    def _take(self, *, quiet: bool) -> list[tuple[str, bytes]]:
        """The output complete in what was read; ``quiet``: nothing arrived in the last wait."""
        raise NotImplementedError

    def _finish(self) -> None:
        self._finished = True
        self._transport._busy = False

    def _read(self, timeout: float) -> bool:
        """Add what arrives within ``timeout`` to what was read; False if nothing did."""
        import pexpect

        idle = self._transport.settings.idle_timeout
        wait = max(0.0, min(timeout, self._heard + idle - time.monotonic()))
        try:
            data = self._child.read_nonblocking(65536, timeout=wait)
        except pexpect.TIMEOUT:
            if time.monotonic() - self._heard >= idle:
                raise HostTimeoutError(
                    f"no output for {idle:g} s while waiting for {self.expected}; "
                    f"last bytes seen: {self._last_seen()!r}"
                ) from None
            return False
        except (pexpect.EOF, OSError, ValueError) as exc:  # ValueError: closed meanwhile
            raise UnreachableError(
                f"the host closed the Telnet session while waiting for {self.expected}; "
                f"last bytes seen: {self._last_seen()!r}"
            ) from exc
        self._heard = time.monotonic()
        self._raw += data
        self._seen = (self._seen + data)[-_SEEN_KEPT:]
        return True

    def _last_seen(self) -> bytes:
        return self._transport._mask(self._seen)[-120:]

    def _send(self, data: bytes) -> None:
        """Type ``data`` whole (a terminal may take a long write in parts). Traffic our way
        counts as the session being alive, as output does: a command reading a long input
        in silence is no quiet session."""
        while data:
            data = data[self._child.send(data) :]
        self._heard = time.monotonic()

    def _handed(self, raw: bytes) -> list[tuple[str, bytes]]:
        text = self._transport._mask(_clean(raw, keep_blank=True))
        return [(STDOUT, text)] if text else []


class _ShellCommand(_SessionCommand):
    """A command on a POSIX shell: its output lies between the start marker (already read)
    and an end marker carrying ``$?``; the prompt after it ends the command. Output goes on
    in whole lines (an escape sequence or a character is never cut), a line that stays
    unfinished once the session is quiet as it is (what a prompt for input or a partial
    line before a timeout needs), and it is stdout: a terminal has one stream."""

    def __init__(self, transport: TelnetTransport, token: bytes) -> None:
        super().__init__(transport)
        self._end = re.compile(rb"__RO_RC_(\d+)_" + token + rb"\r?\n")
        self._prompt = re.compile(re.escape(transport.prompt) + rb"\s*$")
        self._code: int | None = None
        self._stdin = StdinGate(self._type_lines, self._type_end)

    def _take(self, *, quiet: bool) -> list[tuple[str, bytes]]:
        if self._code is not None:
            if self._prompt.search(self._raw):
                self._raw = b""
                self._finish()
            return []
        ended = self._end.search(self._raw)
        if ended is not None:
            output, self._raw = self._raw[: ended.start()], self._raw[ended.end() :]
            self._code = int(ended.group(1))
            self.close_stdin()  # the input's reader ends only on its end line
            return self._handed(output) + self._take(quiet=quiet)
        raw = self._raw
        # a marker is written at once, so one that a read cut is complete in the next
        marker = raw.rfind(b"__RO_RC_")
        cut = _ready_end(raw, partial=quiet, held=0 if marker < 0 else len(raw) - marker)
        self._raw = raw[cut:]
        return self._handed(raw[:cut])

    def exit_code(self) -> int | None:
        return self._code

    def refusal(self) -> None:
        return None  # the exit code says it all

    def write_stdin(self, data: bytes | memoryview) -> None:
        """Type ``data`` as encoded lines for the command's input reader. Blocks while the
        terminal's line buffer is full (the command reads slower than we type)."""
        self._stdin.write(data)

    def close_stdin(self) -> None:
        """End the input now, or, while a write is under way on another thread, as soon as
        it is done: the end line never lands in the middle of a chunk."""
        self._stdin.close()

    def _type_lines(self, data: bytes | memoryview) -> None:
        view = bytes(data)
        # one write for all the lines: pexpect sleeps 50 ms before each send
        self._send(
            b"".join(
                _stdin_line(view[at : at + _STDIN_CHUNK])
                for at in range(0, len(view), _STDIN_CHUNK)
            )
        )

    def _type_end(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._send(b"#\n")


class _DeviceCommand(_SessionCommand):
    """A device CLI's command: each line typed in turn (a configuration snippet is several),
    the output of each being what came before the prompt, without the echoed line; pagers
    are answered on the way and their erasure dropped. Output goes on as each line of it is
    complete (a line longer than ``_CARRY_LIMIT`` in parts) and is not kept here: what a
    result keeps is :func:`drive`'s capture limit, so a device that prints or pages for ever
    holds no more than a line. A line matching an error pattern (searched as it goes on, in
    multi-line mode as in dialogues) refuses the whole once the prompt is back, and the lines
    after it are not sent (they may depend on it)."""

    def __init__(self, transport: TelnetTransport, command: str) -> None:
        super().__init__(transport)
        self._lines = [ln.strip() for ln in command.splitlines() if ln.strip()]
        for line in self._lines:
            _check_line_length(line)
        self._prompt = re.compile(_as_bytes(transport._prompt_pattern()), re.DOTALL)
        self._errors = [
            re.compile(p.encode(), re.MULTILINE) for p in transport.settings.error_patterns
        ]
        self._refusal: str | None = None
        self._refused_by: bytes | None = None  # the first error line of the typed line
        self._searched = 0  # bytes at the start of _raw searched for a prompt and a pager
        self._paged = False
        self._next_line()

    def _next_line(self) -> None:
        if not self._lines:
            self._finish()
            return
        self._line = self._lines.pop(0)
        self.expected = f"the prompt after {self._line!r}"
        self._output = b""  # this line's output cleaned, not handed on yet
        self._echo_known = False
        self._send(self._line.encode() + b"\n")

    def _take(self, *, quiet: bool) -> list[tuple[str, bytes]]:
        chunks: list[tuple[str, bytes]] = []
        while not self._finished:
            raw = self._raw
            # what was searched already is searched again only as far as a prompt may reach
            # back: a line that never ends is not searched anew on every read
            start = max(0, self._searched - _PROMPT_ROOM)
            # a pager is on the last line (or before a last line end): no need to look further
            last_line = raw.rfind(b"\n", 0, max(0, len(raw) - 1)) + 1
            pager = _PAGER_AT_END.search(raw, max(start, last_line))
            prompt = self._prompt.search(raw, start)
            self._searched = 0
            if pager is not None:
                self._raw = b""
                self._absorb(raw[: pager.start()])
                self._send(b" ")
                self._paged = True
            elif prompt is not None:
                self._raw = b""
                self._absorb(raw[: prompt.start()])
                chunks += self._line_done()
                continue
            else:
                cut = _ready_end(raw, partial=False, held=_PROMPT_ROOM)
                self._raw = raw[cut:]
                self._searched = len(raw) - cut
                self._absorb(raw[:cut])
            return chunks + self._complete_lines()
        return chunks

    def _absorb(self, raw: bytes) -> None:
        if raw and self._paged:
            raw, self._paged = _ERASURE.sub(b"", raw, count=1), False
        self._output += _clean(raw, keep_blank=True)
        if not self._echo_known:
            seen = self._output.lstrip(b"\n")
            first, newline, rest = seen.partition(b"\n")
            if newline:
                self._echo_known = True
                self._output = rest if self._line.encode() in first else seen
            elif len(seen) > _CARRY_LIMIT:  # longer than any echo: output from its start
                self._echo_known = True
                self._output = seen

    def _complete_lines(self) -> list[tuple[str, bytes]]:
        if not self._echo_known:
            return []
        end = _ready_end(self._output, partial=False)
        piece, self._output = self._output[:end], self._output[end:]
        return self._handed_on(piece)

    def _line_done(self) -> list[tuple[str, bytes]]:
        if not self._echo_known:  # no line end: all of it is the echo, or none
            seen = self._output.lstrip(b"\n")
            self._output = b"" if self._line.encode() in seen else seen
            self._echo_known = True
        rest, self._output = self._output, b""
        chunks = self._handed_on(rest)
        if self._refused_by is not None:
            said = self._refused_by.decode(errors="replace").strip()
            self._refusal = f"the device refused {self._line!r}: {said}"
            self._finish()
        else:
            self._next_line()
        return chunks

    def _handed_on(self, piece: bytes) -> list[tuple[str, bytes]]:
        """``piece`` (cleaned output) masked, for the caller, once its error lines are seen."""
        if self._refused_by is None:
            for error in self._errors:
                found = error.search(piece)
                if found is not None:
                    start = piece.rfind(b"\n", 0, found.start()) + 1
                    end = piece.find(b"\n", found.start())
                    self._refused_by = piece[start : len(piece) if end < 0 else end]
                    break
        masked = self._transport._mask(piece)
        return [(STDOUT, masked)] if masked else []

    def exit_code(self) -> None:
        return None  # a device CLI has none

    def refusal(self) -> str | None:
        return self._refusal

    def write_stdin(self, data: bytes | memoryview) -> None:
        raise UnsupportedError("device CLIs take no stdin")

    def close_stdin(self) -> None:
        """Nothing to close: a device line is all its input."""


class _Dialogue:
    """The state of one dialogue: what was received (cleaned, masked) and whether it ends at
    the prompt. A pager is answered while waiting, unless the awaited pattern matches it."""

    def __init__(self, transport: TelnetTransport, on_output: OutputCallback | None) -> None:
        self._transport = transport
        self._child = transport._spawn()
        self._on_output = on_output
        self._prompt = re.compile(_as_bytes(transport._prompt_pattern()), re.DOTALL)
        self._pager = _PAGER_AT_END
        self._paged = False
        self.transcript = b""
        self.at_prompt = False
        transport._take_pending()  # what came before the dialogue is no answer to it

    def send(self, line: str) -> None:
        data = line.encode() + b"\n"
        while data:
            data = data[self._child.send(data) :]

    def wait(self, pattern: str | None, deadline: float, what: str) -> Reply:
        """Read until ``pattern`` (None: the prompt) is found; its reply."""
        import pexpect

        awaited = self._prompt if pattern is None else re.compile(pattern.encode())
        patterns: list[_Pattern] = [awaited] if self._transport.posix else [awaited, self._pager]
        child = self._child
        output = b""
        waited = round(max(0.0, deadline - time.monotonic()), 1)
        while True:
            try:
                # the whole buffer is searched: a pattern may sit anywhere in what arrived
                index = child.expect(
                    patterns, timeout=max(0.0, deadline - time.monotonic()), searchwindowsize=None
                )
            except pexpect.TIMEOUT:
                self._hand(child.buffer if isinstance(child.buffer, bytes) else b"")
                raise DialogueError(
                    f"{what} was not seen within {waited:g} s; last received: "
                    f"{_text(self.transcript[-_TAIL:])!r}"
                ) from None
            except pexpect.EOF as exc:
                raise UnreachableError(
                    f"the host closed the Telnet session while waiting for {what}; "
                    f"last received: {_text(self.transcript[-_TAIL:])!r}"
                ) from exc
            before = child.before if isinstance(child.before, bytes) else b""
            if index == 1:  # a pager: answered, its text and erasure dropped
                output += self._hand(before)
                child.send(b" ")
                self._paged = True
                continue
            after = child.after if isinstance(child.after, bytes) else b""
            output += self._hand(before)
            matched = self._hand(after)
            self.at_prompt = pattern is None or self._prompt.search(before + after) is not None
            found = child.match
            groups = found.groups() if isinstance(found, re.Match) else ()
            mask = self._transport._mask
            return Reply(
                output=_text(output),
                matched=_text(matched),
                groups=tuple(None if g is None else _text(mask(_clean(g))) for g in groups),
            )

    def _hand(self, raw: bytes) -> bytes:
        """``raw`` cleaned and masked, added to the transcript and passed on."""
        if raw and self._paged:
            raw, self._paged = _ERASURE.sub(b"", raw, count=1), False
        text = self._transport._mask(_clean(raw, keep_blank=True))
        self.transcript += text
        if text and self._on_output is not None:
            self._on_output(STDOUT, text)
        return text


def _awaited(pattern: str | None) -> str:
    return "the prompt" if pattern is None else f"'{pattern}'"  # as written: no repr escapes


def _text(data: bytes) -> str:
    return data.decode(errors="replace")


def _as_bytes(pattern: bytes | str) -> bytes:
    return pattern if isinstance(pattern, bytes) else pattern.encode()


#: The start of an escape sequence at the end of what was read: it waits for its end.
_UNFINISHED = re.compile(rb"\x1b[\[()]?[0-9;?]*\Z")


def _ready_end(raw: bytes, *, partial: bool, held: int = 0) -> int:
    """Where the part of ``raw`` that may go on now ends: after its last line end; with
    ``partial`` (the session went quiet), or an unfinished line longer than ``_CARRY_LIMIT``,
    after as much of that line as is whole but its last ``held`` bytes: an escape sequence
    or a UTF-8 character is never cut."""
    end = raw.rfind(b"\n") + 1
    if not partial and len(raw) - end <= _CARRY_LIMIT:
        return end
    stop = max(end, len(raw) - held)
    unfinished = _UNFINISHED.search(raw, end, stop)
    return max(end, whole_characters(raw, stop if unfinished is None else unfinished.start()))


@contextlib.contextmanager
def _translated(what: str, *, connecting: float | None = None) -> Iterator[None]:
    """The Telnet transport's error translator: pexpect's and the terminal's exceptions as
    this host's errors. While ``connecting`` (the connect timeout), a wait that ran out is
    a connect timeout (unreachable, with what was awaited), not a command's timeout."""
    import pexpect

    try:
        yield
    except HostTimeoutError as exc:
        if connecting is None:
            raise
        raise ConnectTimeoutError(connecting, str(exc)) from exc
    except HostError:
        raise
    except pexpect.TIMEOUT as exc:
        if connecting is not None:
            raise ConnectTimeoutError(connecting, what) from exc
        raise HostTimeoutError(f"{what}: timed out") from exc
    except (pexpect.ExceptionPexpect, OSError) as exc:  # EOF, a client that would not start
        exhausted = local_exhaustion(exc)
        if exhausted is not None:
            raise exhausted from exc
        raise UnreachableError(f"{what}: {exc}") from exc


def _check_line_length(line: str) -> None:
    longest = max((len(part.encode()) for part in line.split("\n")), default=0)
    if longest > _LINE_MAX:
        raise UnsupportedError(
            f"a Telnet terminal keeps at most ~4 KB of one line and this one has {longest} "
            "bytes: put the command in a script on the host"
        )


def _clean(data: bytes, *, keep_blank: bool = False) -> bytes:
    """Terminal output as text lines: CRLF as LF, pager erasures and escape codes gone;
    leading blank lines (the echo's line end on a device) dropped unless ``keep_blank``."""
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"")
    previous = None
    while previous != data:  # a backspace erases what came before it
        previous, data = data, _ANSI.sub(b"", data)
    return data if keep_blank else data.lstrip(b"\n")


__all__ = ["TelnetSettings", "TelnetTransport", "telnet_client"]
