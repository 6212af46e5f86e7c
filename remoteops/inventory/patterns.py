"""Ansible's host pattern language, so ``web:&prod:!web03`` means here what it means there.

A pattern is terms separated by ``,`` (or ``:`` when it holds no comma). Plain terms are unions,
evaluated first, then ``&`` intersections, then ``!`` exclusions, whatever their order in the
pattern. A term is a host or group name, ``all`` or ``*``, a glob (fnmatch over group *and* host
names), ``~regex`` (``re.match`` on names), a host range (``web[01-03]``, ``web[1-3].lan``) or a
subscript (``webservers[0]``, ``[-1]``, ``[0:2]`` inclusive, ``[1:]``, ``[:2]``).
Unlike Ansible, which only warns, a term that matches no host or group is an error with the
closest names suggested: a typo in ``!web03`` must not silently run on web03.

A trailing ``[N]``, ``[-N]``, ``[N:M]``, ``[N:]`` or ``[:M]`` is a subscript of what the rest
of the term matches, whatever that is, as Ansible's ``_split_subscript`` reads it: ``*0[13]``
is the 14th host ``*0`` matches, not the names ending in 01 or 03 (write ``~.*0[13]$`` for
those), and ``web[1:3]`` is hosts 1 to 3 of ``web``, never the names web1 to web3 (write
``web[1-3]``): it used to be either, by whether a group ``web`` existed. ``*0[1-3]``, whose
subscript form Ansible has dropped, is refused as ambiguous. A bracket that reads as a host
range must be a valid one (``web[1:10:0]`` is an error, not a glob class), and an unclosed
``[`` is named as such. Host ranges in inventory files (``web[1:5]``) are not patterns: they
stay ranges (:mod:`remoteops.inventory.ranges`).
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from remoteops.errors import PatternError
from remoteops.inventory.model import LOCALHOST_NAMES
from remoteops.inventory.ranges import expand_range, split_hosts

if TYPE_CHECKING:
    from remoteops.inventory.inventory import Inventory
    from remoteops.inventory.model import Host

_SUBSCRIPT = re.compile(r"(.+)\[(?:(-?[0-9]+)|([0-9]*):([0-9]*))\]")
#: Ansible's dropped ``[x-y]`` subscript; after a glob it could as well be a character class.
_DASH_SUBSCRIPT = re.compile(r"(.+)\[([0-9]+)-([0-9]*)\]")
#: What a host-range bracket may hold; anything else (``[!0]``, ``[._]``) is a glob class.
_RANGE_BODY = re.compile(r"[0-9A-Za-z:,/\s-]*")
_COLON_TERMS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_BRACKETED = re.compile(r"\[[^\]]*\]")
_GLOB_CHARS = ("*", "?")
#: A term that could be a DNS name (letters, digits, ``-``, ``_`` and dots).
_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")
# Ansible also looks for hosts when a group matched if the term has any of these.
_HOST_HINTS = (".", "?", "*", "[")


def split_pattern(pattern: str) -> list[str]:
    """Split a pattern into terms like Ansible: on commas if any, else on colons.

    Colons inside brackets (``web[01:03]``) and in an IPv6 address are not separators.
    """
    text = pattern.strip()
    if "~" not in text:
        _check_brackets(text, text)
    if "," in text:
        terms = split_hosts(text)
    elif ":" not in _BRACKETED.sub("", text) or _is_ip(text):
        terms = [text]
    else:
        terms = _COLON_TERMS.findall(text)
    return [term.strip() for term in terms if term.strip()]


def check_pattern(pattern: str) -> None:
    """Raise :class:`PatternError` for a pattern no inventory could read: empty, a bracket
    left open, an operator without a name, a regex that does not compile, a malformed host
    range. Names are not looked up (which exist is the inventory's to say): a file that
    holds patterns is checked when it is read, before any inventory."""
    terms = split_pattern(pattern)
    if not terms:
        raise PatternError("empty host pattern: use 'all' to select every host")
    for term in terms:
        expr = term[1:] if term[0] in "&!" else term
        if not expr:
            raise PatternError(f"pattern term {term!r} has no name after its operator")
        if expr.startswith("~"):
            try:
                re.compile(expr[1:])
            except re.error as exc:
                raise PatternError(f"pattern {expr!r} is not a valid regex: {exc}") from None
        elif not _SUBSCRIPT.fullmatch(expr):  # a subscript's group is the inventory's
            _expand(expr)


def select_hosts(
    inventory: Inventory, pattern: str, named: Mapping[str, Sequence[str]] | None = None
) -> list[Host]:
    """Hosts the pattern selects, in inventory order, each once.

    ``named`` gives ``@name`` terms their hosts (``@failed``, ``@last``: see
    :meth:`remoteops.journal.Journal.host_sets`); they join the others as any term does
    (``@failed:&web``, ``@last:!db01``).

    Raises :class:`PatternError` for an empty pattern, a term that matches nothing (with
    suggestions) and a pattern whose terms combine to no host at all.
    """
    whole = pattern.strip()
    if whole in inventory.hosts:
        return [inventory.hosts[whole]]
    terms = split_pattern(pattern)
    if not terms:
        raise PatternError("empty host pattern: use 'all' to select every host")
    unions = [term for term in terms if term[0] not in "&!"] or ["all"]
    intersections = [term for term in terms if term[0] == "&"]
    exclusions = [term for term in terms if term[0] == "!"]
    selected: dict[str, Host] = {}
    for term in unions:
        for name, host in _match_any(inventory, term, term, named).items():
            selected.setdefault(name, host)
    for term in intersections:
        keep = _match_any(inventory, term[1:], term, named)
        selected = {name: host for name, host in selected.items() if name in keep}
    for term in exclusions:
        drop = _match_any(inventory, term[1:], term, named)
        selected = {name: host for name, host in selected.items() if name not in drop}
    if not selected:
        raise PatternError(f"pattern {whole!r} selects no host")
    order = {name: index for index, name in enumerate(inventory.hosts)}
    return sorted(selected.values(), key=lambda host: order.get(host.name, len(order)))


def _match_any(
    inventory: Inventory, expr: str, term: str, named: Mapping[str, Sequence[str]] | None
) -> dict[str, Host]:
    """One term's hosts: a named set (``@failed``) or what :func:`_match_term` finds."""
    if not expr.startswith("@"):
        return _match_term(inventory, expr, term)
    name = expr[1:]
    if named is None or name not in named:
        known = ", ".join(f"@{key}" for key in named or ()) or "none here"
        raise PatternError(f"pattern term {term!r} names no host set (known: {known})")
    if not named[name]:
        raise PatternError(f"{expr} selects no host: no host is {name} in the previous run")
    missing = [host for host in named[name] if host not in inventory.hosts]
    if missing:
        raise PatternError(
            f"{expr}: host(s) {', '.join(missing)} of the previous run are not in this "
            "inventory (give the inventory that run used with -i)"
        )
    return {host: inventory.hosts[host] for host in named[name]}


def _match_term(inventory: Inventory, expr: str, term: str | None = None) -> dict[str, Host]:
    """Hosts one term (without its ``&``/``!``) matches; raise if it matches nothing at all."""
    if not expr:
        raise PatternError(f"pattern term {term!r} has no name after its operator")
    if expr.startswith("[") and expr.endswith("]") and _is_ip(expr):
        expr = expr[1:-1]  # [2001:db8::1], the bracketed form of an IPv6 address
    if expr in inventory.hosts:
        return {expr: inventory.hosts[expr]}
    groups: list[str] = []
    names: list[str] = []
    if expr.startswith("~"):
        try:
            regex = re.compile(expr[1:])
        except re.error as exc:
            raise PatternError(f"pattern {expr!r} is not a valid regex: {exc}") from None
        groups = [name for name in inventory.groups if regex.match(name)]
        names = [name for name in inventory.hosts if regex.match(name)]
    else:
        subscript = _SUBSCRIPT.fullmatch(expr)
        if subscript:
            members = _subscript_base(inventory, subscript, expr)
            return {name: inventory.hosts[name] for name in _apply(members, subscript, expr)}
        dashed = _DASH_SUBSCRIPT.fullmatch(expr)
        if dashed and _has_glob(dashed.group(1)):
            base, first, last = dashed.groups()
            raise PatternError(
                f"pattern {expr!r} is ambiguous: Ansible once read it as hosts {first} to "
                f"{last or 'the end'} of {base!r}; write {base}[{first}:{last}] for that, or "
                f"{_as_regex(expr)} for names matching the characters in brackets"
            )
        expanded = _expand(expr)
        if expanded is not None:
            groups = [name for name in expanded if name in inventory.groups]
            names = [name for name in expanded if name in inventory.hosts]
        else:
            groups = _glob(inventory.groups, expr)
            if not groups or any(hint in expr for hint in _HOST_HINTS):
                names = _glob(inventory.hosts, expr)
    result = {name: inventory.hosts[name] for name in [*_hosts_of(inventory, groups), *names]}
    if not result and not groups:
        localhost = [name for name in (_expand(expr) or [expr]) if name in LOCALHOST_NAMES]
        if localhost:
            return {name: inventory.localhost(name) for name in localhost}
        candidates = list(dict.fromkeys([*inventory.hosts, *inventory.groups]))
        suggestions = tuple(difflib.get_close_matches(expr.lstrip("~"), candidates, n=3))
        raise PatternError(
            f"pattern {expr!r} matches no host or group",
            suggestions=suggestions,
            hint=_ad_hoc_hint(expr),
        )
    return result


def _ad_hoc_hint(expr: str) -> str:
    """How to reach a host the inventory lacks, for a term shaped like a host name.

    Still an error, never a connection: a typo in a pattern must not reach whatever the
    misspelt name resolves to. Globs, regexes and ranges get no hint (they are no name).
    """
    if not (_HOST_NAME.fullmatch(expr) or _is_ip(expr)):
        return ""
    return (
        f"a host not in the inventory is given as a list, as with ansible: -i '{expr},' "
        "(the comma makes it a list; user@host:port works there too)"
    )


def _expand(expr: str) -> list[str] | None:
    """The names a host-range term stands for, or None when the term is not a range.

    Brackets holding only range syntax are a range, and a malformed one is an error: read as a
    glob class instead, ``web[1:10:0]`` would quietly select ``web1``.
    """
    if "[" not in expr or _has_glob(expr):
        return None
    bodies = [match.group(0)[1:-1] for match in _BRACKETED.finditer(expr)]
    try:
        return expand_range(expr)
    except ValueError as exc:
        if not all(_RANGE_BODY.fullmatch(body) for body in bodies):
            return None
        raise PatternError(str(exc)) from None


def _has_glob(expr: str) -> bool:
    """Glob characters outside brackets (``web*``), not inside a range or class."""
    return any(char in _BRACKETED.sub("", expr) for char in _GLOB_CHARS)


def _subscript_base(inventory: Inventory, subscript: re.Match[str], expr: str) -> list[str]:
    """The hosts a subscript indexes, as Ansible enumerates them: the groups and hosts its
    base matches; none is an error saying what else the bracket may have been meant as."""
    base = subscript.group(1)
    groups = _glob(inventory.groups, base)
    members = _members_in_group_order(inventory, groups)
    if not groups or any(hint in base for hint in _HOST_HINTS):
        members.extend(name for name in _glob(inventory.hosts, base) if name not in members)
    if not members:
        raise PatternError(
            f"pattern {expr!r} is a subscript of {base!r} (as Ansible reads it), which matches "
            f"no host or group{_meant(subscript, expr)}"
        )
    return members


def _meant(subscript: re.Match[str], expr: str) -> str:
    """What to write for what a subscript-shaped bracket may have been meant as: names
    matching a glob class, or a host range (with a dash: a colon makes it a subscript)."""
    base, index, start, end = subscript.groups()
    if _has_glob(base):
        return f"; for names matching the characters in brackets write {_as_regex(expr)}"
    if index is not None and not index.startswith("-"):
        return f"; for the host {base}{index} write {base}{index}"
    if start and end:
        return f"; for hosts {base}{start} to {base}{end} write {base}[{start}-{end}]"
    return ""


def _as_regex(expr: str) -> str:
    """A ``~regex`` term for a glob: ``*0[13]`` becomes ``~.*0[13]$``."""
    parts: list[str] = []
    for piece in re.split(r"(\[[^\]]*\])", expr):
        if piece.startswith("[") and piece.endswith("]") and len(piece) > 2:
            body = piece[1:-1]
            parts.append("[^" + body[1:] + "]" if body.startswith("!") else piece)
        else:
            parts.append(re.escape(piece).replace(r"\*", ".*").replace(r"\?", "."))
    return "~" + "".join(parts) + "$"


def _check_brackets(whole: str, text: str) -> None:
    """Refuse an unclosed ``[`` or a stray ``]``: split on colons, ``web[1:`` would become
    two terms and be reported as "pattern '1' matches no host"."""
    opened: int | None = None
    for index, char in enumerate(text):
        if char == "[" and opened is None:
            opened = index
        elif char == "]":
            if opened is None:
                raise PatternError(
                    f"pattern {whole!r} has an unbalanced bracket: the ']' at character "
                    f"{index + 1} closes no '['"
                )
            opened = None
    if opened is not None:
        raise PatternError(
            f"pattern {whole!r} has an unbalanced bracket: the '[' at character {opened + 1} "
            "is never closed"
        )


def _glob(names: Iterable[str], pattern: str) -> list[str]:
    regex = re.compile(fnmatch.translate(pattern))
    return [name for name in names if regex.match(name)]


def _hosts_of(inventory: Inventory, groups: list[str]) -> list[str]:
    if "all" in groups:
        return list(inventory.hosts)
    wanted = set(groups)
    return [name for name, host in inventory.hosts.items() if wanted.intersection(host.groups)]


def _members_in_group_order(inventory: Inventory, groups: list[str]) -> list[str]:
    """Hosts in Ansible's order for subscripts: a group's own hosts as declared, then its
    children's, breadth first (``web[0]`` is web's first host, not the inventory's)."""
    if "all" in groups:
        return list(inventory.hosts)
    members: dict[str, None] = {}
    queue = list(groups)
    seen: set[str] = set()
    while queue:
        name = queue.pop(0)
        if name in seen or name not in inventory.groups:
            continue
        seen.add(name)
        group = inventory.groups[name]
        members.update((host, None) for host in group.hosts if host in inventory.hosts)
        queue.extend(group.children)
    return list(members)


def _apply(members: list[str], subscript: re.Match[str], expr: str) -> list[str]:
    """Ansible subscripts: ``[i]`` (negative from the end) or the inclusive slice ``[i:j]``."""
    index, start, end = subscript.group(2), subscript.group(3), subscript.group(4)
    if index is not None:
        try:
            return [members[int(index)]]
        except IndexError:
            hint = ""
            if _has_glob(subscript.group(1)):
                hint = f"; for names matching the characters in brackets write {_as_regex(expr)}"
            raise PatternError(
                f"pattern {expr!r}: index {index} is out of range ({len(members)} hosts){hint}"
            ) from None
    if not start and not end:
        raise PatternError(f"pattern {expr!r}: a slice needs a start or an end, as in [0:2]")
    first = int(start) if start else 0
    last = int(end) if end else len(members) - 1
    if end and first > last:
        raise PatternError(f"pattern {expr!r}: the slice starts at {first}, after its end {last}")
    if first >= len(members):
        raise PatternError(
            f"pattern {expr!r}: index {first} is out of range ({len(members)} hosts)"
        )
    return members[first : last + 1]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
