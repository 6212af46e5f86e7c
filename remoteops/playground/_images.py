"""PLACEHOLDER for the project's container images (issue 14): the signatures the container
playground codes against, until the i14-images branch's real module replaces this file whole.

It builds nothing itself: :func:`ensure_images` only checks that the images exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from remoteops.engine import Engine, EngineError

#: The Dockerfile's targets, the tool first.
TARGETS = ("remoteops", "testhost-ssh", "testhost-ftp", "testhost-telnet")


class ImageBuildError(EngineError):
    """An image could not be built (or, in this placeholder, is missing)."""


def image_name(target: str) -> str:
    """The local tag of a Dockerfile target's image."""
    if target == "remoteops":
        return "localhost/remoteops:latest"
    return f"localhost/remoteops-{target}:latest"


def ensure_images(
    engine: Engine,
    targets: Sequence[str] = TARGETS,
    *,
    rebuild: bool = False,
    log: Callable[[str], None] | None = None,
) -> None:
    """Check that each target's image exists (the real module builds the missing ones)."""
    del rebuild
    for target in targets:
        if engine.run(["image", "exists", image_name(target)], check=False).returncode != 0:
            raise ImageBuildError(f"image {image_name(target)} is missing (placeholder module)")
        if log is not None:
            log(f"image {image_name(target)}: present")
