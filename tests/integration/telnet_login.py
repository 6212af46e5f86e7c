"""A ``login`` for the test telnetd: asks as /bin/login does, then runs a real /bin/sh.

/bin/login would need root and a system user on the test machine; this keeps the tests
hermetic while the daemon (busybox telnetd), the terminal and the shell are real.
Password from TELNET_TEST_PASSWORD; the user is ``tester``.
"""

from __future__ import annotations

import os
import sys
import time

from telnet_terminal import ask


def main() -> None:
    sys.stdout.write(os.environ.get("TELNET_TEST_BANNER", ""))  # before the login prompt
    for _ in range(3):
        user = ask("\r\nDebian GNU/Linux 12\r\nshellhost login: ")
        if user is None:
            return
        if user == "guest":  # an account without a password, as on small boxes
            break
        password = ask("Password: ", secret=True)
        if user == "tester" and password == os.environ["TELNET_TEST_PASSWORD"]:
            break
        time.sleep(0.2)
        sys.stdout.write("\r\nLogin incorrect\r\n")
    else:
        return
    sys.stdout.write("Linux shellhost 6.1.0 x86_64\r\n\r\nLast login: today\r\n")
    sys.stdout.write(os.environ.get("TELNET_TEST_MOTD", ""))  # e.g. a line ending in %
    sys.stdout.flush()
    time.sleep(float(os.environ.get("TELNET_TEST_PAUSE", "0")))
    environment = {
        "HOME": os.environ.get("TMPDIR", "/tmp"),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PS1": "tester@shellhost:~$ ",
        "TERM": os.environ.get("TERM", "vt100"),
    }
    os.execve("/bin/sh", ["sh", "-i"], environment)  # noqa: S606 - the login shell, as login does


if __name__ == "__main__":
    main()
