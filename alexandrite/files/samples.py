"""Sample models from trimesh's primitives, good and broken, for tests, the demo and benchmarks.

No network and no files from outside the repository: every sample is computed, so a fresh clone
has them. The good ones (sizes in mm) and what trimesh measures of them:

    cube-20mm.stl            12 triangles    8.000 cm³   20 × 20 × 20
    cube-20mm-ascii.stl      the same cube as ASCII STL
    ball-40mm.stl         20480 triangles   33.492 cm³   40 × 40 × 40   icosphere, 5 subdivisions
    ball-fine-60mm.stl   327680 triangles  113.094 cm³   60 × 60 × 60   7 subdivisions (benchmarks)
    capsule-50mm.3mf       8192 triangles   13.589 cm³   20 × 20 × 50
    torus-60mm.obj        32768 triangles   12.316 cm³   60 × 60 × 10
    open-cup-30mm.stl       384 triangles   open         30 × 30 × 30   not watertight

All but the cup are watertight.

The broken ones each fail in one precise way (see ``SampleKind``).

    python -m alexandrite.files.samples DIR [KIND ...]
"""

from __future__ import annotations

import argparse
import io
import struct
import zipfile
from collections.abc import Callable
from enum import StrEnum
from functools import cache
from pathlib import Path

import numpy as np
import trimesh
from trimesh import creation
from trimesh.exchange.obj import export_obj
from trimesh.exchange.stl import export_stl, export_stl_ascii
from trimesh.exchange.threemf import export_3MF

__all__ = ["BAD_SAMPLES", "GOOD_SAMPLES", "SampleKind", "main", "sample_bytes", "write_sample"]


class SampleKind(StrEnum):
    """A sample model; the value is its file name."""

    CUBE_STL = "cube-20mm.stl"
    CUBE_ASCII_STL = "cube-20mm-ascii.stl"
    BALL_STL = "ball-40mm.stl"
    BALL_FINE_STL = "ball-fine-60mm.stl"
    CAPSULE_3MF = "capsule-50mm.3mf"
    TORUS_OBJ = "torus-60mm.obj"
    OPEN_CUP_STL = "open-cup-30mm.stl"
    # Broken on purpose:
    EMPTY = "empty.stl"  # zero bytes
    TRUNCATED_STL = "truncated.stl"  # the 40 mm ball cut off inside its 19th triangle
    GARBAGE = "garbage.bin"  # random bytes, no format
    ZERO_TRIANGLE_STL = "zero-triangles.stl"  # a valid 84-byte header declaring 0 triangles
    LYING_COUNT_STL = "lying-count.stl"  # the cube, with a header claiming 1000 triangles
    THREEMF_WITHOUT_MODEL = "no-model.3mf"  # a zip holding only the 3MF's packaging parts


def _cube() -> trimesh.Trimesh:
    mesh: trimesh.Trimesh = creation.box(extents=(20.0, 20.0, 20.0))
    return mesh


def _ball() -> trimesh.Trimesh:
    mesh: trimesh.Trimesh = creation.icosphere(subdivisions=5, radius=20.0)
    return mesh


def _ball_fine() -> trimesh.Trimesh:
    mesh: trimesh.Trimesh = creation.icosphere(subdivisions=7, radius=30.0)
    return mesh


def _capsule() -> trimesh.Trimesh:
    # trimesh's capsule height is the cylinder between the caps: 30 + 2 × 10 = 50 mm overall.
    mesh: trimesh.Trimesh = creation.capsule(height=30.0, radius=10.0, count=(64, 64))
    return mesh


def _torus() -> trimesh.Trimesh:
    mesh: trimesh.Trimesh = creation.torus(
        major_radius=25.0, minor_radius=5.0, major_sections=256, minor_sections=64
    )
    return mesh


def _open_cup() -> trimesh.Trimesh:
    # A closed cylinder with its top cap removed: a cup, whose volume is not defined.
    cylinder = creation.cylinder(radius=15.0, height=30.0, sections=128)
    top = cylinder.triangles_center[:, 2] > 15.0 - 1e-6
    cup = trimesh.Trimesh(cylinder.vertices, cylinder.faces[~top])
    cup.remove_unreferenced_vertices()
    return cup


def _stl(mesh: Callable[[], trimesh.Trimesh]) -> Callable[[], bytes]:
    return lambda: bytes(export_stl(mesh()))


def _cube_ascii() -> bytes:
    return export_stl_ascii(_cube()).encode("ascii")


def _capsule_3mf() -> bytes:
    return bytes(export_3MF(_capsule()))  # type: ignore[no-untyped-call]


def _torus_obj() -> bytes:
    text: str = export_obj(  # type: ignore[no-untyped-call]
        _torus(), include_normals=False, include_texture=False
    )
    return text.encode("ascii")


def _truncated() -> bytes:
    return sample_bytes(SampleKind.BALL_STL)[:1000]


def _garbage() -> bytes:
    # Seeded, so the "garbage" is the same bytes on every run and every machine.
    return np.random.default_rng(20240611).bytes(4096)


def _zero_triangles() -> bytes:
    return b"\0" * 80 + struct.pack("<I", 0)


def _lying_count() -> bytes:
    cube = sample_bytes(SampleKind.CUBE_STL)
    return cube[:80] + struct.pack("<I", 1000) + cube[84:]


def _threemf_without_model() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            "</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>',
        )
    return buffer.getvalue()


_MAKERS: dict[SampleKind, Callable[[], bytes]] = {
    SampleKind.CUBE_STL: _stl(_cube),
    SampleKind.CUBE_ASCII_STL: _cube_ascii,
    SampleKind.BALL_STL: _stl(_ball),
    SampleKind.BALL_FINE_STL: _stl(_ball_fine),
    SampleKind.CAPSULE_3MF: _capsule_3mf,
    SampleKind.TORUS_OBJ: _torus_obj,
    SampleKind.OPEN_CUP_STL: _stl(_open_cup),
    SampleKind.EMPTY: lambda: b"",
    SampleKind.TRUNCATED_STL: _truncated,
    SampleKind.GARBAGE: _garbage,
    SampleKind.ZERO_TRIANGLE_STL: _zero_triangles,
    SampleKind.LYING_COUNT_STL: _lying_count,
    SampleKind.THREEMF_WITHOUT_MODEL: _threemf_without_model,
}

BAD_SAMPLES: tuple[SampleKind, ...] = (
    SampleKind.EMPTY,
    SampleKind.TRUNCATED_STL,
    SampleKind.GARBAGE,
    SampleKind.ZERO_TRIANGLE_STL,
    SampleKind.LYING_COUNT_STL,
    SampleKind.THREEMF_WITHOUT_MODEL,
)
GOOD_SAMPLES: tuple[SampleKind, ...] = tuple(k for k in SampleKind if k not in BAD_SAMPLES)


@cache
def sample_bytes(kind: SampleKind) -> bytes:
    """The file's bytes (computed once per process: the fine ball takes about a second)."""
    return _MAKERS[kind]()


def write_sample(kind: SampleKind, directory: Path) -> Path:
    """Write the sample into ``directory`` (created if missing) under its own name."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / kind.value
    path.write_bytes(sample_bytes(kind))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m alexandrite.files.samples", description="Write sample 3D models."
    )
    parser.add_argument("directory", type=Path)
    names = ", ".join(kind.value for kind in SampleKind)
    # No argparse "choices" here: with nargs="*" Python 3.11 refuses the empty default.
    parser.add_argument("kinds", nargs="*", metavar="KIND", help=f"any of: {names} (default: all)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.kinds if name not in set(SampleKind)]
    if unknown:
        parser.error(f"unknown sample {', '.join(unknown)}; choose from {names}")
    for name in args.kinds or list(SampleKind):
        path = write_sample(SampleKind(name), args.directory)
        print(f"{path}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
