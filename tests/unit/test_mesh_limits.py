"""Mesh limits: hostile files refused from a streamed count, before trimesh builds anything."""

from __future__ import annotations

import re
import time
import zipfile
from pathlib import Path

import pytest

from alexandrite.files.analysis import analyse_model
from alexandrite.files.errors import InvalidModel
from alexandrite.files.formats import FormatKind, ModelFormat
from alexandrite.files.hostile_samples import face_bomb_obj, placement_bomb_3mf, zip_bomb_3mf
from alexandrite.files.mesh_limits import MeshLimits, check_mesh_limits
from alexandrite.files.samples import GOOD_SAMPLES, SampleKind, write_sample

_KINDS = {
    ModelFormat.STL: (FormatKind.STL_BINARY, FormatKind.STL_ASCII),
    ModelFormat.OBJ: (FormatKind.OBJ,),
    ModelFormat.THREE_MF: (FormatKind.THREE_MF,),
}
_NO_RATIO = MeshLimits(max_compression_ratio=1e9)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", GOOD_SAMPLES)
def test_every_good_sample_is_within_the_default_limits(kind, tmp_path):
    path = write_sample(kind, tmp_path)
    fmt = ModelFormat(path.suffix.lstrip("."))
    analysis = analyse_model(path, fmt)
    assert analysis.triangles > 0


def test_the_face_bomb_obj_is_refused_within_seconds_from_its_first_megabyte(tmp_path):
    bomb = face_bomb_obj(tmp_path / "bomb.obj")
    started = time.perf_counter()
    with pytest.raises(InvalidModel, match=r"triangles on 3 vertices: more than 16 per vertex"):
        analyse_model(bomb, ModelFormat.OBJ)
    # Seconds, not the minutes trimesh took; generous, as the test machine is shared.
    assert time.perf_counter() - started < 5.0


def test_an_obj_past_the_triangle_limit_is_refused_with_the_limit(tmp_path):
    path = write_sample(SampleKind.TORUS_OBJ, tmp_path)
    with pytest.raises(InvalidModel, match=r"more than 1,000 triangles, the limit"):
        check_mesh_limits(path, FormatKind.OBJ, MeshLimits(max_triangles=1000))


def test_an_obj_past_the_vertex_limit_is_refused(tmp_path):
    path = _write(tmp_path, "points.obj", b"v 0 0 0\n" * 5000)
    with pytest.raises(InvalidModel, match=r"more than 4,000 vertices, the limit"):
        check_mesh_limits(path, FormatKind.OBJ, MeshLimits(max_vertices=4000))


@pytest.mark.parametrize(
    ("face", "reason"),
    [
        (b"f 1 2 4", r"refers to vertex 4 when 3 vertices are defined"),
        (b"f 1 2 -4", r"refers to vertex -4 when 3 vertices"),
        (b"f 1 2 0", r"refers to vertex 0 \(OBJ counts vertices from 1\)"),
        (b"f 1/1/1 2//2 x", r"a corner that is not a vertex index"),
    ],
)
def test_an_obj_face_index_out_of_range_is_refused_before_trimesh(face, reason, tmp_path):
    path = _write(tmp_path, "bad.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n" + face + b"\n")
    with pytest.raises(InvalidModel, match=r"^not a valid OBJ: .*" + reason):
        check_mesh_limits(path, FormatKind.OBJ, MeshLimits())


def test_obj_faces_with_texture_and_normal_indices_and_negative_indices_are_counted(tmp_path):
    data = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1/1/1 2/2/2 3/3/3\nf -4//1 -3//1 -1//1 -2//1\n"
    analysis = analyse_model(_write(tmp_path, "mixed.obj", data), ModelFormat.OBJ)
    assert analysis.triangles == 3  # a triangle and a quad (two triangles)


def test_a_binary_stl_header_past_the_triangle_limit_is_refused(tmp_path):
    path = write_sample(SampleKind.BALL_STL, tmp_path)
    with pytest.raises(InvalidModel, match=r"more than 20,000 triangles"):
        check_mesh_limits(path, FormatKind.STL_BINARY, MeshLimits(max_triangles=20_000))


def test_an_ascii_stl_past_the_triangle_limit_is_refused(tmp_path):
    path = write_sample(SampleKind.CUBE_ASCII_STL, tmp_path)
    with pytest.raises(InvalidModel, match=r"more than 11 triangles"):
        check_mesh_limits(path, FormatKind.STL_ASCII, MeshLimits(max_triangles=11))
    check_mesh_limits(path, FormatKind.STL_ASCII, MeshLimits(max_triangles=12))


def test_a_3mf_zip_bomb_is_refused_from_its_directory_before_extraction(tmp_path):
    bomb = zip_bomb_3mf(tmp_path / "bomb.3mf", expanded_mib=300)
    started = time.perf_counter()
    with pytest.raises(InvalidModel, match=r"expands to more than 268,435,456 bytes"):
        analyse_model(bomb, ModelFormat.THREE_MF)
    assert time.perf_counter() - started < 5.0


def test_a_3mf_part_compressed_past_the_ratio_is_refused(tmp_path):
    bomb = zip_bomb_3mf(tmp_path / "bomb.3mf", expanded_mib=8)
    with pytest.raises(InvalidModel, match=r"expands \d+ times .* is a zip bomb"):
        check_mesh_limits(bomb, FormatKind.THREE_MF, MeshLimits())


def test_a_3mf_mesh_past_the_ratio_of_triangles_to_vertices_is_refused(tmp_path):
    bomb = zip_bomb_3mf(tmp_path / "bomb.3mf", expanded_mib=2)
    with pytest.raises(InvalidModel, match=r"triangles on 4 vertices"):
        check_mesh_limits(bomb, FormatKind.THREE_MF, _NO_RATIO)


def test_a_3mf_build_placing_one_mesh_a_million_times_is_refused(tmp_path):
    bomb = placement_bomb_3mf(tmp_path / "placed.3mf")
    limits = MeshLimits(max_triangles=100_000, max_compression_ratio=1e9)
    with pytest.raises(InvalidModel, match=r"more than 100,000 triangles"):
        check_mesh_limits(bomb, FormatKind.THREE_MF, limits)


def test_a_3mf_triangle_pointing_past_its_mesh_is_refused(tmp_path):
    path = write_sample(SampleKind.CAPSULE_3MF, tmp_path)
    with zipfile.ZipFile(path) as archive:
        model = archive.read("3D/3dmodel.model")
    broken = re.sub(rb'v1="\d+"', b'v1="999999"', model, count=1)
    assert broken != model
    out = tmp_path / "broken.3mf"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("3D/3dmodel.model", broken)
    with pytest.raises(InvalidModel, match=r"refers to vertex 999999 of a mesh of"):
        check_mesh_limits(out, FormatKind.THREE_MF, MeshLimits())


def test_a_3mf_with_a_dtd_is_refused(tmp_path):
    out = tmp_path / "dtd.3mf"
    model = b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaa">]><model>&a;</model>'
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("3D/3dmodel.model", model)
    with pytest.raises(InvalidModel, match=r"declares a DTD"):
        check_mesh_limits(out, FormatKind.THREE_MF, MeshLimits())
