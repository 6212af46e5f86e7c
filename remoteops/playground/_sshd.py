"""One playground host's sshd: its files, its config, how it is started and when it is ready.

The config follows parallel-ssh's test servers: no PAM, no DNS, a shared absolute
AuthorizedKeysFile, quiet logs and generous MaxStartups so a 100-host fan-out is not throttled.
Readiness is the ``SSH-2.0`` banner on the host's address, never a fixed sleep.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ._model import PlaygroundError
from ._system import reap, run, spawn, tail

#: The host's shell reads this instead of root's real ~/.bashrc (pyenv init costs ~190 ms).
_BASHRC = """\
# remoteops playground host: deliberately minimal, commands run here are benchmarked.
if [ -n "$PS1" ]; then PS1='\\u@\\h:\\w\\$ '; fi
"""

#: Run inside the host's own mount and UTS namespaces: own hostname (and /etc/hostname, where
#: the machine has one), own /root and /tmp, and an /etc/hosts that resolves every playground
#: name (else sudo and others ask DNS for them). The rest of the file system is the machine's.
_PRIVATE_SCRIPT = (
    'hostname "$1" && mount --bind "$2" /root && mount --bind "$3" /etc/hosts '
    '&& mount --bind "$4" /tmp && { [ ! -e /etc/hostname ] || mount --bind "$5" /etc/hostname; } '
    '&& exec "$6" -D -e -f "$7"'
)


@dataclass(frozen=True)
class HostFiles:
    """Where one host's sshd files live under the playground's runtime directory."""

    name: str
    address: str
    port: int
    netns: str | None
    directory: Path

    @property
    def config(self) -> Path:
        return self.directory / "sshd_config"

    @property
    def host_key(self) -> Path:
        return self.directory / "ssh_host_ed25519_key"

    @property
    def host_pubkey(self) -> Path:
        return self.directory / "ssh_host_ed25519_key.pub"

    @property
    def pid_file(self) -> Path:
        return self.directory / "sshd.pid"

    @property
    def log(self) -> Path:
        return self.directory / "sshd.log"

    @property
    def home(self) -> Path:
        return self.directory / "home"

    @property
    def tmp(self) -> Path:
        """The host's own /tmp (as root): bind-mounted there inside its mount namespace."""
        return self.directory / "tmp"

    @property
    def hostname_file(self) -> Path:
        """What the host's /etc/hostname says (as root)."""
        return self.directory / "hostname"

    @property
    def etc_hosts(self) -> Path:
        """Shared by all hosts of the playground: ``<runtime>/etc_hosts``."""
        return self.directory.parent.parent / "etc_hosts"


def render_etc_hosts(hosts: Iterable[tuple[str, str]]) -> str:
    """/etc/hosts for the hosts' private mount namespaces, from (name, address) pairs."""
    lines = [
        "# remoteops playground: bind-mounted over /etc/hosts inside every host.",
        "127.0.0.1 localhost",
        "::1 localhost ip6-localhost ip6-loopback",
    ]
    lines += [f"{address} {name}" for name, address in hosts]
    return "\n".join(lines) + "\n"


def keygen(path: Path, comment: str) -> None:
    """A fresh passphrase-less ed25519 key pair at ``path`` and ``path.pub``."""
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _quote(value: Path | str) -> str:
    text = str(value)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def render_config(host: HostFiles, authorized_keys: Path) -> str:
    """The sshd_config of one host; AcceptEnv is left out on purpose: no client env passes."""
    keys_file = str(authorized_keys).replace("%", "%%")
    return "\n".join(
        [
            f"# remoteops playground host {host.name}; rewritten by every `playground up`.",
            f"Port {host.port}",
            f"ListenAddress {host.address}",
            f"HostKey {_quote(host.host_key)}",
            f"PidFile {_quote(host.pid_file)}",
            f"AuthorizedKeysFile {_quote(keys_file)}",
            "UsePAM no",
            "UseDNS no",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "Subsystem sftp internal-sftp",
            "MaxStartups 1000:30:1000",
            "MaxSessions 100",
            "StrictModes no",
            "LogLevel ERROR",
            "PrintMotd no",
            "PrintLastLog no",
            "",
        ]
    )


def prepare(host: HostFiles, authorized_keys: Path, *, new_key: bool) -> None:
    """Write the host's directory: config, private home and /tmp, its /etc/hostname and (if
    asked) a new host key. /tmp keeps what it held when a stopped host is started again."""
    host.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    (host.home / ".bashrc").write_text(_BASHRC)
    host.tmp.mkdir(parents=True, exist_ok=True)
    host.tmp.chmod(0o1777)  # every user's, sticky, as /tmp is
    host.hostname_file.write_text(host.name + "\n")
    if new_key or not host.host_key.exists():
        keygen(host.host_key, f"root@{host.name}")
    host.config.write_text(render_config(host, authorized_keys))


def command(host: HostFiles, sshd: str, *, private: bool) -> list[str]:
    """argv that ends as the sshd listener itself (every wrapper execs), so its pid is sshd's."""
    argv = [sshd, "-D", "-e", "-f", str(host.config)]
    if private:
        argv = [
            "unshare", "--mount", "--uts", "--propagation", "private",
            "sh", "-c", _PRIVATE_SCRIPT, "ropg-host", host.name, str(host.home),
            str(host.etc_hosts), str(host.tmp), str(host.hostname_file), sshd, str(host.config),
        ]  # fmt: skip
    if host.netns is not None:
        argv = ["ip", "netns", "exec", host.netns, *argv]
    return argv


def _banner(address: str, port: int, timeout: float) -> bytes:
    with socket.create_connection((address, port), timeout=timeout) as sock:
        data = b""
        while b"\n" not in data and len(data) < 1024:
            chunk = sock.recv(256)
            if not chunk:
                break
            data += chunk
        return data


class SshdExitedError(PlaygroundError):
    """sshd died while starting (in loopback mode, usually a port someone else just took)."""


def start(host: HostFiles, sshd: str, *, private: bool, timeout: float = 20.0) -> int:
    """Start the host's sshd and return its pid once it has sent its ``SSH-2.0`` banner."""
    host.pid_file.unlink(missing_ok=True)
    proc = spawn(command(host, sshd, private=private), host.log)
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        if proc.poll() is not None:
            reap(proc.pid)
            raise SshdExitedError(
                f"sshd of playground host {host.name} exited with status {proc.returncode}: "
                f"{tail(host.log)}"
            )
        try:
            if _banner(host.address, host.port, min(2.0, timeout)).startswith(b"SSH-2.0"):
                return proc.pid
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            reap(proc.pid)
            raise PlaygroundError(
                f"playground host {host.name} sent no SSH-2.0 banner on "
                f"{host.address}:{host.port} within {timeout:.0f}s: {tail(host.log)}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def ensure_privsep_dir() -> None:
    """sshd started as root refuses to run without its privilege separation directory."""
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
