"""The container engine (podman or docker) as one command line, shared by the container
transport, the container playground and the image build.

Both engines take the same verbs for what we use (``run``, ``exec``, ``build``, ``network``,
``inspect``, ``rm``), so one argv builder serves both; where they differ, the caller asks
:attr:`Engine.name`. Nothing here starts a container on import or looks past ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from remoteops.errors import ConfigurationError

#: The engines we drive, in the order ``auto`` tries them.
ENGINES = ("podman", "docker")

#: The apt package that provides each engine, for the error that says how to get it.
_PACKAGES = {"podman": "podman", "docker": "docker.io"}

#: podman's settings file; when a machine has none, the source checkout's own is used.
SYSTEM_CONTAINERS_CONF = Path("/etc/containers/containers.conf")


def engine_env(root: Path | None = None) -> dict[str, str]:
    """This process's environment for podman, plus ``CONTAINERS_CONF`` pointing at the source
    checkout's ``containers/containers.conf`` (runc, cgroupfs, fixed ulimits) when neither the
    caller nor the machine has one: where crun fails (hybrid cgroups) or raising RLIMIT_NOFILE
    in a container is refused, plain ``podman run`` fails without it. An installed wheel has no
    such file and changes nothing."""
    env = dict(os.environ)
    if "CONTAINERS_CONF" not in env and not SYSTEM_CONTAINERS_CONF.exists():
        conf = (root or Path(__file__).resolve().parent.parent) / "containers" / "containers.conf"
        if conf.is_file():
            env["CONTAINERS_CONF"] = str(conf)
    return env


class EngineError(ConfigurationError):
    """No such engine, or the engine failed a command we cannot go on without."""


@dataclass(frozen=True)
class Engine:
    """One container engine found on this machine."""

    name: str
    binary: str

    def argv(self, *args: str) -> list[str]:
        """The engine's command line for ``args`` (e.g. ``exec -i NAME sh -c ...``)."""
        return [self.binary, *args]

    def environment(self) -> dict[str, str]:
        """The environment every command of this engine runs in (see :func:`engine_env`)."""
        return engine_env() if self.name == "podman" else dict(os.environ)

    def run(
        self,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 120,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run one engine command to its end; with ``check``, a failure is an
        :class:`EngineError` naming the command and the engine's own message.

        ``env`` adds variables to the engine's environment: the way to hand a secret to
        ``run -e NAME`` without putting it on a command line that ``ps`` shows."""
        environ = {**self.environment(), **(env or {})}
        try:
            done = subprocess.run(
                self.argv(*args),
                input=stdin,
                capture_output=True,
                timeout=timeout,
                check=False,
                env=environ,
            )
        except subprocess.TimeoutExpired as exc:
            raise EngineError(
                f"`{self.name} {' '.join(args[:2])}` took over {timeout:g} s"
            ) from exc
        if check and done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            raise EngineError(
                f"`{self.name} {' '.join(args[:2])}` failed (exit {done.returncode}): "
                f"{message[-1] if message else 'no message'}"
            )
        return done


def find_engine(name: str = "auto") -> Engine:
    """The engine called ``name`` (``podman``, ``docker``), or the first of :data:`ENGINES`
    on ``PATH`` for ``auto``; a clear error when it is not installed."""
    wanted = ENGINES if name == "auto" else (name,)
    if name != "auto" and name not in ENGINES:
        raise EngineError(f"unknown container engine {name!r}: use one of {', '.join(ENGINES)}")
    for candidate in wanted:
        binary = shutil.which(candidate)
        if binary is not None:
            return Engine(candidate, binary)
    hint = " or ".join(f"`apt-get install {_PACKAGES[e]}`" for e in wanted)
    raise EngineError(f"no container engine found ({', '.join(wanted)}): install one with {hint}")
