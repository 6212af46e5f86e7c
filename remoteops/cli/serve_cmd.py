"""``remoteops serve ftp DIR``: an FTP(S) server for quick distribution and for tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from remoteops.cli.common import fail
from remoteops.errors import ConfigurationError

app = typer.Typer(
    help="Serve a folder to hosts (FTP or FTPS, with pyftpdlib).", no_args_is_help=True
)


@app.command("ftp")
def ftp(
    root: Annotated[Path, typer.Argument(help="The folder to serve.")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 2121,
    bind: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    user: Annotated[
        str | None, typer.Option(help="A user who may log in (else anonymous).")
    ] = None,
    password_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the user's password.")
    ] = None,
    anonymous: Annotated[
        bool, typer.Option("--anonymous", help="Anonymous, read-only access (the default).")
    ] = False,
    read_only: Annotated[bool, typer.Option("--read-only", help="The user may not write.")] = False,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: FTPS only.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
    passive_ports: Annotated[
        str | None, typer.Option(help="Data ports as FIRST-LAST (for NAT, firewalls, relays).")
    ] = None,
    public_address: Annotated[
        str | None, typer.Option(help="Address clients are told to open data connections to.")
    ] = None,
    rate_limit: Annotated[
        str, typer.Option(help="Bytes per second per data connection, e.g. 500K or 2M; 0: none.")
    ] = "0",
    max_connections: Annotated[
        int, typer.Option(min=0, help="Connections one client address may hold; 0: no limit.")
    ] = 0,
) -> None:
    """Serve ROOT over FTP (FTPS with --tls-cert/--tls-key) until Ctrl-C."""
    from remoteops.serve.ftp import ServeOptions, build_server

    if anonymous and user is not None:
        fail("--anonymous and --user exclude each other")
    password = None
    if user is not None:
        if password_env is None:
            fail("--user needs --password-env (the password never goes on the command line)")
        password = os.environ.get(password_env)
        if not password:
            fail(f"{password_env} is not set in the environment")
    ports = None
    if passive_ports is not None:
        first, _, last = passive_ports.partition("-")
        if not (first.isdigit() and last.isdigit() and 0 < int(first) <= int(last) < 65536):
            fail(f"--passive-ports must be FIRST-LAST, not {passive_ports!r}")
        ports = range(int(first), int(last) + 1)
    rate = _bytes(rate_limit)
    if rate is None:
        fail(f"--rate-limit must be bytes per second such as 500K or 2M, not {rate_limit!r}")
    options = ServeOptions(
        root,
        bind,
        port,
        user,
        password,
        read_only,
        tls_cert,
        tls_key,
        ports,
        public_address,
        rate_limit=rate,
        max_connections=max_connections,
    )
    try:
        server = build_server(options)
    except ConfigurationError as exc:
        fail(str(exc))
    address, chosen = server.address[:2]
    scheme = "ftps" if tls_cert is not None else "ftp"
    who = f"user {user}" + (" (read-only)" if read_only else "") if user else "anonymous, read-only"
    typer.echo(f"serving {root} on {scheme}://{address}:{chosen} ({who}); Ctrl-C stops", err=True)
    typer.echo(f"{chosen}")  # the port alone on stdout, for scripts (and tests) to read
    try:
        server.serve_forever(handle_exit=False)
    except KeyboardInterrupt:
        pass
    finally:
        server.close_all()


def _bytes(text: str) -> int | None:
    """``500K``, ``2M``, ``1G`` or plain bytes (powers of 1024, as lftp and rsync read them)."""
    number, unit = text.strip().upper()[:-1], text.strip().upper()[-1:]
    if unit.isdigit():
        number, unit = number + unit, ""
    scale = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}.get(unit)
    if scale is None or not number.isdigit():
        return None
    return int(number) * scale
