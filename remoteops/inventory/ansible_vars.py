"""Ansible variables beyond the plain aliases: ssh's arguments, and what remoteops ignores.

``ansible_ssh_common_args`` / ``ansible_ssh_extra_args`` (and ``ansible_ssh_args``) hold ssh
command-line options; those with a remoteops setting (``-o ProxyJump=``, ``-J``, ``-o
UserKnownHostsFile=``, ``-o Port=``, ``-p``, ``-o User=``, ``-l``, ``-o IdentityFile=``,
``-i``, ``-o ConnectTimeout=``, ``-o HostName=``) fill that setting where the host's variables
leave it unset: a setting written as itself (``jump_host``, ``ansible_port``...), at any
level, wins. They are read per host once variables are merged, so a host's own
``ansible_ssh_common_args: ""`` drops its group's (a bastion that must not jump through
itself), as in Ansible. Every other part, and every ``ansible_*`` variable remoteops does not
read, is named in a warning, once per load: nothing Ansible-specific is dropped silently.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Iterable, Mapping

from remoteops.inventory.model import CONNECTION_VARS

#: The variables holding ssh arguments, in the order Ansible puts them on ssh's command line.
SSH_ARGS_VARS = ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")

#: Read elsewhere (aliases, group priority, the become method check) or not needed at all:
#: remoteops runs no Python on the hosts, so ``ansible_python_interpreter`` says nothing to it.
READ_ANSIBLE_VARS = frozenset(
    {
        *(alias for aliases in CONNECTION_VARS.values() for alias in aliases),
        *SSH_ARGS_VARS,
        "ansible_group_priority",
        "ansible_become_method",
        "ansible_python_interpreter",
    }
)

#: ssh ``-o`` options (lower case, as ssh matches them) and the setting each fills.
_OPTIONS = {
    "proxyjump": "jump_host",
    "userknownhostsfile": "known_hosts_file",
    "port": "port",
    "user": "user",
    "identityfile": "identity_file",
    "connecttimeout": "connect_timeout",
    "hostname": "address",
}
#: ssh's own flags taking a value, and the setting each fills.
_FLAGS = {"-J": "jump_host", "-p": "port", "-l": "user", "-i": "identity_file"}
_WHY_IGNORED = {
    "stricthostkeychecking": "the inventory never relaxes host key checks (-O "
    "StrictHostKeyChecking=... or ~/.ssh/config can; --accept-new-host-keys trusts and records "
    "new ones)",
    "controlmaster": "remoteops keeps one connection per host itself",
    "controlpersist": "remoteops keeps one connection per host itself",
    "controlpath": "remoteops keeps one connection per host itself",
}
_NO_EQUIVALENT = "remoteops has no equivalent setting"


@functools.lru_cache(maxsize=256)  # the same few strings on every host of a big inventory
def ssh_args_settings(text: str) -> tuple[tuple[tuple[str, str, str], ...], tuple[str, ...]]:
    """What an ssh argument string sets: (setting, option as written, value) for each part
    with a remoteops equivalent, in order, and for each part ignored a note saying why."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        return (), (f"all of {text!r} is ignored: it cannot be split as a shell would ({exc})",)
    found: list[tuple[str, str, str]] = []
    ignored: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        flag, attached = word[:2], word[2:]
        if flag == "-o" or flag in _FLAGS:
            value = attached
            if not value and index < len(words):
                value, index = words[index], index + 1
            if flag == "-o":
                _option(value, found, ignored)
            elif value:
                found.append((_FLAGS[flag], f"{flag} {value}", value))
            continue
        ignored.append(f"{word} is ignored: {_NO_EQUIVALENT}")
    first: dict[str, str] = {}
    for setting, written, _ in found:  # ssh keeps the first value it reads of an option
        if first.setdefault(setting, written) != written:
            ignored.append(f"{written} is ignored: ssh takes the first one, {first[setting]}")
    kept = tuple(item for item in found if first[item[0]] == item[1])
    return kept, tuple(ignored)


def _option(text: str, found: list[tuple[str, str, str]], ignored: list[str]) -> None:
    """One ``-o Key=Value`` (or ``Key Value``, as ssh also takes it)."""
    key, _, value = text.replace("=", " ", 1).partition(" ")
    value = value.strip()
    setting = _OPTIONS.get(key.lower())
    written = f"-o {text}"
    if setting == "known_hosts_file":
        first, *more = value.split()
        if first == "/dev/null":
            ignored.append(f"{written} is ignored: {_WHY_IGNORED['stricthostkeychecking']}")
            return
        if more:
            ignored.append(f"{written}: the files after {first} are ignored (one is read)")
        value = first
    if setting is None or not value:
        ignored.append(f"{written} is ignored: {_WHY_IGNORED.get(key.lower(), _NO_EQUIVALENT)}")
        return
    found.append((setting, written, value))


def unread_ansible_vars(names: Iterable[str]) -> list[str]:
    """The ``ansible_*`` names among ``names`` that remoteops does not read."""
    return [n for n in names if n.startswith("ansible_") and n not in READ_ANSIBLE_VARS]


def ssh_args_of(variables: Mapping[str, object]) -> list[tuple[str, str]]:
    """(variable, its text) for every ssh-arguments variable a host has, in ssh's order."""
    return [
        (name, value)
        for name in SSH_ARGS_VARS
        if isinstance(value := variables.get(name), str) and value.strip()
    ]
