"""Format detection: the right kind for every sample, a precise reason for every broken file."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from alexandrite.common.errors import InvalidModel
from alexandrite.files.formats import (
    HEAD_BYTES,
    FormatKind,
    ModelFormat,
    detect_file_format,
    detect_format,
)
from alexandrite.files.samples import SampleKind, sample_bytes, write_sample


def _detect(data: bytes, filename: str | None = None) -> FormatKind:
    return detect_format(data[:HEAD_BYTES], len(data), filename).kind


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (SampleKind.CUBE_STL, FormatKind.STL_BINARY),
        (SampleKind.CUBE_ASCII_STL, FormatKind.STL_ASCII),
        (SampleKind.BALL_STL, FormatKind.STL_BINARY),
        (SampleKind.CAPSULE_3MF, FormatKind.THREE_MF),
        (SampleKind.TORUS_OBJ, FormatKind.OBJ),
        (SampleKind.OPEN_CUP_STL, FormatKind.STL_BINARY),
    ],
)
def test_each_good_sample_is_recognised_from_its_bytes_alone(kind, expected, tmp_path):
    assert _detect(sample_bytes(kind)) is expected
    assert detect_file_format(write_sample(kind, tmp_path)).kind is expected


def test_stl_kinds_share_the_stl_format_and_the_values_are_the_api_names():
    assert FormatKind.STL_BINARY.model_format is ModelFormat.STL
    assert FormatKind.STL_ASCII.model_format is ModelFormat.STL
    assert FormatKind.OBJ.model_format is ModelFormat.OBJ
    assert FormatKind.THREE_MF.model_format is ModelFormat.THREE_MF
    assert [f.value for f in ModelFormat] == ["stl", "obj", "3mf"]


def test_a_binary_stl_reports_its_declared_triangle_count():
    data = sample_bytes(SampleKind.BALL_STL)
    detection = detect_format(data[:HEAD_BYTES], len(data))
    assert detection.declared_triangles == 20480
    assert detection.format is ModelFormat.STL


def test_a_binary_stl_whose_header_starts_with_solid_is_still_binary():
    cube = sample_bytes(SampleKind.CUBE_STL)
    data = b"solid made by some CAD tool".ljust(80, b" ") + cube[80:]
    assert _detect(data, "part.stl") is FormatKind.STL_BINARY


def test_an_empty_file_is_refused_as_empty():
    with pytest.raises(InvalidModel, match=r"^the file is empty$"):
        _detect(sample_bytes(SampleKind.EMPTY), "empty.stl")


def test_a_truncated_binary_stl_is_reported_as_truncated_with_the_figures():
    with pytest.raises(InvalidModel) as caught:
        _detect(sample_bytes(SampleKind.TRUNCATED_STL), "ball.stl")
    assert str(caught.value) == (
        "truncated binary STL: the header declares 20480 triangles (1,024,084 bytes) "
        "but the file has 1,000 bytes and ends inside triangle 19"
    )


def test_a_binary_stl_shorter_than_its_header_is_truncated():
    with pytest.raises(InvalidModel, match=r"shorter than the 84-byte header"):
        _detect(b"\0" * 50, "tiny.stl")


def test_a_header_that_lies_about_the_count_is_named():
    with pytest.raises(InvalidModel, match=r"^the STL declares 1000 triangles but holds 12$"):
        _detect(sample_bytes(SampleKind.LYING_COUNT_STL), "cube.stl")


def test_a_binary_stl_with_trailing_bytes_is_not_accepted():
    data = sample_bytes(SampleKind.CUBE_STL) + b"\x01\x02\x03"
    with pytest.raises(InvalidModel, match=r"declares 12 triangles"):
        _detect(data, "cube.stl")


def test_garbage_bytes_are_an_unsupported_format():
    with pytest.raises(InvalidModel, match=r"^unsupported format: "):
        _detect(sample_bytes(SampleKind.GARBAGE), "garbage.bin")


def test_text_that_is_no_model_is_an_unsupported_format():
    with pytest.raises(InvalidModel, match=r"^unsupported format: .*'hello world'"):
        _detect(b"hello world\nthis is not a mesh\n", "notes.txt")


def test_a_zip_without_the_model_part_is_not_a_3mf(tmp_path):
    path = write_sample(SampleKind.THREEMF_WITHOUT_MODEL, tmp_path)
    assert _detect(path.read_bytes()) is FormatKind.THREE_MF  # the signature alone
    with pytest.raises(InvalidModel, match=r"^not a valid 3MF: the zip holds no 3D/3dmodel.model$"):
        detect_file_format(path)


def test_a_file_with_a_zip_signature_but_no_zip_is_not_a_3mf(tmp_path):
    path = tmp_path / "broken.3mf"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 200)
    with pytest.raises(InvalidModel, match=r"^not a valid 3MF: the zip cannot be read"):
        detect_file_format(path)


def test_the_3mf_model_part_is_found_whatever_its_letter_case(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("3d/3DModel.model", "<model/>")
    path = tmp_path / "case.3mf"
    path.write_bytes(buffer.getvalue())
    assert detect_file_format(path).kind is FormatKind.THREE_MF


def test_an_obj_is_recognised_by_its_vertex_lines_without_a_name():
    assert _detect(b"# exported\no thing\nv 1 2 3\nv 4 5 6\nv 7 8 9\nf 1 2 3\n") is FormatKind.OBJ


def test_an_obj_that_opens_with_a_long_comment_is_recognised_by_its_name():
    data = b"# " + b"x" * (2 * HEAD_BYTES) + b"\nv 0 0 0\n"
    assert _detect(data, "model.OBJ") is FormatKind.OBJ
    with pytest.raises(InvalidModel, match=r"^unsupported format"):
        _detect(data)


def test_a_binary_file_named_obj_is_not_taken_for_an_obj():
    with pytest.raises(InvalidModel, match=r"^unsupported format"):
        _detect(sample_bytes(SampleKind.GARBAGE), "model.obj")


def test_content_wins_over_a_misleading_name():
    assert _detect(sample_bytes(SampleKind.CUBE_STL), "model.obj") is FormatKind.STL_BINARY
    assert _detect(sample_bytes(SampleKind.TORUS_OBJ), "model.stl") is FormatKind.OBJ


def test_a_zero_triangle_stl_has_a_valid_header():
    # Its header is consistent (84 bytes, 0 triangles): the analysis refuses it, not detection.
    data = sample_bytes(SampleKind.ZERO_TRIANGLE_STL)
    assert data == b"\0" * 80 + struct.pack("<I", 0)
    assert detect_format(data, len(data)).declared_triangles == 0


def test_detection_reads_only_the_head_of_a_file(tmp_path: Path):
    path = write_sample(SampleKind.BALL_STL, tmp_path)
    head = path.read_bytes()[:HEAD_BYTES]
    assert detect_format(head, path.stat().st_size).kind is FormatKind.STL_BINARY
