"""What a host pattern being typed could go on with: group and host names, for shell
completion (``remoteops run --hosts web:!we<TAB>``).

Only the last term is completed; the terms before it and the term's ``!`` or ``&`` are kept,
so every candidate is the whole pattern as it would be typed.
"""

from __future__ import annotations

from remoteops.inventory.inventory import Inventory

#: Where a pattern's terms part (see :mod:`.patterns`): the last one is being typed.
_SEPARATORS = ",:"
#: What may start a term: an intersection or an exclusion.
_MODIFIERS = "&!"


def pattern_completions(inventory: Inventory, typed: str) -> list[str]:
    """Patterns that complete ``typed``: groups first (sorted, ``ungrouped`` only when it
    has hosts), then hosts in inventory order, each name once."""
    cut = max(typed.rfind(separator) for separator in _SEPARATORS) + 1
    head, term = typed[:cut], typed[cut:]
    modifier = term[:1] if term[:1] in _MODIFIERS else ""
    prefix = term[len(modifier) :]
    names = [
        name for name in inventory.groups if name != "ungrouped" or inventory.group_hosts(name)
    ]
    names += [name for name in inventory.hosts if name not in inventory.groups]
    return [head + modifier + name for name in names if name.startswith(prefix)]


__all__ = ["pattern_completions"]
