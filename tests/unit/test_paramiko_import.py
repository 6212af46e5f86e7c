"""paramiko imported without ``importlib.metadata`` (35-50 ms of a single-host run): its
version, and so its SSH banner, must be what the installed distribution says, and anything
else asked of the stand-in must get the real module's answer."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from remoteops.transports.paramiko_import import _VersionOfParamikoOnly


def _fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_paramiko_gets_its_installed_version_without_importlib_metadata() -> None:
    shown = _fresh(
        "import sys\n"
        "from remoteops.transports.paramiko_import import import_paramiko\n"
        "import_paramiko()\n"
        "import paramiko\n"
        "print(paramiko.__version__, paramiko.Transport._CLIENT_ID,\n"
        "      'importlib.metadata' in sys.modules)\n"
    )
    version = metadata.version("paramiko")
    assert shown == f"{version} paramiko_{version} False"


def test_the_stand_in_answers_paramiko_alone_and_passes_the_rest_to_the_real_module() -> None:
    stand_in = _VersionOfParamikoOnly("9.9.9")
    assert stand_in.version("paramiko") == "9.9.9"
    assert stand_in.version("typer") == metadata.version("typer")
    assert stand_in.distribution("typer").metadata["Name"].lower() == "typer"


def test_after_the_import_importlib_metadata_is_the_real_one() -> None:
    shown = _fresh(
        "from remoteops.transports.paramiko_import import import_paramiko\n"
        "import_paramiko()\n"
        "import importlib.metadata as m\n"
        "from importlib import metadata\n"
        "print(type(m).__name__, m is metadata, m.version('typer'))\n"
    )
    assert shown == f"module True {metadata.version('typer')}"


def test_invoke_is_not_imported_yet_ssh_config_match_exec_still_runs_its_command() -> None:
    """paramiko imports invoke (25-60 ms) only to run ``Match exec``: a stand-in that imports
    it on first use must still run the command, and say false when it fails."""
    shown = _fresh(
        "import sys\n"
        "from remoteops.transports.paramiko_import import import_paramiko\n"
        "import_paramiko()\n"
        "before = 'invoke' in sys.modules\n"
        "import paramiko\n"
        "config = paramiko.SSHConfig.from_text(\n"
        '    \'Match exec "exit 1"\\n  Port 2201\\nMatch exec "true"\\n  User matched\\n\')\n'
        "found = config.lookup('h')\n"
        "print(before, found.get('user'), found.get('port'))\n"
    )
    assert shown == "False matched None"


def test_after_the_import_invoke_and_fabric_are_the_real_ones() -> None:
    shown = _fresh(
        "from remoteops.transports.paramiko_import import import_paramiko\n"
        "import_paramiko()\n"
        "import invoke, fabric, paramiko.config\n"
        "print(type(invoke).__name__, hasattr(invoke, 'Context'),\n"
        "      paramiko.config.invoke.run is invoke.run, fabric.Connection.__name__)\n"
    )
    assert shown == "module True True Connection"
