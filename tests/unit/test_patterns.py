"""Ansible host patterns: unions, intersections, exclusions, globs, regexes, ranges, subscripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from remoteops.errors import PatternError
from remoteops.inventory import Group, Host, Inventory, load_inventory, split_pattern

DATA = Path(__file__).parent / "data"
EVERY = [
    "bastion",
    "2001:db8::1",
    "web01",
    "web02",
    "web03",
    "web04",
    "db1",
    "db2",
    "cobweb",
    "webbing",
    "weber",
    "node1",
    "node2",
]


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory([str(DATA / "patterns.yml")], environ={})


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # all hosts
        ("all", EVERY),
        ("*", EVERY),
        (" all ", EVERY),
        # names of hosts and groups
        ("bastion", ["bastion"]),
        ("web", ["web01", "web02", "web03", "web04"]),
        ("racks", ["node1", "node2"]),
        ("ungrouped", ["bastion", "2001:db8::1"]),
        # unions, in inventory order whatever the pattern's order
        ("db:web", ["web01", "web02", "web03", "web04", "db1", "db2"]),
        ("db,web", ["web01", "web02", "web03", "web04", "db1", "db2"]),
        ("db, web ,bastion", ["bastion", "web01", "web02", "web03", "web04", "db1", "db2"]),
        ("web01:web01:web", ["web01", "web02", "web03", "web04"]),
        # intersections and exclusions, applied after every union
        ("web:&prod", ["web01", "web02"]),
        ("web,&prod", ["web01", "web02"]),
        ("web:&prod:!web02", ["web01"]),
        ("web,&prod,!web02", ["web01"]),
        ("!web02:&prod:web", ["web01"]),
        ("web:db:&staging:!db2", ["web03", "web04"]),
        ("&prod:!db1", ["web01", "web02"]),
        ("!web:!db:!webservers:!racks", ["bastion", "2001:db8::1"]),
        # globs match group names and host names
        ("web0*", ["web01", "web02", "web03", "web04"]),
        ("web*", ["web01", "web02", "web03", "web04", "cobweb", "webbing", "weber"]),
        ("*web", ["web01", "web02", "web03", "web04", "cobweb"]),
        ("rack?", ["node1", "node2"]),
        ("db?:&prod", ["db1"]),
        ("*:!web*", ["bastion", "2001:db8::1", "db1", "db2", "node1", "node2"]),
        ("2001:db8::*,", ["2001:db8::1"]),  # a comma keeps the colons whole
        # regexes match from the start of names
        ("~web0[12]", ["web01", "web02"]),
        (r"~(db|node)\d", ["db1", "db2", "node1", "node2"]),
        ("~rack", ["node1", "node2"]),
        # host ranges expand to names (hosts or groups); in a pattern, with a dash
        ("node[1-2]", ["node1", "node2"]),
        ("web0[1-2]", ["web01", "web02"]),
        ("web[01-02]", ["web01", "web02"]),
        ("web[01-02,04]", ["web01", "web02", "web04"]),
        ("web[01-02,04],db1", ["web01", "web02", "web04", "db1"]),
        ("rack[1-2]", ["node1", "node2"]),
        ("web[01:10]", ["web02", "web03", "web04"]),  # a subscript: 'web' is a group
        ("web0[1-9]:&staging", ["web03", "web04"]),
        # a trailing subscript of a host's name (its only host), as Ansible reads it
        ("web01[0]", ["web01"]),
        ("web01[-1]", ["web01"]),
        ("web01[0:]", ["web01"]),
        # subscripts on groups, inclusive like Ansible's
        ("webservers[0]", ["cobweb"]),
        ("webservers[-1]", ["weber"]),
        ("webservers[0:1]", ["cobweb", "webbing"]),
        ("webservers[1:]", ["webbing", "weber"]),
        ("webservers[:1]", ["cobweb", "webbing"]),
        ("webservers[0:2]", ["cobweb", "webbing", "weber"]),
        ("webservers[1:1]", ["webbing"]),
        ("webservers[0]:webservers[-1]", ["cobweb", "weber"]),
        ("webservers[1]:db[0]", ["db1", "webbing"]),
        ("web*[0]", ["web01"]),
        ("all[-1]", ["node2"]),
        # after a glob, a bracket is a subscript of what the glob matches, as in Ansible
        ("web0*[2]", ["web03"]),
        ("*0?[1:2]", ["web02", "web03"]),
        ("*0?[-1]", ["web04"]),
        # ... unless it cannot be one: a glob character class
        ("web0[!1]", ["web02", "web03", "web04"]),
        ("*b[bei]*", ["webbing", "weber"]),
        # IPv6 and names with colons
        ("2001:db8::1", ["2001:db8::1"]),
        ("2001:db8::1,bastion", ["bastion", "2001:db8::1"]),
        ("[2001:db8::1]", ["2001:db8::1"]),
        ("[::1]", ["::1"]),
        # the implicit localhost
        ("localhost", ["localhost"]),
        ("::1", ["::1"]),
        ("bastion:localhost", ["bastion", "localhost"]),
    ],
)
def test_select(inventory: Inventory, pattern: str, expected: list[str]) -> None:
    assert [host.name for host in inventory.select(pattern)] == expected


def test_select_returns_the_inventory_hosts(inventory: Inventory) -> None:
    assert inventory.select("web01") == [inventory.hosts["web01"]]
    assert inventory.select("localhost")[0].protocol == "local"


@pytest.mark.parametrize(
    ("pattern", "message", "suggestions"),
    [
        ("wbe", "pattern 'wbe' matches no host or group", ("weber", "web")),
        ("web:wbe", "pattern 'wbe' matches no host or group", ("weber", "web")),
        ("web,prdo", "pattern 'prdo' matches no host or group", ("prod",)),
        ("web:&prdo", "pattern 'prdo' matches no host or group", ("prod",)),
        ("web:!web99", "pattern 'web99' matches no host or group", ("web", "weber", "web04")),
        ("rack3", "pattern 'rack3' matches no host or group", ("racks", "rack2", "rack1")),
        ("~^xyz", "pattern '~^xyz' matches no host or group", ()),
        ("nodes*", "pattern 'nodes*' matches no host or group", ("node2", "node1")),
        ("web[05-09]", "pattern 'web[05-09]' matches no host or group", ()),
        ("web:&db", "pattern 'web:&db' selects no host", ()),
        ("web:!web", "pattern 'web:!web' selects no host", ()),
        ("empty", "pattern 'empty' selects no host", ()),
        ("", "empty host pattern: use 'all' to select every host", ()),
        ("  ", "empty host pattern: use 'all' to select every host", ()),
        (", ,", "empty host pattern: use 'all' to select every host", ()),
        ("web:!", "pattern term '!' has no name after its operator", ()),
        ("webservers[3]", "pattern 'webservers[3]': index 3 is out of range (3 hosts)", ()),
        (
            "webservers[2:1]",
            "pattern 'webservers[2:1]': the slice starts at 2, after its end 1",
            (),
        ),
        ("webservers[3:]", "pattern 'webservers[3:]': index 3 is out of range (3 hosts)", ()),
        (
            "webservers[:]",
            "pattern 'webservers[:]': a slice needs a start or an end, as in [0:2]",
            (),
        ),
        # a trailing [N:M] is a subscript whether or not its base names a group (it was a
        # host range when no group had that name, a subscript when one had)
        (
            "node[1:2]",
            "pattern 'node[1:2]' is a subscript of 'node' (as Ansible reads it), which matches "
            "no host or group; for hosts node1 to node2 write node[1-2]",
            (),
        ),
        (
            "web0[1]",
            "pattern 'web0[1]' is a subscript of 'web0' (as Ansible reads it), which matches "
            "no host or group; for the host web01 write web01",
            (),
        ),
        ("web01[1]", "pattern 'web01[1]': index 1 is out of range (1 hosts)", ()),
        ("web[a:b:c]", "host range 'web[a:b:c]': step 'c' is not a positive integer", ()),
        ("web[1:10:0]", "host range 'web[1:10:0]': step '0' is not a positive integer", ()),
        ("web[1-5/0]", "host range 'web[1-5/0]': step '0' is not a positive integer", ()),
        ("node[3-1]", "host range 'node[3-1]': start 3 is after end 1", ()),
        (
            "node[1:]",
            "pattern 'node[1:]' is a subscript of 'node' (as Ansible reads it), which matches "
            "no host or group",
            (),
        ),
        (
            "web[1:",
            "pattern 'web[1:' has an unbalanced bracket: the '[' at character 4 is never closed",
            (),
        ),
        (
            "db,web[1:",
            "pattern 'db,web[1:' has an unbalanced bracket: the '[' at character 7 is never closed",
            (),
        ),
        (
            "web]",
            "pattern 'web]' has an unbalanced bracket: the ']' at character 4 closes no '['",
            (),
        ),
        (
            "*0[13]",
            "pattern '*0[13]' is a subscript of '*0' (as Ansible reads it), which matches no host "
            "or group; for names matching the characters in brackets write ~.*0[13]$",
            (),
        ),
        (
            "web0*[7]",
            "pattern 'web0*[7]': index 7 is out of range (4 hosts); for names matching the "
            "characters in brackets write ~web0.*[7]$",
            (),
        ),
        (
            "*0[1-3]",
            "pattern '*0[1-3]' is ambiguous: Ansible once read it as hosts 1 to 3 of '*0'; write "
            "*0[1:3] for that, or ~.*0[1-3]$ for names matching the characters in brackets",
            (),
        ),
        (
            "~web[",
            "pattern '~web[' is not a valid regex: unterminated character set at position 3",
            (),
        ),
    ],
)
def test_pattern_errors(
    inventory: Inventory, pattern: str, message: str, suggestions: tuple[str, ...]
) -> None:
    with pytest.raises(PatternError) as caught:
        inventory.select(pattern)
    assert caught.value.suggestions == suggestions
    expected = message + (f"; did you mean: {', '.join(suggestions)}?" if suggestions else "")
    assert str(caught.value).partition("; a host not in the inventory")[0] == expected


@pytest.mark.parametrize("name", ["web1", "db-2.example.com", "10.0.0.5", "fe80::1"])
def test_a_name_not_in_the_inventory_is_refused_with_how_to_give_ad_hoc_hosts(
    inventory: Inventory, name: str
) -> None:
    with pytest.raises(PatternError) as caught:
        inventory.select(name)
    assert str(caught.value).startswith(f"pattern {name!r} matches no host or group")
    assert f"a host not in the inventory is given as a list, as with ansible: -i '{name},'" in (
        str(caught.value)
    )


@pytest.mark.parametrize("pattern", ["nodes*", "~^xyz", "web[05-09]", "web:&db"])
def test_globs_regexes_and_ranges_get_no_ad_hoc_hint(inventory: Inventory, pattern: str) -> None:
    with pytest.raises(PatternError) as caught:
        inventory.select(pattern)
    assert "-i '" not in str(caught.value)


@pytest.mark.parametrize(
    ("pattern", "terms"),
    [
        ("a", ["a"]),
        ("a:b", ["a", "b"]),
        ("a,b", ["a", "b"]),
        (" a , b ,", ["a", "b"]),
        ("web:&prod:!web03", ["web", "&prod", "!web03"]),
        ("web[01:03]", ["web[01:03]"]),
        ("web[01:03]:db", ["web[01:03]", "db"]),
        ("web[1-3,7],db", ["web[1-3,7]", "db"]),
        ("2001:db8::1", ["2001:db8::1"]),
        ("[2001:db8::1]", ["[2001:db8::1]"]),
        ("a:b,c", ["a:b", "c"]),
        ("", []),
    ],
)
def test_split_pattern(pattern: str, terms: list[str]) -> None:
    assert split_pattern(pattern) == terms


def test_inventory_built_in_code_selects_like_a_loaded_one() -> None:
    hosts = [Host("a1", {}, ("app",)), Host("b1", {"protocol": "local"}, ("db",))]
    inventory = Inventory(hosts, [Group("app", ("a1",))])
    assert sorted(inventory.groups) == ["all", "app", "db"]
    assert [host.name for host in inventory.select("all")] == ["a1", "b1"]
    assert [host.name for host in inventory.select("db:app")] == ["a1", "b1"]
    assert inventory.group_hosts("all") == ["a1", "b1"]
    with pytest.raises(KeyError):
        inventory.group_hosts("nope")
