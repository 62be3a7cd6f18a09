"""Hostile uploads, written straight to disk in chunks, for the tests of the analysis limits.

Each is small on the wire (under the 64 MB upload limit) and huge once a naive loader builds it:

    face_bomb_obj      3 vertices and millions of ``f 1 2 3`` lines (7.9 million in 63 MB)
    zip_bomb_3mf       a 3MF whose model part expands ``ratio`` times (512 MiB from ~3 MB)
    placement_bomb_3mf one small mesh placed by the build thousands of times

They are computed, like ``alexandrite.files.samples``: nothing to download.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

__all__ = ["face_bomb_obj", "placement_bomb_3mf", "zip_bomb_3mf"]

_CORE_NS = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
_TRIANGLE = b'<triangle v1="0" v2="1" v3="2"/>'
_VERTICES = (
    b'<vertex x="0" y="0" z="0"/><vertex x="10" y="0" z="0"/><vertex x="0" y="10" z="0"/>'
    b'<vertex x="0" y="0" z="10"/>'
)
_TETRAHEDRON = (
    b'<triangle v1="0" v2="2" v3="1"/><triangle v1="0" v2="1" v3="3"/>'
    b'<triangle v1="0" v2="3" v3="2"/><triangle v1="1" v2="2" v3="3"/>'
)


def face_bomb_obj(path: Path, faces: int = 7_900_000) -> Path:
    """An OBJ of 3 vertices and ``faces`` copies of ``f 1 2 3`` (8 bytes each)."""
    batch = b"f 1 2 3\n" * 100_000
    with path.open("wb") as file:
        file.write(b"v 0 0 0\nv 1 0 0\nv 0 1 0\n")
        whole, rest = divmod(faces, 100_000)
        for _ in range(whole):
            file.write(batch)
        file.write(b"f 1 2 3\n" * rest)
    return path


def zip_bomb_3mf(path: Path, expanded_mib: int = 512) -> Path:
    """A 3MF whose model part is ``expanded_mib`` MiB of one triangle repeated (deflate level 1:
    fast to write, still about 160 times smaller than what it expands to)."""
    chunk = _TRIANGLE * (1024 * 1024 // len(_TRIANGLE))
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("3D/3dmodel.model", "w", force_zip64=True) as part,
    ):
        part.write(_model_head(b"1") + b"<mesh><vertices>" + _VERTICES + b"</vertices>")
        part.write(b"<triangles>")
        for _ in range(expanded_mib):
            part.write(chunk)
        part.write(b"</triangles></mesh></object></resources>")
        part.write(b'<build><item objectid="1"/></build></model>')
    return path


def placement_bomb_3mf(path: Path, placements: int = 1_000_000) -> Path:
    """A tetrahedron (4 triangles) that the build places ``placements`` times."""
    items = b'<item objectid="1"/>' * placements
    model = (
        _model_head(b"1")
        + b"<mesh><vertices>"
        + _VERTICES
        + b"</vertices><triangles>"
        + _TETRAHEDRON
        + b"</triangles></mesh></object></resources><build>"
        + items
        + b"</build></model>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("3D/3dmodel.model", model)
    return path


def _model_head(object_id: bytes) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><model unit="millimeter" xmlns="'
        + _CORE_NS.encode()
        + b'"><resources><object id="'
        + object_id
        + b'" type="model">'
    )
