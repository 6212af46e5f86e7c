"""Terminal input and output for the test telnetd's login programs (telnet_login.py and
telnet_device.py, which run as scripts: this folder is on their path)."""

from __future__ import annotations

import sys
import termios


def say(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def ask(prompt: str, *, secret: bool = False) -> str | None:
    """A line from the user, None at the end of input; echo off for secrets, as login and
    devices do."""
    say(prompt)
    attributes = termios.tcgetattr(0)
    if secret:
        quiet = list(attributes)
        quiet[3] &= ~termios.ECHO
        termios.tcsetattr(0, termios.TCSADRAIN, quiet)
    try:
        line = sys.stdin.readline()
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, attributes)
        if secret:
            say("\r\n")
    return None if not line else line.strip("\r\n")
