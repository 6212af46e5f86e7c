"""The Playground: bring a fleet of local sshd hosts up, break them on purpose, tear them down."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ._files import HostRecord, StateRecord, known_hosts_line, render_inventory
from ._model import (
    MAX_HOSTS,
    MAX_NAME_LENGTH,
    NETNS_PREFIX,
    RUN_ROOT,
    VETH_PREFIX,
    Mode,
    ModeChoice,
    PlaygroundError,
    PlaygroundHost,
    PlaygroundState,
)
from ._network import (
    Lease,
    allocate_blocks,
    configure_inside,
    create_namespaces,
    delete_namespaces,
    ensure_bridge,
    existing_namespaces,
    host_address,
    machine_lock,
    namespace_pids,
    read_lease,
    read_leases,
    remove_bridge,
    set_blackhole,
)
from ._sshd import (
    HostFiles,
    SshdExitedError,
    ensure_privsep_dir,
    keygen,
    prepare,
    render_etc_hosts,
    start,
)
from ._sudo import ensure_sudo_user, remove_sudoers
from ._system import (
    atomic_write,
    descendants,
    find_tool,
    pid_alive,
    proc_start_time,
    proc_state,
    processes,
    run,
    terminate,
    wait_state,
)

#: Files ``up`` creates in the state dir, and so the only ones ``down`` deletes there.
_STATE_FILES = (
    "state.json",
    "inventory.yml",
    "known_hosts",
    "client_key",
    "client_key.pub",
    "sudo_password",
)
#: What a namespace of ours is called; anything else is never deleted or entered.
_OUR_NAMESPACE = re.compile(rf"{re.escape(NETNS_PREFIX)}[A-Za-z0-9-]{{1,{MAX_NAME_LENGTH}}}")
#: Hosts started at once; the work is mostly waiting on subprocesses, not CPU.
_START_WORKERS = 32
#: Attempts per loopback host: a free port can be taken between choosing it and sshd's bind.
_PORT_ATTEMPTS = 3


def default_state_dir() -> Path:
    """$REMOTEOPS_PLAYGROUND_DIR, else $XDG_STATE_HOME/remoteops/playground, else ~/.local/state."""
    explicit = os.environ.get("REMOTEOPS_PLAYGROUND_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "remoteops" / "playground"


def _is_root() -> bool:
    return os.geteuid() == 0


def _netns_works() -> bool:
    if not _is_root() or shutil.which("ip") is None or shutil.which("unshare") is None:
        return False
    probe = run(["unshare", "--net", "true"], check=False)
    return probe.returncode == 0 and run(["ip", "netns", "list"], check=False).returncode == 0


def _resolve_mode(mode: ModeChoice) -> Mode:
    if mode == "loopback":
        return "loopback"
    if mode == "auto":
        return "netns" if _netns_works() else "loopback"
    if mode != "netns":
        raise PlaygroundError(f"unknown playground mode {mode!r}: use auto, netns or loopback")
    if not _is_root():
        raise PlaygroundError(
            "netns mode needs root (namespaces, a bridge, veth pairs): run as root or use "
            "mode 'loopback'"
        )
    if not _netns_works():
        raise PlaygroundError(
            "network namespaces do not work here (`unshare --net true` or `ip netns` failed): "
            "use mode 'loopback'"
        )
    return "netns"


def _free_ports(count: int) -> list[int]:
    """Distinct free ports on 127.0.0.1: every socket stays bound until all are chosen."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


class Playground:
    """A fleet of local sshd hosts to run remoteops against, described by files in a state dir.

    Lifecycle: constructing one does no I/O. ``up`` always starts from scratch: it first tears
    down whatever this state dir held (never reusing it, so keys and ports are fresh), then
    starts every host concurrently and returns once each has sent its SSH banner. Every other
    method works from the state file, so any process (the CLI, a test) can inspect, break,
    repair or remove a playground that another process started. ``down`` is idempotent and
    also cleans up after an ``up`` that died half-way.

    Modes: *netns* (root) gives each host a network namespace ``ropg-<name>`` on the bridge
    ``ropg0`` with its own 10.203.x.y address, hostname, /root and /tmp; *loopback* runs one
    sshd per host on 127.0.0.1 with its own port, logging in as the invoking user.
    """

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self.inventory_path = self.state_dir / "inventory.yml"
        self.known_hosts_path = self.state_dir / "known_hosts"
        self.client_key_path = self.state_dir / "client_key"
        self.sudo_password_path = self.state_dir / "sudo_password"
        self._state_file = self.state_dir / "state.json"
        self._record_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Playground({str(self.state_dir)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    def up(
        self,
        count: int = 5,
        *,
        mode: ModeChoice = "auto",
        prefix: str = "pg",
        owner_pid: int | None = None,
    ) -> PlaygroundState:
        """Start ``count`` hosts named ``<prefix>01``... and write inventory and known_hosts.

        ``owner_pid`` ties the playground to a process (a test session): once that process
        has exited, the next ``up`` or ``down`` of any netns playground reaps this one, so a
        crashed run never leaves hosts holding names and addresses.
        """
        width = max(2, len(str(count)))
        if not 1 <= count <= MAX_HOSTS:
            raise PlaygroundError(f"a playground has 1 to {MAX_HOSTS} hosts, not {count}")
        if not (prefix[:1].isalpha() and prefix.isascii() and prefix.replace("-", "").isalnum()):
            raise PlaygroundError(f"host name prefix {prefix!r}: use letters, digits and '-'")
        if len(prefix) + width > MAX_NAME_LENGTH:
            raise PlaygroundError(
                f"host names must fit in {MAX_NAME_LENGTH} characters (interface names are "
                f"limited to 15): shorten the prefix {prefix!r}"
            )
        resolved = _resolve_mode(mode)
        sshd = find_tool("sshd", "openssh-server")
        find_tool("ssh-keygen", "openssh-client")
        if _is_root():
            find_tool("unshare", "util-linux")
        owner: list[int] | None = None
        if owner_pid is not None:
            started = proc_start_time(owner_pid)
            if started is None:
                raise PlaygroundError(f"owner process {owner_pid} is not running")
            owner = [owner_pid, started]
        names = [f"{prefix}{i:0{width}d}" for i in range(1, count + 1)]
        with self._machine_lock():
            self._teardown(reap=True)
            try:
                record = self._build(names, resolved, prefix, owner, sshd)
            except BaseException:
                with contextlib.suppress(PlaygroundError, OSError):
                    self._teardown(reap=False, own_files=True)
                raise
        return self._state_of(record)

    def down(self) -> None:
        """Remove every process, namespace, lease and file this playground made; idempotent."""
        with self._machine_lock():
            self._teardown(reap=True)

    def status(self) -> PlaygroundState | None:
        """The recorded playground with each host's liveness checked, or None if none is up."""
        record = StateRecord.load(self._state_file)
        return None if record is None else self._state_of(record)

    # -- breaking hosts on purpose ---------------------------------------------------------

    def pause(self, host: str) -> None:
        """SIGSTOP the host's sshd: TCP connects still succeed, but no banner ever comes."""
        pid = self._running_pid(host)
        os.kill(pid, signal.SIGSTOP)
        wait_state(pid, "T", present=True)

    def resume(self, host: str) -> None:
        """SIGCONT a paused host's sshd; it then answers the connections that queued up."""
        pid = self._running_pid(host)
        os.kill(pid, signal.SIGCONT)
        wait_state(pid, "T", present=False)

    def stop_host(self, host: str) -> None:
        """Kill the host's sshd and its sessions, like a crashed host; no-op if already down."""
        with self._record_lock:
            record, rec, files = self._lookup(host)
            if pid_alive(rec.pid, str(files.config)) and rec.pid is not None:
                terminate(descendants([rec.pid], processes()))
            rec.pid = None
            record.save(self._state_file)

    def start_host(self, host: str) -> None:
        """Start a stopped host again, with the same host key; no-op if it is running."""
        with self._record_lock:
            record, rec, files = self._lookup(host)
            if pid_alive(rec.pid, str(files.config)):
                return
            ensure_privsep_dir()
            port = rec.port
            self._start_host(record, rec, find_tool("sshd", "openssh-server"), new=False)
            record.save(self._state_file)
            if rec.port != port:
                self._write_client_files(record)

    def blackhole(self, host: str) -> None:
        """netns mode: drop all TCP to the host's sshd port, so connecting times out."""
        self._set_blackhole(host, enabled=True)

    def unblackhole(self, host: str) -> None:
        """Undo :meth:`blackhole`; no-op if the host was not blackholed."""
        self._set_blackhole(host, enabled=False)

    def regenerate_host_key(self, host: str, *, update_known_hosts: bool = False) -> str:
        """Give the host a new key and restart it; returns the new public key line.

        known_hosts keeps the old key unless ``update_known_hosts``, so clients see a changed
        host key and must refuse it; :meth:`refresh_known_hosts` trusts the new keys later.
        """
        with self._record_lock:
            _, rec, files = self._lookup(host)
        self.stop_host(host)
        keygen(files.host_key, f"root@{rec.name}")
        self.start_host(host)
        if update_known_hosts:
            self.refresh_known_hosts()
        return files.host_pubkey.read_text().strip()

    def refresh_known_hosts(self) -> None:
        """Rewrite known_hosts (and the inventory) from the hosts' current keys and ports."""
        with self._record_lock:
            record = self._load()
            self._write_client_files(record)

    # -- internals -------------------------------------------------------------------------

    def _runtime_dir(self) -> Path:
        """Where sshd files live. As root: under /run, since each host hides the real /root
        (where the default state dir is) and the sudo user must read authorized_keys."""
        if _is_root():
            key = hashlib.sha256(os.fsencode(os.path.abspath(self.state_dir))).hexdigest()
            return RUN_ROOT / key[:12]
        return self.state_dir / "run"

    @contextlib.contextmanager
    def _machine_lock(self) -> Iterator[None]:
        if _is_root():
            with machine_lock():
                yield
        else:
            yield

    def _files(self, record: StateRecord, rec: HostRecord) -> HostFiles:
        directory = Path(record.runtime_dir) / "hosts" / rec.name
        return HostFiles(rec.name, rec.address, rec.port, rec.netns, directory)

    def _load(self) -> StateRecord:
        record = StateRecord.load(self._state_file)
        if record is None:
            raise PlaygroundError(f"no playground is up in {self.state_dir}")
        return record

    def _lookup(self, host: str) -> tuple[StateRecord, HostRecord, HostFiles]:
        record = self._load()
        rec = record.host(host)
        if rec is None:
            known = ", ".join(h.name for h in record.hosts)
            raise PlaygroundError(f"no playground host named {host!r} (hosts: {known})")
        return record, rec, self._files(record, rec)

    def _running_pid(self, host: str) -> int:
        _, rec, files = self._lookup(host)
        if rec.pid is None or not pid_alive(rec.pid, str(files.config)):
            raise PlaygroundError(f"playground host {host} is not running")
        return rec.pid

    def _set_blackhole(self, host: str, *, enabled: bool) -> None:
        with self._record_lock:
            record, rec, _ = self._lookup(host)
            if rec.netns is None:
                raise PlaygroundError("blackhole needs a netns playground (run `up` as root)")
            find_tool("nft", "nftables")
            set_blackhole(rec.netns, rec.port, enabled=enabled)
            rec.blackholed = enabled
            record.save(self._state_file)

    def _state_of(self, record: StateRecord) -> PlaygroundState:
        hosts = []
        for rec in record.hosts:
            running = pid_alive(rec.pid, str(self._files(record, rec).config))
            hosts.append(
                PlaygroundHost(
                    name=rec.name,
                    address=rec.address,
                    port=rec.port,
                    pid=rec.pid if running else None,
                    netns=rec.netns,
                    running=running,
                    paused=running and rec.pid is not None and proc_state(rec.pid) == "T",
                    blackholed=rec.blackholed,
                )
            )
        mode: Mode = "netns" if record.mode == "netns" else "loopback"
        return PlaygroundState(
            mode=mode,
            hosts=tuple(hosts),
            inventory_path=self.inventory_path,
            known_hosts_path=self.known_hosts_path,
            client_key_path=self.client_key_path,
            state_dir=self.state_dir,
            sudo_user=record.sudo_user,
            sudo_password_file=self.sudo_password_path if record.sudo_user else None,
            user=record.user,
        )

    def _build(
        self, names: Sequence[str], mode: Mode, prefix: str, owner: list[int] | None, sshd: str
    ) -> StateRecord:
        runtime = self._runtime_dir()
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (runtime / "hosts").mkdir(mode=0o755, parents=True, exist_ok=True)
        runtime.chmod(0o755)
        record = StateRecord(
            mode=mode,
            prefix=prefix,
            user="root" if mode == "netns" else pwd.getpwuid(os.geteuid()).pw_name,
            runtime_dir=str(runtime),
            owner=owner,
            sudo_user=None,
            private_home=_is_root(),
        )
        if mode == "netns":
            record.blocks = list(self._claim(names, runtime, owner))
            record.hosts = [
                HostRecord(n, host_address(record.blocks, i), 22, NETNS_PREFIX + n, VETH_PREFIX + n)
                for i, n in enumerate(names)
            ]
        else:
            ports = _free_ports(len(names))
            record.hosts = [
                HostRecord(n, "127.0.0.1", p, None, None) for n, p in zip(names, ports, strict=True)
            ]
        # Recorded before anything exists, so a crash from here on leaves down() a map.
        record.save(self._state_file)

        keygen(self.client_key_path, "remoteops-playground-client")
        pubkey = self.client_key_path.with_name("client_key.pub").read_text()
        atomic_write(runtime / "authorized_keys", pubkey)
        atomic_write(
            runtime / "etc_hosts", render_etc_hosts((h.name, h.address) for h in record.hosts)
        )
        if mode == "netns":
            create_namespaces(
                [(h.netns or "", h.veth or "") for h in record.hosts],
                [h.address for h in record.hosts],
            )
            record.sudo_user = ensure_sudo_user(self.sudo_password_path)
        ensure_privsep_dir()
        self._start_all(record, sshd)
        record.save(self._state_file)
        self._write_client_files(record)
        return record

    def _claim(
        self, names: Sequence[str], runtime: Path, owner: list[int] | None
    ) -> tuple[int, ...]:
        """Take a lease on our namespaces and address blocks, and make sure the bridge is up."""
        live = self._reap_stale()
        wanted = {NETNS_PREFIX + name for name in names}
        for lease in live:
            clash = sorted(wanted & set(lease.namespaces))
            if clash:
                raise PlaygroundError(
                    f"namespace {clash[0]} belongs to the playground in {lease.state_dir}, "
                    "which is still up: use another prefix or bring that one down"
                )
        blocks = allocate_blocks(len(names), [b for lease in live for b in lease.blocks])
        pair = (owner[0], owner[1]) if owner else None
        Lease(runtime, self.state_dir, pair, tuple(sorted(wanted)), blocks).save()
        ensure_bridge()
        return blocks

    def _start_all(self, record: StateRecord, sshd: str) -> None:
        failures: list[str] = []
        workers = min(len(record.hosts), _START_WORKERS)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="playground") as pool:
            futures = [
                (rec, pool.submit(self._start_host, record, rec, sshd, new=True))
                for rec in record.hosts
            ]
            for rec, future in futures:
                exc = future.exception()
                if exc is not None:
                    failures.append(f"{rec.name}: {exc}")
        if failures:
            shown = "; ".join(failures[:3])
            raise PlaygroundError(
                f"{len(failures)} of {len(record.hosts)} playground hosts failed: {shown}"
            )

    def _start_host(self, record: StateRecord, rec: HostRecord, sshd: str, *, new: bool) -> None:
        """Start one host's sshd; ``new`` hosts also get their address and a fresh key."""
        authorized_keys = Path(record.runtime_dir) / "authorized_keys"
        if new and rec.netns is not None:
            configure_inside(rec.netns, rec.address)
        for attempt in range(_PORT_ATTEMPTS):
            files = self._files(record, rec)
            prepare(files, authorized_keys, new_key=new and attempt == 0)
            try:
                rec.pid = start(files, sshd, private=record.private_home)
                return
            except SshdExitedError:
                if rec.netns is not None or attempt == _PORT_ATTEMPTS - 1:
                    raise
                rec.port = _free_ports(1)[0]

    def _write_client_files(self, record: StateRecord) -> None:
        lines = []
        for rec in record.hosts:
            pubkey = self._files(record, rec).host_pubkey.read_text()
            lines.append(known_hosts_line(rec.address, rec.port, pubkey))
        atomic_write(self.known_hosts_path, "\n".join(lines) + "\n")
        inventory = render_inventory(
            record.hosts,
            user=record.user,
            identity_file=self.client_key_path,
            known_hosts_file=self.known_hosts_path,
        )
        atomic_write(self.inventory_path, inventory)

    def _reap_stale(self) -> list[Lease]:
        """Tear down stale leases and unleased ``ropg-*`` namespaces; return the live leases."""
        own = self._runtime_dir()
        live = []
        for lease in read_leases():
            if lease.lease_dir == own:
                continue
            if lease.stale:
                Playground(lease.state_dir)._teardown(reap=False, runtime=lease.lease_dir)
            else:
                live.append(lease)
        leased = {ns for lease in live for ns in lease.namespaces}
        orphans = existing_namespaces(NETNS_PREFIX) - leased
        if orphans:
            terminate(namespace_pids(orphans))
            veths = [VETH_PREFIX + ns[len(NETNS_PREFIX) :] for ns in orphans]
            delete_namespaces(orphans, veths)
        return live

    def _teardown(
        self, *, reap: bool, runtime: Path | None = None, own_files: bool = False
    ) -> None:
        """Undo what this playground made.

        Nothing read from the state dir is trusted for what to kill or delete: the runtime
        folder is recomputed from the state dir, and namespace names must look like ours, so
        a stray or tampered state.json cannot point teardown at system files or processes.
        State files are deleted only where a state file or a lease shows they are ours
        (``own_files`` when ``up`` cleans up its own half-made start).
        """
        record = StateRecord.load(self._state_file)
        runtimes = {runtime or self._runtime_dir()}
        namespaces: set[str] = set()
        if record is not None:
            namespaces.update(h.netns for h in record.hosts if h.netns)
        leased = False
        for directory in runtimes:
            lease = read_lease(directory)
            if lease is not None:
                leased = True
                namespaces.update(lease.namespaces)
        namespaces = {ns for ns in namespaces if _OUR_NAMESPACE.fullmatch(ns)}
        table = processes()
        markers = [os.fsencode(f"{directory}/") for directory in runtimes]
        listeners = [
            p.pid
            for p in table
            if b"sshd" in p.cmdline and any(marker in p.cmdline for marker in markers)
        ]
        terminate(descendants(listeners, table) | namespace_pids(namespaces, table))
        veths = [VETH_PREFIX + ns[len(NETNS_PREFIX) :] for ns in namespaces]
        delete_namespaces(namespaces, veths)
        ours = own_files or record is not None or leased  # a state file or a lease says so
        for directory in runtimes if ours else ():
            shutil.rmtree(directory, ignore_errors=True)
        if _is_root():
            remaining = self._reap_stale() if reap else read_leases()
            if not remaining:
                remove_bridge()
                remove_sudoers()
        if ours:
            self._remove_state_files()

    def _remove_state_files(self) -> None:
        for name in _STATE_FILES:
            (self.state_dir / name).unlink(missing_ok=True)
        shutil.rmtree(self.state_dir / "run", ignore_errors=True)
        with contextlib.suppress(OSError):
            for entry in self.state_dir.iterdir():
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    entry.unlink(missing_ok=True)
            self.state_dir.rmdir()
