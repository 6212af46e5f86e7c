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
4. run each command: on a shell as ``sh -c '...' </dev/null`` between two markers, the
   second carrying ``$?``; on a device line by line, the output being what came before the
   prompt came back, without the echoed command. A device has no exit code
   (``exit_code: null``) and fails only on its error patterns (``% Invalid input`` ...).

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
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from remoteops.errors import (
    AuthenticationError,
    ConnectTimeoutError,
    HostError,
    HostTimeoutError,
    UnreachableError,
    UnsupportedError,
)
from remoteops.inventory.model import Host
from remoteops.transports.base import (
    PROTOCOL_CAPABILITIES,
    CommandOutcome,
    CommandSpec,
    ConnectionOverrides,
    OutputCallback,
    OutputCapture,
    Transport,
    secret_from_env,
    shell_exports,
)
from remoteops.transports.settings import TelnetSettings

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
#: A terminal keeps at most 4095 bytes of one input line (Linux N_TTY); longer ones are cut
#: short and what is left would run as if complete.
_LINE_MAX = 3500
#: Bytes of a command's output that, with more behind them, are handed on at once (with what
#: arrived before pexpect's 8 KiB search window): an endless output never piles up.
_PIECE = 4096
#: Bytes of an unfinished line held back at most before it is handed on anyway.
_CARRY_LIMIT = 256 * 1024
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


class TelnetTransport(Transport):
    """One Telnet session to one host; commands run one after the other in it."""

    capabilities = PROTOCOL_CAPABILITIES["telnet"]
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
                    r"(?i)(?:unable to connect|connection refused|no route to host"
                    r"|name or service not known|could not resolve)",
                    settings.shell_prompt,
                ],
                deadline,
                "a login or password prompt",
            )
            if index == 3:
                said = self._last(child).decode(errors="replace").strip()
                raise UnreachableError(f"telnet: {said}")
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
        for secret in self._secrets:
            data = data.replace(secret, b"****")
        return data

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

    # -- commands -------------------------------------------------------------------------------

    def run(self, spec: CommandSpec, on_output: OutputCallback | None = None) -> CommandOutcome:
        if spec.stdin is not None:
            raise UnsupportedError("Telnet hosts take no stdin for a command")
        if spec.sudo:
            raise UnsupportedError("Telnet hosts cannot run commands with sudo")
        if not self.posix and spec.env:
            raise UnsupportedError("device CLIs take no environment variables")
        deadline = time.monotonic() + (spec.timeout or 24 * 3600.0)
        capture = OutputCapture(spec.capture_limit)

        def output(data: bytes) -> None:
            if data:
                capture.add(data)
                if on_output is not None:
                    on_output("stdout", data)

        self._busy = True
        try:
            if self.posix:
                code = self._run_posix(spec.command, shell_exports(spec.env), deadline, output)
                error = None
            else:
                code, error = None, self._run_device(spec.command, deadline, output)
        except HostError as exc:
            if isinstance(exc, HostTimeoutError):
                self.close()  # what the host does with our next line is anyone's guess
            if self.posix or not exc.stdout:
                exc.stdout, exc.stdout_bytes = self._mask(bytes(capture.kept)), capture.total
            raise
        finally:
            self._busy = False
        return CommandOutcome(code, bytes(capture.kept), b"", error, capture.total, 0)

    def _run_posix(
        self, command: str, exports: str, deadline: float, output: Callable[[bytes], None]
    ) -> int:
        """``sh -c`` with no input, as an SSH exec runs it: its own syntax errors, exit,
        cd and exports stay in it, and nothing it reads can eat what we type next. The
        environment is exported by the login shell in a subshell around it, so no value is
        in ``sh``'s arguments (which the host's process list shows).

        The output is what lies between a start marker and an end marker carrying ``$?``
        (bash's readline still sends a line end for what we typed, with echo off), and the
        end marker is awaited before the prompt: the output may contain either. It goes to
        ``output`` as it arrives; returns the exit code.
        """
        token = secrets.token_hex(6)
        line = (
            f"printf '__RO_GO_{token}\\n'; ( {exports}sh -c {shlex.quote(command)} </dev/null ); "
            f"printf '\\n__RO_RC_%s_{token}\\n' \"$?\""
        )
        _check_line_length(line)
        child = self._spawn()
        child.sendline(line)
        self._until(deadline, "the command to start", end=rb"__RO_GO_" + token.encode() + rb"\r?\n")
        marker = rb"\r?\n__RO_RC_(\d+)_" + token.encode() + rb"\r?\n"
        self._stream_until(deadline, "the end of the command", marker, rb"\r?\n__RO_RC_", output)
        found = re.search(
            rb"__RO_RC_(\d+)_", child.after if isinstance(child.after, bytes) else b""
        )
        self._until(deadline, "the prompt after the command")
        if found is None:
            raise HostTimeoutError("the exit status never came back")
        return int(found.group(1))

    def _stream_until(
        self,
        deadline: float,
        expected: str,
        end: bytes,
        end_start: bytes,
        output: Callable[[bytes], None],
    ) -> None:
        """What arrives before ``end``, handed to ``output`` in pieces as it comes: a
        command's output may be endless, and pexpect holds all it reads until a pattern
        matches. So a second pattern matches whenever enough has come: a piece at the start
        of pexpect's search window, cut only where ``end_start`` (how ``end`` begins) does
        not start and with enough after it to see a whole ``end``, so the end is never split.
        """
        import pexpect

        child = self._spawn()
        piece = rb"(?s)\A(?:(?!" + end_start + rb").){%d}(?=.{128})" % _PIECE
        carry = b""  # the end of a line not yet complete: cleaned with the rest of its line
        try:
            while True:
                index = self._expect([end, piece], deadline, expected)
                before = child.before if isinstance(child.before, bytes) else b""
                if index == 0:
                    output(_clean(carry + before, keep_blank=True))
                    return
                after = child.after if isinstance(child.after, bytes) else b""
                data = carry + before + after
                # whole lines only, so no escape sequence or backspace is cut in two
                cut = data.rfind(b"\n") + 1 if len(data) < _CARRY_LIMIT else len(data)
                carry = data[cut:]
                output(_clean(data[:cut], keep_blank=True))
        except HostError:
            # after a TIMEOUT or EOF pexpect's before holds all it read since the last
            # match; after a match (our own deadline hit between two waits), its buffer does
            ended = child.after in (pexpect.TIMEOUT, pexpect.EOF)
            pending = child.before if ended else child.buffer
            pending = pending if isinstance(pending, bytes) else b""
            output(_clean(carry + pending, keep_blank=True))
            raise

    def _run_device(
        self, command: str, deadline: float, output: Callable[[bytes], None]
    ) -> str | None:
        """Each line of ``command`` in turn (a configuration snippet is several), their
        outputs joined; a line matching an error pattern fails the whole, and the lines
        after it are not sent (they may depend on it). Returns that failure, if any."""
        for line in (ln.strip() for ln in command.splitlines()):
            if not line:
                continue
            _check_line_length(line)
            seen = self._device_line(line, deadline)
            output(seen)
            error = next(
                (p for p in self.settings.error_patterns if re.search(p.encode(), seen)), None
            )
            if error is not None:
                said = next((ln for ln in seen.splitlines() if re.search(error.encode(), ln)), b"")
                return f"the device refused {line!r}: " + said.decode(errors="replace").strip()
        return None

    def _device_line(self, line: str, deadline: float) -> bytes:
        child = self._spawn()
        child.sendline(line)
        seen = _clean(self._until(deadline, f"the prompt after {line!r}"))
        first, newline, rest = seen.partition(b"\n")
        if line.encode() in first:  # the device echoes what we typed
            seen = rest if newline else b""
        return seen


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
