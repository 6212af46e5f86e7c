"""An FTP or FTPS server on pyftpdlib with sane permissions: ``remoteops serve ftp``.

Anonymous access is read-only; a named user may write unless ``read_only``. The password
comes from an environment variable (never argv); TLS needs a certificate and key, and then
requires it of every login and data connection.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remoteops.errors import ConfigurationError

#: pyftpdlib permission letters: e=cd l=list r=read | a=append d=delete f=rename m=mkdir
#: w=store M=chmod T=set mtime.
READ = "elr"
WRITE = "adfmwMT"


@dataclass(frozen=True)
class ServeOptions:
    """What ``remoteops serve ftp`` was asked for."""

    root: Path
    address: str = "127.0.0.1"
    port: int = 2121
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    read_only: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Ports for passive data connections (behind NAT or a relay, with ``public_address``).
    passive_ports: range | None = None
    #: The address the server tells clients to connect to for data (NAT, relays).
    public_address: str | None = None
    #: Bytes per second of each data connection, both ways (0: no limit).
    rate_limit: int = 0
    #: Connections one client address may hold at once (0: no limit).
    max_connections: int = 0


def build_server(options: ServeOptions) -> Any:
    """A ready pyftpdlib server (not yet serving); ConfigurationError for bad options."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    root = options.root.resolve()
    if not root.is_dir():
        raise ConfigurationError(f"{options.root} is not a folder")
    authorizer = DummyAuthorizer()
    if options.user is None:
        authorizer.add_anonymous(str(root), perm=READ)  # anonymous never writes
    else:
        if not options.password:
            raise ConfigurationError("a user needs a password (--password-env)")
        perm = READ if options.read_only else READ + WRITE
        authorizer.add_user(options.user, options.password, homedir=str(root), perm=perm)
    handler: type[Any] = FTPHandler
    if options.tls_cert is not None or options.tls_key is not None:
        handler = _tls_handler(options)
    # Names that are not UTF-8 travel as their bytes (surrogate escapes), not as "?".
    settings: dict[str, Any] = {
        "authorizer": authorizer,
        "unicode_errors": "surrogateescape",
        "push": _push_escaped,
        "abstracted_fs": _links_shown(),
    }
    if options.passive_ports is not None:
        settings["passive_ports"] = options.passive_ports
    if options.public_address is not None:
        settings["masquerade_address"] = options.public_address
    if options.rate_limit:
        from pyftpdlib.handlers import ThrottledDTPHandler

        if options.tls_cert is not None:  # pyftpdlib's throttled data channel is plain only
            raise ConfigurationError("--rate-limit works without TLS only")

        limits = {"read_limit": options.rate_limit, "write_limit": options.rate_limit}
        settings["dtp_handler"] = type("RemoteopsThrottledDTP", (ThrottledDTPHandler,), limits)
    handler = type("RemoteopsFTPHandler", (handler,), settings)
    handler.banner = "remoteops serve ftp ready."
    try:
        server = FTPServer((options.address, options.port), handler)
        server.max_cons_per_ip = options.max_connections
        return server
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {options.address}:{options.port}: {exc.strerror or exc}"
        ) from exc


def _links_shown() -> type[Any]:
    """pyftpdlib's file system with links shown as links in MLSD and MLST.

    pyftpdlib follows them there: a link to a folder outside looked like a folder of the
    tree (and ``sync --delete`` removed the files it holds, not the link), a link to itself
    like an endless tree. They are shown as RFC 3659's example and Pure-FTPd do,
    ``type=OS.unix=slink:TARGET``; a target that this syntax cannot carry (a space, ``;``, a
    line end) is left out, ``type=OS.unix=symlink``, so that clients refuse it, not misread it.
    """
    from pyftpdlib.filesystems import AbstractedFS

    class LinksShown(AbstractedFS):  # type: ignore[misc]
        def format_mlsx(
            self,
            basedir: str,
            listing: list[str],
            perms: str,
            facts: list[str],
            ignore_err: bool = True,
        ) -> Any:
            for name in listing:
                path = os.path.join(basedir, name)
                if not os.path.islink(path):
                    yield from super().format_mlsx(basedir, [name], perms, facts, ignore_err)
                    continue
                try:
                    target, info = os.readlink(path), os.lstat(path)
                except OSError:
                    if ignore_err:
                        continue
                    raise
                shown = {
                    "type": "OS.unix=symlink"
                    if any(c in target for c in " ;\r\n")
                    else f"OS.unix=slink:{target}",
                    "modify": time.strftime("%Y%m%d%H%M%S", time.gmtime(info.st_mtime)),
                    "unix.mode": oct(info.st_mode & 0o777),
                }
                line = "".join(f"{k}={v};" for k, v in shown.items() if k in facts or k == "type")
                channel = self.cmd_channel
                yield f"{line} {name}\r\n".encode(channel.encoding, channel.unicode_errors)

    return LinksShown


def _push_escaped(handler: Any, data: str) -> None:
    """pyftpdlib's ``push`` encodes replies strictly, so a reply naming a file whose name is
    not UTF-8 (MKD's, MLST's) fails; this one encodes as the handler decodes."""
    import sys

    from pyftpdlib.handlers import FTPHandler

    control = sys.modules[FTPHandler.push.__module__]  # the asynchat pyftpdlib itself uses
    control.asynchat.async_chat.push(handler, data.encode(handler.encoding, handler.unicode_errors))


def _tls_handler(options: ServeOptions) -> type[Any]:
    if options.tls_cert is None or options.tls_key is None:
        raise ConfigurationError("TLS needs both --tls-cert and --tls-key")
    try:
        from pyftpdlib.handlers import TLS_FTPHandler
    except ImportError as exc:  # pyftpdlib offers TLS only with pyOpenSSL
        raise ConfigurationError("TLS needs pyOpenSSL (pip install pyopenssl)") from exc
    for path in (options.tls_cert, options.tls_key):
        if not path.is_file():
            raise ConfigurationError(f"cannot read {path}")
    return type(
        "RemoteopsTLSHandler",
        (TLS_FTPHandler,),
        {
            "certfile": str(options.tls_cert),
            "keyfile": str(options.tls_key),
            "tls_control_required": True,
            "tls_data_required": True,
        },
    )


__all__ = ["READ", "WRITE", "ServeOptions", "build_server"]
