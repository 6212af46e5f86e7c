"""YAML (and JSON) inventories in Ansible's format, and group_vars/host_vars files.

The document is composed, not constructed: walking PyYAML's nodes keeps each key's line, which
every error reports along with the key path (``all.children.web.hosts.web01.port``). Variable
values are then constructed by the same safe loader, so anchors and merge keys work as in
Ansible; ``!unsafe`` values are plain strings and ``!vault`` values are kept as their encrypted
text (remoteops never decrypts them).

Two guards keep a hostile file from exhausting the machine: nesting deeper than
:data:`~remoteops.inventory.model.MAX_NESTING` is refused while composing (PyYAML's composer
recurses once per level and would die in ``RecursionError``), and the nodes aliases add are
counted before anything is walked (a "billion laughs" file shares nodes cheaply, but everything
that walks the values, such as ``hosts --vars``, would visit each copy).
"""

from __future__ import annotations

from typing import Any, Protocol

import yaml
from yaml.events import MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from remoteops.errors import ConfigurationError, InventoryError
from remoteops.inventory.loaders import InventoryBuilder, VarDecl, split_host_entry
from remoteops.inventory.model import ALIAS_FACTOR, MAX_ALIAS_NODES, MAX_NESTING, Location

_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_GROUP_KEYS = ("hosts", "vars", "children")


class _TooDeep(yaml.composer.ComposerError):
    """Nesting past :data:`MAX_NESTING`: the document is YAML, just not one we will read."""


class LocatedErrorType(Protocol):
    """How :func:`compose` builds its errors: the caller's own kind (an inventory's, a task
    file's), given the message, the file and the line."""

    def __call__(
        self, message: str, *, source: str | None = None, line: int | None = None
    ) -> ConfigurationError: ...


class SafeLineLoader(yaml.SafeLoader):
    """A safe loader that also accepts the tags Ansible inventories carry, and stops composing
    past :data:`MAX_NESTING` levels of mappings and lists. Other YAML files (task files) use it
    through :func:`compose`, for the same lines and limits."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if not self.check_event(MappingStartEvent, SequenceStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                problem = f"mappings and lists nested more than {MAX_NESTING} levels deep"
                raise _TooDeep(None, None, problem, mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_tagged_text(loader: yaml.SafeLoader, node: Node) -> str:
    if not isinstance(node, ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.tag} expects a string", node.start_mark
        )
    return loader.construct_scalar(node)


SafeLineLoader.add_constructor("!unsafe", _construct_tagged_text)
SafeLineLoader.add_constructor("!vault", _construct_tagged_text)


def looks_like_yaml_inventory(text: str) -> bool:
    """Whether a file without extension holds a YAML mapping (Ansible tries YAML first too)."""
    loader = SafeLineLoader(text)
    try:
        return isinstance(loader.get_single_node(), MappingNode)
    except _TooDeep:
        return True  # YAML, too deep to read: load_yaml_inventory says so, with the line
    except yaml.YAMLError:
        return False
    finally:
        loader.dispose()


def load_yaml_inventory(builder: InventoryBuilder, text: str, source: str) -> None:
    """Add the groups, hosts and variables of one YAML inventory document to ``builder``."""
    loader = SafeLineLoader(text)
    try:
        root = compose(loader, source)
        if root is None or _is_null(root):
            return
        walker = _Walker(loader, builder, source)
        if not isinstance(root, MappingNode):
            raise walker.where(root).error(
                "an inventory must be a mapping of group names (usually 'all') to groups"
            )
        pairs = walker.pairs(root, "")
        if any(_scalar(key) == "plugin" for key, _ in pairs):
            raise walker.where(root).error(
                "inventory plugin configurations ('plugin: ...') are not supported; "
                "list hosts and groups instead"
            )
        for key, value in pairs:
            name = walker.name(key, "")
            walker.group(name, value, name)
    finally:
        loader.dispose()


def load_vars_file(text: str, source: str) -> list[VarDecl]:
    """Read a group_vars/host_vars file: a mapping of variable names to values, maybe empty."""
    loader = SafeLineLoader(text)
    try:
        root = compose(loader, source)
        if root is None or _is_null(root):
            return []
        walker = _Walker(loader, InventoryBuilder(), source)
        if not isinstance(root, MappingNode):
            raise walker.where(root).error("a vars file must be a mapping of names to values")
        return walker.vars(root, "")
    finally:
        loader.dispose()


def compose(
    loader: SafeLineLoader, source: str, error: LocatedErrorType = InventoryError
) -> Node | None:
    """The document's root node (None when empty), its nesting and aliases checked; a
    syntax error or a file past the limits is an ``error`` naming ``source`` and the line."""
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        problem = ", ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
        raise error(f"invalid YAML: {problem}", source=source, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", source=source) from None
    if root is not None:
        _check_aliases(root, source, error)
    return root


def _check_aliases(root: Node, source: str, error: LocatedErrorType) -> None:
    """Refuse a document whose aliases add more than the allowance (see MAX_ALIAS_NODES).

    Sizes are counted once per node, so the check is linear in the document even when the
    aliases would expand it exponentially; an alias inside its own anchor is refused too.
    """
    size: dict[int, int] = {}  # node id -> nodes seen when it is walked, aliases followed
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            continue
        if key in size:
            continue
        if key in open_nodes:
            line = None if node.start_mark is None else node.start_mark.line + 1
            raise error(
                "invalid YAML: an alias refers to the node it is inside", source=source, line=line
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)
    own = len(size)
    allowed = max(MAX_ALIAS_NODES, ALIAS_FACTOR * own)
    added = size[id(root)] - own
    if added > allowed:
        node = root  # point at the smallest node that expands past the allowance on its own
        while bigger := [c for c in _children(node) if size[id(c)] > allowed]:
            node = max(bigger, key=lambda child: size[id(child)])
        raise error(
            f"YAML aliases expand this file by {added:,} nodes, more than the {allowed:,} "
            "allowed (anchors and aliases used as a 'billion laughs' bomb?)",
            source=source,
            line=None if node.start_mark is None else node.start_mark.line + 1,
        )


def repeated_key(node: Node, *, deep: bool = False) -> ScalarNode | None:
    """The first key written a second time in the mapping ``node`` (in any mapping below it
    too, when ``deep``), or None. A key over a merged one (``<<: *base``) is no repeat: YAML
    says it wins. Each node is looked at once, aliases or not."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, MappingNode):
            own: set[str] = set()
            for key, _ in current.value:
                if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                    continue
                if key.value in own:
                    return key
                own.add(key.value)
        if deep:
            stack.extend(reversed(_children(current)))
    return None


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG


def _scalar(node: Node) -> str | None:
    return str(node.value) if isinstance(node, ScalarNode) else None


def _kind(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    return f"the value {node.value!r}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Walker:
    """Walks one composed document, turning nodes into builder calls with their locations."""

    def __init__(self, loader: SafeLineLoader, builder: InventoryBuilder, source: str) -> None:
        self.loader = loader
        self.builder = builder
        self.source = source

    def where(self, node: Node, key_path: str | None = None) -> Location:
        line = None if node.start_mark is None else node.start_mark.line + 1
        return Location(self.source, line, key_path or None)

    def pairs(self, node: MappingNode, key_path: str) -> list[tuple[Node, Node]]:
        try:
            self.loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            raise self.where(node, key_path).error(f"invalid merge key: {exc.problem}") from None
        return list(node.value)

    def name(self, node: Node, key_path: str) -> str:
        text = _scalar(node)
        if text is None or not text.strip() or _is_null(node):
            raise self.where(node, key_path).error(f"expected a name here, found {_kind(node)}")
        return text

    def value(self, node: Node, key_path: str) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise self.where(node, key_path).error(f"invalid value: {exc.problem}") from None
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. 2020-02-30, !!int abc
            raise self.where(node, key_path).error(f"invalid value: {exc}") from None

    def group(self, name: str, node: Node, key_path: str) -> None:
        self.builder.add_group(name)
        if _is_null(node):
            return
        if not isinstance(node, MappingNode):
            raise self.where(node, key_path).error(
                f"group {name!r} must be a mapping with hosts, vars or children, not {_kind(node)}"
            )
        for key, value in self.pairs(node, key_path):
            field = self.name(key, key_path)
            path = _join(key_path, field)
            if field == "hosts":
                self.hosts(name, value, path)
            elif field == "vars":
                self.builder.set_group_vars(name, self.vars(value, path))
            elif field == "children":
                self.children(name, value, path)
            else:
                raise self.where(key, path).error(
                    f"unknown key {field!r} in group {name!r}; "
                    f"a group has only {', '.join(_GROUP_KEYS)}"
                )

    def hosts(self, group: str, node: Node, key_path: str) -> None:
        if _is_null(node):
            return
        if not isinstance(node, MappingNode):
            raise self.where(node, key_path).error(
                f"hosts of group {group!r} must be a mapping of host names to variables "
                f"(write 'name:' on its own line), not {_kind(node)}"
            )
        for key, value in self.pairs(node, key_path):
            entry = self.name(key, key_path)
            path = _join(key_path, entry)
            where = self.where(key, path)
            host_entry = split_host_entry(entry, where)
            self.builder.add_entry(host_entry, group, where, self.vars(value, path))

    def children(self, parent: str, node: Node, key_path: str) -> None:
        if _is_null(node):
            return
        if not isinstance(node, MappingNode):
            raise self.where(node, key_path).error(
                f"children of group {parent!r} must be a mapping of group names, not {_kind(node)}"
            )
        for key, value in self.pairs(node, key_path):
            child = self.name(key, key_path)
            path = _join(key_path, child)
            self.builder.add_child(parent, child, self.where(key, path))
            self.group(child, value, path)

    def vars(self, node: Node, key_path: str) -> list[VarDecl]:
        if _is_null(node):
            return []
        if not isinstance(node, MappingNode):
            raise self.where(node, key_path).error(
                f"variables must be a mapping of names to values, not {_kind(node)}"
            )
        decls: list[VarDecl] = []
        for key, value in self.pairs(node, key_path):
            name = self.name(key, key_path)
            path = _join(key_path, name)
            decls.append(VarDecl(name, self.value(value, path), self.where(key, path)))
        return decls
