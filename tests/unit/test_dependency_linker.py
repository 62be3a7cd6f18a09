"""The DependencyLinker port on hand-written spans: Zipkin's own DependencyLinkerTest cases
(zipkin/src/test/java/zipkin2/internal/DependencyLinkerTest.java), same inputs, same links."""

from __future__ import annotations

import pytest

from alexandrite.ops.dependency_linker import DependencyLinker, Endpoint, Link, Span, merge_links


def span(
    parent_id: str | None,
    span_id: str,
    kind: str | None,
    local: str | None,
    remote: str | None,
    error: bool = False,
    *,
    shared: bool = False,
    trace_id: str = "a",
) -> Span:
    """DependencyLinkerTest.span(): short hex ids, padded as Zipkin's builder pads them."""
    data: dict[str, object] = {"traceId": trace_id, "id": span_id, "kind": kind, "shared": shared}
    if parent_id is not None:
        data["parentId"] = parent_id
    if local is not None:
        data["localEndpoint"] = {"serviceName": local}
    if remote is not None:
        data["remoteEndpoint"] = {"serviceName": remote}
    if error:
        data["tags"] = {"error": ""}
    return Span.from_json(data)


def links(*traces: list[Span]) -> list[Link]:
    linker = DependencyLinker()
    for trace in traces:
        linker.put_trace(trace)
    return linker.links()


# In reverse order, as reporting is more likely to happen that way.
TRACE = [
    span("b", "c", "CLIENT", "app", "db", True),
    span("a", "b", "SERVER", "app", "web", shared=True),
    span("a", "b", "CLIENT", "web", "app"),
    span(None, "a", "SERVER", "web", None),
]
WEB_APP_DB = [Link("web", "app", 1), Link("app", "db", 1, 1)]


def test_no_trace_makes_no_link() -> None:
    assert links() == []


def test_a_trace_links_each_rpc_once_and_counts_the_client_error() -> None:
    assert links(TRACE) == WEB_APP_DB


def test_the_trace_id_is_opaque() -> None:
    other = [Span.from_json({**_json(s), "traceId": "123"}) for s in TRACE]
    assert links(other) == WEB_APP_DB


def _json(s: Span) -> dict[str, object]:
    data: dict[str, object] = {"traceId": s.trace_id, "id": s.id, "kind": s.kind}
    data |= {"parentId": s.parent_id, "shared": s.shared, "tags": {"error": ""} if s.error else {}}
    if s.local:
        data["localEndpoint"] = {"serviceName": s.local.service_name}
    if s.remote:
        data["remoteEndpoint"] = {"serviceName": s.remote.service_name}
    return data


def test_a_shared_server_span_missing_its_parent_id_is_unwound() -> None:
    trace = [
        span(None, "a", "SERVER", "arn", None),
        span("a", "b", "CLIENT", "arn", "link"),
        span(None, "b", "SERVER", "link", "arn", shared=True),
    ]
    assert links(list(reversed(trace))) == [Link("arn", "link", 1)]


def test_a_late_parent_id_in_a_shared_span_resolves() -> None:
    late = [TRACE[0], span(None, "b", "SERVER", "app", "web", shared=True), *TRACE[2:]]
    assert links(late) == WEB_APP_DB


def test_a_shared_span_resolves_even_when_its_client_was_never_sent() -> None:
    orphan = [TRACE[0], span(None, "b", "SERVER", "app", "web", shared=True), TRACE[3]]
    assert links(orphan) == WEB_APP_DB


@pytest.mark.parametrize(
    ("producer_remote", "consumer_remote", "expected"),
    [
        (None, "kafka", [Link("kafka", "consumer", 1)]),
        ("kafka", None, [Link("producer", "kafka", 1)]),
        ("kafka", "kafka", [Link("producer", "kafka", 1), Link("kafka", "consumer", 1)]),
        ("kafka1", "kafka2", [Link("producer", "kafka1", 1), Link("kafka2", "consumer", 1)]),
        # Never a direct link from producer to consumer.
        (None, None, []),
    ],
)
def test_messaging_spans_link_only_to_their_broker(
    producer_remote: str | None, consumer_remote: str | None, expected: list[Link]
) -> None:
    trace = [
        span(None, "a", "PRODUCER", "producer", producer_remote),
        span("a", "b", "CONSUMER", "consumer", consumer_remote),
    ]
    assert links(trace) == expected


def test_a_server_child_of_a_producer_is_an_rpc() -> None:
    child = [
        span(None, "a", "PRODUCER", "producer", None),
        span("a", "b", "SERVER", "server", None),
    ]
    same = [
        span(None, "a", "PRODUCER", "producer", None),
        span(None, "a", "SERVER", "server", None, shared=True),
    ]
    assert links(child) == links(same) == [Link("producer", "server", 1)]


def test_a_client_does_not_link_to_a_consumer() -> None:
    trace = [
        span(None, "a", "CLIENT", "client", None),
        span("a", "b", "CONSUMER", "consumer", None),
    ]
    assert links(trace) == []


@pytest.mark.parametrize(
    "root",
    [
        span(None, "a", "SERVER", "server", "client"),
        # A shared flag on a client is dropped, as Zipkin's builder drops it.
        span(None, "a", "CLIENT", "client", "server", shared=True),
    ],
)
def test_a_root_span_that_knows_its_peer_is_linked_by_its_kind(root: Span) -> None:
    assert links([root]) == [Link("client", "server", 1)]


def test_calls_on_the_same_link_add_up_within_a_trace_and_across_traces() -> None:
    two_calls = [
        span(None, "a", "SERVER", "client", None),
        span("a", "b", "CLIENT", None, "server"),
        span("a", "c", "CLIENT", None, "server"),
    ]
    assert links(two_calls) == [Link("client", "server", 2)]
    assert links(two_calls[:2], two_calls[:2]) == [Link("client", "server", 2)]


@pytest.mark.parametrize("shared_id", [False, True])
def test_single_host_spans_count_one_call_and_one_error(shared_id: bool) -> None:
    client = span(None, "a", "CLIENT", "client", None, True)
    server = (
        span(None, "a", "SERVER", "server", None, True, shared=True)
        if shared_id
        else span("a", "b", "SERVER", "server", None, True)
    )
    assert links([client, server]) == [Link("client", "server", 1, 1)]


def test_single_host_spans_defer_the_name_to_the_server() -> None:
    trace = [
        span(None, "a", "CLIENT", "client", "server"),
        span("a", "b", "SERVER", "server", None),
    ]
    assert links(trace) == [Link("client", "server", 1)]
    fan_out = [*trace, span("a", "c", "SERVER", "server", None)]
    assert links(fan_out) == [Link("client", "server", 2)]


def test_single_host_spans_with_several_children_count_each_and_its_error() -> None:
    trace = [
        span(None, "a", "CLIENT", "client", None),
        span("a", "b", "SERVER", "server", "client", True),
        span("a", "c", "SERVER", "server", "client"),
    ]
    assert links(trace) == [Link("client", "server", 2, 1)]


def test_clients_behind_a_local_span_link_to_the_nearest_server_without_their_errors() -> None:
    for error in (False, True):
        trace = [
            span(None, "a", "SERVER", "client", None),
            span("a", "b", None, None, None),
            span("b", "c", "CLIENT", "server", None, error),
            span("b", "d", "CLIENT", "server", None, error),
        ]
        assert links(trace) == [Link("client", "server", 2)]


def test_errors_on_instrumented_links_are_counted() -> None:
    trace = [
        span(None, "a", "SERVER", "foo", None),
        span("a", "b", None, None, None),
        span("b", "c", "CLIENT", "bar", "baz", True),
        span("b", "d", "CLIENT", "bar", "baz"),
    ]
    assert links(trace) == [Link("foo", "bar", 2), Link("bar", "baz", 2, 1)]


def test_an_annotation_named_error_is_not_an_error() -> None:
    data: dict[str, object] = {"traceId": "a", "id": "c", "parentId": "b", "kind": "CLIENT"}
    data |= {"localEndpoint": {"serviceName": "foo"}, "remoteEndpoint": {"serviceName": "bar"}}
    spans = [Span.from_json({**data, "annotations": [{"timestamp": 1, "value": "error"}]})]
    assert links(spans) == [Link("foo", "bar", 1)]


@pytest.mark.parametrize("kind", ["SERVER", "CLIENT"])
def test_loopback_spans_link_a_service_to_itself(kind: str) -> None:
    assert links([span(None, "a", kind, "service", "service")]) == [Link("service", "service", 1)]


@pytest.mark.parametrize("error", [False, True])
def test_spans_without_a_kind_are_clients_when_both_services_are_known(error: bool) -> None:
    trace = [
        span(None, "a", None, "some-client", "web"),
        span("a", "b", None, "web", "app", error),
        span("b", "c", None, "app", "db"),
    ]
    expected = [
        Link("some-client", "web", 1),
        Link("web", "app", 1, int(error)),
        Link("app", "db", 1),
    ]
    assert links(trace) == expected


@pytest.mark.parametrize(
    ("kind", "local", "remote"),
    [
        ("SERVER", None, None),
        ("SERVER", "server", None),
        ("SERVER", None, "client"),
        ("CLIENT", None, None),
        ("CLIENT", "client", None),
        ("CLIENT", None, "server"),
    ],
)
def test_a_single_span_without_both_service_names_links_nothing(
    kind: str, local: str | None, remote: str | None
) -> None:
    assert links([span(None, "a", kind, local, remote)]) == []


def test_spans_whose_parent_is_missing_link_only_when_related() -> None:
    unrelated = [
        span("a", "b", "SERVER", "service1", None),
        span("a", "c", "SERVER", "service2", None),
    ]
    related = [
        span("a", "b", "SERVER", "service1", None),
        span("b", "c", "SERVER", "service2", None),
    ]
    assert links(unrelated) == []
    assert links(related) == [Link("service1", "service2", 1)]


@pytest.mark.parametrize("error", [False, True])
def test_client_and_server_spans_not_sharing_ids_are_linked(error: bool) -> None:
    trace = [span(None, "a", "CLIENT", "web", None, error), span("a", "b", "SERVER", "app", None)]
    assert links(trace) == [Link("web", "app", 1, int(error))]


def test_a_client_span_below_a_server_of_another_service_adds_the_missing_link() -> None:
    trace = [span(None, "a", "SERVER", "web", None), span("a", "b", "CLIENT", "app", None)]
    assert links(trace) == [Link("web", "app", 1)]


def test_pieces_of_one_span_are_merged_before_linking() -> None:
    # A client reported twice (start, then finish with its remote side and an error).
    pieces = [
        span(None, "a", "SERVER", "web", None),
        Span.from_json(
            {
                "traceId": "a",
                "id": "b",
                "parentId": "a",
                "kind": "CLIENT",
                "localEndpoint": {"serviceName": "web"},
            }
        ),
        Span.from_json(
            {
                "traceId": "a",
                "id": "b",
                "localEndpoint": {"serviceName": "web"},
                "remoteEndpoint": {"serviceName": "db"},
                "tags": {"error": "x"},
            }
        ),
    ]
    assert links(pieces) == [Link("web", "db", 1, 1)]


def test_endpoints_are_read_as_zipkin_reads_them() -> None:
    assert Endpoint.from_json({"serviceName": "Shop-API", "port": 443}) == Endpoint(
        "shop-api", port=443
    )
    assert Endpoint.from_json({}) is None
    assert Endpoint.from_json({"serviceName": None}) is None
    with pytest.raises(ValueError, match="kind"):
        Span.from_json({"traceId": "a", "id": "b", "kind": "INTERNAL"})


@pytest.mark.parametrize(
    ("merged", "expected"),
    [
        (
            [Link("foo", "bar", 2, 1), Link("foo", "bar", 2, 2), Link("foo", "foo", 1)],
            [Link("foo", "bar", 4, 3), Link("foo", "foo", 1)],
        ),
        (
            [Link("client", "server", 2), Link("client", "server", 2), Link("client", "client", 1)],
            [Link("client", "server", 4), Link("client", "client", 1)],
        ),
    ],
)
def test_links_merge_by_parent_and_child(merged: list[Link], expected: list[Link]) -> None:
    assert merge_links(merged) == expected
