"""Database statements on the span they run in; a span of their own only when it says something.

An order runs some 80 statements, each ~1 ms; as spans they were two thirds of an order's spans
and most of tracing's CPU, and they hid the spans that matter. By default (``fold``) a statement
adds to two attributes of the span it runs in (the request, consumer or business span):
``db.statement_count`` and ``db.total_duration_ms``. It becomes a span of its own, named per the
semantic conventions (``SELECT orders``, ``INSERT outbox``), only when it took longer than the
threshold or failed (with the exception and status ERROR). ``spans`` emits every statement as a
span, as the SQLAlchemy instrumentation did.

Our own listeners on the engine (``before_cursor_execute``, ``after_cursor_execute``,
``handle_error``) instead of the instrumentation's ``EngineTracer``: that one starts a span per
statement and also listens to every pool checkout and checkin to feed a connection-usage metric
we do not export. A fast folded statement costs two clock reads and two attribute updates.
Instrumentation suppressed (the outbox relay's housekeeping) is honoured.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.engine import Engine

__all__ = [
    "STATEMENT_COUNT",
    "TOTAL_DURATION_MS",
    "StatementMode",
    "StatementTracer",
    "statement_span_name",
]

StatementMode = Literal["fold", "spans"]

STATEMENT_COUNT = "db.statement_count"
TOTAL_DURATION_MS = "db.total_duration_ms"

# Where the start time of a statement waits for its end, on SQLAlchemy's execution context.
_STARTED = "_alexandrite_statement_started_ns"
_SPAN = "_alexandrite_statement_span"

# The first keyword, then the table after FROM / INTO / UPDATE (optionally schema-qualified and
# quoted). Not an SQL parser: SQLAlchemy writes our statements, and those read this way.
_OPERATION = re.compile(r"\s*(?:/\*.*?\*/\s*)?(\w+)", re.DOTALL)
_TABLE = re.compile(
    r"\b(?:FROM|INTO|UPDATE|JOIN)\s+((?:\"[^\"]+\"|\w+)(?:\.(?:\"[^\"]+\"|\w+))?)",
    re.IGNORECASE,
)
_NAME_CACHE_LIMIT = 1024


@dataclass(frozen=True)
class _Statement:
    name: str
    operation: str
    table: str | None


_names: dict[str, _Statement] = {}


def _describe(statement: str) -> _Statement:
    # SQLAlchemy caches compiled statements, so the same few hundred strings come back: parse
    # each once. Bounded, in case something builds statements with literals inside.
    known = _names.get(statement)
    if known is not None:
        return known
    match = _OPERATION.match(statement)
    operation = match.group(1).upper() if match else "SQL"
    table_match = _TABLE.search(statement) if operation != "WITH" else None
    table = table_match.group(1).replace('"', "") if table_match else None
    described = _Statement(f"{operation} {table}" if table else operation, operation, table)
    if len(_names) < _NAME_CACHE_LIMIT:
        _names[statement] = described
    return described


def statement_span_name(statement: str) -> str:
    """``{operation} {table}``, as the semantic conventions name a database span."""
    return _describe(statement).name


class StatementTracer:
    """Listens to one engine's statements; see the module's docstring for what it records."""

    def __init__(
        self,
        tracer: trace.Tracer,
        engine: Engine,
        *,
        mode: StatementMode = "fold",
        slow_ms: float = 100.0,
    ) -> None:
        self._tracer = tracer
        self._mode = mode
        self._slow_ns = int(slow_ms * 1_000_000)
        url = engine.url
        self._attributes: dict[str, Any] = {"db.system": _system(engine.dialect.name)}
        if url.database:
            self._attributes["db.namespace"] = url.database
        if url.host:
            self._attributes["server.address"] = url.host
        if url.port:
            self._attributes["server.port"] = url.port
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "handle_error", self._error)

    def _span_attributes(self, statement: str) -> dict[str, Any]:
        described = _describe(statement)
        attributes = dict(self._attributes)
        attributes["db.operation.name"] = described.operation
        if described.table:
            attributes["db.collection.name"] = described.table
        # Bound parameters are never recorded: the text holds placeholders, not values.
        attributes["db.query.text"] = statement[:2048]
        return attributes

    def _before(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if context is None or not is_instrumentation_enabled():
            return
        started = time.time_ns()
        setattr(context, _STARTED, started)
        if self._mode == "spans":
            span = self._tracer.start_span(
                statement_span_name(statement),
                kind=SpanKind.CLIENT,
                attributes=self._span_attributes(statement),
                start_time=started,
            )
            setattr(context, _SPAN, span)

    def _after(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        started: int | None = getattr(context, _STARTED, None)
        if started is None:
            return
        setattr(context, _STARTED, None)
        ended = time.time_ns()
        span = getattr(context, _SPAN, None)
        if span is not None:
            setattr(context, _SPAN, None)
            span.end(end_time=ended)
            return
        self._fold(ended - started)
        if ended - started >= self._slow_ns:
            self._emit(statement, started, ended, {"db.statement.slow": True})

    def _error(self, exception_context: Any) -> None:
        context = exception_context.execution_context
        started: int | None = getattr(context, _STARTED, None) if context is not None else None
        if started is None:
            return
        setattr(context, _STARTED, None)
        ended = time.time_ns()
        error = exception_context.original_exception
        attributes = {"error.type": type(error).__qualname__}
        span = getattr(context, _SPAN, None)
        if span is None:
            self._fold(ended - started)
            span = self._tracer.start_span(
                statement_span_name(exception_context.statement or ""),
                kind=SpanKind.CLIENT,
                attributes=self._span_attributes(exception_context.statement or ""),
                start_time=started,
            )
        else:
            setattr(context, _SPAN, None)
        span.set_attributes(attributes)
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error)[:512]))
        span.end(end_time=ended)

    def _fold(self, duration_ns: int) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        so_far: Mapping[str, Any] = getattr(span, "attributes", None) or {}
        count = int(so_far.get(STATEMENT_COUNT, 0)) + 1
        total = float(so_far.get(TOTAL_DURATION_MS, 0.0)) + duration_ns / 1_000_000
        span.set_attributes({STATEMENT_COUNT: count, TOTAL_DURATION_MS: round(total, 3)})

    def _emit(self, statement: str, started: int, ended: int, extra: dict[str, Any]) -> None:
        attributes = self._span_attributes(statement)
        attributes.update(extra)
        span = self._tracer.start_span(
            statement_span_name(statement),
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=started,
        )
        span.end(end_time=ended)


def _system(dialect: str) -> str:
    # The semantic conventions' names for db.system.
    return {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mariadb"}.get(
        dialect, dialect
    )
