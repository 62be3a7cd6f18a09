"""Schemathesis against each service's OpenAPI: no generated request gets a 5xx.

For every operation of the Shop, the CRM, the MES and the file storage (in-process, the
``platform`` fixture), schemathesis sends the schema's examples, its boundary ("coverage") cases
and Hypothesis-generated requests, valid and invalid (huge numbers, NUL bytes, long strings, bad
UUIDs, junk multipart bodies...), and checks each answer: never a server error, and an answer
the OpenAPI declares (status code, content type, body schema: errors are problem+json).

Each service is fuzzed twice: with generated ids (mostly unknown: 404s and 422s), then with the
path ids pinned to a real order, job or model, so that the requests reach the handlers and the
database. The services share the test's event loop, so the requests go from a worker thread
(schemathesis calls are blocking) while the loop keeps serving them. Generation is
derandomized, so a failure in CI is the same failure on a laptop: the report names the
operation and gives a curl command to replay it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test

from alexandrite.files.samples import SampleKind, sample_bytes
from tests.integration.conftest import Platform
from tests.integration.flow import place_order, submit, wait_for_crm_status, wait_for_job

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]

SERVICES = ("shop", "crm", "mes", "files")
# Generated requests per operation and pass (examples and boundary cases come on top).
MAX_EXAMPLES = 25
# A slow answer on a busy 2-core machine is not a bug; a request that hangs is.
DEADLINE = timedelta(seconds=5)
REQUEST_TIMEOUT_S = 15.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
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


def _fuzz(base_url: str, pinned: Mapping[str, str]) -> tuple[list[str], int]:
    """Every operation's test, ``pinned`` path parameters fixed (``{"path.order_id": ...}``).

    Returns the failures (one text per failing operation) and the number of requests sent.
    """
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    schema.config.generation.update(deterministic=True, database="none")
    schema.config.update(parameters=dict(pinned))
    session = requests.Session()
    failures: list[str] = []
    sent = 0

    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"an operation the OpenAPI does not describe well: {result.err()}")
            continue
        operation = result.ok()
        if pinned and not any(f"path.{p.name}" in pinned for p in operation.path_parameters):
            continue  # nothing to pin: the first pass covered it

        def check(case: schemathesis.Case[Any]) -> None:
            nonlocal sent
            sent += 1
            response = case.call(session=session, timeout=REQUEST_TIMEOUT_S)
            case.validate_response(response, checks=CHECKS)

        # The per-operation test that ``schema.parametrize()`` builds (examples, coverage and
        # fuzzing phases), called here: the pytest integration would call the API from the main
        # thread, blocking the event loop that serves the in-process services.
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
            failures.append(f"{operation.label} {dict(pinned) or ''}:\n{exc}")
    return failures, sent


async def _existing(platform: Platform, service: str) -> dict[str, str]:
    """A real resource of the service for its path ids, made through the public APIs."""
    async with httpx.AsyncClient(timeout=30) as client:
        if service == "files":
            uploaded = await client.post(
                f"{platform.files.url}/api/v1/models",
                files={"file": ("cube.stl", sample_bytes(SampleKind.CUBE_STL))},
            )
            assert uploaded.status_code == 201, uploaded.text
            return {"path.model_id": uploaded.json()["id"]}
        order_id = await place_order(client, platform)
        if service == "shop":
            return {"path.order_id": order_id}
        await submit(client, platform, order_id)
        await wait_for_crm_status(client, platform, order_id, "in_review")
        if service == "crm":
            return {"path.order_id": order_id}
        approved = await client.post(f"{platform.crm.url}/api/v1/orders/{order_id}/approve")
        assert approved.status_code == 200, approved.text
        job = await wait_for_job(client, platform, order_id)
        return {"path.job_id": str(job["id"])}


@pytest.mark.parametrize("service", SERVICES)
async def test_no_generated_request_gets_a_server_error_or_an_undocumented_answer(
    platform: Platform, service: str
) -> None:
    url = getattr(platform, service).url
    started = time.monotonic()
    failures, sent = await asyncio.to_thread(_fuzz, url, {})
    pinned = await _existing(platform, service)
    pinned_failures, pinned_sent = await asyncio.to_thread(_fuzz, url, pinned)
    failures += pinned_failures
    sent += pinned_sent
    elapsed = time.monotonic() - started
    assert sent > 0, f"schemathesis sent nothing to {service}"
    assert not failures, (
        f"{len(failures)} operation(s) of {service} failed ({sent} requests, {elapsed:.0f} s):\n\n"
        + "\n\n".join(failures)
    )
