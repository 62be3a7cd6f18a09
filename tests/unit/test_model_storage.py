"""LocalDiskStore: streamed writes with sha256 and size, the size limit, reads, deletes."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alexandrite.common.errors import NotFound, PayloadTooLarge
from alexandrite.files.errors import ModelNotFound, ModelTooLarge
from alexandrite.files.samples import SampleKind, sample_bytes
from alexandrite.files.storage import LocalDiskStore, ModelStore


async def _chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _files_under(root: Path) -> list[Path]:
    return [Path(d) / f for d, _, files in os.walk(root) for f in files]


async def _read_all(store: ModelStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.open(key)])


@pytest.fixture
def store(tmp_path) -> LocalDiskStore:
    return LocalDiskStore(tmp_path / "models")


async def test_a_written_file_has_the_sha256_and_size_of_its_bytes(store):
    data = sample_bytes(SampleKind.BALL_STL)
    blob = await store.write(_chunks(data), max_bytes=10 * 1024 * 1024)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.size_bytes == len(data)
    assert store.path_for(blob.key).read_bytes() == data
    assert await _read_all(store, blob.key) == data


async def test_a_stream_of_many_small_chunks_past_the_write_batch_is_stored_whole(store):
    data = os.urandom(3 * 1024 * 1024 + 17)
    blob = await store.write(_chunks(data, size=1000), max_bytes=len(data))
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert await _read_all(store, blob.key) == data


async def test_a_file_of_exactly_the_limit_is_accepted(store):
    data = sample_bytes(SampleKind.CUBE_STL)
    blob = await store.write(_chunks(data, size=100), max_bytes=len(data))
    assert blob.size_bytes == len(data)


async def test_a_file_past_the_limit_is_refused_and_nothing_is_left_on_disk(store):
    data = sample_bytes(SampleKind.BALL_STL)
    with pytest.raises(ModelTooLarge) as caught:
        await store.write(_chunks(data), max_bytes=len(data) - 1)
    assert isinstance(caught.value, PayloadTooLarge)
    assert caught.value.status == 413
    assert caught.value.max_bytes == len(data) - 1
    assert _files_under(store.root) == []


async def test_a_stream_that_fails_midway_leaves_nothing_behind(store):
    async def failing() -> AsyncIterator[bytes]:
        yield b"solid half"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.write(failing(), max_bytes=1000)
    assert _files_under(store.root) == []


async def test_a_cancelled_upload_leaves_nothing_behind(store):
    started = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"x" * 2_000_000  # past the write batch, so a part reached the disk
        started.set()
        await asyncio.Event().wait()  # the client stops sending
        yield b""

    task = asyncio.create_task(store.write(stalled(), max_bytes=10_000_000))
    await asyncio.wait_for(started.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _files_under(store.root) == []


async def test_concurrent_writes_get_distinct_keys_and_keep_their_own_bytes(store):
    payloads = [os.urandom(200_000 + i) for i in range(20)]
    blobs = await asyncio.gather(
        *(store.write(_chunks(data, size=7000), max_bytes=1_000_000) for data in payloads)
    )
    assert len({blob.key for blob in blobs}) == len(payloads)
    for data, blob in zip(payloads, blobs, strict=True):
        assert blob.sha256 == hashlib.sha256(data).hexdigest()
        assert store.path_for(blob.key).read_bytes() == data
    assert sorted(_files_under(store.root)) == sorted(store.path_for(b.key) for b in blobs)


async def test_an_empty_stream_is_stored_as_an_empty_file(store):
    blob = await store.write(_chunks(b""), max_bytes=10)
    assert (blob.size_bytes, blob.sha256) == (0, hashlib.sha256(b"").hexdigest())


async def test_a_deleted_blob_is_gone_and_deleting_again_is_harmless(store):
    blob = await store.write(_chunks(b"v 0 0 0\n"), max_bytes=100)
    await store.delete(blob.key)
    await store.delete(blob.key)
    assert not store.path_for(blob.key).exists()
    with pytest.raises(ModelNotFound):
        await _read_all(store, blob.key)


async def test_a_local_copy_is_a_readable_path_and_a_missing_key_is_not_found(store):
    data = sample_bytes(SampleKind.CUBE_ASCII_STL)
    blob = await store.write(_chunks(data), max_bytes=len(data))
    async with store.local_copy(blob.key) as path:
        assert path.read_bytes() == data
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(ModelNotFound) as caught:
        async with store.local_copy(missing):
            pass
    assert isinstance(caught.value, NotFound)


@pytest.mark.parametrize(
    "key",
    ["../../etc/passwd", "not-a-uuid", "", "00000000-0000-4000-8000-00000000000A".upper()],
)
def test_keys_the_store_did_not_make_are_not_found_and_never_become_paths(store, key):
    with pytest.raises(ModelNotFound):
        store.path_for(key)


def test_the_local_store_satisfies_the_store_protocol(store):
    # A static check as much as a runtime one: mypy verifies this assignment.
    as_protocol: ModelStore = store
    assert as_protocol is store
