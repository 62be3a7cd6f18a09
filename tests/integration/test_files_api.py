"""The 3D file storage API in-process, against a real PostgreSQL database and a temporary disk.

Uploads go through httpx's ASGI transport, which streams the request body to the app chunk by
chunk, so the streaming parser, the size limit and the clean-up run as they do behind uvicorn.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from alexandrite.common import platform
from alexandrite.common.settings import TelemetrySettings
from alexandrite.files.app import create_app
from alexandrite.files.samples import BAD_SAMPLES, GOOD_SAMPLES, SampleKind, sample_bytes
from alexandrite.files.settings import Settings
from alexandrite.ops.scratch_database import fresh_database
from tests.support.infra import TEST_VHOST

pytestmark = pytest.mark.integration

SMALL_LIMIT = 100 * 1024

# trimesh 5.2's figures for the samples (see alexandrite.files.samples).
REFERENCE: dict[SampleKind, tuple[str, int, float | None, tuple[float, float, float], bool]] = {
    SampleKind.CUBE_STL: ("stl", 12, 8.0, (20.0, 20.0, 20.0), True),
    SampleKind.CUBE_ASCII_STL: ("stl", 12, 8.0, (20.0, 20.0, 20.0), True),
    SampleKind.BALL_STL: ("stl", 20480, 33.492, (40.0, 40.0, 40.0), True),
    SampleKind.BALL_FINE_STL: ("stl", 327680, 113.094, (60.0, 60.0, 60.0), True),
    SampleKind.CAPSULE_3MF: ("3mf", 8192, 13.589, (20.0, 20.0, 50.0), True),
    SampleKind.TORUS_OBJ: ("obj", 32768, 12.316, (60.0, 60.0, 10.0), True),
    SampleKind.OPEN_CUP_STL: ("stl", 384, None, (30.0, 30.0, 30.0), False),
}
MEDIA_TYPES = {"stl": "model/stl", "obj": "model/obj", "3mf": "model/3mf"}
BAD_REASONS = {
    SampleKind.EMPTY: "the file is empty",
    SampleKind.TRUNCATED_STL: "truncated binary STL: the header declares 20480 triangles",
    SampleKind.GARBAGE: "unsupported format",
    SampleKind.ZERO_TRIANGLE_STL: "the mesh has no triangles",
    SampleKind.LYING_COUNT_STL: "the STL declares 1000 triangles but holds 12",
    SampleKind.THREEMF_WITHOUT_MODEL: "not a valid 3MF: the zip holds no 3D/3dmodel.model",
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def database_url() -> str:
    # Not the platform fixture's alexandrite_files_test: dropping that would pull the database
    # from under the shared in-process platform when both run in one session.
    return await fresh_database("files", "api_test")


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span the app ends, from whichever SDK provider the process has."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    yield exporter
    processor.shutdown()


def _settings(database_url: str, storage_dir: Path, max_upload_bytes: int) -> Settings:
    return Settings(
        database_url=database_url,
        storage_dir=storage_dir,
        max_upload_bytes=max_upload_bytes,
        analysis_workers=2,
        analysis_timeout_s=60,
        db_pool_size=4,
        # The test virtual host, left as it is: this service neither publishes nor consumes.
        amqp_url=f"amqp://guest:guest@{platform.HOST}:{platform.RABBITMQ.port}/{TEST_VHOST}",
    )


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, TelemetrySettings(enabled=False))
    # Starting the analysis workers (a forkserver importing trimesh) takes a few seconds.
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://files.test", timeout=120
        ) as client:
            yield client


@pytest.fixture(scope="module")
def storage_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def client(database_url, storage_dir, spans) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(_settings(database_url, storage_dir, 64 * 1024 * 1024)):
        yield client


@pytest.fixture(scope="module")
def small_storage_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("small-models")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def small_client(database_url, small_storage_dir, spans) -> AsyncIterator[httpx.AsyncClient]:
    """An instance whose upload limit (100 KiB) is below the 1 MB ball."""
    async for client in _client(_settings(database_url, small_storage_dir, SMALL_LIMIT)):
        yield client


def _files_under(root: Path) -> set[Path]:
    return {Path(d) / f for d, _, files in os.walk(root) for f in files}


async def _upload(
    client: httpx.AsyncClient, data: bytes, filename: str = "model.stl"
) -> httpx.Response:
    return await client.post("/api/v1/models", files={"file": (filename, data)})


def _assert_problem(response: httpx.Response, status: int, detail_part: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert detail_part in body["detail"]


def _attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _spans_named(exporter: InMemorySpanExporter, name: str, model_id: str) -> list[ReadableSpan]:
    return [
        span
        for span in exporter.get_finished_spans()
        if span.name == name and (span.attributes or {}).get("model.id") == model_id
    ]


@pytest.mark.parametrize("kind", GOOD_SAMPLES, ids=[kind.value for kind in GOOD_SAMPLES])
async def test_every_good_sample_is_stored_with_its_reference_analysis(client, kind):
    data = sample_bytes(kind)
    response = await _upload(client, data, kind.value)
    assert response.status_code == 201, response.text
    body = response.json()
    fmt, triangles, volume, bbox, watertight = REFERENCE[kind]
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["size_bytes"] == len(data)
    assert body["format"] == fmt
    assert body["filename"] == kind.value
    analysis = body["analysis"]
    assert analysis["triangles"] == triangles
    assert analysis["watertight"] is watertight
    if volume is None:
        assert analysis["volume_cm3"] is None
    else:
        assert analysis["volume_cm3"] == pytest.approx(volume, abs=0.001)
    assert analysis["bbox_mm"] == pytest.approx(list(bbox), abs=0.001)

    looked_up = await client.get(f"/api/v1/models/{body['id']}")
    assert looked_up.status_code == 200
    assert looked_up.json() == body


@pytest.mark.parametrize("kind", GOOD_SAMPLES, ids=[kind.value for kind in GOOD_SAMPLES])
async def test_the_content_of_a_stored_model_has_the_sha256_of_its_upload(client, kind):
    uploaded = (await _upload(client, sample_bytes(kind), kind.value)).json()
    digest = hashlib.sha256()
    async with client.stream("GET", f"/api/v1/models/{uploaded['id']}/content") as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == uploaded["sha256"]
    assert response.headers["etag"] == f'"{uploaded["sha256"]}"'
    assert response.headers["content-type"] == MEDIA_TYPES[uploaded["format"]]
    assert response.headers["content-length"] == str(uploaded["size_bytes"])
    assert kind.value in response.headers["content-disposition"]


@pytest.mark.parametrize("kind", BAD_SAMPLES, ids=[kind.value for kind in BAD_SAMPLES])
async def test_each_bad_sample_is_refused_with_its_reason_and_leaves_no_file(
    client, storage_dir, kind
):
    before = _files_under(storage_dir)
    response = await _upload(client, sample_bytes(kind), kind.value)
    _assert_problem(response, 422, BAD_REASONS[kind])
    assert _files_under(storage_dir) == before


async def test_an_upload_declared_past_the_limit_is_refused_before_it_is_read(
    small_client, small_storage_dir
):
    response = await _upload(small_client, sample_bytes(SampleKind.BALL_STL), "ball.stl")
    _assert_problem(response, 413, "larger than the limit of 102,400 bytes")
    assert _files_under(small_storage_dir) == set()


async def test_a_chunked_upload_past_the_limit_is_stopped_while_streaming(
    small_client, small_storage_dir
):
    data = sample_bytes(SampleKind.BALL_STL)
    boundary = "alexandrite-test-boundary"
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="ball.stl"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        yield head
        for start in range(0, len(data), 16 * 1024):
            sent.append(start)
            yield data[start : start + 16 * 1024]
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await small_client.post(
        "/api/v1/models",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    _assert_problem(response, 413, "larger than the limit")
    # Stopped soon after the limit, not after the whole megabyte.
    assert len(sent) * 16 * 1024 < SMALL_LIMIT + 64 * 1024
    assert _files_under(small_storage_dir) == set()


async def test_a_form_without_a_file_field_is_a_bad_request(client):
    response = await client.post("/api/v1/models", data={"notes": "no model"}, files={"x": b"y"})
    _assert_problem(response, 400, "no field named 'file'")


async def test_a_body_that_is_not_multipart_is_a_bad_request(client):
    as_json = await client.post("/api/v1/models", json={"file": "cube.stl"})
    _assert_problem(as_json, 400, "multipart/form-data")
    raw = await client.post(
        "/api/v1/models", content=sample_bytes(SampleKind.CUBE_STL), headers={"content-type": ""}
    )
    _assert_problem(raw, 400, "multipart/form-data")
    no_boundary = await client.post(
        "/api/v1/models", content=b"x", headers={"content-type": "multipart/form-data"}
    )
    _assert_problem(no_boundary, 400, "no boundary")


async def test_a_malformed_or_cut_off_multipart_body_is_a_bad_request_and_leaves_no_file(
    client, storage_dir
):
    before = _files_under(storage_dir)
    headers = {"content-type": "multipart/form-data; boundary=b"}
    garbled = await client.post("/api/v1/models", content=b"not a multipart body", headers=headers)
    _assert_problem(garbled, 400, "malformed multipart body")
    cut_off = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="cube.stl"\r\n\r\n'
        + sample_bytes(SampleKind.CUBE_STL)[:300]
    )
    truncated = await client.post("/api/v1/models", content=cut_off, headers=headers)
    _assert_problem(truncated, 400, "ended before its closing boundary")
    assert _files_under(storage_dir) == before


async def test_after_every_kind_of_bad_input_the_service_is_healthy_and_takes_a_good_upload(
    client, small_client
):
    for kind in BAD_SAMPLES:
        assert (await _upload(client, sample_bytes(kind), kind.value)).status_code == 422
    oversized = await _upload(small_client, sample_bytes(SampleKind.BALL_STL))
    assert oversized.status_code == 413
    assert (await client.post("/api/v1/models", files={"other": b"x"})).status_code == 400
    assert (await client.post("/api/v1/models", json={})).status_code == 400

    assert (await client.get("/health")).json()["status"] == "ok"
    assert (await small_client.get("/health")).status_code == 200
    good = await _upload(client, sample_bytes(SampleKind.CUBE_STL), "cube.stl")
    assert good.status_code == 201
    small_good = await _upload(small_client, sample_bytes(SampleKind.CUBE_STL), "cube.stl")
    assert small_good.status_code == 201


async def test_an_unknown_model_is_not_found_and_a_malformed_id_is_invalid(client):
    missing = "00000000-0000-4000-8000-000000000000"
    _assert_problem(await client.get(f"/api/v1/models/{missing}"), 404, missing)
    _assert_problem(await client.get(f"/api/v1/models/{missing}/content"), 404, missing)
    assert (await client.get("/api/v1/models/not-a-uuid")).status_code == 422


async def test_a_filename_is_kept_without_its_directories(client):
    response = await _upload(
        client, sample_bytes(SampleKind.CUBE_STL), 'C:\\Users\\ann\\parts\\my "bracket"\n v2.stl'
    )
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == 'my "bracket" v2.stl'
    content = await client.get(f"/api/v1/models/{response.json()['id']}/content")
    assert content.headers["content-disposition"] == (
        "attachment; filename*=utf-8''my%20%22bracket%22%20v2.stl"
    )


async def test_an_upload_is_traced_with_its_size_format_and_analysis(client, spans):
    response = await _upload(client, sample_bytes(SampleKind.TORUS_OBJ), "torus.obj")
    model_id = response.json()["id"]
    (upload,) = _spans_named(spans, "files.upload", model_id)
    (write,) = _spans_named(spans, "files.storage.write", model_id)
    (analysis,) = _spans_named(spans, "files.model.analysis", model_id)
    size = len(sample_bytes(SampleKind.TORUS_OBJ))
    assert _attributes(upload) | {"upload.duration_ms": 0, "upload.throughput_mib_s": 0} == {
        "model.id": model_id,
        "model.size_bytes": size,
        "model.format": "obj",
        "upload.duration_ms": 0,
        "upload.throughput_mib_s": 0,
    }
    assert _attributes(upload)["upload.throughput_mib_s"] > 0
    assert _attributes(write) == {
        "model.id": model_id,
        "model.size_bytes": size,
        "storage.backend": "local",
    }
    figures = _attributes(analysis)
    assert figures["analysis.duration_ms"] > 0
    assert figures | {"analysis.duration_ms": 0} == {
        "model.id": model_id,
        "model.format": "obj",
        "model.triangles": 32768,
        "model.volume_cm3": pytest.approx(12.316, abs=0.001),
        "model.watertight": True,
        "analysis.duration_ms": 0,
    }
    for child in (write, analysis):
        assert child.parent is not None
        assert child.parent.span_id == upload.context.span_id


async def test_a_bad_model_marks_its_analysis_span_as_an_error_with_the_reason(client, spans):
    spans.clear()
    response = await _upload(client, sample_bytes(SampleKind.LYING_COUNT_STL), "lying.stl")
    assert response.status_code == 422
    (analysis,) = [s for s in spans.get_finished_spans() if s.name == "files.model.analysis"]
    assert analysis.status.status_code is StatusCode.ERROR
    (event,) = [e for e in analysis.events if e.name == "exception"]
    assert "declares 1000 triangles" in str(dict(event.attributes or {})["exception.message"])
