"""The inventory's limits at their edges, and cycles of child groups reported where they close.

Limits (README, "Limits"): 100,000 hosts, 100 levels of nesting (documents, values, child
groups), and aliases adding at most 1,000,000 nodes or ten times the file's own.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from remoteops.errors import InventoryError
from remoteops.inventory import load_inventory, loaders, yaml_loader
from remoteops.inventory.model import MAX_NESTING


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def _error(*sources: str) -> InventoryError:
    with pytest.raises(InventoryError) as caught:
        load_inventory(list(sources), environ={})
    return caught.value


def _nested_list(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


# The document (1) holds all's mapping (2), which holds vars (3): x's lists nest from level 4.
@pytest.mark.parametrize("suffix", [".yml", ".json", ""])
def test_yaml_nesting_of_exactly_the_limit_loads_and_one_more_is_refused(
    tmp_path: Path, suffix: str
) -> None:
    def document(levels: int) -> str:
        return f'{{"all": {{"vars": {{"x": {_nested_list(levels)}}}, "hosts": {{"h": null}}}}}}\n'

    fits = _write(tmp_path / f"fits{suffix}", document(MAX_NESTING - 3))
    value = load_inventory([fits], environ={}).hosts["h"].vars["x"]
    for _ in range(MAX_NESTING - 4):
        (value,) = value
    assert value == [1]

    error = _error(_write(tmp_path / f"deep{suffix}", document(MAX_NESTING - 2)))
    assert error.source == str(tmp_path / f"deep{suffix}")
    assert error.line == 1
    assert f"mappings and lists nested more than {MAX_NESTING} levels deep" in error.reason


def test_an_ini_value_nested_past_the_limit_is_refused(tmp_path: Path) -> None:
    fits = _write(tmp_path / "fits.ini", f'h x="{_nested_list(MAX_NESTING)}"\n')
    assert load_inventory([fits], environ={}).hosts["h"].vars["x"] != ""
    error = _error(_write(tmp_path / "deep.ini", f'h x="{_nested_list(MAX_NESTING + 1)}"\n'))
    assert (error.line, error.key_path) == (1, "ungrouped.hosts.h.x")
    assert f"value nested more than {MAX_NESTING} levels deep" in error.reason


def _chain(levels: int) -> str:
    """g1 under all, g2 under g1 ... g<levels> holding host h."""
    lines = [f"[g{levels}]", "h"]
    for level in range(1, levels):
        lines += [f"[g{level}:children]", f"g{level + 1}"]
    return "\n".join(lines) + "\n"


def test_child_groups_nested_exactly_the_limit_load_and_one_more_is_refused(
    tmp_path: Path,
) -> None:
    fits = load_inventory([_write(tmp_path / "fits.ini", _chain(MAX_NESTING))], environ={})
    assert len(fits.hosts["h"].groups) == MAX_NESTING + 1  # every group of the chain, and all
    error = _error(_write(tmp_path / "deep.ini", _chain(MAX_NESTING + 1)))
    assert (error.line, error.key_path) == (2 * MAX_NESTING + 2, f"g{MAX_NESTING}.children.g101")
    assert error.reason == (
        f"group 'g101' is nested more than {MAX_NESTING} levels below 'all' "
        f"(here as a child of 'g{MAX_NESTING}')"
    )


def test_the_host_limit_counts_every_source_and_each_host_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loaders, "MAX_HOSTS", 5)
    first = _write(tmp_path / "a.ini", "a[1:3]\n")
    same = _write(tmp_path / "b.ini", "[web]\na[1:3]\nb1\nb2\n")  # a1..a3 again: 5 in all
    assert len(load_inventory([first, same], environ={})) == 5
    more = _write(tmp_path / "c.yml", "all:\n  hosts:\n    a1:\n    c1:\n")
    error = _error(first, same, more)
    assert (error.source, error.line, error.key_path) == (more, 4, "all.hosts.c1")
    assert "more than 5 hosts" in error.reason


def test_aliases_on_every_host_of_a_big_file_load_but_a_bomb_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yaml_loader, "MAX_ALIAS_NODES", 1000)
    hosts = "".join(f"    h{i}: {{<<: *d, port: {i + 1}}}\n" for i in range(300))
    merged = _write(
        tmp_path / "merged.yml",
        "all:\n  vars:\n    d: &d {a: 1, b: 2, c: [1, 2, 3]}\n  hosts:\n" + hosts,
    )  # 300 merges of 10 nodes: 3,000 added, under ten times the file's own nodes
    assert load_inventory([merged], environ={}).hosts["h299"].vars["c"] == [1, 2, 3]

    lines = ["all:", "  hosts:", "    h:", "  vars:", "    a: &a [x, x, x, x, x, x, x, x, x]"]
    for previous, name in zip("abc", "bcd", strict=True):
        lines.append(f"    {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    error = _error(_write(tmp_path / "laughs.yml", "\n".join(lines) + "\n"))
    assert error.line == 8  # d: 9**4 values, the first node past the allowance on its own
    assert "YAML aliases expand this file by" in error.reason


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    error = _error(_write(tmp_path / "loop.yml", "all:\n  vars:\n    x: &a {y: [1, *a]}\n"))
    assert (error.line, error.reason) == (
        3,
        "invalid YAML: an alias refers to the node it is inside",
    )


@pytest.mark.parametrize(
    ("files", "culprit", "line", "message"),
    [
        pytest.param(
            {"h.ini": "[a:children]\nb\n[b:children]\na\n"}, "h.ini", 4,
            "group 'a' cannot be a child of 'b': cycle b -> a -> b", id="two",
        ),
        pytest.param(
            {"h.ini": "[x:children]\ny\n[y:children]\nz\n[z:children]\nx\n"}, "h.ini", 6,
            "group 'x' cannot be a child of 'z': cycle z -> x -> y -> z", id="three",
        ),
        pytest.param(
            {"1.ini": "[top:children]\nx\n[x:children]\ny\n[y]\nh\n",
             "2.yml": "y:\n  children:\n    x:\n"}, "2.yml", 3,
            "group 'x' cannot be a child of 'y': cycle y -> x -> y", id="across-files",
        ),
    ],
)  # fmt: skip
def test_a_cycle_of_child_groups_is_reported_at_the_link_that_closed_it(
    tmp_path: Path, files: dict[str, str], culprit: str, line: int, message: str
) -> None:
    for name, text in files.items():
        _write(tmp_path / name, text)
    error = _error(str(tmp_path))
    assert (error.source, error.line, error.reason) == (str(tmp_path / culprit), line, message)
