"""A small network-device CLI, run by a real telnetd (busybox) as its login program.

It behaves as the devices remoteops meets over Telnet: ``Username:``/``Password:`` login,
a ``NAME>`` prompt, ``enable`` with its own password to ``NAME#``, a ``--More--`` pager
that ``terminal length 0`` switches off, and ``% Invalid input`` for unknown commands;
``copy running-config startup-config`` asks for its destination as IOS does (Enter takes
the default in brackets), and ``show sessions`` names the login session (its process id,
so a test can tell one session from the next).
Passwords come from the environment: TELNET_TEST_PASSWORD, TELNET_TEST_ENABLE. Optional:
TELNET_TEST_PROMPT_END replaces the ``>`` of the unprivileged prompt (a prompt the default
pattern does not know), TELNET_TEST_LOG names a file each command line is appended to,
TELNET_TEST_PAGE sets the lines per page (10) and TELNET_TEST_PAGER_STAYS=1 makes
``terminal length 0`` change nothing (a device whose pager cannot be switched off).

Endless commands, for floods: ``show logging`` prints numbered log lines for ever (paged
like the rest), ``show core-dump`` prints hex digits for ever without a line end.
"""

from __future__ import annotations

import itertools
import os
import termios
import time
import tty
from collections.abc import Iterable

from telnet_terminal import ask, say

NAME = os.environ.get("TELNET_TEST_DEVICE", "switch1")
PROMPT_END = os.environ.get("TELNET_TEST_PROMPT_END", ">")
LOG = os.environ.get("TELNET_TEST_LOG")
PAGE = int(os.environ.get("TELNET_TEST_PAGE", "10"))
PAGER_STAYS = os.environ.get("TELNET_TEST_PAGER_STAYS") == "1"
#: Lines written at once when not paging: a flood as fast as the terminal takes it.
BATCH = 200
VERSION = [f"Line {n:02d} of the version report" for n in range(1, 31)]
COMMANDS = {
    "show version": VERSION,
    "show clock": ["12:00:00.000 UTC Fri Nov 27 2026"],
    "show users": ["admin vty 0"],
}


def key() -> str:
    """One key, without waiting for Enter, as a pager reads it."""
    attributes = termios.tcgetattr(0)
    tty.setcbreak(0)
    try:
        return os.read(0, 1).decode(errors="replace")
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, attributes)


def page(lines: Iterable[str], paging: bool) -> None:
    """``lines``, a page at a time with a ``--More--`` between pages while ``paging``."""
    pending = iter(lines)
    chunk = list(itertools.islice(pending, PAGE if paging else BATCH))
    while chunk:
        say("".join(line + "\r\n" for line in chunk))
        chunk = list(itertools.islice(pending, PAGE if paging else BATCH))
        if paging and chunk:
            say(" --More-- ")
            answer = key()
            say("\b" * 10 + " " * 10 + "\b" * 10)  # erase the pager, as IOS does
            if answer in ("q", "Q"):
                return


def main() -> None:
    for _ in range(3):
        user = ask("\r\nUser Access Verification\r\n\r\nUsername: ")
        if user is None:
            return
        password = ask("Password: ", secret=True)
        if user == "admin" and password == os.environ["TELNET_TEST_PASSWORD"]:
            break
        say("% Authentication failed\r\n")
    else:
        return
    enabled, paging, mode = False, True, ""
    while True:
        line = ask(f"{NAME}{mode}{'#' if enabled else PROMPT_END}")
        if line is None or line.strip() in ("exit", "quit", "logout"):
            return
        command = line.strip()
        if LOG:
            with open(LOG, "a") as log:
                log.write(command + "\n")
        if not command:
            continue
        if enabled and command in ("configure terminal", "conf t"):
            mode = "(config)"
        elif mode and command.startswith("interface "):
            mode = "(config-if)"
        elif mode and command == "end":
            mode = ""
        elif mode and command.startswith(("description ", "username ")):
            pass
        elif command == "enable":
            secret = ask("Password: ", secret=True)
            if secret == os.environ.get("TELNET_TEST_ENABLE"):
                enabled = True
            else:
                say("% Access denied\r\n")
        elif command == "terminal length 0":
            paging = PAGER_STAYS
        elif command == "show logging":  # endless
            logged = (
                f"{n:08d} %SYS-5-CONFIG_I: Configured from console" for n in itertools.count()
            )
            page(logged, paging)
        elif command == "show core-dump":  # endless, and never a line end
            while True:
                say("0123456789abcdef" * 4096)
        elif command == "show running-config":
            if enabled:
                page([f"hostname {NAME}", "interface Gi0/1", " description uplink"], paging)
            else:
                say("% Invalid input detected at '^' marker.\r\n")
        elif enabled and command == "copy running-config startup-config":
            destination = ask("Destination filename [startup-config]? ")
            if destination is None:
                return
            say(f"Building configuration...\r\n[OK] saved to {destination or 'startup-config'}\r\n")
        elif command == "show sessions":
            say(f"* {os.getpid()} admin vty 0 idle 00:00:00\r\n")
        elif command == "show tech-support":  # a slow device: one line, then nothing
            say("Collecting...\r\n")
            time.sleep(30)
        elif command in COMMANDS:
            page(COMMANDS[command], paging)
        else:
            say(f"{' ' * (len(NAME) + 1)}^\r\n% Invalid input detected at '^' marker.\r\n\r\n")


if __name__ == "__main__":
    main()
