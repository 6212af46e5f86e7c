"""Templating for ad-hoc commands (``remoteops run -T``): the command is rendered per host
with the host's variables, as a task step's is. Without ``-T`` a command is sent exactly as
typed: commands such as ``docker inspect -f '{{.Name}}'`` have braces of their own."""

from __future__ import annotations

import dataclasses

from remoteops.executor import HostLifecycle, HostWork, Listener, command_work
from remoteops.inventory import Host, Inventory
from remoteops.results import HostResult
from remoteops.tasks.templating import check_template, render
from remoteops.tasks.variables import host_variables
from remoteops.transports import Capability, CommandSpec, Transport


class _TemplatedCommand:
    """The work of ``run -T``: the command rendered for each host, then run as ``run`` runs
    it (stdin shared across hosts follows each host's start and end as there)."""

    needs = frozenset({Capability.COMMANDS})

    def __init__(self, spec: CommandSpec, inventory: Inventory) -> None:
        self.spec = spec
        self.inventory = inventory
        shared = command_work(spec)  # what every host has in common: stdin shared by all
        self._lifecycle = shared if isinstance(shared, HostLifecycle) else None

    def __call__(self, host: Host, transport: Transport, listener: Listener) -> HostResult:
        variables = host_variables(host, self.inventory, {}, {})
        rendered = render(self.spec.command, variables)  # an undefined name fails this host
        mine = command_work(dataclasses.replace(self.spec, command=rendered))
        return mine(host, transport, listener)

    def host_started(self, host: str) -> None:
        if self._lifecycle is not None:
            self._lifecycle.host_started(host)

    def host_ended(self, host: str) -> None:
        if self._lifecycle is not None:
            self._lifecycle.host_ended(host)


def templated_command_work(spec: CommandSpec, inventory: Inventory) -> HostWork:
    """``spec`` with its command rendered per host; a syntax error is raised now, before any
    host (a TemplateError naming where)."""
    check_template(spec.command)
    return _TemplatedCommand(spec, inventory)


__all__ = ["templated_command_work"]
