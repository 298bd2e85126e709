"""YAML → frozen Config, with ${ENV} interpolation.

Every problem becomes one plain line `key.path[0].sub: what is wrong`, so an operator can fix a
config without reading pydantic's internals, and no input can make the loader raise anything but
ConfigError. Secret values are never echoed.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import os
import re
import time
import types
import typing
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from detector.config.models import Config

# Field names whose values are secrets: never shown, whatever went wrong.
SECRET_KEYS = frozenset({"api_key", "auth_token", "secret", "admin_token", "password", "token"})
SECRET_HEADER_RE = re.compile(r"auth|token|key|secret|cookie|pass", re.IGNORECASE)

# `${NAME}`, `${NAME:-default}`, `${file:PATH}` (a secret mounted as a file), `$${` for a
# literal `${`; any other `${` is a mistake. `${NAME}` also reads the file named by NAME_FILE,
# the Docker and Kubernetes convention for secrets.
_ENV_RE = re.compile(
    r"\$\$\{|\$\{file:(?P<file>[^}]+)\}"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bad>\$\{)"
)
LISTEN_ENV = "DETECTOR_LISTEN"  # overrides server.listen: a container listens on all interfaces
_MAX_DEPTH = 64  # far deeper than any real config; stops pathological nesting early
_MAX_NODES = 2_000_000  # room for 20,000+ probes; stops "billion laughs" alias bombs
_MB = 1 << 20
# Text once YAML aliases are expanded: a 20,000-probe config is ~3 MB; stops one large string
# aliased thousands of times (gigabytes once expanded) before it is allocated.
_MAX_EXPANDED_BYTES = 16 * _MB
_DISCRIMINATED = {"channels": "channel type"}
_PATTERNS = {
    r"^[A-Za-z0-9_.:-]+$": "may contain only letters, digits and _ . : -",
    r"^[A-Za-z0-9_-]+$": "may contain only letters, digits, _ and -",
}
# Errors that say "wrong kind of value"; in a union they merge into one "expected X or Y".
_TYPE_NOUNS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


class ConfigError(Exception):
    """A user error in the config: one line per problem, each naming its key path."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


# --- YAML ----------------------------------------------------------------------------------


# libyaml scans and parses; its events are built into Python values here in one pass (_fast_read)
# that also checks nesting, duplicate keys and the expanded size. Anything unusual in a document
# (a YAML error, an explicit tag, an alias to an ancestor, a limit reached) sends the whole
# text to the full loader below, which judges it and says what is wrong in the same words as
# ever: the fast pass only ever returns what the full loader would.
if typing.TYPE_CHECKING:
    # the C loader offers the pure-Python one's interface: checked against that one
    _SafeBase = yaml.SafeLoader
else:
    _SafeBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# plain scalars that become values of another type; other implicit tags (`=`) go the full way
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{kind}" for kind in ("null", "bool", "int", "float", "timestamp")
)


class _Loader(_SafeBase):
    """Safe loading that refuses a key given twice in one mapping (PyYAML keeps the last), and a
    document too large once its aliases are expanded, before any of it is constructed."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        try:
            return self.construct_document(node)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as e:  # a collection its tag cannot hold, found as it is filled in
            raise yaml.constructor.ConstructorError(
                None, None, f"a value its tag cannot hold ({type(e).__name__})", node.start_mark
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {_show(key)} appears twice", key_node.start_mark
                )
            seen.add(key)
        result: dict[Hashable, Any] = super().construct_mapping(node, deep)
        return result

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value its tag cannot hold (`!!int abc`, `2024-13-45`) is a YAML error at its line,
        not an exception from deep inside PyYAML."""
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception:
            kind = str(node.tag).rpartition(":")[2] or str(node.tag)
            what = f": {_show(node.value)}" if isinstance(node, yaml.ScalarNode) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"not a valid {kind}{what}", node.start_mark
            ) from None


class _Decline(Exception):
    """The fast pass leaves this document to the full loader."""


class _Merge:
    """A plain `<<` key: the mapping(s) it names are merged in."""


_MERGE = _Merge()
_NO_KEY = object()


class _Plain(dict[str, Any]):
    """Plain scalars resolved to their values (`10` → 10, `true` → True, `~` → None) as the
    safe loader resolves them, each distinct text once."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        super().__init__()
        self.loader = loader

    def __missing__(self, text: str) -> Any:
        loader = self.loader
        resolve: Callable[..., str] = loader.resolve
        tag = resolve(yaml.ScalarNode, text, (True, False))
        if tag == _STR_TAG:
            value: Any = text
        elif tag == _MERGE_TAG:
            value = _MERGE
        elif tag in _PLAIN_TAGS:
            try:
                value = loader.yaml_constructors[tag](loader, yaml.ScalarNode(tag, text))
            except Exception:  # `2024-13-45`: the full loader says where
                raise _Decline from None
        else:
            raise _Decline
        self[text] = value
        return value


def _fast_read(text: str) -> tuple[Any, bool, bool]:
    """(document, whether it uses aliases, whether any string holds `${`), or _Decline."""
    loader = _SafeBase(text)
    try:
        return _build(loader)
    finally:
        loader.dispose()


def _merged(mapping: dict[Any, Any], sources: list[Any], merging: set[int]) -> None:
    """`<<` as PyYAML does it: the merged pairs first, in order, then the mapping's own keys,
    which override them. Where PyYAML's result hangs on which key strings are one object
    (a key in two merged mappings, a merged mapping that merges in turn), the full loader
    decides. `merging` holds the ids of mappings built with `<<`."""
    pairs: list[tuple[Any, Any]] = []
    for source in sources:
        for part in source if type(source) is list else [source]:
            if type(part) is not dict or id(part) in merging:
                raise _Decline
            pairs += part.items()
    merged = dict(pairs)
    if len(merged) != len(pairs):
        raise _Decline
    merged.update(mapping)
    mapping.clear()
    mapping.update(merged)
    merging.add(id(mapping))


def _build(loader: yaml.SafeLoader) -> tuple[Any, bool, bool]:
    """Python values straight from libyaml's events, without its node tree.

    Counts values and text bytes as _check_expanded_size does (an alias counts what it names
    again) and stops at a limit, at nesting deeper than _MAX_DEPTH, and at anything it leaves to
    the full loader: a tag, a key given twice, an alias to an unknown or enclosing anchor, a
    key that is not a scalar, a second document.
    """
    get: Callable[[], Any] = loader.get_event
    if type(get()) is not yaml.StreamStartEvent:
        raise _Decline
    event = get()
    if type(event) is yaml.StreamEndEvent:
        return None, False, False
    if type(event) is not yaml.DocumentStartEvent:
        raise _Decline
    resolvers = loader.yaml_implicit_resolvers
    if None in resolvers or loader.yaml_path_resolvers:  # resolvers PyYAML has, unused here
        raise _Decline
    special = frozenset(resolvers)
    plain = _Plain(loader)
    anchors: dict[str, tuple[Any, int, int]] = {}  # name → (value, its values, its bytes)
    opened: set[str] = set()  # anchors of collections still open: an alias to one is a cycle
    merging: set[int] = set()  # mappings built with `<<` (alive in the document till the end)
    # the open collections, each with its merge sources, anchor and counts at its start
    stack: list[tuple[Any, list[Any] | None, str | None, int, int]] = []
    parent: Any = None  # the innermost open collection
    merges: list[Any] | None = None
    anchor: str | None = None
    v0 = s0 = 0
    key: Any = _NO_KEY  # in a mapping: the key whose value comes next, or _NO_KEY
    root: Any = None
    values = size = 0
    aliased = refs = False
    mapping_start, sequence_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    scalar_event = yaml.ScalarEvent
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    while True:
        event = get()
        kind = type(event)
        fresh = False
        if kind is scalar_event:
            if event.tag is not None:
                raise _Decline
            item = event.value
            nbytes = len(item) if item.isascii() else len(item.encode("utf-8", "surrogatepass"))
            values += 1
            size += nbytes
            refs = refs or "${" in item
            if event.implicit[0] and (not item or item[0] in special):
                item = plain[item]
            if event.anchor is not None:
                if event.anchor in anchors or event.anchor in opened:
                    raise _Decline
                anchors[event.anchor] = (item, 1, nbytes)
        elif kind is mapping_start or kind is sequence_start:
            if event.tag is not None or len(stack) >= _MAX_DEPTH:
                raise _Decline
            values += 1
            item = {} if kind is mapping_start else []
            fresh = True
        elif kind in ends:
            if merges is not None:
                _merged(parent, merges, merging)
            if anchor is not None:
                opened.discard(anchor)
                anchors[anchor] = (parent, values - v0, size - s0)
            parent, merges, anchor, v0, s0 = stack.pop()
            continue
        elif kind is yaml.AliasEvent:
            found = anchors.get(event.anchor)
            if found is None:  # unknown, or an enclosing collection's (a cycle)
                raise _Decline
            item, more_values, more_bytes = found
            values += more_values
            size += more_bytes
            aliased = True
        elif kind is yaml.DocumentEndEvent:
            break
        else:
            raise _Decline
        if values > _MAX_NODES or size > _MAX_EXPANDED_BYTES:
            raise _Decline
        if type(parent) is dict and key is _NO_KEY:
            if kind is not scalar_event or (item is not _MERGE and item in parent):
                raise _Decline
            key = item
            continue
        if item is _MERGE:  # `<<` anywhere but as a key
            raise _Decline
        if type(parent) is dict:
            if key is _MERGE:
                merges = [*(merges or ()), item]
            else:
                parent[key] = item
            key = _NO_KEY
        elif parent is None:
            root = item
        else:
            parent.append(item)
        if fresh:
            stack.append((parent, merges, anchor, v0, s0))
            parent, merges, anchor, v0, s0 = item, None, event.anchor, values - 1, size
            if anchor is not None:
                if anchor in anchors or anchor in opened:
                    raise _Decline
                opened.add(anchor)
    if type(get()) is not yaml.StreamEndEvent:
        raise _Decline
    return root, aliased, refs


def _walk_depth(events: Iterator[yaml.Event]) -> None:
    depth = 0
    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > _MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise ConfigError(
                    [f"line {line}: not valid YAML: nested more than {_MAX_DEPTH} levels deep"]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than _MAX_DEPTH with our own line, whatever the parser's limits.

    libyaml has a nesting limit of its own (its wording, its number, both free to change) and
    may hit it while scanning ahead, before it yields the event we would stop at. So when the
    quick C pass fails, the pure-Python parser, which has no such limit and does not recurse,
    walks the text again: a document nested too deeply always gets the same line.
    """
    try:
        _walk_depth(yaml.parse(text, Loader=_SafeBase))
    except yaml.YAMLError as error:
        if _SafeBase is not yaml.SafeLoader:
            with contextlib.suppress(yaml.YAMLError):
                _walk_depth(yaml.parse(text, Loader=yaml.SafeLoader))
        raise error from None


def _megabytes(size: int) -> str:
    if size > 1_000_000 * _MB:
        return "over 1,000,000 MB"
    return f"{size / _MB:,.1f} MB"


def _check_expanded_size(root: yaml.Node) -> None:
    """Count the document as if every alias were expanded, without expanding it.

    Each alias use counts the values and the text bytes under the node it names again, so one
    large string aliased 3,000 times, or anchors that double at every level ("billion laughs",
    also through `<<` merge keys), are refused before a byte of the expansion is allocated.
    Nodes are counted once each (memoised) and walked without recursion: an alias chain can be
    far deeper than the nesting the depth check allows.
    """
    memo: dict[int, tuple[int, int]] = {}
    active: set[int] = set()
    aliased = False
    # (node, None) to visit a node; (node, its children) to total it once they are counted
    stack: list[tuple[yaml.Node, list[yaml.Node] | None]] = [(root, None)]
    while stack:
        node, children = stack.pop()
        key = id(node)
        if children is not None:
            values, size = 1, 0
            for child in children:
                # a child still active is an ancestor: a cycle, which the walk reports by path
                child_values, child_size = memo.get(id(child), (0, 0))
                values += child_values
                size += child_size
            memo[key] = (values, size)
            active.discard(key)
        elif key in memo or key in active:
            aliased = True
        elif isinstance(node, yaml.ScalarNode):
            text = str(node.value)
            memo[key] = (
                1,
                len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass")),
            )
        else:
            children = _children(node)
            active.add(key)
            stack.append((node, children))
            stack.extend((child, None) for child in children)
    values, size = memo[id(root)]
    if size > _MAX_EXPANDED_BYTES:
        what = "once aliases are expanded " if aliased else ""
        raise ConfigError(
            [f"(file): too large {what}({_megabytes(size)} > {_MAX_EXPANDED_BYTES // _MB} MB)"]
        )
    if values > _MAX_NODES:
        raise ConfigError(
            [f"(file): too large (more than {_MAX_NODES:,} values once YAML aliases are expanded)"]
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _read_yaml(text: str) -> tuple[Any, bool, bool]:
    """(document, whether its values may be shared through aliases, whether any string may
    hold a `${` reference); ConfigError for anything that is not one safe YAML document."""
    with contextlib.suppress(_Decline, yaml.YAMLError):
        return _fast_read(text)
    try:
        _check_depth(text)
        return yaml.load(text, Loader=_Loader), True, True  # a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        what = ", ".join(str(x) for x in (e.context, e.problem) if x)
        raise ConfigError([f"{where}: not valid YAML: {what}"]) from None
    except yaml.YAMLError as e:
        raise ConfigError([f"(file): not valid YAML: {str(e).splitlines()[0]}"]) from None
    except RecursionError:
        raise ConfigError(["(file): not valid YAML: nested too deeply"]) from None


# --- ${ENV} interpolation --------------------------------------------------------------------


class _Walk:
    """Interpolates the strings of the parsed YAML, and guards against alias tricks."""

    def __init__(self, env: Mapping[str, str], base: Path | None = None) -> None:
        self.env = env
        self.base = base
        self.nodes = 0
        self.errors: list[str] = []
        self.read: set[str] = set()  # the contents of `${file:...}` and NAME_FILE files

    def run(self, node: Any, loc: tuple[Any, ...], stack: frozenset[int]) -> Any:
        """A copy of `node` with its strings interpolated, each alias use copied on its own."""
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise ConfigError([f"(file): too large (more than {_MAX_NODES:,} values)"])
        if isinstance(node, str):
            return self._interpolate(node, loc)
        if not isinstance(node, dict | list):
            return node
        if id(node) in stack:
            raise ConfigError([f"{_render(loc)}: a YAML alias refers to itself"])
        if len(loc) > _MAX_DEPTH:
            raise ConfigError([f"{_render(loc)}: nested too deeply"])
        inner = stack | {id(node)}
        if isinstance(node, list):
            return [self.run(v, (*loc, i), inner) for i, v in enumerate(node)]
        return {k: self.run(v, (*loc, k), inner) for k, v in node.items()}

    def tree(self, node: dict[Any, Any] | list[Any], loc: tuple[Any, ...] = ()) -> None:
        """Interpolate in place a document without aliases (a tree, so no value is visited twice
        and none is its own ancestor; _fast_read has counted and bounded it)."""
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            if isinstance(v, str):
                if "${" in v:
                    node[k] = self._interpolate(v, (*loc, k))
            elif isinstance(v, dict | list):
                self.tree(v, (*loc, k))

    def secrets(self, data: Any) -> set[str]:
        """What error lines must not show: file contents read, values under secret keys,
        credential headers, the storage URL's password. Found only when there are errors."""
        found = set(self.read)
        stack: list[tuple[Any, Any]] = [(data, None)]
        while stack:
            node, key = stack.pop()
            if isinstance(node, list):
                stack += ((v, None) for v in node)
            elif isinstance(node, dict):
                in_headers = key == "headers"
                for k, v in node.items():
                    if (
                        isinstance(v, str)
                        and isinstance(k, str)
                        and (k in SECRET_KEYS or (in_headers and SECRET_HEADER_RE.search(k)))
                    ):
                        found.add(v)
                    stack.append((v, k))
        storage = data.get("storage") if isinstance(data, dict) else None
        url = storage.get("url") if isinstance(storage, dict) else None
        if isinstance(url, str):
            try:
                password = urlsplit(url).password
            except ValueError:
                password = None
            if password:
                found.add(password)
        return found

    def _interpolate(self, text: str, loc: tuple[Any, ...]) -> str:
        if "${" not in text:
            return text

        def sub(m: re.Match[str]) -> str:
            if m.group("bad"):
                self.errors.append(
                    f"{_render(loc)}: malformed ${{...}} reference (write ${{NAME}}, "
                    "${NAME:-default}, or $${ for a literal ${)"
                )
                return ""
            if m.group("file") is not None:
                return self._read(m.group("file").strip(), loc)
            name = m.group("name")
            if name is None:
                return "${"
            if name in self.env:
                return self.env[name]
            if f"{name}_FILE" in self.env:
                return self._read(self.env[f"{name}_FILE"], loc)
            if m.group("default") is not None:
                return m.group("default")
            self.errors.append(f"{_render(loc)}: environment variable {name} is not set")
            return ""

        return _ENV_RE.sub(sub, text)

    def _read(self, name: str, loc: tuple[Any, ...]) -> str:
        """A secret file's content, its trailing newline dropped; relative to the config."""
        path = Path(name)
        if not path.is_absolute() and self.base is not None:
            path = self.base / path
        try:
            value = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, ValueError) as e:
            why = getattr(e, "strerror", None) or "not readable UTF-8 text"
            self.errors.append(f"{_render(loc)}: cannot read file {name}: {why}")
            return ""
        value = value.removesuffix("\n").removesuffix("\r")
        self.read.add(value)
        return value


# --- pydantic errors → one plain line each ---------------------------------------------------


def _render(parts: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", str(part)):
            out += ("." if out else "") + str(part)
        else:
            out += f"[{_show(str(part))}]"
    return out or "(top level)"


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} value"


def _members(tp: Any) -> list[Any] | None:
    """The members of a union (None dropped), or None when tp is not a real union."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    return [a for a in typing.get_args(tp) if a is not type(None)]


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    members = _members(tp)
    return _unwrap(members[0]) if members is not None and len(members) == 1 else tp


def _member_for(members: list[Any], label: Any) -> Any:
    """Which union member a pydantic loc label (class name or tag) stands for."""
    for member in members:
        tags = [m.tag for m in getattr(member, "__metadata__", ()) if hasattr(m, "tag")]
        inner = _unwrap(member)
        if label in tags or getattr(inner, "__name__", None) == label:
            return inner
        fields = getattr(inner, "model_fields", {})
        if "type" in fields and label in typing.get_args(fields["type"].annotation):
            return inner
    return None


def _field(model: type[BaseModel], key: Any) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _user_path(loc: tuple[Any, ...], root: type[BaseModel]) -> tuple[list[Any], Any, Any]:
    """Keep only the user's keys and indexes, dropping pydantic's union labels.

    Also returns the model the last key was looked up in (for "did you mean") and the type
    expected at the end of the path (for the tags of a tagged union).
    """
    parts: list[Any] = []
    tp: Any = root
    owner: Any = None
    for part in loc:
        members = _members(tp)
        if members is not None and len(members) > 1:
            tp = _member_for(members, part)
            continue
        tp = _unwrap(tp)
        if part == "[key]":
            continue
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            owner, tp = tp, _field(tp, part)
            parts.append(str(part) if isinstance(part, int) else part)
            continue
        owner = None
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (list, tuple, set, frozenset) and args:
            tp = args[0]
        elif origin is dict and len(args) == 2:
            tp = args[1]
        else:
            tp = None
        parts.append(part)
    return parts, owner, tp


def _known_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _tags(tp: Any) -> str:
    """'webhook, sendgrid, ...': the `type` values a tagged union accepts."""
    tags: list[str] = []
    for member in _members(tp) or []:
        fields = getattr(_unwrap(member), "model_fields", {})
        if "type" in fields:
            tags += [str(t) for t in typing.get_args(fields["type"].annotation)]
    return ", ".join(tags)


@dataclass
class _Fault:
    path: list[Any]
    msg: str
    noun: str | None = None  # set for "wrong kind of value": union branches merge on it


def _fault(err: ErrorDetails, root: type[BaseModel]) -> _Fault:
    path, owner, tp = _user_path(tuple(err["loc"]), root)
    kind, ctx, given = err["type"], err.get("ctx", {}), err.get("input")
    if kind == "missing":
        return _Fault(path, "required key is missing")
    if kind == "extra_forbidden":
        known = _known_keys(owner) if owner else []
        close = difflib.get_close_matches(str(path[-1]), known, n=1) if path else []
        if close:
            return _Fault(path, f"unknown key (did you mean {close[0]}?)")
        return _Fault(
            path, f"unknown key (known keys: {', '.join(known)})" if known else "unknown key"
        )
    if kind == "invalid_key" or (err["loc"][-1:] == ("[key]",) and kind in _TYPE_NOUNS):
        return _Fault(path, "keys must be text")
    if kind.startswith("url_"):
        if kind == "url_scheme":
            return _Fault(path, "not a valid URL (must start with http:// or https://)")
        return _Fault(path, "not a valid URL")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
        tags = _tags(tp)
        if kind == "union_tag_not_found":
            return _Fault([*path, "type"], f"required key is missing ({tags})")
        what = _DISCRIMINATED.get(field, "type")
        return _Fault([*path, "type"], f"unknown {what} {_show(ctx.get('tag'))} ({tags})")
    if kind in _TYPE_NOUNS:
        noun = _TYPE_NOUNS[kind]
        quote = kind == "string_type" and isinstance(given, int | float | bool)
        hint = " (put it in quotes)" if quote else ""
        return _Fault(path, f"expected {noun}, got {_describe(given)}{hint}", noun)
    if kind == "literal_error":
        got = f", got {_show(given)}" if isinstance(given, str | int | float) else ""
        return _Fault(path, f"must be {ctx.get('expected')}{got}", str(ctx.get("expected")))
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return _Fault(path, "must not be empty" if n == 1 else f"must be at least {n} characters")
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return _Fault(path, f"needs at least {n} {'entry' if n == 1 else 'entries'}")
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return _Fault(path, _PATTERNS.get(pattern, f"must match the pattern {pattern}"))
    bounds = {
        "greater_than": ("greater than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return _Fault(path, f"must be {words} {ctx.get(key)}")
    if kind == "finite_number":
        return _Fault(path, "must be a finite number")
    if "loc" in ctx:  # a model validator that knows which key is at fault
        return _Fault(list(ctx["loc"]), err["msg"])
    if "subloc" in ctx:  # a field validator that knows which key below the field is at fault
        return _Fault([*path, *ctx["subloc"]], err["msg"])
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if msg[1:2].islower():  # "Input should..." → "input should...", but keep "HTTP ..."
        msg = msg[:1].lower() + msg[1:]
    return _Fault(path, msg)


def validation_lines(error: ValidationError, root: type[BaseModel] = Config) -> list[str]:
    """One line per fault; several union-branch errors at one key merge into one line."""
    groups: dict[str, list[_Fault]] = {}
    errors = error.errors(include_url=False)
    for err in errors:
        fault = _fault(err, root)
        groups.setdefault(_render(fault.path), []).append(fault)
    lines = []
    for where, faults in groups.items():
        specific = [f for f in faults if f.noun is None]
        if specific or len(faults) == 1:
            lines.append(f"{where}: {(specific or faults)[0].msg}")
            continue
        nouns = list(dict.fromkeys(f.noun for f in faults if f.noun))
        given = faults[0].msg.rpartition(", got ")[2]
        lines.append(f"{where}: expected {', '.join(nouns[:-1])} or {nouns[-1]}, got {given}")
    return lines


# --- checks that need the whole config -------------------------------------------------------


def unknown_components(config: Config, ids: list[str] | None) -> list[tuple[int, str]]:
    """(index, message) for each id in `ids` that names no component."""
    known = [c.id for c in config.components]
    return [
        (i, f"unknown component {_show(cid)} (known: {', '.join(known)})")
        for i, cid in enumerate(ids or [])
        if cid not in known
    ]


def _reference_errors(config: Config) -> list[str]:
    lines = []
    for n, sub in enumerate(config.subscribers):
        components = getattr(sub, "components", None)
        for i, msg in unknown_components(config, components):
            lines.append(f"{_render(('subscribers', n, 'components', i))}: {msg}")
    return lines


def _raw_reference_errors(data: dict[str, Any]) -> list[str]:
    """The cross-references `check` can judge even when other values are wrong, so one run
    reports every fault: duplicate probe names and component ids, subscribers naming a
    component that does not exist. Read from the raw mapping; what is malformed is skipped
    (the model's errors already name it)."""
    lines: list[str] = []

    def dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
        return (
            [(i, v) for i, v in enumerate(value) if isinstance(v, dict)]
            if isinstance(value, list)
            else []
        )

    seen: dict[str, str] = {}
    located: list[tuple[tuple[str | int, ...], dict[str, Any]]] = [
        (("controls", i), p) for i, p in dicts(data.get("controls"))
    ]
    for j, c in dicts(data.get("components")):
        located += [(("components", j, "probes", i), p) for i, p in dicts(c.get("probes"))]
    for loc, probe in located:
        name = probe.get("name")
        if not isinstance(name, str):
            continue
        if name in seen:
            lines.append(
                f"{_render((*loc, 'name'))}: probe name '{name}' is already used by "
                f"{seen[name]}; names must be unique"
            )
        else:
            seen[name] = _render(loc)
    ids: dict[str, int] = {}
    for j, c in dicts(data.get("components")):
        cid = c.get("id")
        if isinstance(cid, str):
            if cid in ids:
                lines.append(
                    f"{_render(('components', j, 'id'))}: component id '{cid}' is "
                    f"already used by components[{ids[cid]}]"
                )
            else:
                ids[cid] = j
    known = ", ".join(ids)
    for n, sub in dicts(data.get("subscribers")):
        wanted = sub.get("components")
        if isinstance(wanted, list) and ids:
            for i, cid in enumerate(wanted):
                if isinstance(cid, str) and cid not in ids:
                    lines.append(
                        f"{_render(('subscribers', n, 'components', i))}: unknown "
                        f"component {_show(cid)} (known: {known})"
                    )
    return lines


def _every_fault(*groups: list[str]) -> list[str]:
    out: list[str] = []
    for group in groups:
        out += [line for line in group if line not in out]
    return out


# --- entry points ----------------------------------------------------------------------------


def _redact(lines: list[str], secrets: set[str]) -> list[str]:
    for secret in sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True):
        lines = [line.replace(secret, "***") for line in lines]
    return lines


def parse_config(
    text: str,
    env: Mapping[str, str] | None = None,
    base: Path | None = None,
    *,
    timings: dict[str, float] | None = None,
) -> Config:
    """Parse and validate config text; raise ConfigError (and nothing else) on any fault.
    `base` is where relative `${file:...}` paths start (the config file's folder). `timings`,
    if given, gets the seconds each phase took (bench/startup.py shows them)."""
    with _gc_paused():
        return _parse(text, env, base, _Laps(timings))


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic collector off while a config is built. Loading makes hundreds of thousands of
    containers and no cycles worth collecting, and each full pass the collector would make
    walks all of them again: two thirds of a 20,000-probe load went on those passes."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _parse(text: str, env: Mapping[str, str] | None, base: Path | None, lap: _Laps) -> Config:
    raw, aliased, refs = _read_yaml(text)
    lap("YAML parse (events → values, limits, duplicate keys)")
    if raw is None:
        raise ConfigError(["(top level): the configuration is empty"])
    if not isinstance(raw, dict):
        raise ConfigError([f"(top level): expected a mapping of settings, got {_describe(raw)}"])
    environ = os.environ if env is None else env
    walk = _Walk(environ, base)
    try:
        if aliased:  # each use of an alias is interpolated, and reported, on its own
            data = walk.run(raw, (), frozenset())
        else:
            if refs:
                walk.tree(raw)
            data = raw
    except RecursionError:
        raise ConfigError(["(file): nested too deeply"]) from None
    if environ.get(LISTEN_ENV):
        server = data.get("server")
        data["server"] = {
            **(server if isinstance(server, dict) else {}),
            "listen": environ[LISTEN_ENV],
        }
    lap("${ENV} expansion")
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        # a value whose ${...} failed is reported once, for that, not again as a bad value
        failed = {line.split(": ", 1)[0] for line in walk.errors}
        rest = [line for line in validation_lines(e) if line.split(": ", 1)[0] not in failed]
        lines = _every_fault(walk.errors, rest, _raw_reference_errors(data))
        raise ConfigError(_redact(lines, walk.secrets(data))) from None
    except RecursionError:
        raise ConfigError(["(file): nested too deeply"]) from None
    lap("pydantic validation (builds the probes' models)")
    lines = _every_fault(walk.errors, _reference_errors(config))
    if lines:
        raise ConfigError(_redact(lines, walk.secrets(data)))
    lap("cross-references")
    return config


class _Laps:
    """Seconds since the previous lap, by name, into `timings` (when there is one)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def __call__(self, name: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[name] = now - self.last
            self.last = now


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read a config file (UTF-8, BOM tolerated) and parse it like parse_config."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: cannot read: not UTF-8 text"]) from None
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror or type(e).__name__}"]) from None
    except ValueError:  # e.g. a NUL byte in the path
        raise ConfigError([f"{path!r}: cannot read: not a valid file name"]) from None
    return parse_config(text, env, Path(path).resolve().parent)
