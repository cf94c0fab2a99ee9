"""The export drift report: what changed in a gateway's API definitions between two successful exports.

The poller keeps the previous successful export of a gateway (the baseline) and, when a new export succeeds,
diffs the two so CI learns which operations were added, removed or changed, and whether a change can break
an existing client. Definitions are Swagger 2.0 or OpenAPI 3.0/3.1 as APIG exports them (JSON or YAML, with
its `x-apigateway-*` extensions); both generations are read into the same terms, so a baseline in one and a
current export in the other still compare.

An operation is a METHOD and a path (`x-apigateway-any-method` is method ANY). Paths match with their
parameter names ignored: `/users/{id}` and `/users/{userId}` are one operation, whose path parameter was
renamed (a non-breaking change). Descriptions, summaries, titles and examples are documentation: their changes
are ignored entirely, never reported.

Breaking rules. Whether a change breaks a client depends on where it sits: in the request (parameters and
body, which the client sends), in a 2xx response (which the client reads), in another response, or on the
operation as a whole. `RULES` below is this table; a test keeps the two in step.

    kind                          breaking in               what changed
    ----------------------------  ------------------------  ------------------------------------------------------
    operation.removed             always                    an operation is gone
    operation.added               never                     a new operation
    path.parameter_renamed        never                     /users/{id} became /users/{userId}
    parameter.added_required      request                   a new required parameter
    parameter.added_optional      never                     a new optional parameter
    parameter.removed             never                     a parameter is gone (clients may still send it)
    parameter.made_required       request                   an optional parameter became required
    parameter.made_optional       never                     a required parameter became optional
    parameter.changed             never                     style, explode, collectionFormat, x-* of a parameter
    request_body.added_required   request                   a new required request body
    request_body.added_optional   never                     a new optional request body
    request_body.removed          never                     the request body is gone
    request_body.made_required    request                   an optional request body became required
    request_body.made_optional    never                     a required request body became optional
    content_type.removed          request                   a request media type is gone (a response's: not)
    content_type.added            never                     a new request or response media type
    response.removed              2xx response              a status code is gone (only a 2xx one breaks)
    response.added                never                     a new status code
    response.changed              never                     headers or links of a response
    property.added                never                     a new optional property
    property.removed              2xx response              a property a 2xx response carried is gone
    property.required_added       request                   a request property became (or was added) required
    property.required_removed     never                     a property is no longer required
    type.narrowed                 request                   number -> integer, any -> string, nullable -> not
    type.widened                  never                     integer -> number, string -> any, not -> nullable
    type.changed                  request, 2xx response     string -> integer: neither wider nor narrower
    enum.added                    request                   a free value became an enum
    enum.removed                  never                     an enum became a free value
    enum.values_removed           request                   enum values are gone
    enum.values_added             never                     new enum values
    format.added                  request                   a format where there was none
    format.changed                request                   a different format (int64 -> int32, date -> uuid)
    format.removed                never                     the format is gone
    format.widened                never                     int32 -> int64, float -> double
    constraint.tightened          request                   maxLength lowered, minimum raised, pattern added, ...
    constraint.relaxed            never                     maxLength raised, minimum lowered, pattern removed, ...
    schema.changed                never                     default, readOnly, discriminator, a remote $ref, ...
    backend.changed               never                     x-apigateway-backend: type, address, method, timeout, ...
    extension.changed             never                     another x-apigateway-* key of the operation
    operation.changed             never                     operationId, security, tags, deprecated, ...

A narrower type in a response is no news to its clients, so type, enum, format and constraint changes break
only in a request; the one exception is `type.changed` in a 2xx response (a string that became an integer
breaks every client that reads it). A 2xx response that loses its body loses every property it carried.

Loading is bounded: the safe YAML loader (no arbitrary tags), at most MAX_DEFINITION_DEPTH levels (measured
without recursion, YAML aliases included), and YAML aliases may add at most MAX_ALIAS_NODES nodes beyond the
ones the text spells out (a "billion laughs" document is refused before it is built). Diffing reads both
documents in place: a `$ref` is looked up when an operation needs it, never copied, and the two documents are
compared operation by operation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from urllib.parse import unquote

import yaml  # type: ignore[import-untyped, unused-ignore]  # types-PyYAML is not a dev dependency

from taskwatch.domain.text import clean_text, clip_text

MAX_DEFINITION_DEPTH: Final = 64  # nesting levels of a definition (APIG's exports nest about a dozen)
MAX_ALIAS_NODES: Final = 100_000  # nodes YAML aliases may add beyond those the text spells out
MAX_COMPARE_DEPTH: Final = 96  # schema levels compared through $refs; deeper, a difference is reported whole
MAX_REF_HOPS: Final = 32  # a $ref to a $ref to ...: further, the ref stays an opaque string
MAX_DETAIL_BYTES: Final = 300  # of a change's detail, in UTF-8
MAX_LOCATION_BYTES: Final = 512  # of a change's location, in UTF-8

_WITH_LIBYAML: Final[bool] = bool(getattr(yaml, "__with_libyaml__", False))
_YAML_LOADER: Final[Any] = yaml.CSafeLoader if _WITH_LIBYAML else yaml.SafeLoader


class DefinitionError(ValueError):
    """Text that is not a Swagger 2.0 / OpenAPI 3.x definition we can diff safely; the report is skipped."""


# --- the rules --------------------------------------------------------------------------------------


class Side(StrEnum):
    """Where a change sits, which decides whether it breaks a client."""

    OPERATION = "operation"
    REQUEST = "request"
    SUCCESS = "2xx response"
    OTHER = "other response"


@dataclass(frozen=True)
class Rule:
    kind: str
    breaking_in: frozenset[Side]


_ALWAYS: Final = frozenset(Side)
_NEVER: Final[frozenset[Side]] = frozenset()
_REQUEST: Final = frozenset({Side.REQUEST})
_SUCCESS: Final = frozenset({Side.SUCCESS})

RULES: Final[Mapping[str, Rule]] = {
    rule.kind: rule
    for rule in (
        Rule("operation.removed", _ALWAYS),
        Rule("operation.added", _NEVER),
        Rule("path.parameter_renamed", _NEVER),
        Rule("parameter.added_required", _REQUEST),
        Rule("parameter.added_optional", _NEVER),
        Rule("parameter.removed", _NEVER),
        Rule("parameter.made_required", _REQUEST),
        Rule("parameter.made_optional", _NEVER),
        Rule("parameter.changed", _NEVER),
        Rule("request_body.added_required", _REQUEST),
        Rule("request_body.added_optional", _NEVER),
        Rule("request_body.removed", _NEVER),
        Rule("request_body.made_required", _REQUEST),
        Rule("request_body.made_optional", _NEVER),
        Rule("content_type.removed", _REQUEST),
        Rule("content_type.added", _NEVER),
        Rule("response.removed", _SUCCESS),
        Rule("response.added", _NEVER),
        Rule("response.changed", _NEVER),
        Rule("property.added", _NEVER),
        Rule("property.removed", _SUCCESS),
        Rule("property.required_added", _REQUEST),
        Rule("property.required_removed", _NEVER),
        Rule("type.narrowed", _REQUEST),
        Rule("type.widened", _NEVER),
        Rule("type.changed", frozenset({Side.REQUEST, Side.SUCCESS})),
        Rule("enum.added", _REQUEST),
        Rule("enum.removed", _NEVER),
        Rule("enum.values_removed", _REQUEST),
        Rule("enum.values_added", _NEVER),
        Rule("format.added", _REQUEST),
        Rule("format.changed", _REQUEST),
        Rule("format.removed", _NEVER),
        Rule("format.widened", _NEVER),
        Rule("constraint.tightened", _REQUEST),
        Rule("constraint.relaxed", _NEVER),
        Rule("schema.changed", _NEVER),
        Rule("backend.changed", _NEVER),
        Rule("extension.changed", _NEVER),
        Rule("operation.changed", _NEVER),
    )
}


def is_breaking(kind: str, side: Side) -> bool:
    """The table above, looked up: does a change of `kind` at `side` break an existing client?"""
    return side in RULES[kind].breaking_in


# --- the report -------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Change:
    """One difference inside an operation. Sorted by location, then kind, so reports are deterministic."""

    location: str
    kind: str
    detail: str
    breaking: bool

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "location": self.location, "detail": self.detail, "breaking": self.breaking}


@dataclass(frozen=True, order=True)
class Operation:
    path: str
    method: str


@dataclass(frozen=True)
class OperationChange:
    """An operation both exports hold, and how it differs; `path` is the current export's."""

    path: str
    method: str
    changes: tuple[Change, ...]

    @property
    def breaking(self) -> bool:
        return any(change.breaking for change in self.changes)


@dataclass(frozen=True)
class DriftReport:
    added: tuple[Operation, ...]
    removed: tuple[Operation, ...]
    changed: tuple[OperationChange, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    @property
    def breaking(self) -> int:
        """Breaking changes: every removed operation, and every breaking item of a changed one."""
        return len(self.removed) + sum(change.breaking for op in self.changed for change in op.changes)

    def summary(self, baseline_task_id: str | None) -> dict[str, Any]:
        return {
            "baseline_task_id": baseline_task_id,
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "breaking": self.breaking,
        }

    def to_json(self, baseline_task_id: str | None = None) -> dict[str, Any]:
        """The drift.json body (operations sorted by path, then method)."""
        return {
            "baseline_task_id": baseline_task_id,
            "added": [{"method": op.method, "path": op.path} for op in self.added],
            "removed": [{"method": op.method, "path": op.path, "breaking": True} for op in self.removed],
            "changed": [
                {
                    "method": op.method,
                    "path": op.path,
                    "breaking": op.breaking,
                    "changes": [change.to_json() for change in op.changes],
                }
                for op in self.changed
            ],
            "summary": self.summary(baseline_task_id),
        }


# --- loading ----------------------------------------------------------------------------------------


def load_definition(text: str) -> dict[str, Any]:
    """Parse an exported definition (JSON or YAML) and check it is a Swagger 2.0 / OpenAPI 3.x mapping with paths."""
    document = _parse(text)
    if not isinstance(document, dict):
        raise DefinitionError("the definition is not a mapping")
    swagger, openapi = document.get("swagger"), document.get("openapi")
    if not (str(swagger) in ("2.0", "2") or (swagger is None and str(openapi).startswith("3."))):
        raise DefinitionError("the definition is neither Swagger 2.0 nor OpenAPI 3.x")
    if not isinstance(document.get("paths"), dict):
        raise DefinitionError("the definition has no paths mapping")
    return document


def _parse(text: str) -> Any:
    if text.lstrip()[:1] in ("{", "["):  # APIG's FileType json; JSON is YAML too, so a miss falls through
        try:
            value = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise DefinitionError(f"the definition nests deeper than {MAX_DEFINITION_DEPTH} levels") from None
        except ValueError:
            pass
        else:
            _check_depth(value)
            return value
    return _load_yaml(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_depth(value: Any) -> None:
    """Refuse a parsed JSON value nested deeper than MAX_DEFINITION_DEPTH, without recursion."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        node, level = pending.pop()
        if level > MAX_DEFINITION_DEPTH:
            raise DefinitionError(f"the definition nests deeper than {MAX_DEFINITION_DEPTH} levels")
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is dict or kind is list:
                pending.append((child, level + 1))


def _load_yaml(text: str) -> Any:
    text = clean_text(text)  # libyaml takes UTF-8, which a lone surrogate cannot be
    try:
        return _YamlBuilder(len(text)).build(yaml.parse(text, Loader=_YAML_LOADER))
    except DefinitionError:
        raise
    except yaml.YAMLError as error:
        if "nesting depth" in str(getattr(error, "problem", "")):  # libyaml's own limit, met scanning ahead
            raise DefinitionError(f"the definition nests deeper than {MAX_DEFINITION_DEPTH} levels") from None
        raise DefinitionError(f"the definition is neither JSON nor YAML ({_yaml_problem(error)})") from None
    except (ValueError, RecursionError) as error:  # an int beyond Python's digit limit, say
        raise DefinitionError(f"the definition cannot be read ({type(error).__name__})") from None


def _yaml_problem(error: Exception) -> str:
    problem = getattr(error, "problem", None) or type(error).__name__
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    return clip_text(f"{problem}{where}", 200)


_YAML: Final = "tag:yaml.org,2002:"
_SCALAR_TAGS: Final = frozenset(_YAML + name for name in ("null", "bool", "int", "float", "binary", "timestamp"))
_STR_TAGS: Final = frozenset({_YAML + "str", _YAML + "value"})
_MERGE_TAG: Final = _YAML + "merge"
_MERGE: Final = object()  # the `<<` key: merge another mapping in
_NO_KEY: Final = object()
_MAX_REMEMBERED_SCALARS: Final = 100_000  # plain scalars resolved once and shared (keys, mostly)


class _Frame:
    """One open YAML collection while it is being built."""

    __slots__ = ("anchor", "key", "merges", "nodes", "tallest", "value")

    def __init__(self, value: Any, anchor: str | None) -> None:
        self.value = value
        self.anchor = anchor
        self.nodes = 1  # expanded: every alias counts its anchor's whole subtree
        self.tallest = 0  # the highest child (a scalar is 0)
        self.key: Any = _NO_KEY
        self.merges: list[Mapping[Any, Any]] = []


class _YamlBuilder:
    """Plain Python values straight from YAML events, with the safe loader's tags and resolution.

    PyYAML's own loader composes a node graph first, several times the size of the result (a 10 MB export
    takes some 350 MB to load); building from the event stream needs no graph, and checks as it goes. An
    alias stands for its anchor's whole subtree, so a few lines of nested aliases can stand for a billion
    nodes: each anchor's expanded size and height are counted once, when it closes, and an alias to an
    anchor still open (a recursive structure) is refused outright. Only the safe loader's scalar tags and
    plain mappings and sequences are accepted (no !!set, !!omap, !!pairs, no application tags).
    """

    def __init__(self, text_length: int) -> None:
        self.frames = [_Frame([], None)]  # the stream itself: collects the document
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # closed anchor: value, expanded nodes, height
        self.spelled = 0
        self.via_aliases = 0
        self.budget = 2 * text_length + MAX_ALIAS_NODES  # no text spells out more nodes: stop a bomb early
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()
        self.plain: dict[str, Any] = {}

    def build(self, events: Iterable[Any]) -> Any:
        documents = 0
        for event in events:
            kind = type(event)
            if kind is yaml.ScalarEvent:
                self.spelled += 1
                value = self._scalar(event)
                if event.anchor is not None:
                    self.anchors[event.anchor] = (value, 1, 0)
                self._add(value, 1, 0)
            elif kind is yaml.MappingStartEvent:
                self._open(event, {}, _YAML + "map")
            elif kind is yaml.SequenceStartEvent:
                self._open(event, [], _YAML + "seq")
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                self._close()
            elif kind is yaml.AliasEvent:
                self._alias(event.anchor)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise DefinitionError("the definition holds more than one YAML document")
        if self.via_aliases > self.spelled + MAX_ALIAS_NODES:
            raise _alias_bomb(self.via_aliases)
        collected = self.frames[0].value
        return collected[0] if collected else None

    def _scalar(self, event: Any) -> Any:
        tag, value = event.tag, event.value
        remember = False
        if tag is None or tag == "!":
            if not event.implicit[0]:  # quoted: always a string
                return value
            found = self.plain.get(value, _MISSING)
            if found is not _MISSING:
                return found
            remember = len(self.plain) < _MAX_REMEMBERED_SCALARS and len(value) <= 64
            tag = self.resolver.resolve(yaml.ScalarNode, value, (True, False))
        if tag in _STR_TAGS:
            result: Any = value
        elif tag == _MERGE_TAG:
            result = _MERGE
        elif tag in _SCALAR_TAGS:
            result = self.constructor.yaml_constructors[tag](self.constructor, yaml.ScalarNode(tag, value))
        else:
            raise DefinitionError(f"the YAML tag {clip_text(str(tag), 60)} is not allowed")
        if remember:
            self.plain[value] = result
        return result

    def _open(self, event: Any, value: Any, own_tag: str) -> None:
        if event.tag not in (None, "!", own_tag):
            raise DefinitionError(f"the YAML tag {clip_text(str(event.tag), 60)} is not allowed")
        if len(self.frames) > MAX_DEFINITION_DEPTH:
            raise DefinitionError(f"the definition nests deeper than {MAX_DEFINITION_DEPTH} levels")
        self.spelled += 1
        if event.anchor is not None:
            self.anchors.pop(event.anchor, None)  # an alias to it before it closes is recursive
        self.frames.append(_Frame(value, event.anchor))

    def _close(self) -> None:
        frame = self.frames.pop()
        value = frame.value
        if frame.merges:  # `<<` keys: explicit keys win, then the earlier merged mapping
            merged: dict[Any, Any] = {}
            for source in frame.merges:
                merged.update(source)
            merged.update(value)
            value = merged
        height = frame.tallest + 1
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (value, frame.nodes, height)
        self._add(value, frame.nodes, height)

    def _alias(self, anchor: str) -> None:
        found = self.anchors.get(anchor)
        if found is None:
            raise DefinitionError("the definition has a recursive or undefined YAML alias")
        value, nodes, height = found
        self.via_aliases += nodes
        if len(self.frames) - 1 + height > MAX_DEFINITION_DEPTH:
            raise DefinitionError(f"the definition nests deeper than {MAX_DEFINITION_DEPTH} levels")
        if self.via_aliases > self.budget:
            raise _alias_bomb(self.via_aliases)
        self._add(value, nodes, height)

    def _add(self, value: Any, nodes: int, height: int) -> None:
        frame = self.frames[-1]
        frame.nodes += nodes
        frame.tallest = max(frame.tallest, height)
        container = frame.value
        if type(container) is list:
            if value is _MERGE:
                raise DefinitionError("a YAML merge key (<<) stands where a value should")
            container.append(value)
        elif frame.key is _NO_KEY:
            try:
                hash(value)
            except TypeError:
                raise DefinitionError("a YAML mapping key is a collection") from None
            frame.key = value
        elif frame.key is _MERGE:
            frame.merges.extend(_merge_sources(value))
            frame.key = _NO_KEY
        else:
            if value is _MERGE:
                raise DefinitionError("a YAML merge key (<<) stands where a value should")
            container[frame.key] = value
            frame.key = _NO_KEY


def _merge_sources(value: Any) -> list[Mapping[Any, Any]]:
    """What `<<: value` merges, from the weakest to the strongest (in a list, the first mapping wins)."""
    sources = [value] if isinstance(value, dict) else list(reversed(value)) if isinstance(value, list) else None
    if sources is None or not all(isinstance(source, dict) for source in sources):
        raise DefinitionError("a YAML merge key (<<) must merge a mapping or a list of mappings")
    return sources


def _alias_bomb(nodes: int) -> DefinitionError:
    return DefinitionError(f"the definition's YAML aliases stand for {nodes} nodes, far more than it spells out")


# --- reading a definition in place ------------------------------------------------------------------

_METHODS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_ANY_METHOD: Final = "x-apigateway-any-method"
_TEMPLATE: Final = re.compile(r"\{[^{}/]*\}")
_DEFAULT_MEDIA: Final = ("application/json",)
_MISSING: Final = object()
_ABSENT: Final = object()  # a key one side lacks, shown as "absent"


def _mapping(value: Any) -> Mapping[Any, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _media_types(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(str(item) for item in value)


def _shape(path: str) -> str:
    """A path with its parameter names blanked: `/users/{id}` and `/users/{userId}` are one shape."""
    return _TEMPLATE.sub(lambda match: "{+}" if match.group().endswith("+}") else "{}", path)


def _template_names(path: str) -> list[str]:
    return [match.group()[1:-1].rstrip("+") for match in _TEMPLATE.finditer(path)]


@dataclass(frozen=True, slots=True)
class _Op:
    method: str
    path: str
    item: Mapping[Any, Any]  # the path item, for its shared parameters
    body: Mapping[Any, Any]  # the operation object


class _Document:
    """One definition, read where it lies: a `$ref` is looked up when needed, never copied."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self._targets: dict[str, Any] = {}
        self.consumes = _media_types(root.get("consumes")) or _DEFAULT_MEDIA
        self.produces = _media_types(root.get("produces")) or _DEFAULT_MEDIA

    def follow(self, value: Any) -> tuple[Any, str | None]:
        """`value` with its local `$ref`s followed, and the first ref (None for an inline value).

        A remote or dangling ref stays as it is: an opaque `{"$ref": ...}` compared as a string.
        """
        first: str | None = None
        for _ in range(MAX_REF_HOPS):
            if not isinstance(value, dict):
                break
            ref = value.get("$ref")
            if not isinstance(ref, str) or not ref.startswith("#/"):
                break
            target = self._target(ref)
            if target is _MISSING:
                break
            first = first or ref
            value = target
        return value, first

    def _target(self, ref: str) -> Any:
        found = self._targets.get(ref, _MISSING)
        if found is _MISSING:
            found = self._targets[ref] = self._walk(ref)
        return found

    def _walk(self, ref: str) -> Any:
        node: Any = self.root
        for index, raw in enumerate(ref[2:].split("/")):
            # the top-level key is taken as spelled (the unchanged-operation shortcut relies on it)
            key = (unquote(raw) if index else raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                if key in node:
                    node = node[key]
                elif key.isdigit() and int(key) in node:  # YAML reads `200:` as an int key
                    node = node[int(key)]
                else:
                    return _MISSING
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return _MISSING
        return node

    def operations(self) -> dict[tuple[str, str], _Op]:
        found: dict[tuple[str, str], _Op] = {}
        for raw_path, raw_item in _mapping(self.root.get("paths")).items():
            path = clean_text(str(raw_path))
            item, _ = self.follow(raw_item)
            for key, body in _mapping(item).items():
                name = str(key).lower()
                method = "ANY" if name == _ANY_METHOD else name.upper() if name in _METHODS else None
                if method is not None and isinstance(body, dict):
                    found[(method, path)] = _Op(method, path, item, body)
        return found

    def request_media(self, op: _Op) -> tuple[str, ...]:
        return _media_types(op.body.get("consumes")) or self.consumes

    def response_media(self, op: _Op) -> tuple[str, ...]:
        return _media_types(op.body.get("produces")) or self.produces


# --- diffing ----------------------------------------------------------------------------------------


def diff(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> DriftReport:
    """What changed from `baseline` to `current` (both as `load_definition` returns them)."""
    base, now = _Document(baseline), _Document(current)
    base_ops, now_ops = base.operations(), now.operations()
    pairs, removed, added = _match(base_ops, now_ops)
    differ = _Differ(base, now)
    changed = []
    for base_key, now_key in pairs:
        changes = differ.operation(base_ops[base_key], now_ops[now_key])
        if changes:
            op = now_ops[now_key]
            changed.append(OperationChange(op.path, op.method, tuple(changes)))
    return DriftReport(
        added=tuple(sorted(Operation(path, method) for method, path in added)),
        removed=tuple(sorted(Operation(path, method) for method, path in removed)),
        changed=tuple(sorted(changed, key=lambda op: (op.path, op.method))),
    )


_Key = tuple[str, str]  # (METHOD, path)


def _match(base: Mapping[_Key, _Op], now: Mapping[_Key, _Op]) -> tuple[list[tuple[_Key, _Key]], list[_Key], list[_Key]]:
    """Pair operations: the same path first, then the same shape when exactly one on each side has it."""
    pairs = [(key, key) for key in base if key in now]
    by_shape: dict[_Key, tuple[list[_Key], list[_Key]]] = {}
    for key in base:
        if key not in now:
            by_shape.setdefault((key[0], _shape(key[1])), ([], []))[0].append(key)
    for key in now:
        if key not in base:
            by_shape.setdefault((key[0], _shape(key[1])), ([], []))[1].append(key)
    removed: list[_Key] = []
    added: list[_Key] = []
    for olds, news in by_shape.values():
        if len(olds) == 1 and len(news) == 1:
            pairs.append((olds[0], news[0]))
        else:
            removed.extend(olds)
            added.extend(news)
    return pairs, removed, added


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):  # YAML may mix int and str keys, which cannot be sorted
        return repr(value)


def _show_all(values: Iterable[Any]) -> str:
    return ", ".join(_show(value) for value in values)


def _change(kind: str, location: str, detail: str, side: Side) -> Change:
    return Change(
        location=clip_text(location, MAX_LOCATION_BYTES),
        kind=kind,
        detail=clip_text(detail, MAX_DETAIL_BYTES),
        breaking=is_breaking(kind, side),
    )


_DOCUMENTATION: Final = frozenset(
    {"description", "summary", "title", "example", "examples", "externalDocs", "$comment"}
)
_OPERATION_HANDLED: Final = frozenset({"parameters", "requestBody", "responses", "consumes", "produces"})
_PARAMETER_OWN: Final = frozenset({"name", "in", "required", "schema", "content"})
# Swagger 2.0 describes a non-body parameter's value on the parameter itself
_UPPER_BOUNDS: Final = ("maximum", "maxLength", "maxItems", "maxProperties")
_LOWER_BOUNDS: Final = ("minimum", "minLength", "minItems", "minProperties")
_ZERO_MINIMA: Final = frozenset({"minLength", "minItems", "minProperties"})  # absent means 0
_BOUNDS: Final = (*_UPPER_BOUNDS, *_LOWER_BOUNDS, "exclusiveMaximum", "exclusiveMinimum")
_SWAGGER2_VALUE_KEYS: Final = frozenset(
    {*_BOUNDS, "type", "format", "items", "default", "pattern", "uniqueItems", "enum", "multipleOf", "x-nullable"}
)
_RESPONSE_HANDLED: Final = frozenset({"schema", "content"})


def _flat_diff(base: Any, now: Any, location: str) -> list[tuple[str, Any, Any]]:
    """Where two values differ, mapping by mapping (lists are compared whole); no recursion."""
    found: list[tuple[str, Any, Any]] = []
    pending: list[tuple[str, Any, Any, int]] = [(location, base, now, 0)]
    while pending:
        where, old, new, level = pending.pop()
        if isinstance(old, dict) and isinstance(new, dict) and level < MAX_DEFINITION_DEPTH:
            for key in set(old) | set(new):
                if key in _DOCUMENTATION:
                    continue
                old_value, new_value = old.get(key, _ABSENT), new.get(key, _ABSENT)
                if old_value != new_value:
                    pending.append((f"{where}.{key}", old_value, new_value, level + 1))
        else:
            found.append((where, old, new))
    return found


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    body: Mapping[Any, Any]

    @property
    def required(self) -> bool:
        return self.body.get("in") == "path" or self.body.get("required") is True


@dataclass(frozen=True, slots=True)
class _Request:
    """A request body in both generations' terms: Swagger 2.0's `in: body` parameter or OpenAPI 3's requestBody.

    `required` is None for a Swagger 2.0 operation with form parameters only: it has media types, no body.
    """

    required: bool | None
    content: Mapping[str, Any]  # media type -> schema (None: not described)


_Item = tuple[str, str, str]  # kind, location below the schema's own, detail
_Found = tuple[list[_Item], frozenset[object]]  # and the cycles cut short (a result depending on them is not cached)
_TOO_DEEP: Final = object()


class _Differ:
    """Compares operations of two documents; remembers schema comparisons between named refs."""

    def __init__(self, base: _Document, now: _Document) -> None:
        self.base, self.now = base, now
        self._known: dict[tuple[str, str, Side], list[_Item]] = {}
        self._open: set[tuple[object, object]] = set()
        self._moved = self._moved_sections()

    def _moved_sections(self) -> tuple[str, ...] | None:
        """`#/key` for each top-level key whose value differs (paths, info, ...), or None if one cannot be told.

        A `$ref` into any other key reads the same in both documents, so an operation spelled the same in both
        that points at none of these is unchanged, without a walk. A section that itself points into one of
        them spoils the shortcut for all, and so do new default media types (Swagger 2.0's consumes/produces).
        """
        base, now = self.base.root, self.now.root
        moved = [key for key in base.keys() | now.keys() if base.get(key, _ABSENT) != now.get(key, _ABSENT)]
        if not all(isinstance(key, str) and key.isidentifier() for key in moved):
            return None
        if "consumes" in moved or "produces" in moved:
            return None
        markers = tuple(f"#/{key}" for key in moved)
        if markers and any(_mentions(section, markers) for key, section in base.items() if key not in moved):
            return None
        return markers

    def _unchanged(self, old: _Op, new: _Op) -> bool:
        """Spelled the same, with no `$ref` into a moved section (a conservative test on the repr: C speed)."""
        if self._moved is None or old.path != new.path:
            return False
        if not self._moved:  # the documents are equal
            return True
        old_shared, new_shared = old.item.get("parameters"), new.item.get("parameters")
        if old.body != new.body or old_shared != new_shared:
            return False
        shown = repr((old.body, old_shared))
        return not any(marker in shown for marker in self._moved)

    def operation(self, old: _Op, new: _Op) -> list[Change]:
        if self._unchanged(old, new):
            return []
        found: list[Change] = []
        if old.path != new.path:
            found.append(_change("path.parameter_renamed", "path", f"{old.path} -> {new.path}", Side.OPERATION))
        old_params, old_body = self._parameters(self.base, old)
        new_params, new_body = self._parameters(self.now, new)
        self._compare_parameters(old_params, new_params, found)
        self._compare_request(self._request(self.base, old, old_body), self._request(self.now, new, new_body), found)
        self._compare_responses(old, new, found)
        self._compare_extensions(old, new, found)
        found.sort()
        return found

    # parameters

    def _parameters(
        self, doc: _Document, op: _Op
    ) -> tuple[dict[tuple[str, str], _Parameter], Mapping[Any, Any] | None]:
        """Parameters by (in, name), path-level ones overridden by the operation's; path parameters by position."""
        names = _template_names(op.path)
        found: dict[tuple[str, str], _Parameter] = {}
        body: Mapping[Any, Any] | None = None
        for raw in (*_items(op.item.get("parameters")), *_items(op.body.get("parameters"))):
            param, _ = doc.follow(raw)
            if not isinstance(param, dict):
                continue
            where, name = param.get("in"), param.get("name")
            if not isinstance(where, str) or not isinstance(name, str):
                continue
            if where == "body":
                body = param
            elif where == "path" and name in names:
                found[(where, f"#{names.index(name)}")] = _Parameter(name, param)
            else:
                found[(where, name.lower() if where == "header" else name)] = _Parameter(name, param)
        return found, body

    def _compare_parameters(
        self, old: Mapping[tuple[str, str], _Parameter], new: Mapping[tuple[str, str], _Parameter], found: list[Change]
    ) -> None:
        side = Side.REQUEST
        for key in old.keys() | new.keys():
            where = key[0]
            if key not in new:
                found.append(_change("parameter.removed", f"{where}.{old[key].name}", "", side))
                continue
            now = new[key]
            location = f"{where}.{now.name}"
            if key not in old:
                kind = "parameter.added_required" if now.required else "parameter.added_optional"
                found.append(_change(kind, location, "required" if now.required else "optional", side))
                continue
            before = old[key]
            if now.required != before.required:
                kind = "parameter.made_required" if now.required else "parameter.made_optional"
                detail = "optional -> required" if now.required else "required -> optional"
                found.append(_change(kind, location, detail, side))
            old_schema, old_rest = self._parameter_parts(before.body)
            new_schema, new_rest = self._parameter_parts(now.body)
            self._add_schema(found, old_schema, new_schema, location, side)
            for where_, was, is_ in _flat_diff(old_rest, new_rest, location):
                found.append(_change("parameter.changed", where_, f"{_show(was)} -> {_show(is_)}", side))

    @staticmethod
    def _parameter_parts(param: Mapping[Any, Any]) -> tuple[Any, dict[Any, Any]]:
        """A parameter's value schema (OpenAPI 3's `schema`/`content`, or Swagger 2.0's own keys) and the rest."""
        if "schema" in param:
            schema = param["schema"]
        elif isinstance(param.get("content"), dict):
            media = next(iter(param["content"].values()), None)
            schema = media.get("schema") if isinstance(media, dict) else None
        else:
            schema = {key: value for key, value in param.items() if key in _SWAGGER2_VALUE_KEYS}
        rest = {
            key: value
            for key, value in param.items()
            if key not in _PARAMETER_OWN and key not in _SWAGGER2_VALUE_KEYS and key not in _DOCUMENTATION
        }
        return schema, rest

    # request body

    def _request(self, doc: _Document, op: _Op, body_param: Mapping[Any, Any] | None) -> _Request | None:
        if "requestBody" in op.body:
            body, _ = doc.follow(op.body["requestBody"])
            if not isinstance(body, dict):
                return None
            content = {
                str(media): (value.get("schema") if isinstance(value, dict) else None)
                for media, value in _mapping(body.get("content")).items()
            }
            return _Request(body.get("required") is True, content)
        if body_param is not None:
            schema = body_param.get("schema")
            return _Request(body_param.get("required") is True, dict.fromkeys(doc.request_media(op), schema))
        parameters = (*_items(op.item.get("parameters")), *_items(op.body.get("parameters")))
        if any(_mapping(doc.follow(raw)[0]).get("in") == "formData" for raw in parameters):
            return _Request(None, dict.fromkeys(doc.request_media(op)))
        return None

    def _compare_request(self, old: _Request | None, new: _Request | None, found: list[Change]) -> None:
        side = Side.REQUEST
        old_required = None if old is None else old.required
        new_required = None if new is None else new.required
        if old_required is None and new_required is not None:
            kind = "request_body.added_required" if new_required else "request_body.added_optional"
            found.append(_change(kind, "body", "required" if new_required else "optional", side))
        elif old_required is not None and new_required is None:
            found.append(_change("request_body.removed", "body", "", side))
        elif old_required is not None and new_required is not None and old_required != new_required:
            kind = "request_body.made_required" if new_required else "request_body.made_optional"
            detail = "optional -> required" if new_required else "required -> optional"
            found.append(_change(kind, "body", detail, side))
        if old is None or new is None or (old_required is None) != (new_required is None):
            return
        for media in sorted(old.content.keys() | new.content.keys()):
            location = f"body[{media}]"
            if media not in new.content:
                found.append(_change("content_type.removed", location, media, side))
            elif media not in old.content:
                found.append(_change("content_type.added", location, media, side))
            elif old.content[media] is not None or new.content[media] is not None:
                self._add_schema(found, old.content[media], new.content[media], location, side)

    # responses

    def _compare_responses(self, old: _Op, new: _Op, found: list[Change]) -> None:
        old_codes = {str(code): value for code, value in _mapping(old.body.get("responses")).items()}
        new_codes = {str(code): value for code, value in _mapping(new.body.get("responses")).items()}
        for code in sorted(old_codes.keys() | new_codes.keys()):
            if code.startswith("x-"):
                continue
            side = Side.SUCCESS if code.startswith("2") else Side.OTHER
            location = f"responses.{code}"
            if code not in new_codes:
                found.append(_change("response.removed", location, code, side))
            elif code not in old_codes:
                found.append(_change("response.added", location, code, side))
            else:
                self._compare_response(old, new, old_codes[code], new_codes[code], location, side, found)

    def _compare_response(
        self, old_op: _Op, new_op: _Op, old_raw: Any, new_raw: Any, location: str, side: Side, found: list[Change]
    ) -> None:
        old, _ = self.base.follow(old_raw)
        new, _ = self.now.follow(new_raw)
        old, new = _mapping(old), _mapping(new)
        old_content = self._response_content(self.base, old_op, old)
        new_content = self._response_content(self.now, new_op, new)
        for media in sorted(old_content.keys() | new_content.keys()):
            where = f"{location}[{media}]"
            if media not in new_content:
                found.append(_change("content_type.removed", where, media, side))
            elif media not in old_content:
                found.append(_change("content_type.added", where, media, side))
            else:
                self._add_schema(found, old_content[media], new_content[media], where, side)
        if old_content and not new_content:  # the body is gone, and every property it carried with it
            media = min(old_content)
            self._add_schema(found, old_content[media], None, f"{location}[{media}]", side)
        old_rest = {key: value for key, value in old.items() if key not in _RESPONSE_HANDLED}
        new_rest = {key: value for key, value in new.items() if key not in _RESPONSE_HANDLED}
        for where, was, is_ in _flat_diff(old_rest, new_rest, location):
            found.append(_change("response.changed", where, f"{_show(was)} -> {_show(is_)}", side))

    @staticmethod
    def _response_content(doc: _Document, op: _Op, response: Mapping[Any, Any]) -> dict[str, Any]:
        if "content" in response:
            return {
                str(media): (value.get("schema") if isinstance(value, dict) else None)
                for media, value in _mapping(response["content"]).items()
            }
        if "schema" in response:
            return dict.fromkeys(doc.response_media(op), response["schema"])
        return {}

    # x-apigateway-* and the rest of the operation

    @staticmethod
    def _compare_extensions(old: _Op, new: _Op, found: list[Change]) -> None:
        for key in old.body.keys() | new.body.keys():
            if key in _OPERATION_HANDLED or key in _DOCUMENTATION:
                continue
            was, is_ = old.body.get(key, _ABSENT), new.body.get(key, _ABSENT)
            if was == is_:
                continue
            name = str(key)
            if name == "x-apigateway-backend":
                kind = "backend.changed"
            elif name.startswith("x-apigateway-"):
                kind = "extension.changed"
            else:
                kind = "operation.changed"
            for where, before, after in _flat_diff(was, is_, name):
                found.append(_change(kind, where, f"{_show(before)} -> {_show(after)}", Side.OPERATION))

    # schemas

    def _add_schema(self, found: list[Change], old: Any, new: Any, location: str, side: Side) -> None:
        items, _ = self._schema(old, new, side, 0)
        found.extend(_change(kind, location + below, detail, side) for kind, below, detail in items)

    def _schema(self, old_raw: Any, new_raw: Any, side: Side, level: int) -> _Found:
        """Compare two schemas, following refs lazily; a recursive schema stops where it meets itself."""
        old, old_ref = self.base.follow(old_raw)
        new, new_ref = self.now.follow(new_raw)
        if level > MAX_COMPARE_DEPTH:
            items = [] if old == new else [("schema.changed", "", f"differs below {MAX_COMPARE_DEPTH} levels")]
            return items, frozenset({_TOO_DEEP})
        if old_ref is None and new_ref is None:
            return self._compare_schema(old, new, side, level)
        key = (old_ref or id(old), new_ref or id(new))
        if key in self._open:  # a cycle: the schema meets itself again, so compare by ref name
            same = _ref_name(old_ref) == _ref_name(new_ref)
            detail = f"{old_ref or 'inline'} -> {new_ref or 'inline'}"
            return ([] if same else [("schema.changed", "", detail)]), frozenset({key})
        known = (old_ref, new_ref, side) if old_ref and new_ref else None
        if known is not None and known in self._known:
            return self._known[known], frozenset()
        self._open.add(key)
        try:
            items, cut = self._compare_schema(old, new, side, level)
        finally:
            self._open.discard(key)
        cut = cut - {key}
        if known is not None and not cut:
            self._known[known] = items
        return items, cut

    def _compare_schema(self, old_raw: Any, new_raw: Any, side: Side, level: int) -> _Found:
        if not isinstance(old_raw, dict | None) or not isinstance(new_raw, dict | None):
            same = old_raw == new_raw
            return ([] if same else [("schema.changed", "", f"{_show(old_raw)} -> {_show(new_raw)}")]), frozenset()
        old, new = self._merged(self.base, old_raw), self._merged(self.now, new_raw)
        items: list[_Item] = []
        cut: set[object] = set()
        for rule in _VALUE_RULES:
            items.extend(rule(old, new))
        self._properties(old, new, side, level, items, cut)
        for word, below in (("items", "[]"), ("not", ".not")):
            if word in old or word in new:
                self._nested(old.get(word), new.get(word), below, side, level, items, cut)
        self._additional(old, new, side, level, items, cut)
        for word in ("oneOf", "anyOf"):
            self._variants(word, old.get(word), new.get(word), side, level, items, cut)
        for key in old.keys() | new.keys():
            if key in _SCHEMA_HANDLED or key in _DOCUMENTATION:
                continue
            was, is_ = old.get(key, _ABSENT), new.get(key, _ABSENT)
            if was != is_:
                items.append(("schema.changed", "", f"{key}: {_show(was)} -> {_show(is_)}"))
        return items, frozenset(cut)

    def _nested(
        self, old: Any, new: Any, below: str, side: Side, level: int, items: list[_Item], cut: set[object]
    ) -> None:
        found, cuts = self._schema(old, new, side, level + 1)
        items.extend((kind, below + where, detail) for kind, where, detail in found)
        cut.update(cuts)

    def _properties(
        self,
        old: Mapping[Any, Any],
        new: Mapping[Any, Any],
        side: Side,
        level: int,
        items: list[_Item],
        cut: set[object],
    ) -> None:
        old_props, new_props = _mapping(old.get("properties")), _mapping(new.get("properties"))
        old_required = {name for name in _items(old.get("required")) if isinstance(name, str | int)}
        new_required = {name for name in _items(new.get("required")) if isinstance(name, str | int)}
        for name in old_props.keys() | new_props.keys() | old_required | new_required:
            below = f".{name}"
            in_old, in_new = name in old_props, name in new_props
            if in_old and not in_new:
                items.append(("property.removed", below, str(name)))
            elif in_new and not in_old:
                if name in new_required:
                    items.append(("property.required_added", below, "new required property"))
                else:
                    items.append(("property.added", below, str(name)))
            if name in new_required and name not in old_required and not (in_new and not in_old):
                items.append(("property.required_added", below, "optional -> required"))
            elif name in old_required and name not in new_required and not (in_old and not in_new):
                items.append(("property.required_removed", below, "required -> optional"))
            if in_old and in_new:
                self._nested(old_props[name], new_props[name], below, side, level, items, cut)

    def _additional(
        self,
        old: Mapping[Any, Any],
        new: Mapping[Any, Any],
        side: Side,
        level: int,
        items: list[_Item],
        cut: set[object],
    ) -> None:
        was, is_ = old.get("additionalProperties"), new.get("additionalProperties")
        if was == is_ and not isinstance(was, dict):
            return
        if isinstance(was, dict) and isinstance(is_, dict):
            self._nested(was, is_, ".*", side, level, items, cut)
            return
        if _openness(was) == _openness(is_):
            return
        kind = "constraint.tightened" if _openness(is_) < _openness(was) else "constraint.relaxed"
        items.append((kind, "", f"additionalProperties {_show(was)} -> {_show(is_)}"))

    def _variants(
        self, word: str, old: Any, new: Any, side: Side, level: int, items: list[_Item], cut: set[object]
    ) -> None:
        if old == new and not isinstance(old, list):
            return
        if not isinstance(old, list) or not isinstance(new, list):
            kind = "constraint.tightened" if old is None else "constraint.relaxed"
            items.append((kind, "", f"{word} {'added' if old is None else 'removed'}"))
            return
        for index in range(min(len(old), len(new))):
            self._nested(old[index], new[index], f".{word}[{index}]", side, level, items, cut)
        if len(new) > len(old):
            items.append(("constraint.relaxed", "", f"{word}: {len(new) - len(old)} variant(s) added"))
        elif len(new) < len(old):
            items.append(("constraint.tightened", "", f"{word}: {len(old) - len(new)} variant(s) removed"))

    @staticmethod
    def _merged(doc: _Document, schema: Mapping[Any, Any] | None) -> Mapping[Any, Any]:
        """A schema with its `allOf` parts folded in (properties and required merged); the schema itself otherwise."""
        if schema is None:
            return {}
        if not isinstance(schema.get("allOf"), list):
            return schema
        merged: dict[Any, Any] = {key: value for key, value in schema.items() if key != "allOf"}
        properties: dict[Any, Any] = dict(_mapping(merged.get("properties")))
        required: list[Any] = list(_items(merged.get("required")))
        pending = list(reversed(schema["allOf"]))
        seen: set[str] = set()
        budget = 256  # parts folded at most: a hostile allOf tree stays cheap
        while pending and budget:
            budget -= 1
            part, ref = doc.follow(pending.pop())
            if not isinstance(part, dict) or (ref is not None and ref in seen):
                continue
            if ref is not None:
                seen.add(ref)
            pending.extend(reversed(_items(part.get("allOf"))))
            for key, value in part.items():
                if key == "properties":
                    for name, prop in _mapping(value).items():
                        properties.setdefault(name, prop)
                elif key == "required":
                    required.extend(name for name in _items(value) if name not in required)
                elif key not in ("allOf", "$ref"):
                    merged.setdefault(key, value)
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged


def _mentions(value: Any, markers: tuple[str, ...]) -> bool:
    """Does any marker show in `value`'s repr? Large collections are opened up, so no repr is large."""
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict | list) and len(node) > 64:
            pending.extend(node.values() if isinstance(node, dict) else node)
            continue
        shown = repr(node)
        if any(marker in shown for marker in markers):
            return True
    return False


def _openness(additional: Any) -> int:
    """additionalProperties from the loosest (absent or true: 2) through a schema (1) to closed (false: 0)."""
    if additional is False:
        return 0
    return 1 if isinstance(additional, dict) else 2


def _ref_name(ref: str | None) -> str | None:
    """`#/definitions/Node` and `#/components/schemas/Node` are both Node: generations may differ."""
    return None if ref is None else ref.rsplit("/", 1)[-1]


# --- rules on a schema's own value keywords (each a small function of the two merged schemas) ----------


def _types(schema: Mapping[Any, Any]) -> frozenset[str] | None:
    """The JSON types a schema admits (None: any); `nullable` adds "null", properties/items imply their type."""
    raw = schema.get("type")
    if isinstance(raw, str):
        types = {raw}
    elif isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        types = set(raw)
    elif "properties" in schema:
        types = {"object"}
    elif "items" in schema:
        types = {"array"}
    else:
        return None
    if schema.get("nullable") is True or schema.get("x-nullable") is True:
        types.add("null")
    return frozenset(types)


def _covers(wide: frozenset[str] | None, narrow: frozenset[str] | None) -> bool:
    if wide is None:
        return True
    if narrow is None:
        return False
    return all(kind in wide or (kind == "integer" and "number" in wide) for kind in narrow)


def _show_types(types: frozenset[str] | None) -> str:
    return "any" if types is None else "|".join(sorted(types))


def _type_rule(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> Iterator[_Item]:
    was, is_ = _types(old), _types(new)
    if was == is_:
        return
    if _covers(is_, was):
        kind = "type.widened"
    elif _covers(was, is_):
        kind = "type.narrowed"
    else:
        kind = "type.changed"
    yield kind, "", f"{_show_types(was)} -> {_show_types(is_)}"


def _enum(schema: Mapping[Any, Any]) -> list[Any] | None:
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    return None


def _value_key(value: Any) -> str:
    """A hashable stand-in for an enum value (values may be lists or mappings; `1` and `true` stay apart)."""
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _enum_rule(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> Iterator[_Item]:
    was, is_ = _enum(old), _enum(new)
    if was is None and is_ is None:
        return
    if was is None:
        yield "enum.added", "", f"one of: {_show_all(is_ or [])}"
        return
    if is_ is None:
        yield "enum.removed", "", "any value"
        return
    old_keys, new_keys = {_value_key(value) for value in was}, {_value_key(value) for value in is_}
    gone = [value for value in was if _value_key(value) not in new_keys]
    fresh = [value for value in is_ if _value_key(value) not in old_keys]
    if gone:
        yield "enum.values_removed", "", f"removed: {_show_all(gone)}"
    if fresh:
        yield "enum.values_added", "", f"added: {_show_all(fresh)}"


_FORMAT_WIDENINGS: Final = frozenset({("int32", "int64"), ("float", "double")})


def _format_rule(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> Iterator[_Item]:
    was, is_ = old.get("format"), new.get("format")
    if was == is_:
        return
    if was is None:
        kind = "format.added"
    elif is_ is None:
        kind = "format.removed"
    elif (was, is_) in _FORMAT_WIDENINGS:
        kind = "format.widened"
    else:
        kind = "format.changed"
    yield kind, "", f"{_show(was if was is not None else _ABSENT)} -> {_show(is_ if is_ is not None else _ABSENT)}"


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bound(name: str, upper: bool, was: Any, is_: Any) -> _Item | None:
    """A maximum lowered (upper) or a minimum raised (lower), or added, tightens; the opposite relaxes."""
    if was == is_:
        return None
    old, new = _number(was), _number(is_)
    detail = f"{name} {_show(_ABSENT if was is None else was)} -> {_show(_ABSENT if is_ is None else is_)}"
    if (was is not None and old is None) or (is_ is not None and new is None):
        return "schema.changed", "", detail
    if name in _ZERO_MINIMA:
        old, new = old or 0, new or 0
    if old == new:
        return None
    if upper:
        tightened = new is not None and (old is None or new < old)
    else:
        tightened = new is not None and (old is None or new > old)
    return ("constraint.tightened" if tightened else "constraint.relaxed"), "", detail


def _bounds_rule(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> Iterator[_Item]:
    for names, upper in ((_UPPER_BOUNDS, True), (_LOWER_BOUNDS, False)):
        for name in names:
            found = _bound(name, upper, old.get(name), new.get(name))
            if found is not None:
                yield found
    for name, upper in (("exclusiveMaximum", True), ("exclusiveMinimum", False)):
        was, is_ = old.get(name), new.get(name)
        if was == is_:
            continue
        if isinstance(was, bool | None) and isinstance(is_, bool | None):  # Swagger 2.0 / OpenAPI 3.0: a flag
            tightened = is_ is True
            kind = "constraint.tightened" if tightened else "constraint.relaxed"
            yield kind, "", f"{name} {_show(bool(was))} -> {_show(bool(is_))}"
        else:  # OpenAPI 3.1: the bound itself
            found = _bound(name, upper, was, is_)
            if found is not None:
                yield found


def _flag_rule(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> Iterator[_Item]:
    """pattern, multipleOf and uniqueItems: added tightens, removed relaxes; a new pattern cannot be proven wider."""
    for name in ("pattern", "multipleOf", "uniqueItems"):
        was, is_ = old.get(name), new.get(name)
        if was == is_ or (name == "uniqueItems" and bool(was) == bool(is_)):
            continue
        if name == "uniqueItems":
            tightened = bool(is_)
        elif is_ is None:
            tightened = False
        elif name == "multipleOf" and _number(was) and _number(is_):
            tightened = was % is_ != 0  # multiples of 10 are all multiples of 5: 10 -> 5 relaxes
        else:
            tightened = True
        detail = f"{name} {_show(_ABSENT if was is None else was)} -> {_show(_ABSENT if is_ is None else is_)}"
        yield ("constraint.tightened" if tightened else "constraint.relaxed"), "", detail


_VALUE_RULES: Final = (_type_rule, _enum_rule, _format_rule, _bounds_rule, _flag_rule)
# what the rules above and _compare_schema look at; any other keyword that differs is a schema.changed
_SCHEMA_HANDLED: Final = frozenset(
    {*_BOUNDS, "type", "nullable", "x-nullable", "enum", "const", "format", "pattern", "multipleOf", "uniqueItems"}
) | frozenset({"properties", "required", "items", "not", "additionalProperties", "allOf", "oneOf", "anyOf"})
