"""Zipkin's DependencyLinker in Python: the service-to-service links of one trace's spans.

A port of zipkin2.internal.DependencyLinker with the parts of SpanNode (the trace tree) and
Trace.merge (spans reported in pieces, client and server sharing one span id) it relies on, from
openzipkin/zipkin (zipkin/src/main/java/zipkin2/internal/). Same rules, so the links we write for
Zipkin's dependency page are the ones zipkin-dependencies would have written:

- links are made from SERVER and CONSUMER spans (parent = the caller), and from CLIENT and
  PRODUCER spans without children (child = their remote service: an uninstrumented peer);
- a span with no kind but both service names counts as a CLIENT;
- messaging spans link only to their broker (remoteEndpoint), never producer to consumer;
- local spans between a span and its nearest remote ancestor are skipped over;
- a span is an error when it has the tag `error` (an annotation named so does not count); a
  server span also counts its client's error when they are the two halves of one RPC;
- spans whose parent is missing hang from the root (or a synthetic root when there is none).

Spans are the JSON v2 dictionaries Zipkin stores (`Span.from_json`).
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["DependencyLinker", "Endpoint", "Link", "Span", "merge_links"]

_KINDS = (None, "CLIENT", "SERVER", "PRODUCER", "CONSUMER")


@dataclass(frozen=True)
class Endpoint:
    service_name: str | None = None
    ipv4: str | None = None
    ipv6: str | None = None
    port: int = 0

    @staticmethod
    def from_json(data: Mapping[str, Any] | None) -> Endpoint | None:
        if not data:
            return None
        name, ipv4, ipv6 = data.get("serviceName"), data.get("ipv4"), data.get("ipv6")
        port = data.get("port")
        # Zipkin's reader: null values are skipped, and an endpoint with no field is no endpoint.
        if name is None and ipv4 is None and ipv6 is None and port is None:
            return None
        # "" is no name; names are lowercase.
        return Endpoint(name.lower() if name else None, ipv4, ipv6, int(port or 0))

    def merged(self, other: Endpoint) -> Endpoint:
        return Endpoint(
            self.service_name or other.service_name,
            self.ipv4 or other.ipv4,
            self.ipv6 or other.ipv6,
            self.port or other.port,
        )


@dataclass(frozen=True)
class Span:
    """The fields of a Zipkin span that linking reads."""

    trace_id: str
    id: str
    parent_id: str | None = None
    kind: str | None = None  # CLIENT, SERVER, PRODUCER, CONSUMER or None
    shared: bool = False
    timestamp: int = 0
    local: Endpoint | None = None
    remote: Endpoint | None = None
    error: bool = False  # the tag "error" is present

    def __post_init__(self) -> None:
        # Zipkin's Span.Builder.build(): no span is its own parent, and a client is never shared.
        if self.parent_id == self.id:
            object.__setattr__(self, "parent_id", None)
        if self.shared and self.kind == "CLIENT":
            object.__setattr__(self, "shared", False)

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Span:
        parent = data.get("parentId")
        # Ids are lower hex, left-padded to 16; an all-zero parent id means no parent.
        parent_id = str(parent).lower().rjust(16, "0") if parent else None
        kind = data.get("kind") or None
        if kind not in _KINDS:
            raise ValueError(f"unknown span kind {kind!r}")  # Zipkin's decoder refuses it too
        return Span(
            trace_id=str(data["traceId"]).lower(),
            id=str(data["id"]).lower().rjust(16, "0"),
            parent_id=None if parent_id == "0" * 16 else parent_id,
            kind=kind,
            shared=data.get("shared") is True,
            timestamp=max(0, int(data.get("timestamp") or 0)),
            local=Endpoint.from_json(data.get("localEndpoint")),
            remote=Endpoint.from_json(data.get("remoteEndpoint")),
            error="error" in (data.get("tags") or {}),
        )

    @property
    def service(self) -> str | None:
        return self.local.service_name if self.local else None

    @property
    def remote_service(self) -> str | None:
        return self.remote.service_name if self.remote else None


@dataclass(frozen=True)
class Link:
    parent: str
    child: str
    call_count: int
    error_count: int = 0


def _merge_pieces(left: Span, right: Span) -> Span:
    # Span.Builder.merge: the first span's values win, the second fills what it lacks.
    def endpoint(a: Endpoint | None, b: Endpoint | None) -> Endpoint | None:
        return b if a is None else a if b is None else a.merged(b)

    return replace(
        left,
        parent_id=left.parent_id or right.parent_id,
        kind=left.kind or right.kind,
        timestamp=left.timestamp or right.timestamp,
        local=endpoint(left.local, right.local),
        remote=endpoint(left.remote, right.remote),
        error=left.error or right.error,
    )


class _EndpointTracker:
    """Trace.EndpointTracker: whether pieces of a span come from the same endpoint."""

    def __init__(self) -> None:
        self.service: str | None = None
        self.ipv4: str | None = None
        self.ipv6: str | None = None
        self.port = 0

    def try_merge(self, endpoint: Endpoint | None) -> bool:
        if endpoint is None:
            return True
        pairs = [
            (self.service, endpoint.service_name),
            (self.ipv4, endpoint.ipv4),
            (self.ipv6, endpoint.ipv6),
            (self.port or None, endpoint.port or None),
        ]
        if any(mine and theirs and mine != theirs for mine, theirs in pairs):
            return False
        self.service = self.service or endpoint.service_name
        self.ipv4 = self.ipv4 or endpoint.ipv4
        self.ipv6 = self.ipv6 or endpoint.ipv6
        self.port = self.port or endpoint.port
        return True


def _null_last(left: str | None, right: str | None) -> int:
    if left is None:
        return 0 if right is None else 1
    if right is None:
        return -1
    return (left > right) - (left < right)


def _cleanup_order(left: Span, right: Span) -> int:
    # Trace.CLEANUP_COMPARATOR: by id, then clients and unshared first, then endpoint (null first).
    if left.id != right.id:
        return -1 if left.id < right.id else 1
    if left.shared != right.shared:
        return 1 if left.shared else -1
    left_client, right_client = left.kind == "CLIENT", right.kind == "CLIENT"
    if not left.shared and left_client != right_client:
        return -1 if left_client else 1
    a, b = left.local, right.local
    if a is None or b is None:
        return 0 if a is b else -1 if a is None else 1
    return (
        _null_last(a.service_name, b.service_name)
        or _null_last(a.ipv4, b.ipv4)
        or _null_last(a.ipv6, b.ipv6)
    )


def merge_trace(spans: Iterable[Span]) -> list[Span]:
    """Trace.merge: join pieces of one span and mark unflagged server halves of an RPC shared."""
    result = sorted(spans, key=functools.cmp_to_key(_cleanup_order))
    if len(result) <= 1:
        return result
    merged: list[Span] = []
    index = 0
    while index < len(result):
        span = result[index]
        tracker: _EndpointTracker | None = None
        while index + 1 < len(result) and result[index + 1].id == span.id:
            following = result[index + 1]
            if tracker is None:
                tracker = _EndpointTracker()
                tracker.try_merge(span.local)
            if span.shared == following.shared and tracker.try_merge(following.local):
                span = _merge_pieces(span, following)
                del result[index + 1]
                continue
            break
        last = merged[-1] if merged else None
        if last is not None and last.id == span.id:
            if last.kind == "CLIENT" and span.kind == "SERVER" and not span.shared:
                span = replace(span, shared=True)
            if span.shared and span.parent_id is None and last.parent_id is not None:
                span = replace(span, parent_id=last.parent_id)
        merged.append(span)
        index += 1
    return merged


@dataclass(eq=False)
class _Node:
    span: Span | None  # None for the synthetic root of a trace without one
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list)

    def add(self, child: _Node) -> None:
        self.children.append(child)
        child.parent = self

    def breadth_first(self) -> Iterator[_Node]:
        queue = deque(self.children if self.span is None else [self])
        while queue:
            node = queue.popleft()
            queue.extend(node.children)
            yield node


@dataclass(frozen=True)
class _SharedKey:
    id: str
    endpoint: Endpoint | None


_Key = str | _SharedKey


def _key(span_id: str, shared: bool, endpoint: Endpoint | None) -> _Key:
    return _SharedKey(span_id, endpoint) if shared else span_id


def _place(cleaned: list[Span]) -> tuple[_Node | None, dict[_Key, _Key | None], dict[_Key, _Node]]:
    """SpanNode.Builder's index() and process(): each span's node and the key of its parent."""
    span_to_parent: dict[_Key, _Key | None] = {}
    key_to_node: dict[_Key, _Node] = {}
    for span in cleaned:
        if span.shared:  # a server sharing its client's id: told apart by its endpoint
            span_to_parent[_key(span.id, True, span.local)] = span.id
        else:
            span_to_parent[span.id] = span.parent_id
    root: _Node | None = None
    for span in cleaned:
        key = _key(span.id, span.shared, span.local)
        no_endpoint = _key(span.id, span.shared, None) if span.local is not None else key
        parent: _Key | None = None
        if span.shared:
            parent = span.id
        elif span.parent_id is not None:
            # The child of a shared server span on the same endpoint hangs from that server.
            parent = _SharedKey(span.parent_id, span.local)
            if parent in span_to_parent:
                span_to_parent[no_endpoint] = parent
            else:
                parent = span.parent_id
        node = _Node(span)
        if parent is None and root is None:
            root = node  # the first root-most span is taken for the real root
            span_to_parent.pop(no_endpoint, None)
        else:
            key_to_node[no_endpoint] = node
            if span.shared:
                key_to_node[key] = node
    return root, span_to_parent, key_to_node


def build_tree(spans: list[Span]) -> _Node:
    """SpanNode.Builder.build: the trace tree; spans missing their parent hang from the root."""
    placed_root, span_to_parent, key_to_node = _place(merge_trace(spans))
    root = placed_root or _Node(None)
    for key, parent_key in span_to_parent.items():
        child = key_to_node.get(key)
        if child is None:
            continue  # a duplicate id Zipkin also drops
        found = key_to_node.get(parent_key) if parent_key is not None else None
        (found or root).add(child)
    queue = deque([root])
    while queue:  # children by timestamp, stable like Collections.sort
        node = queue.popleft()
        node.children.sort(key=lambda child: child.span.timestamp if child.span else 0)
        queue.extend(node.children)
    return root


def _remote_ancestor(node: _Node) -> Span | None:
    ancestor = node.parent
    while ancestor is not None:
        if ancestor.span is not None and ancestor.span.kind is not None:
            return ancestor.span
        ancestor = ancestor.parent
    return None


def _direction(
    node: _Node, span: Span, *, is_root: bool
) -> tuple[str, str | None, str | None] | None:
    """The span's kind as linked, its parent and child service; None when it links nothing."""
    kind = span.kind
    if kind == "CLIENT" and node.children:
        return None  # the server's side names the link
    service, remote = span.service, span.remote_service
    if kind is None:
        if service is None or remote is None:
            return None  # a local span
        kind = "CLIENT"
    if kind in ("SERVER", "CONSUMER"):
        if is_root and remote is None:
            return None  # the root's caller is unknown
        return kind, remote, service
    if kind in ("CLIENT", "PRODUCER"):
        return kind, service, remote
    return None


class DependencyLinker:
    """Counts calls and errors per (parent, child) over the traces put into it."""

    def __init__(self) -> None:
        self._calls: dict[tuple[str, str], int] = {}
        self._errors: dict[tuple[str, str], int] = {}

    def put_trace(self, spans: list[Span]) -> DependencyLinker:
        """All `spans` must belong to one trace."""
        if not spans:
            return self
        tree = build_tree(spans)
        for node in tree.breadth_first():
            span = node.span
            assert span is not None  # the synthetic root is never yielded
            self._link(node, span, is_root=node is tree)
        return self

    def _link(self, node: _Node, span: Span, *, is_root: bool) -> None:
        direction = _direction(node, span, is_root=is_root)
        if direction is None:
            return
        kind, parent, child = direction
        is_error = span.error
        if kind in ("PRODUCER", "CONSUMER"):
            if parent is not None and child is not None:
                self._add(parent, child, is_error)
            return
        ancestor = _remote_ancestor(node)
        if ancestor is not None and ancestor.service is not None:
            service = span.service
            if kind == "CLIENT" and service is not None and ancestor.service != service:
                self._add(ancestor.service, service, False)  # a client span missing its server
            if kind == "SERVER" or parent is None:
                parent = ancestor.service
            # One RPC split into a client and a server span: the client's error counts too.
            if not is_error and ancestor.kind == "CLIENT" and span.parent_id == ancestor.id:
                is_error = ancestor.error
        if parent is not None and child is not None:
            self._add(parent, child, is_error)

    def _add(self, parent: str, child: str, is_error: bool) -> None:
        pair = (parent, child)
        self._calls[pair] = self._calls.get(pair, 0) + 1
        if is_error:
            self._errors[pair] = self._errors.get(pair, 0) + 1

    def links(self) -> list[Link]:
        errors = self._errors
        return [Link(p, c, n, errors.get((p, c), 0)) for (p, c), n in self._calls.items()]


def merge_links(links: Iterable[Link]) -> list[Link]:
    """DependencyLinker.merge: one link per (parent, child), counts summed."""
    calls: dict[tuple[str, str], int] = {}
    errors: dict[tuple[str, str], int] = {}
    for link in links:
        pair = (link.parent, link.child)
        calls[pair] = calls.get(pair, 0) + link.call_count
        errors[pair] = errors.get(pair, 0) + link.error_count
    return [Link(p, c, n, errors[(p, c)]) for (p, c), n in calls.items()]
