"""A real pyftpdlib server without some commands, standing in for an older FTP server.

``python legacy_ftpd.py MLST,MLSD,MFMT`` serves ``/`` to user ``tester`` (password from
REMOTEOPS_TEST_FTP_PASSWORD) on a free loopback port, printed on stdout. The commands named
are unknown to it (500) and missing from FEAT, as on servers older than RFC 3659.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from remoteops.serve.ftp import ServeOptions, build_server


def main() -> None:
    without = {name.strip().upper() for name in sys.argv[1].split(",") if name.strip()}
    options = ServeOptions(
        Path("/"), port=0, user="tester", password=os.environ["REMOTEOPS_TEST_FTP_PASSWORD"]
    )
    server = build_server(options)
    handler = server.handler
    handler.proto_cmds = {k: v for k, v in handler.proto_cmds.items() if k not in without}
    print(server.address[1], flush=True)
    server.serve_forever(handle_exit=False)


if __name__ == "__main__":
    main()
