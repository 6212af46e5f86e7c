"""Root-only plumbing for netns mode: the bridge, namespaces, veth pairs, nftables and leases.

The bridge ``ropg0`` and the 10.203.0.0/16 range are shared by every netns playground on the
machine, so each playground holds a *lease* (``/run/remoteops-playground/<id>/lease.json``) on
the namespaces and address blocks it uses, taken under one machine-wide lock. A lease whose
state file is gone, whose owner process has exited, or whose namespaces have all vanished is
stale and is reaped by the next ``up`` or ``down``; the bridge goes when the last lease does.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._model import (
    BRIDGE,
    BRIDGE_ADDRESS,
    NFT_TABLE,
    RUN_ROOT,
    SUBNET,
    PlaygroundError,
)
from ._system import ProcessInfo, atomic_write, owner_alive, processes, run

log = logging.getLogger("remoteops.playground")

_NETNS_DIR = Path("/run/netns")
_LEASE_FILE = "lease.json"
#: Hosts per third-octet block: host i of a block is 10.203.<block>.<i>, i from 1.
BLOCK_SIZE = 250


@dataclass(frozen=True)
class Lease:
    """What one netns playground holds on the machine-wide resources."""

    lease_dir: Path
    state_dir: Path
    owner: tuple[int, int] | None
    namespaces: tuple[str, ...]
    blocks: tuple[int, ...]

    def save(self) -> None:
        data: dict[str, Any] = {
            "state_dir": str(self.state_dir),
            "owner": list(self.owner) if self.owner else None,
            "namespaces": list(self.namespaces),
            "blocks": list(self.blocks),
        }
        self.lease_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        atomic_write(self.lease_dir / _LEASE_FILE, json.dumps(data, indent=1) + "\n")

    @property
    def stale(self) -> bool:
        if not (self.state_dir / "state.json").exists():
            return True
        if not owner_alive(self.owner):
            return True
        return bool(self.namespaces) and not any(namespace_alive(ns) for ns in self.namespaces)


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    """Serialise every up/down on the machine: they share the bridge and address range."""
    RUN_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(RUN_ROOT / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_lease(directory: Path) -> Lease | None:
    """The lease kept in ``directory``; an unreadable one is a stale lease on nothing."""
    path = directory / _LEASE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        owner = data.get("owner")
        return Lease(
            lease_dir=directory,
            state_dir=Path(data["state_dir"]),
            owner=(int(owner[0]), int(owner[1])) if owner else None,
            namespaces=tuple(str(ns) for ns in data.get("namespaces", ())),
            blocks=tuple(int(b) for b in data.get("blocks", ())),
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return Lease(directory, directory / "unreadable", None, (), ())


def read_leases() -> list[Lease]:
    """Every lease on the machine."""
    if not RUN_ROOT.is_dir():
        return []
    leases = (read_lease(entry) for entry in sorted(RUN_ROOT.iterdir()) if entry.is_dir())
    return [lease for lease in leases if lease is not None]


def allocate_blocks(count: int, taken: Iterable[int]) -> tuple[int, ...]:
    """Enough free third-octet blocks for ``count`` hosts (block 0 holds the bridge)."""
    needed = -(-count // BLOCK_SIZE)
    used = set(taken)
    free = [block for block in range(1, 255) if block not in used][:needed]
    if len(free) < needed:
        raise PlaygroundError("the 10.203.0.0/16 playground range is full: bring one down first")
    return tuple(free)


def host_address(blocks: Sequence[int], index: int) -> str:
    """Address of the ``index``-th host (from 0) inside the leased blocks."""
    block = blocks[index // BLOCK_SIZE]
    return str(SUBNET.network_address + block * 256 + index % BLOCK_SIZE + 1)


def existing_namespaces(prefix: str) -> set[str]:
    """Named network namespaces whose name starts with ``prefix``."""
    try:
        return {name for name in os.listdir(_NETNS_DIR) if name.startswith(prefix)}
    except OSError:
        return set()


def namespace_alive(name: str) -> bool:
    """Whether ``/run/netns/<name>`` is a mounted namespace, not a file left after a reboot."""
    try:
        return os.stat(_NETNS_DIR / name).st_dev == os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return False


def namespace_pids(names: Iterable[str], table: Sequence[ProcessInfo] | None = None) -> set[int]:
    """Every process running inside any of the named network namespaces."""
    keys: set[tuple[int, int]] = set()
    for name in names:
        with contextlib.suppress(OSError):
            st = os.stat(_NETNS_DIR / name)
            keys.add((st.st_dev, st.st_ino))
    if not keys:
        return set()
    return {info.pid for info in (processes() if table is None else table) if info.netns in keys}


def interface_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def check_range_free() -> None:
    """Refuse to create the bridge if any route on the machine already covers our range."""
    proc = run(["ip", "-j", "-4", "route", "show", "table", "all"])
    for route in json.loads(proc.stdout or "[]"):
        dst = route.get("dst", "default")
        if dst == "default" or route.get("dev") == BRIDGE:
            continue
        try:
            network = ipaddress.IPv4Network(dst, strict=False)
        except ValueError:
            continue
        if network.overlaps(SUBNET):
            via = route.get("dev") or route.get("type") or "?"
            raise PlaygroundError(
                f"{SUBNET} is already routed on this machine ({dst} via {via}): the netns "
                "playground needs that range; free it or use mode='loopback'"
            )


def ensure_bridge() -> None:
    """Create ``ropg0`` with the gateway address, so the root namespace routes to every host."""
    if not interface_exists(BRIDGE):
        check_range_free()
        run(
            ["ip", "-batch", "-"],
            stdin=f"link add {BRIDGE} type bridge\n"
            f"addr add {BRIDGE_ADDRESS}/{SUBNET.prefixlen} dev {BRIDGE}\n"
            f"link set {BRIDGE} up\n",
        )
        # Keep IPv6 router solicitations and the like off the bridge: hosts are IPv4 only.
        with contextlib.suppress(OSError):
            Path(f"/proc/sys/net/ipv6/conf/{BRIDGE}/disable_ipv6").write_text("1\n")
        return
    addrs = run(["ip", "-j", "-4", "addr", "show", "dev", BRIDGE]).stdout
    links = json.loads(addrs or "[]")
    present = {info.get("local") for link in links for info in link.get("addr_info", ())}
    if BRIDGE_ADDRESS not in present:
        run(["ip", "addr", "add", f"{BRIDGE_ADDRESS}/{SUBNET.prefixlen}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def remove_bridge() -> None:
    if interface_exists(BRIDGE):
        run(["ip", "link", "del", BRIDGE], check=False)


#: Ports a Linux bridge holds (BR_MAX_PORTS); one more fails "Exchange full".
_BRIDGE_PORTS = 1024


def _attached() -> int:
    """Hosts (veths) on the bridge now, of every playground."""
    try:
        return len(list(Path(f"/sys/class/net/{BRIDGE}/brif").iterdir()))
    except OSError:
        return 0


#: The kernel's neighbour (ARP) table limits, shared by every namespace's bridge.
_NEIGH = Path("/proc/sys/net/ipv4/neigh/default")


def neighbour_limits_for(hosts: int, current: Sequence[int]) -> tuple[int, int, int]:
    """gc_thresh1/2/3 big enough for ``hosts`` addresses on the bridge, never lower than now.

    The defaults (128/512/1024) overflow past about 500 hosts on one bridge: the kernel logs
    "neighbor table overflow", drops entries, and half the hosts time out whatever the client.
    Each host needs one entry; the room above that keeps the garbage collector off them.
    """
    if 2 * hosts <= current[1]:  # room to spare: the machine's settings stay as they are
        return (current[0], current[1], current[2])
    wanted = (hosts + 128, 2 * hosts + 512, 4 * hosts + 1024)
    return (
        max(wanted[0], current[0]),
        max(wanted[1], current[1]),
        max(wanted[2], current[2]),
    )


def size_neighbour_table(new_hosts: int) -> tuple[int, int, int] | None:
    """Raise the neighbour table limits for the hosts on the bridge after ``new_hosts`` join;
    the limits set, or None when they were big enough (they are never lowered)."""
    names = ("gc_thresh1", "gc_thresh2", "gc_thresh3")
    try:
        current = tuple(int((_NEIGH / name).read_text()) for name in names)
    except (OSError, ValueError):
        return None
    attached = _attached()
    wanted = neighbour_limits_for(attached + new_hosts, current)
    if wanted == current:
        return None
    for name, value in sorted(zip(names, wanted, strict=True), key=lambda nv: -nv[1]):
        (_NEIGH / name).write_text(f"{value}\n")  # largest first: thresh1 <= 2 <= 3 throughout
    return wanted


def create_namespaces(links: Sequence[tuple[str, str]], addresses: Sequence[str] = ()) -> None:
    """Create each (namespace, veth) pair in one ``ip -batch``: the inside end is ``eth0``.

    ``addresses`` are those the new hosts will have: a gone host's MAC for one of them is
    forgotten. Only theirs: flushing the whole bridge dropped the packets other playgrounds'
    connections had waiting for an answer, and those connections failed "No route to host".
    """
    room = _BRIDGE_PORTS - _attached()
    if len(links) > room:
        raise PlaygroundError(
            f"the {BRIDGE} bridge has room for {max(room, 0)} more hosts, not {len(links)}: a "
            f"Linux bridge holds {_BRIDGE_PORTS} ports, shared by every netns playground on "
            "this machine; bring one down first"
        )
    raised = size_neighbour_table(len(links))
    if raised is not None:
        log.warning(
            "raised net.ipv4.neigh.default.gc_thresh1/2/3 to %d/%d/%d for the hosts on %s "
            "(the kernel's defaults overflow past about 500 hosts)",
            *raised,
            BRIDGE,
        )
    lines = []
    for netns, veth in links:
        lines.append(f"netns add {netns}")
        lines.append(f"link add {veth} type veth peer name eth0 netns {netns}")
        lines.append(f"link set {veth} master {BRIDGE} up")
    run(["ip", "-batch", "-"], stdin="\n".join(lines) + "\n", timeout=120)
    forget = [f"neigh flush to {address} dev {BRIDGE}" for address in addresses]
    if forget:  # addresses are reused across playgrounds: forget MACs of hosts that have gone
        run(["ip", "-batch", "-"], stdin="\n".join(forget) + "\n", timeout=120, check=False)


def configure_inside(netns: str, address: str) -> None:
    """Give the namespace its address and bring its interfaces up."""
    run(
        ["ip", "-n", netns, "-batch", "-"],
        stdin=f"addr add {address}/{SUBNET.prefixlen} dev eth0\nlink set eth0 up\nlink set lo up\n",
    )


def delete_namespaces(names: Iterable[str], veths: Iterable[str]) -> None:
    """Delete veths (synchronously, so the names are free again at once) and namespaces."""
    lines = [f"link del {veth}" for veth in veths if interface_exists(veth)]
    lines += [f"netns del {ns}" for ns in names if (_NETNS_DIR / ns).exists()]
    if lines:
        run(["ip", "-force", "-batch", "-"], stdin="\n".join(lines) + "\n", check=False)


def set_blackhole(netns: str, port: int, *, enabled: bool) -> None:
    """Add or remove the nftables table that silently drops TCP to ``port`` in ``netns``."""
    rules = f"table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n"
    if enabled:
        rules += (
            f"table inet {NFT_TABLE} {{\n"
            "  chain input {\n"
            "    type filter hook input priority filter; policy accept;\n"
            f"    tcp dport {port} drop\n"
            "  }\n"
            "}\n"
        )
    run(["ip", "netns", "exec", netns, "nft", "-f", "-"], stdin=rules)
