"""The project's container images: the ``remoteops`` tool and the test hosts, built from the
repository's Dockerfile with podman or docker.

``ensure_images(engine)`` builds what is missing or stale and nothing else, so callers (the
container playground, the container tests, ``remoteops playground images``) call it every time:
each image carries a label with a hash of its build inputs, compared with ``inspect``, so an
image built from an older Dockerfile, ``containers/`` file or (for the images holding the
package) older code is rebuilt. A lock file keeps two processes from building at once. The
Debian base ``debian:12-slim`` is pulled when a registry answers, else made from Debian's
packages with mmdebstrap and imported: machines behind an air gap build the same images.

The Dockerfile is not in the wheel: building needs a source checkout, found from this
package's own path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from remoteops.engine import Engine, EngineError, engine_env

from ._system import locked, private_dir

#: Every image the Dockerfile builds, in build order (stages shared with later ones first).
TARGETS = ("remoteops", "testhost-ssh", "testhost-ftp", "testhost-telnet")

#: The images that hold the package (its venv): their hash covers the package's sources.
PACKAGE_TARGETS = frozenset({"remoteops", "testhost-ftp"})

#: The label holding the hash of an image's build inputs.
INPUTS_LABEL = "io.remoteops.build-inputs"

#: What the Dockerfile's ``FROM`` names; podman finds it as ``localhost/...`` when imported.
BASE_REFERENCE = "debian:12-slim"
BASE_IMAGE = "localhost/debian:12-slim"

#: The Debian release the base is made from when it cannot be pulled.
BASE_SUITE = "bookworm"

#: Build inputs of every image, relative to the repository root (plus ``containers/``).
_COMMON_INPUTS = ("Dockerfile", ".dockerignore")
#: Engine settings and the wheelhouse (made from pyproject.toml, an input) are not build
#: inputs: changing them must not rebuild anything.
_NOT_INPUTS = frozenset({"containers/containers.conf"})
_NOT_INPUT_TREES = ("containers/wheels/",)

#: Where the package's dependencies are put as wheels for the build (see the Dockerfile).
WHEELHOUSE = "containers/wheels"

#: The Python of the images (Debian 12's): wheels made by another Python may not fit it.
IMAGE_PYTHON = (3, 11)
#: Build inputs of the images holding the package (plus every file under ``remoteops/``).
_PACKAGE_INPUTS = ("pyproject.toml", "README.md")

#: Lines of build output worth showing while it runs: podman's and docker's step headers.
_STEP_LINE = re.compile(r"^(\[\d+/\d+\] )?STEP \d+/\d+: |^#\d+ \[")

#: What debian:12-slim leaves out (debuerreotype's "slimify"), so ours is as small.
_SLIM_DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
)

#: Build output kept for the error message when a build fails.
_TAIL_LINES = 30

Log = Callable[[str], None]


class ImageBuildError(EngineError):
    """An image could not be built (no source checkout, no base, a failed build step)."""


def image_name(target: str) -> str:
    """The local tag of ``target``'s image: ``localhost/remoteops:latest`` for the tool,
    ``localhost/remoteops-<target>:latest`` for a test host."""
    check_targets([target])
    return (
        "localhost/remoteops:latest"
        if target == "remoteops"
        else (f"localhost/remoteops-{target}:latest")
    )


def check_targets(targets: Sequence[str]) -> tuple[str, ...]:
    """``targets`` in build order without repeats; an unknown name is an error naming them all."""
    if isinstance(targets, str):  # "remoteops" would otherwise be nine one-letter targets
        targets = [targets]
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ImageBuildError(
            f"unknown image target {', '.join(map(repr, unknown))}: use {', '.join(TARGETS)}"
        )
    return tuple(t for t in TARGETS if t in targets)


def source_root(package_dir: Path | None = None) -> Path:
    """The repository root holding the Dockerfile this package is built from.

    Found from the package's own path (``<root>/remoteops/``); an installed wheel has no
    Dockerfile next to it, which is an error that says what to do instead.
    """
    package = (package_dir or Path(__file__).resolve().parent.parent).resolve()
    root = package.parent
    if not all((root / name).is_file() for name in ("Dockerfile", "containers/testhost-init")):
        raise ImageBuildError(
            f"building the images needs a source checkout of remoteops (the Dockerfile and "
            f"containers/ next to the package); {package} is not in one: clone the repository "
            f"and run scripts/build-images there, or `pip install -e` it"
        )
    return root


def build_inputs(root: Path, target: str) -> list[str]:
    """The files (relative to ``root``, sorted) whose content ``target``'s image depends on."""
    check_targets([target])
    names = {name for name in _COMMON_INPUTS if (root / name).is_file()}
    trees = ["containers"] + (["remoteops"] if target in PACKAGE_TARGETS else [])
    if target in PACKAGE_TARGETS:
        names.update(name for name in _PACKAGE_INPUTS if (root / name).is_file())
    for tree in trees:
        for path in (root / tree).rglob("*"):
            relative = path.relative_to(root).as_posix()
            if (
                path.is_file()
                and "__pycache__" not in path.parts
                and path.suffix != ".pyc"
                and relative not in _NOT_INPUTS
                and not relative.startswith(_NOT_INPUT_TREES)
            ):
                names.add(relative)
    return sorted(names)


def inputs_hash(root: Path, target: str) -> str:
    """A hash of ``target``'s build inputs: names and contents, and the target itself."""
    digest = hashlib.sha256(f"remoteops-image\0{target}\0".encode())
    for name in build_inputs(root, target):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256((root / name).read_bytes()).digest())
    return digest.hexdigest()


def plan_builds(
    targets: Sequence[str],
    built: Mapping[str, str | None],
    wanted: Mapping[str, str],
    *,
    rebuild: bool = False,
) -> list[str]:
    """The targets to build: all with ``rebuild``, else those whose image is missing
    (``built[t]`` None) or carries another inputs hash than ``wanted[t]``."""
    return [t for t in check_targets(targets) if rebuild or built.get(t) != wanted[t]]


def ensure_base(engine: Engine, log: Log | None = None) -> None:
    """Make sure the Dockerfile's base, ``debian:12-slim``, is in the engine's storage: pull it,
    else build it from Debian's packages (mmdebstrap) and import it as ``localhost/...``
    (plain ``debian:12-slim`` for docker, which has no ``localhost/`` names)."""
    say = log or _quiet
    if _base_present(engine):
        return
    say(f"{BASE_REFERENCE} is not here: trying to pull it")
    pulled = engine.run(["pull", f"docker.io/library/{BASE_REFERENCE}"], timeout=600, check=False)
    if pulled.returncode == 0:
        return
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ImageBuildError(
            f"{BASE_REFERENCE} cannot be pulled and mmdebstrap is not installed to build it "
            f"from Debian's packages: `apt-get install mmdebstrap`, or load the image with "
            f"`{engine.name} load`"
        )
    tag = BASE_IMAGE if engine.name == "podman" else BASE_REFERENCE
    say(f"building {tag} from Debian {BASE_SUITE} packages (mmdebstrap, about a minute)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="remoteops-base-", dir="/var/tmp") as scratch:
        tarball = Path(scratch) / "base.tar"
        argv = [
            mmdebstrap,
            "--variant=minbase",
            *(f"--dpkgopt={option}" for option in _SLIM_DPKG_OPTIONS),
            BASE_SUITE,
            str(tarball),
        ]
        done = subprocess.run(argv, capture_output=True, timeout=1800, check=False)
        if done.returncode != 0:
            raise ImageBuildError(
                f"mmdebstrap failed (exit {done.returncode}): "
                f"{_tail(done.stderr.decode(errors='replace'))}"
            )
        _run_with_env(engine, ["import", "--change", 'CMD ["bash"]', str(tarball), tag])
    say(f"{tag} imported ({time.monotonic() - started:.0f} s)")


def ensure_images(
    engine: Engine,
    targets: Sequence[str] = TARGETS,
    *,
    rebuild: bool = False,
    log: Log | None = None,
) -> None:
    """Build the images of ``targets`` that are missing or stale from the repository's
    Dockerfile, the base image first if missing; with ``rebuild``, all of them and without the
    engine's layer cache (fresh Debian packages)."""
    say = log or _quiet
    chosen = check_targets(targets)
    root = source_root()
    wanted = {t: inputs_hash(root, t) for t in chosen}
    if not plan_builds(chosen, _built_hashes(engine, chosen), wanted, rebuild=rebuild):
        return  # the common case, without taking the lock
    with _build_lock(say):
        # Another process may have built them while we waited for the lock.
        todo = plan_builds(chosen, _built_hashes(engine, chosen), wanted, rebuild=rebuild)
        if todo:
            ensure_base(engine, say)
        offline = any(t in PACKAGE_TARGETS for t in todo) and _fill_wheelhouse(root, say)
        for target in todo:
            _build(engine, root, target, wanted[target], say, offline=offline, fresh=rebuild)


def _quiet(_: str) -> None:
    """The default log: say nothing."""


def _base_present(engine: Engine) -> bool:
    return engine.run(["image", "inspect", BASE_REFERENCE], check=False).returncode == 0


def _built_hashes(engine: Engine, targets: Sequence[str]) -> dict[str, str | None]:
    """Each target's inputs hash as its image's label says (None: no image, or no label)."""
    return {t: _label(engine, image_name(t)) for t in targets}


def _label(engine: Engine, image: str) -> str | None:
    done = engine.run(["image", "inspect", image], check=False)
    if done.returncode != 0:
        return None
    try:
        config = json.loads(done.stdout)[0].get("Config") or {}
    except (ValueError, IndexError, AttributeError):
        return None
    label = (config.get("Labels") or {}).get(INPUTS_LABEL)
    return label if isinstance(label, str) else None


def _fill_wheelhouse(root: Path, say: Log) -> bool:
    """Put the package's dependencies (and its build backend) into the wheelhouse with this
    machine's pip, whose index, proxy and CA certificates work here when the build's own pip
    may not reach PyPI; True when the build can then run without an index.

    Skipped (False: the build's pip uses the index) when this Python is not the images' own,
    since its compiled wheels would not fit. Remade only when pyproject.toml changes.
    """
    if sys.version_info[:2] != IMAGE_PYTHON:
        say(f"not Python {'.'.join(map(str, IMAGE_PYTHON))}: the build's pip uses the index")
        return False
    wheels = root / WHEELHOUSE
    stamp = wheels / ".pyproject-sha256"
    wanted = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        return True
    say(f"collecting the dependencies' wheels in {wheels} (pip wheel)")
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("*.whl"):
        old.unlink()
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels)]
    done = subprocess.run(
        [*argv, "setuptools>=68", "wheel", str(root)],
        capture_output=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise ImageBuildError(
            f"pip wheel failed (exit {done.returncode}): "
            f"{_tail(done.stderr.decode(errors='replace'))}"
        )
    for own in wheels.glob("remoteops-*.whl"):
        own.unlink()  # the build installs the package from its sources
    stamp.write_text(wanted + "\n")
    return True


def _build(
    engine: Engine,
    root: Path,
    target: str,
    digest: str,
    say: Log,
    *,
    offline: bool,
    fresh: bool = False,
) -> None:
    name = image_name(target)
    say(f"building {name} (target {target})")
    started = time.monotonic()
    superseded = _image_id(engine, name)
    argv = ["build", "-f", str(root / "Dockerfile"), "--target", target, "-t", name]
    # A build argument the Dockerfile writes in a RUN step, not --label: podman 4.3 keeps a
    # cached image, old label and all, when only a label's value changed.
    argv += ["--build-arg", f"REMOTEOPS_BUILD_INPUTS={digest}"]
    if fresh:
        argv.append("--no-cache")  # a rebuild takes today's Debian packages, not cached layers
    if offline and target in PACKAGE_TARGETS:
        argv += ["--build-arg", "PIP_NO_INDEX=1"]
    if engine.name == "podman":
        argv.append("--pull=never")  # the base is local (ensure_base): never ask a registry
    code, output = _stream(engine.argv(*argv, str(root)), engine_env(root), say, timeout=3600)
    if code != 0:
        raise ImageBuildError(
            f"building {name} failed (`{engine.name} build --target {target}`, exit {code}):\n"
            f"{_tail(output)}"
        )
    if _label(engine, name) != digest:
        raise ImageBuildError(
            f"{name} was built but does not carry its {INPUTS_LABEL} label: the Dockerfile's "
            f"stage {target} must end with the REMOTEOPS_BUILD_INPUTS steps of the others"
        )
    if superseded is not None and superseded != _image_id(engine, name):
        # The old image lost its tag: remove it, or every rebuild leaves ~400 MB behind.
        # A container still running it keeps it (rmi refuses), which is what we want.
        engine.run(["rmi", superseded], check=False)
    say(f"built {name} ({time.monotonic() - started:.0f} s)")


def _image_id(engine: Engine, image: str) -> str | None:
    done = engine.run(["image", "inspect", "--format", "{{.Id}}", image], check=False)
    if done.returncode != 0:
        return None
    return done.stdout.decode().strip() or None


def _stream(
    argv: Sequence[str], env: Mapping[str, str], say: Log, timeout: float
) -> tuple[int, str]:
    """Run ``argv``, passing its step lines to ``say`` as they come; (exit code, output).
    Killed after ``timeout`` seconds (exit code -9): a hung build must not hang its caller."""
    lines: list[str] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(env)
    ) as process:
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            for raw in process.stdout or ():
                line = raw.decode(errors="replace").rstrip()
                lines.append(line)
                if _STEP_LINE.match(line):
                    say(f"  {line[:120]}")
        finally:
            watchdog.cancel()
    return process.returncode, "\n".join(lines)


def _run_with_env(engine: Engine, args: Sequence[str]) -> None:
    done = subprocess.run(
        engine.argv(*args), capture_output=True, env=engine_env(), timeout=1800, check=False
    )
    if done.returncode != 0:
        raise ImageBuildError(
            f"`{engine.name} {args[0]}` failed (exit {done.returncode}): "
            f"{_tail(done.stderr.decode(errors='replace'))}"
        )


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-_TAIL_LINES:]) or "no output"


@contextlib.contextmanager
def _build_lock(say: Log, path: Path | None = None) -> Iterator[None]:
    """Hold the image-build lock of this user (the engine's storage is per user), a file in
    the user's private directory: a fixed name in a shared /tmp is open to planted links."""
    where = path or private_dir() / "images.lock"
    with locked(where, lambda: say(f"waiting for another image build to finish (lock {where})")):
        yield
