"""sudo on a local host's files: it cannot become another user, so it works only as itself."""

from __future__ import annotations

import os
import pwd

import pytest

from remoteops.errors import UnsupportedError
from remoteops.transports import Privilege
from remoteops.transports.local import LocalTransport


def test_local_files_with_sudo_are_this_process_itself_or_unsupported() -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    local = LocalTransport()
    assert local.elevated(Privilege(user=me)) is local
    other = "nobody" if me != "nobody" else "root"
    with pytest.raises(UnsupportedError, match=f"runs as {me}, not {other}"):
        local.elevated(Privilege(user=other))
    if me != "root":
        with pytest.raises(UnsupportedError, match="not root"):
            local.elevated(Privilege())
