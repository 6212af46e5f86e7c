"""Host ranges: Ansible and ClusterShell expansion, and folding names back for display."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remoteops.inventory import expand_hosts, expand_range, fold_hosts, split_hosts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web01.example.com", ["web01.example.com"]),
        ("web[01:03].example.com", ["web01.example.com", "web02.example.com", "web03.example.com"]),
        ("web[1:3]", ["web1", "web2", "web3"]),
        ("web[8:11]", ["web8", "web9", "web10", "web11"]),
        ("web[08:11]", ["web08", "web09", "web10", "web11"]),
        ("web[098:100]", ["web098", "web099", "web100"]),
        ("n[9:10]", ["n9", "n10"]),
        ("db-[a:d]", ["db-a", "db-b", "db-c", "db-d"]),
        ("db-[y:B]", ["db-y", "db-z", "db-A", "db-B"]),
        ("n[1:10:3]", ["n1", "n4", "n7", "n10"]),
        ("n[:2]", ["n0", "n1", "n2"]),
        ("web[01-03]", ["web01", "web02", "web03"]),
        ("web[1-3,7,10-12]", ["web1", "web2", "web3", "web7", "web10", "web11", "web12"]),
        ("web[1-7/3]", ["web1", "web4", "web7"]),
        ("web[07]", ["web07"]),
        ("web[1, 3]", ["web1", "web3"]),
        ("web[1,1-2]", ["web1", "web2"]),
        ("r[1-2]n[a:b]", ["r1na", "r1nb", "r2na", "r2nb"]),
        (
            "r[1-2]-[01:02].dc[1-2]",
            [f"r{r}-{n}.dc{d}" for r in (1, 2) for n in ("01", "02") for d in (1, 2)],
        ),
    ],
)
def test_expand_range(text: str, expected: list[str]) -> None:
    assert expand_range(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("web[3:1]", "start 3 is after end 1"),
        ("web[3-1]", "start 3 is after end 1"),
        ("db[f:a]", "start 'f' is after end 'a'"),
        ("web[1:c]", "must both be numbers or both single letters"),
        ("web[a-3]", "must both be numbers or both single letters"),
        ("web[aa:zz]", "must both be numbers or both single letters"),
        ("web[]", "empty range"),
        ("web[ ]", "empty range"),
        ("web[1,,2]", "empty item"),
        ("web[1:]", "no end bound"),
        ("web[1:3:0]", "step '0' is not a positive integer"),
        ("web[1:3:x]", "step 'x' is not a positive integer"),
        ("web[1:2:3:4]", "use [start:end] or [start:end:step]"),
        ("web[1:3", "unbalanced brackets"),
        ("web1:3]", "unbalanced brackets"),
        ("web[[1:3]]", "unbalanced brackets"),
        ("web[1.5]", "not a number, letter or range"),
        ("web[1:2000000]", "more than 100000 names"),
        ("a[1:100]b[1:100]c[1:11]", "more than 100000 names"),
    ],
)
def test_malformed_ranges_raise_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        expand_range(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ("names", "folded"),
    [
        (["web01", "web02", "web03", "web07", "db1"], "db1,web[01-03,07]"),
        (["web3", "web1", "web2"], "web[1-3]"),
        (["web9", "web10", "web11"], "web[9-11]"),
        (["web09", "web10"], "web[09-10]"),
        (["web1", "web01"], "web[1,01]"),
        (["n1.dc1", "n2.dc1", "n1.dc2"], "n1.dc[1-2],n2.dc1"),
        (["alpha", "beta", "alpha"], "alpha,beta"),
        (["web1"], "web1"),
        (["a[1]", "a,2", "x5"], "a,2,a[1],x5"),
        ([], ""),
    ],
)
def test_fold_hosts(names: list[str], folded: str) -> None:
    assert fold_hosts(names) == folded


def test_split_hosts_keeps_commas_inside_brackets() -> None:
    assert split_hosts("db1,web[01-03,07],,x") == ["db1", "web[01-03,07]", "x"]
    assert expand_hosts("db1,web[01-03,07]") == ["db1", "web01", "web02", "web03", "web07"]


_PLAIN = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="[],"),
    min_size=1,
    max_size=10,
)
_NUMBERED = st.builds(
    lambda prefix, number, width, suffix: f"{prefix}{number:0{width}d}{suffix}",
    st.text(alphabet="abw-.", max_size=3),
    st.integers(min_value=0, max_value=120),
    st.integers(min_value=1, max_value=4),
    st.text(alphabet="xyz.-", max_size=3),
)


@given(st.sets(st.one_of(_PLAIN, _NUMBERED), max_size=40))
def test_fold_then_expand_gives_back_the_names(names: set[str]) -> None:
    folded = fold_hosts(names)
    expanded = [name for item in split_hosts(folded) for name in expand_range(item)]
    assert set(expanded) == names
    assert len(expanded) == len(names)
    assert fold_hosts(sorted(names, reverse=True)) == folded


_AFFIX = st.text(alphabet="abc-.xyz", max_size=4)


@given(
    prefix=_AFFIX,
    suffix=_AFFIX,
    start=st.integers(min_value=0, max_value=300),
    count=st.integers(min_value=1, max_value=60),
    step=st.integers(min_value=1, max_value=4),
    extra_width=st.integers(min_value=0, max_value=2),
    clustershell=st.booleans(),
)
def test_expanded_range_has_the_right_length_and_padding(
    *,
    prefix: str,
    suffix: str,
    start: int,
    count: int,
    step: int,
    extra_width: int,
    clustershell: bool,
) -> None:
    end = start + count - 1
    width = len(str(end)) + extra_width
    first, last = f"{start:0{width}d}", f"{end:0{width}d}"
    body = f"{first}-{last}/{step}" if clustershell else f"{first}:{last}:{step}"
    names = expand_range(f"{prefix}[{body}]{suffix}")
    numbers = range(start, end + 1, step)
    assert len(names) == len(numbers)
    middles = [name[len(prefix) : len(name) - len(suffix)] for name in names]
    assert all(name.startswith(prefix) and name.endswith(suffix) for name in names)
    assert [int(middle) for middle in middles] == list(numbers)
    padded = len(first) > 1 and first.startswith("0")
    expected = [f"{n:0{width}d}" if padded else str(n) for n in numbers]
    assert middles == expected
