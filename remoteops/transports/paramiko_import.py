"""Import paramiko without paying for ``importlib.metadata``.

paramiko 5 computes its ``__version__`` (sent in its SSH banner) with
``importlib.metadata.version("paramiko")``: importing ``importlib.metadata`` (email, zipfile,
csv...) and scanning the installed distributions cost 35-50 ms here, a tenth of a single-host
run. paramiko's own version is the name of its ``paramiko-X.Y.Z.dist-info`` folder beside it,
found with one directory listing.

While paramiko imports, ``importlib.metadata`` is a stand-in that answers ``version`` for
paramiko alone; anything else asked of it (another name, another function, a later paramiko
that wants more) is the real module's answer. Afterwards the stand-in is gone. When paramiko
is imported already, or its dist-info is not found, nothing here happens.

paramiko's ``config`` module also imports ``invoke`` (fabric's task runner, 25-60 ms with
``unittest.mock`` and a vendored yaml) for one rare thing: running an ssh_config
``Match exec`` command. It gets a stand-in that imports the real ``invoke`` on first use;
``import invoke`` anywhere else (fabric) is the real module as before.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from typing import Any

_METADATA = "importlib.metadata"
_INVOKE = "invoke"


def _installed_version() -> str | None:
    spec = importlib.util.find_spec("paramiko")
    if spec is None or spec.origin is None:
        return None
    site = os.path.dirname(os.path.dirname(spec.origin))
    try:
        names = os.listdir(site)
    except OSError:
        return None
    found = [n for n in names if n.startswith("paramiko-") and n.endswith(".dist-info")]
    if len(found) != 1:  # none, or several installs side by side: let metadata decide
        return None
    return found[0][len("paramiko-") : -len(".dist-info")]


class _VersionOfParamikoOnly(types.ModuleType):
    def __init__(self, paramiko_version: str) -> None:
        super().__init__(_METADATA)
        self._paramiko_version = paramiko_version

    def version(self, distribution_name: str) -> str:
        if distribution_name == "paramiko":
            return self._paramiko_version
        return str(_real(self).version(distribution_name))

    def __getattr__(self, name: str) -> Any:
        return getattr(_real(self), name)


class _InvokeOnFirstUse(types.ModuleType):
    def __init__(self) -> None:
        super().__init__(_INVOKE)

    def __getattr__(self, name: str) -> Any:
        return getattr(_real(self), name)


def _real(stand_in: types.ModuleType) -> types.ModuleType:
    """The real module of the stand-in's name, in its place from now on (asked while paramiko
    imports). Afterwards the real one, already imported, is left as it is: a second copy of a
    module would be a second set of its classes and state."""
    if sys.modules.get(stand_in.__name__) is stand_in:
        del sys.modules[stand_in.__name__]
    return importlib.import_module(stand_in.__name__)


def import_paramiko() -> None:
    """Import paramiko now, without ``importlib.metadata`` and ``invoke`` when that can be
    avoided."""
    if "paramiko" in sys.modules:
        return
    stand_ins: dict[str, types.ModuleType] = {}
    version = None if _METADATA in sys.modules else _installed_version()
    if version is not None:
        stand_ins[_METADATA] = _VersionOfParamikoOnly(version)
    if _INVOKE not in sys.modules and importlib.util.find_spec(_INVOKE) is not None:
        stand_ins[_INVOKE] = _InvokeOnFirstUse()
    sys.modules.update(stand_ins)
    try:
        import paramiko  # noqa: F401
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
