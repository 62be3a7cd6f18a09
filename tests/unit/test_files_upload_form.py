"""UploadForm and safe_filename: the streamed multipart parsing of model uploads, no servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from alexandrite.common.errors import InvalidInput, PayloadTooLarge
from alexandrite.files.upload_form import MULTIPART_OVERHEAD_BYTES, UploadForm, safe_filename

BOUNDARY = "----b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def _part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"


def _form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(form: UploadForm) -> bytes:
    return b"".join([chunk async for chunk in form.file_chunks()])


@pytest.mark.parametrize("chunk_size", [1, 7, 100, 65536])
async def test_the_file_part_comes_out_whole_however_the_body_is_cut(chunk_size):
    data = bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n"
    body = _form(_part("notes", b"hello"), _part("file", data, "part.stl"), _part("x", b"y"))
    form = UploadForm(_chunks(body, chunk_size), CONTENT_TYPE, max_file_bytes=1 << 20)
    assert await _read(form) == data
    assert form.filename == "part.stl"


async def test_a_form_without_a_file_field_is_invalid_input():
    form = UploadForm(_chunks(_form(_part("notes", b"hi")), 10), CONTENT_TYPE, 1 << 20)
    with pytest.raises(InvalidInput, match="no field named 'file'"):
        await _read(form)


async def test_two_file_fields_are_refused():
    body = _form(_part("file", b"a", "a.stl"), _part("file", b"b", "b.stl"))
    with pytest.raises(InvalidInput, match="more than one"):
        await _read(UploadForm(_chunks(body, 10), CONTENT_TYPE, 1 << 20))


async def test_a_body_without_its_closing_boundary_is_invalid_input():
    body = _part("file", b"abc" * 100, "a.stl")
    with pytest.raises(InvalidInput, match="closing boundary"):
        await _read(UploadForm(_chunks(body, 10), CONTENT_TYPE, 1 << 20))


async def test_a_body_past_the_limit_and_its_allowance_is_refused_while_streaming():
    body = _form(_part("padding", b"x" * (MULTIPART_OVERHEAD_BYTES + 2000)), _part("file", b"a"))
    with pytest.raises(PayloadTooLarge):
        await _read(UploadForm(_chunks(body, 1000), CONTENT_TYPE, max_file_bytes=1000))


@pytest.mark.parametrize(
    "content_type", [None, "", "application/json", "multipart/form-data", "text/plain; boundary=x"]
)
def test_a_content_type_that_is_not_multipart_with_a_boundary_is_invalid_input(content_type):
    with pytest.raises(InvalidInput):
        UploadForm(_chunks(b"", 1), content_type, 1 << 20)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("cube.stl", "cube.stl"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ann\\cube.stl", "cube.stl"),
        ("bad\x00name\r\n.stl", "badname.stl"),
        ("  spaced .obj ", "spaced .obj"),
        ("..", None),
        ("dir/", None),
        ("", None),
        (None, None),
        ("Würfel 20 mm.3mf", "Würfel 20 mm.3mf"),
    ],
)
def test_a_filename_loses_directories_and_unprintable_characters(raw, expected):
    assert safe_filename(raw) == expected


def test_an_over_long_filename_is_cut_to_255_characters_keeping_its_extension():
    name = safe_filename("a" * 300 + ".stl")
    assert name is not None
    assert len(name) == 255
    assert name.endswith("a.stl")
