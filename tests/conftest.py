"""One tracer provider for the whole test session, exporting to memory.

Services started in-process reuse it (a process has one global provider), so every test can read
the spans that the real code produced, after the same personal-data filter the exporter applies.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alexandrite.common.telemetry.exporters import ExportCounters, FilteringExporter
from alexandrite.common.telemetry.order_context import OrderBaggageSpanProcessor

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider(resource=Resource.create({"service.name": "alexandrite-tests"}))
_PROVIDER.add_span_processor(OrderBaggageSpanProcessor())
_PROVIDER.add_span_processor(SimpleSpanProcessor(FilteringExporter(_EXPORTER, ExportCounters())))
trace.set_tracer_provider(_PROVIDER)

_TOKEN_ENV = "ALEXANDRITE_TELEMETRY_INTERNAL_TOKEN_FILE"
_token_directory = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    # The in-process services recognise each other's calls by an internal token, as in the
    # stack (docs/tracing.md, trust boundary): this session's own, never the stack's.
    if _TOKEN_ENV not in os.environ:
        directory = Path(tempfile.mkdtemp(prefix="alexandrite-tests-"))
        token = directory / "internal-token"
        token.write_text(secrets.token_urlsafe(32))
        os.environ[_TOKEN_ENV] = str(token)
        config.stash[_token_directory] = directory


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = config.stash.get(_token_directory, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
        os.environ.pop(_TOKEN_ENV, None)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans finished during the test (cleared before it)."""
    _EXPORTER.clear()
    yield _EXPORTER


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Fuzzing leaves the in-process services with junk data and aborted uploads: it runs after
    # the functional tests. Tests that stop a shared server (RabbitMQ, the Collector) run last.
    items.sort(
        key=lambda item: (
            item.get_closest_marker("disruptive") is not None,
            item.get_closest_marker("fuzz") is not None,
        )
    )
