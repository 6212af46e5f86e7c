"""Command-line promises the rest of the suite left unguarded (see docs/reliability.md,
"Deliberate breaks"): ``hosts --vars`` masks every secret-looking variable that has a value,
and the summary colours only the counts that are not zero.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from cli_support import cli_env, json_lines, local_inventory, remoteops, run_on_terminal

MASK = "********"

#: One variable per secret word of remoteops/inventory/secrets.py, each with a value, in
#: the spellings inventories use; and what must stay visible next to them.
SECRETS = {
    "snmp_passkey": "value-of-pass",
    "App_Secret": "value-of-secret",
    "deploy_token": "value-of-token",
    "cloud_credential": "value-of-credential",
    "tls_private_key": "value-of-private-key",
    "maps_api_key": "value-of-api-key",
    "MAPS_APIKEY": "value-of-apikey",
    "aws_access_key": "value-of-access-key",
}
PLAIN = {"region": "eu-west"}


@pytest.fixture
def secrets_inventory(tmp_path: Path) -> str:
    path = tmp_path / "hosts.yml"
    host_vars = {**SECRETS, **PLAIN, "nested": {"token_of_child": "value-nested"}}
    path.write_text(json.dumps({"all": {"hosts": {"vault1": host_vars}}}))
    return str(path)


def test_hosts_vars_masks_every_secret_word_with_a_value(secrets_inventory: str) -> None:
    text = remoteops("hosts", "-i", secrets_inventory, "--vars")
    assert text.returncode == 0, text.stderr
    shown = text.stdout.decode()
    for value in [*SECRETS.values(), "value-nested"]:
        assert value not in shown
    lines = {ln.strip().partition(": ")[0]: ln.strip().partition(": ")[2] for ln in
             shown.splitlines()[1:]}  # fmt: skip
    assert {name: lines[name] for name in SECRETS} == dict.fromkeys(SECRETS, MASK)
    assert lines["region"] == "eu-west"

    as_json = remoteops("hosts", "-i", secrets_inventory, "--vars", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    (host,) = json_lines(as_json.stdout)
    assert host["vars"] == {
        **dict.fromkeys(SECRETS, MASK),
        "region": "eu-west",
        "nested": {"token_of_child": MASK},
    }


_ESCAPE = re.compile(rb"\x1b\[[0-9;]*m")


@pytest.mark.parametrize(
    ("command", "painted", "plain"),
    [
        pytest.param("true", [b"\x1b[32m2 ok"], [b"0 failed"], id="all-ok"),
        pytest.param("exit 3", [b"\x1b[31m2 failed"], [b"0 ok"], id="all-failed"),
        # the first host to make the folder succeeds, the other fails
        pytest.param("mkdir {once}", [b"\x1b[32m1 ok", b"\x1b[31m1 failed"], [], id="mixed"),
    ],
)
def test_the_summary_colours_only_counts_that_are_not_zero(
    tmp_path: Path, command: str, painted: list[bytes], plain: list[bytes]
) -> None:
    """On a terminal (colour on), a count of zero is plain text: a red "0 failed" reads as
    a failure at a glance."""
    inventory = local_inventory(tmp_path / "local.yml", ["one", "two"])
    command = command.format(once=tmp_path / "once")
    argv = [sys.executable, "-m", "remoteops", "run", "-i", str(inventory), command]
    code, written = run_on_terminal(argv, cli_env({"TERM": "xterm-256color"}, colour=True))
    assert code in (0, 1), written
    line = next(ln for ln in written.splitlines() if b"2 hosts" in _ESCAPE.sub(b"", ln))
    for count in painted:
        assert count in line, line
    for count in plain:
        assert count in line, line
        assert not re.search(_ESCAPE.pattern + re.escape(count), line), line
