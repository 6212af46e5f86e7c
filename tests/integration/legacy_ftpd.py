"""A real pyftpdlib server without some commands, standing in for an older FTP server.

``python legacy_ftpd.py MLST,MLSD,MFMT [--missing-450]`` serves ``/`` to user ``tester``
(password from REMOTEOPS_TEST_FTP_PASSWORD) on a free loopback port, printed on stdout. The
commands named are unknown to it (500) and missing from FEAT, as on servers older than
RFC 3659. ``--missing-450`` answers a LIST of a missing path with 450, as ProFTPD does;
``--no-list-options`` refuses ``LIST -a`` (550), as servers that read it as a path do;
``--clock-ahead=SECONDS`` reports times that far ahead (a server clock off, or local time);
``--trickle=SECONDS`` moves one byte every SECONDS on each data connection, both ways (a huge
number stalls it), and keeps going when the control connection is gone, as a server that does
not watch it during a transfer does; ``--hide-link-targets`` lists links without ``-> target``,
as some servers do; ``--refuse=TEXT`` refuses (550) to store a file whose name holds TEXT,
as a server with an upload filter does (vsftpd's ``deny_file``). A first argument of ``-``
leaves every command known.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from remoteops.serve.ftp import ServeOptions, build_server


def main() -> None:
    without = {name.strip().upper() for name in sys.argv[1].split(",") if name.strip()}
    options = ServeOptions(
        Path("/"), port=0, user="tester", password=os.environ["REMOTEOPS_TEST_FTP_PASSWORD"]
    )
    server = build_server(options)
    handler = server.handler
    handler.proto_cmds = {k: v for k, v in handler.proto_cmds.items() if k not in without}
    if "--missing-450" in sys.argv[2:]:
        listing = handler.ftp_LIST

        def ftp_list(self: Any, path: str) -> Any:
            if not os.path.lexists(path):
                self.respond(f"450 {path}: No such file or directory")
                return None
            return listing(self, path)

        handler.ftp_LIST = ftp_list
    ahead = next((a for a in sys.argv[2:] if a.startswith("--clock-ahead=")), None)
    if ahead is not None:
        seconds = int(ahead.partition("=")[2])

        def ftp_mdtm(self: Any, path: str) -> None:
            if not os.path.isfile(path):
                self.respond(f"550 {path} is not retrievable.")
                return
            stamp = time.gmtime(os.path.getmtime(path) + seconds)
            self.respond("213 " + time.strftime("%Y%m%d%H%M%S", stamp))

        handler.ftp_MDTM = ftp_mdtm
    trickle = next((a for a in sys.argv[2:] if a.startswith("--trickle=")), None)
    if trickle is not None:
        _trickle(handler, float(trickle.partition("=")[2]))
    if "--hide-link-targets" in sys.argv[2:]:  # pyftpdlib's LIST shows them via readlink
        handler.abstracted_fs = type("NoTargets", (handler.abstracted_fs,), {"readlink": None})
    if "--no-list-options" in sys.argv[2:]:
        process = handler.pre_process_command

        def pre_process(self: Any, line: str, cmd: str, arg: str) -> Any:
            if cmd == "LIST" and arg.startswith("-"):
                self.respond(f"550 {arg}: No such file or directory.")
                return None
            return process(self, line, cmd, arg)

        handler.pre_process_command = pre_process
    refuse = next((a for a in sys.argv[2:] if a.startswith("--refuse=")), None)
    if refuse is not None:
        text, store = refuse.partition("=")[2], handler.ftp_STOR

        def ftp_stor(self: Any, path: str, mode: str = "w") -> Any:
            if text in os.path.basename(path):
                self.respond(f"550 {os.path.basename(path)}: refused by the upload filter.")
                return None
            return store(self, path, mode)

        handler.ftp_STOR = ftp_stor
    print(server.address[1], flush=True)
    server.serve_forever(handle_exit=False)


def _trickle(handler: Any, seconds: float) -> None:
    from pyftpdlib.handlers import ThrottledDTPHandler

    class Trickling(ThrottledDTPHandler):  # type: ignore[misc]
        read_limit = write_limit = 1  # buffers of one byte, both ways

        def _throttle_bandwidth(self, len_chunk: int, max_speed: int) -> None:
            def wake() -> None:
                self.add_channel(events=self.ioloop.READ if self.receive else self.ioloop.WRITE)

            self.del_channel()
            self._cancel_throttler()
            self._throttler = self.ioloop.call_later(seconds, wake, _errback=self.handle_error)

    close = handler.close

    def close_control_only(self: Any) -> None:
        self.data_channel = None  # the transfer goes on without its control connection
        close(self)

    handler.dtp_handler = Trickling
    handler.close = close_control_only


if __name__ == "__main__":
    main()
