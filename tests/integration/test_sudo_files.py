"""File operations with sudo on the real playground hosts, logged in as the playground's
non-root sudo user (whose sudo asks for a password): put, sync and get as root or as another
user, on the host's one connection, atomic as without sudo; refusals end the host cleanly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import pickle
import pwd
import re
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from remoteops import Fleet, Status
from remoteops.diagnostics import secrets_in
from remoteops.executor import command_work
from remoteops.inventory import Inventory
from remoteops.inventory.model import Host
from remoteops.playground import Playground, PlaygroundState
from remoteops.tasks import load_task_file
from remoteops.tasks.runner import run_task_file
from remoteops.transports import CommandSpec, Privilege, ssh_sudo
from remoteops.transports.base import WrappedCommand, wrap_command
from tests.integration.conftest import (
    assert_no_process_left,
    done_when,
    kill_sessions,
    with_vars,
)

pytestmark = pytest.mark.usefixtures("requires_root")

#: Large enough that a put is still running when the session is killed (sparse: no disk).
BIG_FILE_BYTES = 768 * 1024 * 1024


@pytest.fixture
def as_user(ssh_hosts: list[Host], playground: PlaygroundState) -> Host:
    """The first host, logged in as the non-root user whose sudo asks for a password."""
    assert playground.sudo_user is not None
    return with_vars(ssh_hosts[0], user=playground.sudo_user)


@pytest.fixture
def password(playground: PlaygroundState) -> str:
    assert playground.sudo_password_file is not None
    return playground.sudo_password_file.read_text().strip()


@pytest.fixture
def root_folder(reachable: Path) -> Path:
    """A folder only root may write in (0755, root's), which the login user can reach."""
    folder = reachable / "root-only"
    folder.mkdir()
    folder.chmod(0o755)
    assert folder.stat().st_uid == 0
    return folder


@pytest.fixture
def kept(as_user: Host) -> Iterator[Fleet]:
    with Fleet([as_user]) as fleet:
        yield fleet


def _source(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "index.html").write_text("home\n")
    (site / "css" / "main.css").write_text("body {}\n")
    for path in (site, site / "css"):
        path.chmod(0o755)
    return site


def test_put_and_sync_with_sudo_write_into_a_root_folder_as_root(
    kept: Fleet, password: str, root_folder: Path, tmp_path: Path
) -> None:
    site = _source(tmp_path)
    motd = tmp_path / "motd"
    motd.write_text("welcome\n")
    refused = kept.put(motd, str(root_folder / "motd")).results[0]
    assert refused.status is Status.FAILED, refused
    assert "Permission denied" in (refused.error or ""), refused.error
    assert not (root_folder / "motd").exists()

    sudo = Privilege(password=password)
    put = kept.put(motd, str(root_folder / "motd"), sudo=sudo).results[0]
    assert put.status is Status.OK, put.error
    synced = kept.sync(site, str(root_folder / "site"), sudo=sudo).results[0]
    assert synced.status is Status.OK, synced.error
    assert (root_folder / "motd").read_text() == "welcome\n"
    assert (root_folder / "site" / "css" / "main.css").read_text() == "body {}\n"
    written = [root_folder / "motd", *(root_folder / "site").rglob("*")]
    assert {p.stat().st_uid for p in written} == {0}, "not root's"
    assert not [p for p in root_folder.rglob("*") if p.name.endswith(".tmp")]  # no leftovers
    again = kept.sync(site, str(root_folder / "site"), sudo=sudo).results[0]
    assert again.transfer is not None
    assert again.transfer.files_created + again.transfer.files_updated == 0, again.transfer


#: The variable a worker's environment holds the sudo password in (never the work itself).
NAMED_PASSWORD_ENV = "ROPTEST_WORKER_SUDO_PW"


def test_a_sudo_password_named_by_a_variable_is_read_only_when_the_host_works(
    kept: Fleet,
    password: str,
    root_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As a cluster worker gets it: the work is made and pickled where the variable is not
    set, and the password is read from the environment of the process running it."""
    monkeypatch.delenv(NAMED_PASSWORD_ENV, raising=False)
    named = Privilege(password_env=NAMED_PASSWORD_ENV)
    shipped = pickle.dumps(command_work(named.applied_to(CommandSpec("id -un; cat"))))
    work = pickle.loads(shipped)  # noqa: S301 (our own bytes)

    unset = kept.execute(work).results[0]
    assert unset.status is Status.AUTH, unset
    assert unset.error == f"sudo_password_env {NAMED_PASSWORD_ENV} is not set in the environment"
    motd = tmp_path / "motd"
    motd.write_text("named\n")
    refused = kept.put(motd, str(root_folder / "motd"), sudo=named).results[0]
    assert refused.status is Status.AUTH, refused
    assert NAMED_PASSWORD_ENV in (refused.error or "")
    assert not (root_folder / "motd").exists()

    monkeypatch.setenv(NAMED_PASSWORD_ENV, password + "\n")  # a CI secret's line end
    ran = kept.execute(work).results[0]
    assert ran.status is Status.OK, ran.error
    assert ran.stdout == b"root\n"
    assert password.encode() not in ran.stdout + ran.stderr
    put = kept.put(motd, str(root_folder / "motd"), sudo=named).results[0]
    assert put.status is Status.OK, put.error
    assert (root_folder / "motd").read_text() == "named\n"
    assert (root_folder / "motd").stat().st_uid == 0
    got = kept.get(str(root_folder / "motd"), tmp_path / "fetched", sudo=named).results[0]
    assert got.status is Status.OK, got.error
    # the password was read (and registered) here; the work that ran holds none of it
    assert secrets_in(pickle.dumps(work)) == 0
    carrying = command_work(Privilege(password=password).applied_to(CommandSpec("id -un")))
    assert secrets_in(pickle.dumps(carrying)) == 1  # what a controller must refuse to send


def test_get_with_sudo_reads_a_root_only_file(
    kept: Fleet, password: str, root_folder: Path, tmp_path: Path
) -> None:
    secret = root_folder / "secret.key"
    secret.write_text("root's eyes only\n")
    secret.chmod(0o600)
    refused = kept.get(str(secret), tmp_path / "plain").results[0]
    assert refused.status is Status.FAILED, refused
    got = kept.get(str(secret), tmp_path / "fetched", sudo=Privilege(password=password))
    result = got.results[0]
    assert result.status is Status.OK, result.error
    copy = tmp_path / "fetched" / result.host / "secret.key"
    assert copy.read_text() == "root's eyes only\n"
    assert copy.stat().st_mode & 0o777 == 0o600


def test_sudo_user_writes_as_that_user(
    kept: Fleet, password: str, reachable: Path, tmp_path: Path
) -> None:
    nobody = pwd.getpwnam("nobody")
    folder = reachable / "nobodys"
    folder.mkdir()
    folder.chmod(0o755)
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    source = tmp_path / "note"
    source.write_text("from nobody\n")
    result = kept.put(
        source, str(folder / "note"), sudo=Privilege(user="nobody", password=password)
    ).results[0]
    assert result.status is Status.OK, result.error
    assert (folder / "note").stat().st_uid == nobody.pw_uid
    assert (folder / "note").read_text() == "from nobody\n"


@pytest.mark.parametrize(
    ("given", "said"),
    [("wrong-" + "x" * 12, "sudo refused the password"), (None, "none was given")],
    ids=["wrong-password", "no-password"],
)
def test_a_refused_sudo_fails_the_host_saying_why_and_never_shows_the_password(
    kept: Fleet, root_folder: Path, tmp_path: Path, given: str | None, said: str
) -> None:
    source = tmp_path / "f"
    source.write_text("x\n")
    report = kept.put(source, str(root_folder / "f"), sudo=Privilege(password=given))
    result = report.results[0]
    assert result.status is Status.FAILED, result
    error = result.error or ""
    assert said in error, error
    assert "as root" in error, error
    if given is not None:
        shown = error.encode() + result.stdout + result.stderr
        assert given.encode() not in shown
    assert not (root_folder / "f").exists()
    follow = kept.run("true").results[0]  # the connection is still fine for what follows
    assert follow.status is Status.OK, follow.error


def _elevated_channels(client_port: str) -> set[str]:
    """The sudo'd sftp-servers of the connection from ``client_port``: each is a sudo
    process (its login's $SSH_CONNECTION in its environment) with its own prompt token."""
    tokens = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (proc / "cmdline").read_bytes()
            if not command.startswith(b"sudo\0") or b"sftp-server" not in command:
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
            connection = [v for v in environ if v.startswith(b"SSH_CONNECTION=")]
            if connection and connection[0].split()[1].decode() == client_port:
                found = re.search(rb"remoteops-sudo-([0-9a-f]+)", command)
                if found:
                    tokens.add(found.group(1).decode())
    return tokens


def test_the_elevated_channel_rides_on_the_hosts_one_connection_and_is_kept(
    kept: Fleet, password: str, root_folder: Path, tmp_path: Path, as_user: Host
) -> None:
    """Three sudo calls: one sftp-server under sudo, on the connection commands use."""
    seen = kept.run("echo $SSH_CONNECTION").results[0]
    client_port = seen.stdout.split()[1].decode()
    sudo = Privilege(password=password)
    source = tmp_path / "f"
    source.write_text("x\n")
    for name in ("a", "b"):
        assert kept.put(source, str(root_folder / name), sudo=sudo).results[0].ok
    assert kept.get(str(root_folder / "a"), tmp_path / "back", sudo=sudo).results[0].ok
    assert len(_elevated_channels(client_port)) == 1
    port = as_user.vars.get("port", 22)
    established = kept.run(f"ss -Htn state established '( sport = :{port} )' | wc -l")
    assert established.results[0].stdout.strip() == b"1"  # sshd sees one connection from us
    again = kept.run("echo $SSH_CONNECTION").results[0]
    assert again.stdout.split()[1].decode() == client_port


def test_a_put_with_sudo_cut_off_leaves_the_old_file_whole_under_its_name(
    as_user: Host,
    password: str,
    root_folder: Path,
    tmp_path: Path,
    playground_manager: Playground,
) -> None:
    old = b"the older, complete copy\n" * 1000
    (root_folder / "big.img").write_bytes(old)
    source = tmp_path / "big.img"
    with open(source, "wb") as handle:
        handle.truncate(BIG_FILE_BYTES)

    def arriving() -> bool:
        """A temporary beside the real name already holds 4 MiB."""
        for path in root_folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.name != "big.img" and path.stat().st_size >= 4 * 1024 * 1024:
                    return True
        return False

    kill = functools.partial(kill_sessions, playground_manager, as_user.name)
    with Fleet([as_user]) as fleet, done_when(kill, arriving, within_s=60):
        result = fleet.put(
            source, str(root_folder / "big.img"), sudo=Privilege(password=password)
        ).results[0]
    assert result.status is not Status.OK, result
    assert (root_folder / "big.img").read_bytes() == old


def test_ftp_and_telnet_hosts_say_sudo_on_files_is_unsupported(
    ftp_host: Host, tmp_path: Path
) -> None:
    telnet = Host("device", {"protocol": "telnet", "address": "127.0.0.1", "port": 9})
    source = tmp_path / "f"
    source.write_text("x\n")
    with Fleet([ftp_host, telnet]) as fleet:
        report = fleet.put(source, "/f", sudo=True)
    ftp, device = report.results
    assert ftp.status is Status.UNSUPPORTED, ftp
    assert "cannot transfer files with sudo" in (ftp.error or ""), ftp.error
    assert device.status is Status.UNSUPPORTED, device
    assert "cannot transfer files" in (device.error or ""), device.error


def test_a_sudo_steps_guards_look_as_its_sudo_user(
    kept: Fleet, password: str, root_folder: Path, fleet: Inventory, tmp_path: Path
) -> None:
    """``creates``/``removes``/``unless`` of a ``sudo:`` step are checked as root (as
    Ansible's become does): a root-only folder is seen, not "Permission denied"."""
    private = root_folder / "private"
    private.mkdir(mode=0o700)
    (private / "marker").touch()
    path = tmp_path / "task.yml"
    path.write_text(textwrap.dedent(f"""
        steps:
          - {{name: made, run: echo ran, sudo: true, creates: "{private}/marker"}}
          - {{name: gone, run: echo ran, sudo: true, removes: "{private}/absent"}}
          - {{name: unless, run: echo ran, sudo: true, unless: "test -e {private}/marker"}}
          - {{name: runs, run: id -un, sudo: true, creates: "{private}/absent"}}
        """))  # fmt: skip
    report = run_task_file(
        kept, load_task_file(path), inventory=fleet, extra_vars={}, sudo_password=password
    )
    (recap,) = report.hosts
    shown = [(s.status, s.result.error, s.result.notes) for s in recap.steps]
    assert [s.status for s in recap.steps] == ["skipped", "skipped", "skipped", "changed"], shown
    for step in recap.steps[:3]:
        assert any(note.startswith("skipped:") for note in step.result.notes), shown
    assert recap.steps[3].result.stdout == b"root\n"


@pytest.fixture
def service_user(reachable: Path) -> Iterator[tuple[str, Path]]:
    """A user whose home is outside /home (as a service account's is), holding a file."""
    name = f"ropt{os.getpid() % 100000}"
    home = reachable / "svc-home"
    home.mkdir()
    subprocess.run(
        ["useradd", "-M", "-d", str(home), "-s", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        account = pwd.getpwnam(name)
        os.chown(home, account.pw_uid, account.pw_gid)
        (home / ".ssh").mkdir()
        (home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA kept\n")
        yield name, home
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def test_sync_delete_with_sudo_user_refuses_that_users_home(
    kept: Fleet, password: str, service_user: tuple[str, Path], tmp_path: Path
) -> None:
    """The target user's home is spared as the login's is: a sync --delete into it (or a
    folder holding it) is refused, and its files stay."""
    name, home = service_user
    site = _source(tmp_path)
    sudo = Privilege(user=name, password=password)
    for dest in (str(home), str(home.parent)):
        result = kept.sync(site, dest, delete=True, sudo=sudo).results[0]
        assert result.status is Status.FAILED, result
        assert "sudo's target user's home folder" in (result.error or ""), result.error
        assert "--force" in (result.error or ""), result.error
    assert (home / ".ssh" / "authorized_keys").read_text() == "ssh-ed25519 AAAA kept\n"
    assert not (home / "index.html").exists()


def test_a_sudo_that_never_answers_is_killed_when_the_hosts_time_runs_out(
    as_user: Host, password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sudo stuck before its marker (a PAM module waiting on a network): the host's timeout
    ends the run, and the stuck process with it, not left on the host after remoteops.

    The stuck sudo is a real process on the host that never prints the marker: the wrapped
    command is replaced by one, with the markers of a real wrap."""
    stuck = f"sleep {3000 + os.getpid() % 1000}.5"

    def never_answering(spec: CommandSpec) -> WrappedCommand:
        return dataclasses.replace(wrap_command(spec), command=f"exec {stuck}")

    monkeypatch.setattr(ssh_sudo, "wrap_command", never_answering)
    source = tmp_path / "f"
    source.write_text("x\n")
    with Fleet([as_user], host_timeout=3) as fleet:
        result = fleet.put(source, "/var/tmp/never", sudo=Privilege(password=password))
        assert result.results[0].status is Status.TIMEOUT, result.results[0]
    assert_no_process_left(stuck, within_s=8)
