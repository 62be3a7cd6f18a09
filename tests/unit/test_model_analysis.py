"""Model analysis: trimesh's reference figures for the samples, and InvalidModel for the rest."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from alexandrite.common.errors import InvalidModel
from alexandrite.files.analysis import ModelAnalysis, analyse_model
from alexandrite.files.formats import FormatKind, ModelFormat, detect_file_format
from alexandrite.files.samples import BAD_SAMPLES, SampleKind, sample_bytes, write_sample

# trimesh 5.2's own figures for these primitives (cm³ and mm, to 3 decimals).
REFERENCE = [
    (SampleKind.CUBE_STL, ModelFormat.STL, 12, 8.000, (20.0, 20.0, 20.0), True),
    (SampleKind.CUBE_ASCII_STL, ModelFormat.STL, 12, 8.000, (20.0, 20.0, 20.0), True),
    (SampleKind.BALL_STL, ModelFormat.STL, 20480, 33.492, (40.0, 40.0, 40.0), True),
    (SampleKind.CAPSULE_3MF, ModelFormat.THREE_MF, 8192, 13.589, (20.0, 20.0, 50.0), True),
    (SampleKind.TORUS_OBJ, ModelFormat.OBJ, 32768, 12.316, (60.0, 60.0, 10.0), True),
    (SampleKind.OPEN_CUP_STL, ModelFormat.STL, 384, None, (30.0, 30.0, 30.0), False),
]


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _binary_stl(triangles: list[tuple[tuple[float, float, float], ...]]) -> bytes:
    out = bytearray(b"\0" * 80 + struct.pack("<I", len(triangles)))
    for corners in triangles:
        out += struct.pack("<12fH", 0.0, 0.0, 0.0, *(c for corner in corners for c in corner), 0)
    return bytes(out)


def _capsule_3mf_with_model(model: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(sample_bytes(SampleKind.CAPSULE_3MF)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in source.namelist():
            archive.writestr(name, model if name == "3D/3dmodel.model" else source.read(name))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "fmt", "triangles", "volume", "bbox", "watertight"),
    REFERENCE,
    ids=[row[0].value for row in REFERENCE],
)
def test_each_sample_measures_as_trimesh_reference_says(
    kind, fmt, triangles, volume, bbox, watertight, tmp_path
):
    analysis = analyse_model(write_sample(kind, tmp_path), fmt)
    assert analysis.triangles == triangles
    assert analysis.watertight is watertight
    assert analysis.bbox_mm == pytest.approx(bbox, abs=5e-4)
    if volume is None:
        assert analysis.volume_cm3 is None
    else:
        assert analysis.volume_cm3 == pytest.approx(volume, abs=5e-4)


def test_an_open_mesh_has_no_volume_rather_than_a_wrong_one(tmp_path):
    analysis = analyse_model(write_sample(SampleKind.OPEN_CUP_STL, tmp_path), ModelFormat.STL)
    assert (analysis.watertight, analysis.volume_cm3) == (False, None)


def test_the_analysis_has_the_api_contract_shape(tmp_path):
    analysis = analyse_model(write_sample(SampleKind.CUBE_STL, tmp_path), ModelFormat.STL)
    assert analysis.kind is FormatKind.STL_BINARY
    assert analysis.as_contract() == {
        "triangles": 12,
        "volume_cm3": 8.0,
        "bbox_mm": [20.0, 20.0, 20.0],
        "watertight": True,
    }


EXPECTED_REASONS = {
    SampleKind.EMPTY: "^the file is empty$",
    SampleKind.TRUNCATED_STL: "^truncated binary STL: the header declares 20480 triangles",
    SampleKind.GARBAGE: "binary STL",
    SampleKind.ZERO_TRIANGLE_STL: "^the mesh has no triangles$",
    SampleKind.LYING_COUNT_STL: "^the STL declares 1000 triangles but holds 12$",
    SampleKind.THREEMF_WITHOUT_MODEL: "^not a valid 3MF: the zip holds no 3D/3dmodel.model$",
}


@pytest.mark.parametrize("kind", BAD_SAMPLES, ids=[kind.value for kind in BAD_SAMPLES])
def test_each_bad_sample_is_an_invalid_model_with_its_reason(kind, tmp_path):
    fmt = ModelFormat.THREE_MF if kind is SampleKind.THREEMF_WITHOUT_MODEL else ModelFormat.STL
    with pytest.raises(InvalidModel, match=EXPECTED_REASONS[kind]) as caught:
        analyse_model(write_sample(kind, tmp_path), fmt)
    assert caught.value.status == 422


def test_a_file_analysed_as_the_wrong_format_is_refused(tmp_path):
    path = write_sample(SampleKind.CUBE_STL, tmp_path)
    with pytest.raises(InvalidModel, match=r"^the file holds stl-binary data, not obj$"):
        analyse_model(path, ModelFormat.OBJ)


def test_triangles_of_zero_area_only_are_a_degenerate_mesh(tmp_path):
    data = _binary_stl([((0, 0, 0), (1, 1, 1), (2, 2, 2)), ((5, 5, 5), (5, 5, 5), (5, 5, 5))])
    with pytest.raises(InvalidModel, match=r"^the mesh is degenerate: all 2 triangles"):
        analyse_model(_write(tmp_path, "flat.stl", data), ModelFormat.STL)


def test_corners_that_are_not_numbers_are_refused_not_dropped(tmp_path):
    data = _binary_stl([((0, 0, 0), (1, 0, 0), (0, 1, 0)), ((0, 0, 0), (1, 0, 0), (np.nan, 1, 0))])
    with pytest.raises(InvalidModel, match=r"^1 of 2 triangles have corners that are not numbers"):
        analyse_model(_write(tmp_path, "nan.stl", data), ModelFormat.STL)


def test_an_ascii_stl_with_a_broken_number_is_invalid(tmp_path):
    text = sample_bytes(SampleKind.CUBE_ASCII_STL).replace(b"vertex -10.0", b"vertex -1x.0", 1)
    with pytest.raises(InvalidModel, match=r"STL"):
        analyse_model(_write(tmp_path, "broken.stl", text), ModelFormat.STL)


def test_an_obj_face_pointing_past_its_vertices_is_invalid(tmp_path):
    data = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n"
    with pytest.raises(InvalidModel, match=r"^not a valid OBJ: "):
        analyse_model(_write(tmp_path, "bad.obj", data), ModelFormat.OBJ)


def test_an_obj_with_vertices_but_no_faces_has_no_triangles(tmp_path):
    with pytest.raises(InvalidModel, match=r"^the mesh has no triangles$"):
        analyse_model(_write(tmp_path, "points.obj", b"v 0 0 0\nv 1 0 0\n"), ModelFormat.OBJ)


def test_an_obj_of_several_objects_is_measured_as_one_mesh(tmp_path):
    lines = []
    for offset, name in ((0, "left"), (50, "right")):
        lines.append(f"o {name}")
        for x in (0, 10):
            for y in (0, 10):
                for z in (0, 10):
                    lines.append(f"v {x + offset} {y} {z}")
    cube_faces = [
        (1, 3, 4, 2),
        (5, 6, 8, 7),
        (1, 2, 6, 5),
        (3, 7, 8, 4),
        (1, 5, 7, 3),
        (2, 4, 8, 6),
    ]
    text = "\n".join(lines[:9])  # both objects' faces index the shared vertex list
    text += "\n" + "\n".join(f"f {a} {b} {c} {d}" for a, b, c, d in cube_faces)
    text += "\n" + "\n".join(lines[9:])
    text += "\n" + "\n".join(f"f {a + 8} {b + 8} {c + 8} {d + 8}" for a, b, c, d in cube_faces)
    analysis = analyse_model(_write(tmp_path, "two.obj", text.encode() + b"\n"), ModelFormat.OBJ)
    assert analysis.triangles == 24
    assert analysis.watertight is True
    assert analysis.volume_cm3 == pytest.approx(2.0)
    assert analysis.bbox_mm == pytest.approx((60.0, 10.0, 10.0))


def test_a_3mf_in_inches_is_measured_in_millimetres(tmp_path):
    model = zipfile.ZipFile(io.BytesIO(sample_bytes(SampleKind.CAPSULE_3MF))).read(
        "3D/3dmodel.model"
    )
    data = _capsule_3mf_with_model(model.replace(b'unit="millimeter"', b'unit="inch"'))
    analysis = analyse_model(_write(tmp_path, "inch.3mf", data), ModelFormat.THREE_MF)
    assert analysis.bbox_mm == pytest.approx((20 * 25.4, 20 * 25.4, 50 * 25.4))
    assert analysis.volume_cm3 == pytest.approx(13.589 * 25.4**3, rel=1e-4)


def test_a_3mf_whose_model_is_not_xml_is_invalid(tmp_path):
    data = _capsule_3mf_with_model(b"<model>not xml")
    with pytest.raises(InvalidModel, match=r"^not a valid 3MF: "):
        analyse_model(_write(tmp_path, "bad.3mf", data), ModelFormat.THREE_MF)


def test_a_3mf_with_an_empty_build_is_invalid(tmp_path):
    data = _capsule_3mf_with_model(
        b'<?xml version="1.0"?><model unit="millimeter" '
        b'xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">'
        b"<resources/><build/></model>"
    )
    with pytest.raises(InvalidModel, match=r"^not a valid 3MF: its build lists no objects$"):
        analyse_model(_write(tmp_path, "empty.3mf", data), ModelFormat.THREE_MF)


def test_a_truncated_3mf_is_invalid(tmp_path):
    data = sample_bytes(SampleKind.CAPSULE_3MF)[:50_000]
    with pytest.raises(InvalidModel, match=r"^not a valid 3MF: the zip cannot be read"):
        analyse_model(_write(tmp_path, "cut.3mf", data), ModelFormat.THREE_MF)


def _mangled(data: bytes, rng: np.random.Generator) -> bytes:
    buffer = bytearray(data)
    if rng.random() < 0.5:
        return bytes(buffer[: int(rng.integers(1, len(buffer)))])
    for at in rng.integers(0, len(buffer), size=int(rng.integers(1, 20))):
        buffer[at] = int(rng.integers(0, 256))
    return bytes(buffer)


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        (SampleKind.CUBE_STL, ModelFormat.STL),
        (SampleKind.CUBE_ASCII_STL, ModelFormat.STL),
        (SampleKind.OPEN_CUP_STL, ModelFormat.STL),
        (SampleKind.CAPSULE_3MF, ModelFormat.THREE_MF),
    ],
)
def test_mangled_files_give_a_result_or_invalid_model_and_nothing_else(kind, fmt, tmp_path):
    rng = np.random.default_rng(7)
    for attempt in range(40):
        path = _write(tmp_path, f"{attempt}-{kind.value}", _mangled(sample_bytes(kind), rng))
        try:
            fmt_seen = detect_file_format(path, path.name).format
            result = analyse_model(path, fmt_seen)
        except InvalidModel as error:
            assert str(error), "an InvalidModel must say why"
        else:
            assert isinstance(result, ModelAnalysis)
            assert result.triangles > 0
