"""The netns playground's neighbour (ARP) table sizing: past about 500 hosts on one bridge the
kernel's default limits overflow and half the hosts time out, whatever the client."""

from __future__ import annotations

import pytest

from remoteops.playground._model import PlaygroundError
from remoteops.playground._network import neighbour_limits_for

_DEFAULTS = (128, 512, 1024)


def test_a_small_playground_keeps_the_defaults() -> None:
    assert neighbour_limits_for(100, _DEFAULTS) == _DEFAULTS
    assert neighbour_limits_for(256, _DEFAULTS) == _DEFAULTS
    assert neighbour_limits_for(0, _DEFAULTS) == _DEFAULTS


def test_past_half_the_soft_limit_the_table_grows() -> None:
    assert neighbour_limits_for(300, _DEFAULTS) == (428, 1112, 2224)


def test_a_thousand_hosts_fit_below_every_threshold() -> None:
    low, soft, hard = neighbour_limits_for(1000, _DEFAULTS)
    assert 1000 < low < soft < hard  # every host's entry kept, garbage collection left alone
    assert soft >= 2 * 1000


def test_limits_already_higher_are_never_lowered() -> None:
    assert neighbour_limits_for(10, (4096, 8192, 16384)) == (4096, 8192, 16384)
    assert neighbour_limits_for(3000, (4096, 8192, 16384)) == (4096, 8192, 16384)
    assert neighbour_limits_for(5000, (4096, 8192, 16384)) == (5128, 10512, 21024)


def test_more_hosts_than_the_bridge_holds_are_refused_before_anything_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from remoteops.playground import _network

    monkeypatch.setattr(_network, "_attached", lambda: 1020)  # other playgrounds' hosts
    made: list[object] = []
    monkeypatch.setattr(_network, "run", lambda *a, **k: made.append(a))
    with pytest.raises(PlaygroundError, match="room for 4 more hosts, not 5"):
        _network.create_namespaces([(f"ns{i}", f"veth{i}") for i in range(5)])
    assert made == []  # no namespace, no veth: "Exchange full" would come halfway through
