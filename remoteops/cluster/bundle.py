"""What every worker needs to connect as the controller would, shipped once per run: the
run's SSH settings, the controller's ``~/.ssh/config`` (includes expanded), its known_hosts
files and the private keys the inventory names. Secrets are not in it: ``password_env`` and
sudo passwords are read from the worker's environment when a host needs them.

On a worker the bundle becomes files in a 0700 folder of its own and a
:class:`~remoteops.transports.TransportFactory` that reads them; a host key accepted there as
new is written to the worker's copy and sent home (:data:`~remoteops.cluster.wire.HOST_KEY`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from remoteops.errors import ConfigurationError
from remoteops.inventory.model import Host
from remoteops.transports import ConnectionOverrides, TransportFactory
from remoteops.transports.ssh_config import config_files, flattened_config

#: The controller's default known_hosts files, as OpenSSH reads them.
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")


@dataclass(frozen=True)
class RunBundle:
    accept_new_host_keys: bool
    overrides: ConnectionOverrides | None
    #: The controller's SSH config text (includes expanded); "" when it has none.
    ssh_config: str
    #: The controller's known_hosts files: (path on the controller, content).
    known_hosts: tuple[tuple[str, bytes], ...]
    #: Private keys the inventory names: path on the controller -> content.
    keys: Mapping[str, bytes]
    #: Inventory hosts by name (a jump_host may name one), keys remapped on the worker.
    inventory: Mapping[str, Host] | None

    @classmethod
    def of(cls, factory: TransportFactory, hosts: Sequence[Host]) -> RunBundle:
        """What the workers need for ``hosts``; refuses what cannot leave the controller."""
        if factory.password is not None:
            raise ConfigurationError(
                "--ask-pass cannot be used with --executor dask: a typed password would travel "
                "to the workers; give the hosts password_env (read on each worker) instead"
            )
        files = factory.known_hosts_files
        paths = files if files is not None else [Path(p).expanduser() for p in DEFAULT_KNOWN_HOSTS]
        known = tuple((str(p), _read_or_empty(p)) for p in paths)
        everyone = list(hosts) + list((factory.inventory or {}).values())
        keys: dict[str, bytes] = {}
        for host in everyone:
            if host.protocol != "ssh":
                continue
            named = host.identity_file
            if named is None:
                continue
            path = str(Path(named).expanduser())
            if path not in keys:
                try:
                    keys[path] = Path(path).read_bytes()
                except OSError as exc:
                    raise ConfigurationError(
                        f"host {host.name}: cannot read its identity_file {path}: "
                        f"{exc.strerror or exc}"
                    ) from exc
        return cls(
            accept_new_host_keys=factory.accept_new_host_keys,
            overrides=factory.overrides,
            ssh_config=flattened_config(config_files(factory.ssh_config_path)) or "",
            known_hosts=known,
            keys=keys,
            inventory=factory.inventory,
        )

    def materialise(
        self, folder: Path, on_new_host_key: Callable[[str, str, str, str], None]
    ) -> tuple[TransportFactory, Callable[[Host], Host]]:
        """On a worker: the files in ``folder`` (0700, made here), the factory that reads
        them, and the function giving a host its worker-side copy (its key's path there)."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=False)
        config = folder / "ssh_config"
        _write_private(config, self.ssh_config.encode())
        copies: dict[Path, str] = {}
        for index, (home, content) in enumerate(self.known_hosts):
            copy = folder / f"known_hosts.{index}"
            _write_private(copy, content)
            copies[copy] = home
        key_paths: dict[str, str] = {}
        for index, (home, content) in enumerate(sorted(self.keys.items())):
            copy = folder / f"key.{index}"
            _write_private(copy, content)
            key_paths[home] = str(copy)

        def local(host: Host) -> Host:
            named = host.identity_file
            if named is None:
                return host
            moved = key_paths.get(str(Path(named).expanduser()))
            if moved is None:
                return host
            return dataclasses.replace(host, vars={**host.vars, "identity_file": moved})

        def recorded(path: Path, name: str, key_type: str, key_b64: str) -> None:
            home = copies.get(path)
            if home is not None:  # a per-host file (inventory, ssh_config) stays the worker's
                on_new_host_key(home, name, key_type, key_b64)

        inventory = None
        if self.inventory is not None:
            inventory = {name: local(host) for name, host in self.inventory.items()}
        factory = TransportFactory(
            accept_new_host_keys=self.accept_new_host_keys,
            overrides=self.overrides,
            ssh_config_path=config,
            known_hosts_files=list(copies),
            inventory=inventory,
            on_new_host_key=recorded,
        )
        return factory, local


def _read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise ConfigurationError(f"cannot read known_hosts {path}: {exc.strerror or exc}") from exc


def _write_private(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)


_FOLDER_PREFIX = "remoteops-dask-"


def private_folder(run_id: str) -> Path:
    """A new 0700 folder for one run's files on this worker process, named with its pid: the
    folders of a worker killed mid-run (keys in them) are removed by the next one here."""
    _remove_orphans()
    return Path(tempfile.mkdtemp(prefix=f"{_FOLDER_PREFIX}{os.getpid()}-{run_id}-"))


def _remove_orphans() -> None:
    for folder in Path(tempfile.gettempdir()).glob(f"{_FOLDER_PREFIX}*-*-*"):
        pid = folder.name.removeprefix(_FOLDER_PREFIX).split("-", 1)[0]
        try:
            if not pid.isdigit() or folder.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue  # removed meanwhile by another worker here
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            remove_folder(folder)  # its worker is gone
        except PermissionError:
            pass  # another user's process has that pid now: not ours to judge


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


__all__ = ["RunBundle", "private_folder", "remove_folder"]
