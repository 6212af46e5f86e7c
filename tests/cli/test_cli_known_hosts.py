"""Unreadable known_hosts lines against real sshd hosts: skipped with one warning, as OpenSSH.

A corrupt line (here bad base64: "Incorrect padding") must neither break the host it names nor
hide the good lines after it; the CLI says which file and line it skipped, once.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from cli_support import by_host, remoteops, write_inventory

from remoteops.playground import PlaygroundState
from remoteops.transports.known_hosts import host_key_name

#: A key field whose base64 cannot be decoded (OpenSSH: "invalid key"; Python: padding).
BAD_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAI"


def _inventory_with_known_hosts(playground: PlaygroundState, tmp_path: Path, text: str) -> Path:
    known = tmp_path / "known_hosts"
    known.write_text(text)
    data = yaml.safe_load(playground.inventory_path.read_text())
    data["all"]["children"]["playground"]["vars"]["known_hosts_file"] = str(known)
    return write_inventory(tmp_path / "inventory.yml", data)


def _key_line(playground: PlaygroundState, name: str) -> str:
    """The playground's own known_hosts line for ``name``'s address."""
    host = next(h for h in playground.hosts if h.name == name)
    wanted = host_key_name(host.address, host.port) + " "
    return next(
        line for line in playground.known_hosts_path.read_text().splitlines()
        if line.startswith(wanted)
    )  # fmt: skip


def test_a_corrupt_line_is_skipped_with_one_warning_and_the_good_key_still_counts(
    playground: PlaygroundState, names: list[str], tmp_path: Path
) -> None:
    good = _key_line(playground, names[0])
    target, key_type, _ = good.split()
    inventory = _inventory_with_known_hosts(
        playground, tmp_path, f"# first line\n{target} {key_type} {BAD_KEY}\n{good}\n"
    )
    run = remoteops(
        "run", "-i", str(inventory), "-H", ",".join(names[:2]), "-o", "json", "true",
        env={"HOME": str(tmp_path)},
    )  # fmt: skip
    results = by_host(run.stdout)
    assert results[names[0]]["status"] == "ok", results
    assert results[names[1]]["status"] == "hostkey"  # its key is not in this file at all
    assert run.returncode == 3
    stderr = run.stderr.decode()
    where = f"{tmp_path / 'known_hosts'}:2:"
    assert stderr.count(where) == 1, stderr  # two hosts looked the file up: one warning
    assert f"WARNING: {where} key is not valid base64" in stderr


def test_a_host_with_only_a_corrupt_line_has_an_unknown_key_not_an_internal_error(
    playground: PlaygroundState, names: list[str], tmp_path: Path
) -> None:
    target, key_type, _ = _key_line(playground, names[0]).split()
    inventory = _inventory_with_known_hosts(
        playground, tmp_path, f"{target} {key_type} {BAD_KEY}\n"
    )
    run = remoteops(
        "run", "-i", str(inventory), "-H", names[0], "-o", "json", "true",
        env={"HOME": str(tmp_path)},
    )  # fmt: skip
    (result,) = by_host(run.stdout).values()
    assert result["status"] == "hostkey", result
    assert "unknown host key" in result["error"]
    assert run.returncode == 3
    assert run.stderr.decode().count(f"{tmp_path / 'known_hosts'}:1:") == 1
