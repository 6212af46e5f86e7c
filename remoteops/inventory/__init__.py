"""Inventory: hosts, groups, variables, host ranges and Ansible host patterns.

:func:`load_inventory` reads Ansible-compatible YAML and INI inventories (with ``group_vars`` and
``host_vars``), comma lists of names and host ranges, and resolves each host's variables;
:meth:`Inventory.select` picks hosts with Ansible's pattern language.
"""

from remoteops.inventory.inventory import (
    DEFAULT_INVENTORY,
    INVENTORY_ENV,
    Inventory,
    load_inventory,
)
from remoteops.inventory.model import (
    CONNECTION_VARS,
    LOCALHOST_NAMES,
    PROTOCOLS,
    SECRET_VARS,
    Group,
    Host,
)
from remoteops.inventory.patterns import select_hosts, split_pattern
from remoteops.inventory.ranges import expand_hosts, expand_range, fold_hosts, split_hosts

__all__ = [
    "CONNECTION_VARS",
    "DEFAULT_INVENTORY",
    "INVENTORY_ENV",
    "LOCALHOST_NAMES",
    "PROTOCOLS",
    "SECRET_VARS",
    "Group",
    "Host",
    "Inventory",
    "expand_hosts",
    "expand_range",
    "fold_hosts",
    "load_inventory",
    "select_hosts",
    "split_hosts",
    "split_pattern",
]
