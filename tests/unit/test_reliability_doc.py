"""docs/reliability.md names a test for every fault: each name must be a test that exists, or
the table promises protection that a rename quietly took away."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _named_tests() -> list[tuple[str, str]]:
    """(file under tests/, test name) for every ``file::name`` and ``::name`` in the tables;
    a bare ``::name`` belongs to the file named before it in the same cell."""
    named = []
    for line in (ROOT / "docs" / "reliability.md").read_text().splitlines():
        if not line.startswith("|"):
            continue
        for cell in line.split("|"):
            current = None
            for match in re.finditer(r"((?:unit|integration|cli)/[\w/]+\.py)?::(\w+)", cell):
                current = match.group(1) or current
                if current is not None:
                    named.append((current, match.group(2)))
    return named


def test_every_test_the_reliability_table_names_exists() -> None:
    named = _named_tests()
    assert len(named) > 150
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not (ROOT / "tests" / path).is_file()
        or f"def {name}(" not in (ROOT / "tests" / path).read_text()
    ]
    assert missing == []


def test_every_test_file_the_reliability_table_names_exists() -> None:
    text = (ROOT / "docs" / "reliability.md").read_text()
    files = set(re.findall(r"\b((?:unit|integration|cli)/[\w/]+\.py)\b", text))
    assert files
    assert sorted(f for f in files if not (ROOT / "tests" / f).is_file()) == []
