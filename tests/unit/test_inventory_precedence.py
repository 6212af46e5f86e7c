"""Variable precedence: host > child group > parent group > all, as in Ansible."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from remoteops.inventory import Inventory, load_inventory

YAML = """\
all:
  vars: {level: all, a: all, b: all, c: all}
  children:
    parent:
      vars: {level: parent, b: parent, c: parent}
      children:
        child:
          vars: {level: child, c: child}
          hosts:
            h1: {level: host}
            h2:
    alpha:
      vars: {same_depth: alpha}
      hosts: {h1: , h2: }
    beta:
      vars: {same_depth: beta}
      hosts: {h1: }
    zeta:
      vars: {depth_wins: zeta}
      hosts: {h1: }
    parent2:
      children:
        aaa:
          vars: {depth_wins: aaa}
          hosts: {h1: }
"""

INI = """\
[child]
h1 level=host
h2

[child:vars]
level=child
c=child

[parent:children]
child

[parent:vars]
level=parent
b=parent
c=parent

[alpha]
h1
h2

[alpha:vars]
same_depth=alpha

[beta]
h1

[beta:vars]
same_depth=beta

[zeta]
h1

[zeta:vars]
depth_wins=zeta

[parent2:children]
aaa

[aaa]
h1

[aaa:vars]
depth_wins=aaa

[all:vars]
level=all
a=all
b=all
c=all
"""


@pytest.fixture(params=["yaml", "ini"])
def inventory(request: pytest.FixtureRequest, tmp_path: Path) -> Inventory:
    name, text = ("hosts.yml", YAML) if request.param == "yaml" else ("hosts.ini", INI)
    (tmp_path / name).write_text(text)
    return load_inventory([str(tmp_path / name)], environ={}, cwd=tmp_path)


def test_host_beats_child_beats_parent_beats_all(inventory: Inventory) -> None:
    assert inventory.hosts["h1"].vars == {
        "level": "host",
        "a": "all",
        "b": "parent",
        "c": "child",
        "same_depth": "beta",
        "depth_wins": "aaa",
    }
    assert inventory.hosts["h2"].vars == {
        "level": "child",
        "a": "all",
        "b": "parent",
        "c": "child",
        "same_depth": "alpha",
    }


def test_host_groups_include_ancestors_sorted(inventory: Inventory) -> None:
    assert inventory.hosts["h1"].groups == (
        "aaa",
        "all",
        "alpha",
        "beta",
        "child",
        "parent",
        "parent2",
        "zeta",
    )
    assert inventory.hosts["h2"].groups == ("all", "alpha", "child", "parent")
    assert inventory.group_hosts("parent") == ["h1", "h2"]
    assert inventory.group_hosts("all") == ["h1", "h2"]


def test_group_priority_orders_groups_of_the_same_depth(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text(
        textwrap.dedent(
            """\
            all:
              children:
                alpha:
                  vars: {x: alpha, ansible_group_priority: 10}
                  hosts: {h: }
                beta:
                  vars: {x: beta}
                  hosts: {h: }
            """
        )
    )
    inventory = load_inventory([str(tmp_path / "hosts.yml")], environ={}, cwd=tmp_path)
    assert inventory.hosts["h"].vars == {"x": "alpha"}
    assert inventory.groups["alpha"].priority == 10
    assert inventory.groups["alpha"].vars == {"x": "alpha"}


def test_depth_is_the_longest_chain_from_all(tmp_path: Path) -> None:
    # 'deep' is a child of 'top' and of 'mid' (itself under 'top'): depth 3, so it beats 'mid'.
    (tmp_path / "hosts.ini").write_text(
        "[top:children]\nmid\ndeep\n[mid:children]\ndeep\n[deep]\nh\n"
        "[mid:vars]\ny=mid\n[deep:vars]\ny=deep\n"
    )
    inventory = load_inventory([str(tmp_path / "hosts.ini")], environ={}, cwd=tmp_path)
    assert inventory.hosts["h"].vars == {"y": "deep"}
