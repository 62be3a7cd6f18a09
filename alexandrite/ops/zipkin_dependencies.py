"""Zipkin's dependency links on OpenSearch: what the zipkin-dependencies job does, in Python.

Zipkin's Elasticsearch storage never links spans itself: its dependency page reads the links of
each day from `zipkin-dependency-YYYY-MM-DD`, which upstream's Spark job
(io.zipkin.dependencies:zipkin-dependencies) fills. The only release Maven Central has (2.6.4,
Spark 2.4) cannot run on Java 17 (docs/scaling.md), so this job does the same work:

1. read the day's spans from `zipkin-span-YYYY-MM-DD` under a point in time, sorted by traceId
   and paged with search_after, a page at a time (memory: one page, or one trace that fills a
   page on its own, at most the 10,000 spans Zipkin's own trace view reads);
2. link each trace as Zipkin's DependencyLinker does (alexandrite.ops.dependency_linker);
3. write one document per (parent, child) with the job's own document shape (`id`
   "parent|child", parent, child, callCount, errorCount) into the day's dependency index, whose
   template Zipkin installs at start, and delete the day's documents this run did not find, in
   one bulk request: a rerun overwrites the day.

Like upstream it links the spans stored under one day: a trace that crosses midnight UTC is
linked as two. Upstream groups by the low 64 bits of the trace id, we by the whole id; Zipkin
here keeps STRICT_TRACE_ID on, under which ids of different lengths are different traces anyway.

    python -m alexandrite.ops.zipkin_dependencies                     # yesterday and today
    python -m alexandrite.ops.zipkin_dependencies --day 2026-12-01    # one day
    python -m alexandrite.ops.zipkin_dependencies --every 3600        # both, every hour, forever

Errors:
    OpenSearchError (alexandrite.ops.opensearch): the node refused a request, or Zipkin has not
    installed its dependency index template yet.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from alexandrite.ops.dependency_linker import DependencyLinker, Link, Span
from alexandrite.ops.opensearch import OpenSearchError, OpenSearchNode
from alexandrite.ops.program import Program

__all__ = [
    "DayLinks",
    "dependency_index",
    "link_day",
    "read_traces",
    "span_index",
    "write_links",
    "zipkin_dependencies_program",
]

log = logging.getLogger(__name__)

# Zipkin reads at most this many spans of one trace (its SearchRequest.MAX_RESULT_WINDOW, the
# default index.max_result_window, which also caps a page).
TRACE_LIMIT = 10_000
# Pages of 10,000 spans linked a day about 1.5 times as fast as pages of 2,000 (fewer sorted
# searches; measured alternately on 150,000 spans); a page of trimmed spans is a few MB.
PAGE_SIZE = TRACE_LIMIT
_KEEP_ALIVE = "5m"
# What linking reads of a span; the rest (names, annotations, other tags) stays on the node.
_FIELDS = [
    "traceId", "id", "parentId", "kind", "shared", "timestamp",
    "localEndpoint", "remoteEndpoint", "tags.error",
]  # fmt: skip
_TEMPLATES = [
    "/_template/zipkin-dependency_template",
    "/_index_template/zipkin-dependency_template",
]


def span_index(day: date) -> str:
    return f"zipkin-span-{day.isoformat()}"


def dependency_index(day: date) -> str:
    return f"zipkin-dependency-{day.isoformat()}"


@dataclass(frozen=True)
class DayLinks:
    """One day's run: what was read and the links written."""

    day: date
    traces: int
    spans: int
    links: list[Link]


def _decode(hits: list[dict[str, Any]]) -> list[Span]:
    spans = []
    for hit in hits:
        try:
            spans.append(Span.from_json(hit["_source"]))
        except (KeyError, TypeError, ValueError) as exc:
            # As upstream: a span that cannot be decoded is skipped, its trace still linked.
            log.warning("skipping span %s: %s", hit.get("_id"), exc)
    return spans


class _PointInTime:
    """An OpenSearch point in time over one index: searches see the index as it was."""

    def __init__(self, client: httpx.Client, index: str) -> None:
        self.client = client
        response = client.post(
            f"/{index}/_search/point_in_time", params={"keep_alive": _KEEP_ALIVE}
        )
        self.id: str | None = None
        if response.status_code == 404:
            return  # no span that day
        self.id = _checked(response).json()["pit_id"]

    def search(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        assert self.id is not None
        body = {**body, "pit": {"id": self.id, "keep_alive": _KEEP_ALIVE}}
        result = _checked(self.client.post("/_search", json=body)).json()
        self.id = result.get("pit_id", self.id)
        hits: list[dict[str, Any]] = result["hits"]["hits"]
        return hits

    def close(self) -> None:
        if self.id is not None:
            self.client.request("DELETE", "/_search/point_in_time", json={"pit_id": [self.id]})


def _by_trace(hits: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: list[list[dict[str, Any]]] = []
    for hit in hits:
        if groups and groups[-1][0]["_source"]["traceId"] == hit["_source"]["traceId"]:
            groups[-1].append(hit)
        else:
            groups.append([hit])
    return groups


def read_traces(
    client: httpx.Client, day: date, page_size: int = PAGE_SIZE
) -> Iterator[list[Span]]:
    """The day's traces, one list of spans each, in traceId order."""
    pit = _PointInTime(client, span_index(day))
    if pit.id is None:
        return
    try:
        cursor: str | None = None
        while True:
            body: dict[str, Any] = {"size": page_size, "sort": [{"traceId": "asc"}]}
            body["_source"] = _FIELDS
            if cursor is not None:
                body["search_after"] = [cursor]
            groups = _by_trace(pit.search(body))
            if len(groups) == 1 and sum(map(len, groups)) == page_size:
                # One trace fills the page: read it alone, up to what Zipkin itself would show.
                cursor = groups[0][0]["_source"]["traceId"]
                query = {"term": {"traceId": cursor}}
                hits = pit.search({"size": TRACE_LIMIT, "query": query, "_source": _FIELDS})
                if len(hits) == TRACE_LIMIT:
                    log.warning("trace %s: linking its first %d spans only", cursor, TRACE_LIMIT)
                yield _decode(hits)
                continue
            full = sum(map(len, groups)) == page_size
            # A full page may end inside a trace: that one is read again from the next page.
            complete = groups[:-1] if full else groups
            for group in complete:
                yield _decode(group)
            if not full:
                return
            cursor = complete[-1][0]["_source"]["traceId"]
    finally:
        pit.close()


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        request = response.request
        raise OpenSearchError(
            f"{request.method} {request.url.path} answered {response.status_code}: "
            f"{response.text[:2000]}"
        )
    return response


def _template_installed(client: httpx.Client) -> bool:
    return any(client.get(path).status_code == 200 for path in _TEMPLATES)


def write_links(client: httpx.Client, day: date, links: list[Link]) -> None:
    """Make the day's dependency index hold exactly `links` (Zipkin reads them from there)."""
    index = dependency_index(day)
    if links and not _template_installed(client):
        # Without Zipkin's template the index would get dynamic mappings and a replica.
        raise OpenSearchError("Zipkin has not installed its zipkin-dependency template yet")
    ids = [f"{link.parent}|{link.child}" for link in links]
    lines = []
    for doc_id, link in zip(ids, links, strict=True):
        lines.append(json.dumps({"index": {"_index": index, "_id": doc_id}}))
        document: dict[str, str | int] = {"id": doc_id, "parent": link.parent}
        document |= {"child": link.child, "callCount": link.call_count}
        document["errorCount"] = link.error_count
        lines.append(json.dumps(document))
    # Links of an earlier run that this one did not find (e.g. after a fix to linking) go. The
    # index holds one small document per link, and Zipkin reads at most 10,000 of them.
    existing = client.post(
        f"/{index}/_search",
        params={"ignore_unavailable": "true"},
        json={"size": TRACE_LIMIT, "_source": False},
    )
    written = set(ids)
    for hit in _checked(existing).json()["hits"]["hits"]:
        if hit["_id"] not in written:
            lines.append(json.dumps({"delete": {"_index": index, "_id": hit["_id"]}}))
    if not lines:
        return
    response = client.post(
        "/_bulk",
        params={"refresh": "true"},
        content="\n".join(lines) + "\n",
        headers={"Content-Type": "application/x-ndjson"},
    )
    if _checked(response).json().get("errors"):
        raise OpenSearchError(f"writing the links of {day} failed: {response.text[:2000]}")


def link_day(url: str, day: date, page_size: int = PAGE_SIZE) -> DayLinks:
    """Link the spans of `day` (UTC) at the node `url` and write the day's links."""
    started = time.monotonic()
    linker = DependencyLinker()
    traces = spans = 0
    try:
        with httpx.Client(base_url=url, timeout=60.0) as client:
            for trace in read_traces(client, day, page_size):
                linker.put_trace(trace)
                traces += 1
                spans += len(trace)
            links = linker.links()
            write_links(client, day, links)
    except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
        raise OpenSearchError(f"dependency links of {day} at {url} failed: {exc}") from exc
    log.info(
        "dependencies %s: %d links from %d spans in %d traces (%.1f s)",
        day, len(links), spans, traces, time.monotonic() - started,
    )  # fmt: skip
    return DayLinks(day, traces, spans, links)


def zipkin_dependencies_program(every_s: int = 3600, url: str = "") -> Program:
    """The job that links yesterday's and today's spans at its start and every `every_s` s."""
    return Program(
        name="zipkin-dependencies",
        command=[
            sys.executable,
            "-m",
            "alexandrite.ops.zipkin_dependencies",
            "--every",
            str(every_s),
            "--url",
            url or OpenSearchNode().url,
        ],
        priority=90,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alexandrite.ops.zipkin_dependencies")
    parser.add_argument("--day", type=date.fromisoformat, help="YYYY-MM-DD (UTC)")
    parser.add_argument("--url", default=OpenSearchNode().url)
    parser.add_argument("--every", type=int, help="seconds between runs; runs forever")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    while True:
        started = time.monotonic()
        today = datetime.now(UTC).date()
        # Yesterday too: its last spans arrive after midnight (and the Collector may lag).
        days = [args.day] if args.day else [today - timedelta(days=1), today]
        try:
            for day in days:
                result = link_day(args.url, day)
                if args.every is None:
                    print(f"{day}: {len(result.links)} links from {result.spans} spans")
        except OpenSearchError as exc:
            if args.every is None:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            # OpenSearch or Zipkin may be starting: try again soon, not in an hour.
            log.warning("%s", exc)
            time.sleep(15)
            continue
        if args.every is None:
            return 0
        time.sleep(max(1.0, args.every - (time.monotonic() - started)))


if __name__ == "__main__":
    sys.exit(main())
