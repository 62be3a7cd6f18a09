"""Where uploaded model files live: the ``ModelStore`` interface and ``LocalDiskStore``.

An upload is streamed, never held in memory: ``write`` hashes (sha256) and counts the bytes as
they pass, stops at ``max_bytes`` with ``ModelTooLarge`` and leaves nothing behind, and only a
complete file becomes visible, by an atomic rename from a temporary name.

Keys are ids, not content hashes: each upload gets a fresh UUID (the service may use it as the
model id). Content addressing would share one file between two orders that upload the same bytes,
so deleting one model would need reference counting, and would tell a customer that somebody else
already uploaded this file; the sha256 is returned for the API and for deduplication later.

An S3-compatible backend implements the same protocol: ``write`` starts a multipart upload
(``CreateMultipartUpload``) under a fresh key, buffers the stream into parts of at least 5 MiB
(S3's minimum except for the last part), hashing and counting as here, sends each with
``UploadPart``, and finishes with ``CompleteMultipartUpload``, which makes the object visible
at once, like the rename here; past ``max_bytes`` or on any error it calls
``AbortMultipartUpload`` so no parts linger (plus a bucket lifecycle rule to abort stale ones
after a crash). ``open`` streams ``GetObject``'s body; ``local_copy`` downloads to a temporary
file for trimesh and deletes it on exit; ``delete`` is ``DeleteObject``, idempotent like here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from alexandrite.files.errors import ModelNotFound, ModelTooLarge

__all__ = ["LocalDiskStore", "ModelStore", "StoredBlob"]

# Chunks from the network are small (64 KiB or less): batch them so that one thread hop
# writes about a megabyte, instead of paying a hop per chunk.
_WRITE_BATCH = 1024 * 1024
_READ_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A stored file: its key, the sha256 of its bytes (hex) and its size."""

    key: str
    sha256: str
    size_bytes: int


class ModelStore(Protocol):
    """Blob storage for model files; every method may be called concurrently."""

    async def write(self, stream: AsyncIterator[bytes], max_bytes: int) -> StoredBlob:
        """Store the stream under a new key; ``ModelTooLarge`` past ``max_bytes``."""
        ...

    def open(self, key: str) -> AsyncIterator[bytes]:
        """The stored bytes, in chunks; ``ModelNotFound`` if there is no such key."""
        ...

    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A local file path holding the bytes, for trimesh, valid inside the ``async with``."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing key is not an error."""
        ...


class LocalDiskStore:
    """Files under ``root/<first two hex digits of the key>/<key>``; temporaries in ``root/.tmp``.

    The temporary directory is inside ``root`` so the final rename never crosses a filesystem
    and is atomic. All file I/O runs in threads (``asyncio.to_thread``), off the event loop.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"

    def path_for(self, key: str) -> Path:
        """Where the blob lives (for ``FileResponse``); ``ModelNotFound`` for a malformed key."""
        try:
            canonical = str(uuid.UUID(key))
        except ValueError:
            # Never build a path from text we did not make: "../etc/passwd" is not a key.
            raise ModelNotFound(key) from None
        if canonical != key:
            raise ModelNotFound(key)
        return self.root / key[:2] / key

    async def write(self, stream: AsyncIterator[bytes], max_bytes: int) -> StoredBlob:
        fd, tmp_name = await asyncio.to_thread(self._make_temporary)
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        size = 0
        pending = bytearray()
        try:
            with os.fdopen(fd, "wb") as file:
                async for chunk in stream:
                    size += len(chunk)
                    if size > max_bytes:
                        raise ModelTooLarge(max_bytes)
                    pending += chunk
                    if len(pending) >= _WRITE_BATCH:
                        await asyncio.to_thread(_write_and_hash, file, digest, bytes(pending))
                        pending.clear()
                await asyncio.to_thread(_finish, file, digest, bytes(pending))
            key = str(uuid.uuid4())
            final = self.root / key[:2] / key
            await asyncio.to_thread(final.parent.mkdir, parents=True, exist_ok=True)
            # On the loop on purpose: a rename in a thread could still land after a
            # cancellation had cleaned up, leaving a file nobody has the key of.
            os.replace(tmp, final)
        except BaseException:
            # Synchronous on purpose: this must run even when the task is being cancelled,
            # and unlinking one file costs microseconds.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return StoredBlob(key=key, sha256=digest.hexdigest(), size_bytes=size)

    async def open(self, key: str) -> AsyncIterator[bytes]:
        path = self.path_for(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise ModelNotFound(key) from None
        try:
            while chunk := await asyncio.to_thread(file.read, _READ_CHUNK):
                yield chunk
        finally:
            file.close()

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        path = self.path_for(key)
        if not await asyncio.to_thread(path.is_file):
            raise ModelNotFound(key)
        yield path

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    def _make_temporary(self) -> tuple[int, str]:
        self._tmp.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=self._tmp, prefix="upload-", suffix=".part")


def _write_and_hash(file: BinaryIO, digest: hashlib._Hash, data: bytes) -> None:
    # hashlib releases the GIL for large buffers, so hashing here does not stall the loop.
    digest.update(data)
    file.write(data)


def _finish(file: BinaryIO, digest: hashlib._Hash, data: bytes) -> None:
    _write_and_hash(file, digest, data)
    file.flush()
    # The rename that follows must not publish a file whose bytes are still only in cache.
    os.fsync(file.fileno())
