"""Dialogues (``dialogue:`` / ``send:`` + ``expect:`` steps) on Telnet hosts, run from the CLI
as a user runs a task file, against BusyBox telnetd and the test device CLI
(tests/integration/telnet_device.py) or a real /bin/sh.

``show sessions`` on the device names its login session (the CLI's process id): the same
id before and after a dialogue proves the step ran on the host's one connection.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from remoteops.inventory.model import Host
from tests.integration.conftest import running
from tests.integration.test_telnet import ENABLE_ENV, HERE, _host, _telnetd

pytestmark = pytest.mark.skipif(
    shutil.which("busybox") is None or shutil.which("telnet") is None,
    reason="needs busybox (telnetd) and a telnet client: scripts/test installs them",
)


@pytest.fixture(scope="module")
def device_port() -> Iterator[tuple[int, Path]]:
    """The device CLI, with its pager on (no ``terminal length 0`` is sent) and a log of
    every line it was sent."""
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"remoteops-dialogue-{os.getpid()}.log"
    daemon, port = _telnetd(HERE / "telnet_device.py", TELNET_TEST_LOG=str(log))
    with running(daemon):
        yield port, log
    log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def shell_port() -> Iterator[int]:
    daemon, port = _telnetd(HERE / "telnet_login.py")
    with running(daemon):
        yield port


def _device(name: str, port: int, **extra: object) -> Host:
    return _host(name, port, "admin", telnet_paging_command="", **extra)


def _task(
    tmp_path: Path, hosts: list[Host], steps: str, *args: str
) -> tuple[int, list[dict[str, Any]], str]:
    """``remoteops task`` with ``-o json``: its exit code, its JSON objects and all it wrote
    (stdout and stderr, to look for secrets in)."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {h.name: dict(h.vars) for h in hosts}}}))
    task = tmp_path / "task.yml"
    task.write_text("hosts: all\nsteps:\n" + textwrap.indent(textwrap.dedent(steps), "  "))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "remoteops",
            "task",
            str(task),
            "-i",
            str(inventory),
            "-o",
            "json",
            *args,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=180,
        check=False,
    )
    objects = [json.loads(line) for line in run.stdout.decode().splitlines() if line.strip()]
    return run.returncode, objects, run.stdout.decode() + run.stderr.decode()


def _step(objects: list[dict[str, Any]], host: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["host"] == host and o.get("name") == name]
    assert len(found) == 1, (host, name, objects)
    return found[0]


def _session(step: dict[str, Any]) -> str:
    found = re.search(r"\* (\d+) admin vty", step["stdout"])
    assert found is not None, step
    return found.group(1)


def _secrets_file(tmp_path: Path, **values: str) -> str:
    path = tmp_path / "secrets.yml"
    path.write_text(yaml.safe_dump(values))
    return f"@{path}"


SAVE_CONFIG = r"""
- name: session before
  run: show sessions
  register: before
- name: save the configuration
  dialogue:
    - {send: enable, expect: 'Password: ?$'}
    - {send_secret: "{{ enable_password }}", expect: '#\s*$'}
    - show version
    - configure terminal
    - send_secret: "username admin secret {{ enable_password }}"
    - end
    - {send: copy running-config startup-config, expect: 'Destination filename \[([\w-]+)\]\? $'}
    - {send: "", expect: '\[OK\] saved to (\S+)'}
  register: saved
- name: said where it saved
  when: saved.exchanges[7].groups[0] == saved.exchanges[6].groups[0]
  run: show sessions
- name: never
  when: saved.exchanges[7].groups[0] == 'elsewhere'
  run: show clock
"""


def test_a_device_dialogue_enables_pages_configures_and_saves_on_the_one_session(
    device_port: tuple[int, Path], tmp_path: Path
) -> None:
    """enable with its password prompt, a paged command, config mode, a [default]? prompt
    answered with Enter: the output is the whole transcript (pager answered, its erasure
    gone), each exchange's groups are registered for a later ``when:``, and the next step
    runs on the same login session, at the enabled prompt."""
    port, _ = device_port
    secret = os.environ[ENABLE_ENV]
    code, objects, said = _task(
        tmp_path,
        [_device("switch1", port)],
        SAVE_CONFIG,
        "-e",
        _secrets_file(tmp_path, enable_password=secret),
    )
    assert code == 0, said
    dialogue = _step(objects, "switch1", "save the configuration")
    assert (dialogue["status"], dialogue["step_status"]) == ("ok", "changed"), dialogue
    transcript = dialogue["stdout"]
    version = [f"Line {n:02d} of the version report" for n in range(1, 31)]
    assert [ln for ln in transcript.splitlines() if ln.startswith("Line ")] == version
    assert "More" not in transcript
    assert "\b" not in transcript
    assert "switch1(config)#" in transcript
    assert "username admin secret" not in transcript  # the secret line's echo is masked whole
    assert "****" in transcript
    assert transcript.endswith("[OK] saved to startup-config\nswitch1#")  # back at the prompt
    exchanges = dialogue["exchanges"]
    assert len(exchanges) == 8
    assert exchanges[0]["matched"].startswith("Password:")
    assert exchanges[6]["groups"] == ["startup-config"]
    assert exchanges[7]["groups"] == ["startup-config"]
    after = _step(objects, "switch1", "said where it saved")
    assert after["step_status"] == "changed", after
    assert _session(after) == _session(_step(objects, "switch1", "session before"))
    assert _step(objects, "switch1", "never")["step_status"] == "skipped"
    assert secret not in said


FAILING = r"""
- name: enable
  dialogue:
    - {send: enable, expect: 'Password:'}
    - {send_secret: "{{ enable_secret }}", expect: '#\s*$', timeout: 2}
  ignore_errors: "{{ inventory_hostname == 'switch3' }}"
- name: session after
  run: show sessions
"""


def test_an_expect_that_never_matches_fails_only_its_host_in_its_time_with_the_tail(
    device_port: tuple[int, Path], tmp_path: Path
) -> None:
    """A wrong enable password: the ``#`` never comes. That host fails after the exchange's
    2 s (not the 30 s default), naming the step, the exchange and its pattern, with what the
    device said last; the others go on. The session was hung up: with ignore_errors the
    next step logs in afresh (another session id)."""
    port, _ = device_port
    right, wrong = os.environ[ENABLE_ENV], "not-the-enable-secret"
    hosts = [
        _device("switch1", port, enable_secret=right),
        _device("switch2", port, enable_secret=wrong),
        _device("switch3", port, enable_secret=wrong),
    ]
    code, objects, said = _task(tmp_path, hosts, FAILING)
    assert code != 0, said
    assert _step(objects, "switch1", "enable")["status"] == "ok"
    assert _step(objects, "switch1", "session after")["status"] == "ok"
    failed = _step(objects, "switch2", "enable")
    assert failed["status"] == "failed", failed
    error = failed["error"]
    assert error.startswith("exchange 2 of 2: '#\\s*$' was not seen within 2 s;"), error
    assert "% Access denied" in error.split("last received:")[1]
    assert failed["duration_s"] < 10
    assert "% Access denied" in failed["stdout"]
    assert not [o for o in objects if o["host"] == "switch2" and o.get("name") == "session after"]
    final = next(o for o in objects if o["host"] == "switch2" and o["step"] is None)
    assert final["status"] == "failed"
    assert final["error"] == f"step 'enable' (line 4): {error}"
    ignored = _step(objects, "switch3", "enable")
    assert ignored["step_status"] == "ignored", ignored
    again = _step(objects, "switch3", "session after")
    assert again["status"] == "ok", again
    assert _session(again) != _session(_step(objects, "switch1", "session after"))
    for secret in (right, wrong):
        assert secret not in said


def test_a_dialogue_on_a_shell_host_answers_a_prompt_and_leaves_the_shell_usable(
    shell_port: int, tmp_path: Path
) -> None:
    host = _host("shell1", shell_port, "tester")
    steps = r"""
    - name: ask
      dialogue:
        - {send: "printf 'Name? '; read n; echo \"hello $n\"", expect: 'Name\? $'}
        - {send: world, expect: 'hello (\w+)'}
      register: asked
    - name: after
      run: echo "still here, {{ asked.exchanges[1].groups[0] }}"
    """
    code, objects, said = _task(tmp_path, [host], steps)
    assert code == 0, said
    assert _step(objects, "shell1", "ask")["exchanges"][1]["groups"] == ["world"]
    after = _step(objects, "shell1", "after")
    assert (after["exit_code"], after["stdout"]) == (0, "still here, world\n")


def test_check_mode_skips_a_dialogue_unless_it_is_check_safe(
    device_port: tuple[int, Path], tmp_path: Path
) -> None:
    port, log = device_port
    log.write_text("")
    steps = """
    - name: enable
      send: enable
      expect: 'Password:'
    - name: look
      dialogue: [show clock]
      check_safe: true
    """
    code, objects, said = _task(tmp_path, [_device("switch1", port)], steps, "--check")
    assert code == 0, said
    assert _step(objects, "switch1", "enable")["step_status"] == "skipped"
    assert "12:00:00" in _step(objects, "switch1", "look")["stdout"]
    assert "enable" not in log.read_text().split()


def test_hosts_that_cannot_hold_a_dialogue_are_unsupported_before_connecting(
    tmp_path: Path,
) -> None:
    code, objects, said = _task(
        tmp_path, [Host("here", {"protocol": "local"})], "- send: enable\n  expect: 'x'\n"
    )
    assert code != 0, said
    step = next(o for o in objects if o["host"] == "here" and o["step"] == 0)
    assert step["status"] == "unsupported", step
    assert "LOCAL hosts cannot hold send/expect dialogues" in step["error"]
    assert "protocols that can: telnet" in step["error"]
