"""The ``file`` field of a multipart/form-data upload, streamed as it arrives off the socket.

FastAPI's ``UploadFile`` spools the whole body to a temporary file before the route runs, so a
size limit could only be checked after a 10 GB upload had been received. Here the request body
is fed chunk by chunk to python-multipart's push parser (``python_multipart.MultipartParser``);
the bytes of the ``file`` part are handed on as they are parsed, so the store can hash, count and
stop them at the limit while the rest of the body is still on the wire.

Every way the body can be wrong is an ``InvalidInput`` (400) with the reason: not multipart, no
boundary, a malformed part, no ``file`` field, two of them, or a body that ends mid-part.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import AsyncIterator

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from alexandrite.common.errors import InvalidInput
from alexandrite.files.errors import ModelTooLarge

__all__ = ["FILE_FIELD", "MULTIPART_OVERHEAD_BYTES", "UploadForm", "safe_filename"]

FILE_FIELD = "file"
# What a form may add around the file's bytes: boundaries, part headers and a few small fields.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
_FILENAME_MAX = 255
_PATH_SEPARATORS = re.compile(r"[\\/]")
# Control, format and line/paragraph separator characters: invisible, or break headers and logs
# (and PostgreSQL refuses NUL in text).
_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def safe_filename(raw: str | None) -> str | None:
    """The name to keep and to offer on download: no directories, nothing unprintable, ≤255.

    An over-long name keeps its extension, which tells the person who downloads it the format.
    """
    if raw is None:
        return None
    name = _PATH_SEPARATORS.split(raw)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in _UNPRINTABLE).strip()
    if name in ("", ".", ".."):
        return None
    if len(name) > _FILENAME_MAX:
        stem, extension = os.path.splitext(name)
        if 0 < len(extension) <= 16:
            name = stem[: _FILENAME_MAX - len(extension)] + extension
        else:
            name = name[:_FILENAME_MAX]
    return name


def _unescape(name: str) -> str:
    # The HTML form encoding (WHATWG) escapes just these three in a part's filename; any other
    # "%" is the name's own, so a general percent-decoding would change names.
    return name.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


class UploadForm:
    """Parses one multipart body; ``file_chunks()`` yields the ``file`` part's bytes.

    ``filename`` is known once the first chunk has been yielded. The whole body is bounded too
    (``max_file_bytes`` plus ``MULTIPART_OVERHEAD_BYTES``), so that other parts cannot carry
    unbounded data; the store enforces ``max_file_bytes`` on the file's own bytes.
    """

    def __init__(
        self, body: AsyncIterator[bytes], content_type: str | None, max_file_bytes: int
    ) -> None:
        media_type, options = parse_options_header(content_type)
        if media_type != b"multipart/form-data":
            raise InvalidInput(
                f"send the model as multipart/form-data with a field named {FILE_FIELD!r}, "
                f"not as {media_type.decode('latin-1') or 'a body without a content type'}"
            )
        boundary = options.get(b"boundary")
        if not boundary:
            raise InvalidInput("the multipart/form-data content type has no boundary")
        self._body = body
        self._max_file_bytes = max_file_bytes
        self.filename: str | None = None
        self.found = False
        self._in_file = False
        self._file_complete = False
        self._ended = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._pending: list[bytes] = []
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
            )
        except Exception as error:  # an over-long boundary, for one
            raise InvalidInput(f"unusable multipart boundary: {error}") from error

    async def file_chunks(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self._body:
            received += len(chunk)
            if received > self._max_file_bytes + MULTIPART_OVERHEAD_BYTES:
                raise ModelTooLarge(self._max_file_bytes)
            try:
                self._parser.write(chunk)
            except MultipartParseError as error:
                raise InvalidInput(f"malformed multipart body: {error}") from error
            if self._pending:
                data = b"".join(self._pending)
                self._pending.clear()
                yield data
        if not self.found:
            raise InvalidInput(f"the form has no field named {FILE_FIELD!r}")
        if not self._file_complete or not self._ended:
            raise InvalidInput("the multipart body ended before its closing boundary")

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data" or options.get(b"name") != FILE_FIELD.encode():
            return
        if self.found:
            raise InvalidInput(f"the form has more than one {FILE_FIELD!r} field: send one model")
        self.found = True
        self._in_file = True
        raw = options.get(b"filename")
        # Browsers send the name as raw UTF-8; parse_options_header hands it back as latin-1.
        self.filename = safe_filename(_unescape(raw.decode("utf-8", "replace")) if raw else None)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pending.append(data[start:end])

    def _on_part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._file_complete = True

    def _on_end(self) -> None:
        self._ended = True
