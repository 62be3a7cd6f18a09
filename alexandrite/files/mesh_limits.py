"""Limits a model must keep before trimesh builds it: counted while the file streams past.

trimesh reads a whole file into Python objects and numpy arrays before anything can be checked,
and its memory grows with the triangles, not the bytes: 63 MB of ``f 1 2 3`` lines (3 vertices,
7.9 million triangles) cost gigabytes. So ``check_mesh_limits`` reads the file in chunks first,
with a bounded amount of memory, and refuses it (``InvalidModel``, 422, with the figures) as
soon as a limit is passed:

- triangles and vertices, each at most ``max_triangles`` / ``max_vertices``;
- triangles per vertex at most ``max_triangles_per_vertex`` (a closed mesh has about 2; a file
  that draws millions of triangles on a handful of corners is a bomb, not a model);
- OBJ face indices within the vertices defined before the face (the OBJ rule), never 0;
- binary STL: the triangle count of its header (already checked against the size);
- 3MF: see ``alexandrite.files.threemf_limits`` (zip directory first, then the model's XML).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from alexandrite.files.errors import InvalidModel
from alexandrite.files.formats import FormatKind

__all__ = ["MeshLimits", "check_mesh_limits", "check_totals"]

_CHUNK = 1024 * 1024
# Below this many triangles the ratio is not checked: tiny test shapes have odd ratios.
_RATIO_FLOOR_TRIANGLES = 10_000
# The longest OBJ line kept while looking for its end; a face of more corners is refused.
_MAX_LINE_BYTES = 64 * 1024
_NEWLINE, _SPACE, _V, _F = b"\n"[0], b" "[0], b"v"[0], b"f"[0]
_BLANKS = np.array([b" "[0], b"\t"[0]], dtype=np.uint8)
_AFTER_SLASH = re.compile(rb"/\S*")


@dataclass(frozen=True)  # no slots: the settings read the defaults off the class
class MeshLimits:
    """What one model may hold; the defaults fit any real model under the 64 MB upload limit."""

    max_triangles: int = 2_000_000
    max_vertices: int = 3_000_000
    max_triangles_per_vertex: float = 16.0
    # 3MF: what the zip may expand to, and how much smaller than that it may be.
    max_uncompressed_bytes: int = 256 * 1024 * 1024
    max_compression_ratio: float = 100.0


def check_mesh_limits(path: Path, kind: FormatKind, limits: MeshLimits) -> None:
    """Raise ``InvalidModel`` if the file at ``path`` goes past ``limits``; read in chunks."""
    if kind is FormatKind.OBJ:
        _check_obj(path, limits)
    elif kind is FormatKind.STL_ASCII:
        _check_ascii_stl(path, limits)
    elif kind is FormatKind.STL_BINARY:
        with path.open("rb") as file:
            header = file.read(84)
        check_totals(int.from_bytes(header[80:84], "little"), None, limits)
    else:
        # Imported here: the 3MF checks need the zip module and XML parser, the others do not.
        from alexandrite.files.threemf_limits import check_3mf_limits

        check_3mf_limits(path, limits)


def check_totals(triangles: int, vertices: int | None, limits: MeshLimits) -> None:
    """The count limits; ``vertices`` None where the format repeats corners (STL)."""
    if triangles > limits.max_triangles:
        raise InvalidModel(
            f"the model has more than {limits.max_triangles:,} triangles, the limit "
            f"(counted {triangles:,} so far)"
        )
    if vertices is None:
        return
    if vertices > limits.max_vertices:
        raise InvalidModel(
            f"the model has more than {limits.max_vertices:,} vertices, the limit "
            f"(counted {vertices:,} so far)"
        )
    if triangles > _RATIO_FLOOR_TRIANGLES and triangles > limits.max_triangles_per_vertex * max(
        vertices, 1
    ):
        raise InvalidModel(
            f"the model draws {triangles:,} triangles on {vertices:,} vertices: more than "
            f"{limits.max_triangles_per_vertex:g} per vertex is not a printable mesh"
        )


def _check_obj(path: Path, limits: MeshLimits) -> None:
    vertices = triangles = 0
    rest = b""
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            block = rest + chunk
            cut = block.rfind(b"\n") + 1
            if cut == 0 and len(block) > _MAX_LINE_BYTES:
                raise InvalidModel(
                    f"not a valid OBJ: a line is longer than {_MAX_LINE_BYTES:,} bytes"
                )
            block, rest = block[:cut], block[cut:]
            vertices, triangles = _count_obj_lines(block, vertices, triangles, limits)
    _count_obj_lines(rest + b"\n", vertices, triangles, limits)


def _count_obj_lines(
    block: bytes, vertices: int, triangles: int, limits: MeshLimits
) -> tuple[int, int]:
    """Add the ``v`` and ``f`` lines of ``block`` (whole lines) to the counts, and check them.

    Vectorised with numpy: a Python loop over lines would take as long as trimesh's own parse.
    A face's indices are checked against the vertices defined up to the end of its block.
    """
    if not block.strip():
        return vertices, triangles
    data = np.frombuffer(block, dtype=np.uint8)
    newline = data == _NEWLINE
    starts = np.concatenate(([0], np.flatnonzero(newline) + 1))
    starts = starts[starts < len(data) - 1]
    separated = np.isin(data[starts + 1], _BLANKS)
    first = data[starts]
    vertices += int(np.count_nonzero((first == _V) & separated))
    faces = (first == _F) & separated
    # The line each byte is on (a newline on the line it ends), to keep the face lines' bytes.
    line_of = np.cumsum(newline) - newline
    is_face = np.zeros(int(line_of[-1]) + 1, dtype=bool)
    is_face[line_of[starts]] = faces
    kept = data.copy()
    kept[starts[faces]] = _SPACE  # the "f" itself
    text = kept[is_face[line_of]].tobytes()
    # Only a corner's vertex index matters: "7/3/7" and "7//7" count as 7.
    if b"/" in text:
        text = _AFTER_SLASH.sub(b"", text)
    indices = _integers(text)
    triangles += len(indices) - 2 * int(np.count_nonzero(faces))
    check_totals(triangles, vertices, limits)
    _check_indices(indices, vertices)
    return vertices, triangles


def _check_indices(indices: npt.NDArray[np.int64], vertices: int) -> None:
    # 1..n counts from the first vertex, -1..-n back from the latest; 0 is no vertex.
    if not len(indices):
        return
    for index in (int(indices.min()), int(indices.max())):
        if index > vertices or index < -vertices:
            raise InvalidModel(
                f"not a valid OBJ: a face refers to vertex {index} when {vertices:,} vertices "
                "are defined up to it"
            )
    if not np.all(indices):
        raise InvalidModel(
            "not a valid OBJ: a face refers to vertex 0 (OBJ counts vertices from 1)"
        )


def _integers(text: bytes) -> npt.NDArray[np.int64]:
    if not text.strip():
        return np.empty(0, dtype=np.int64)
    with warnings.catch_warnings():
        # numpy only warns when the text does not parse to its end: make that an error.
        warnings.simplefilter("error")
        try:
            return np.fromstring(text, dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning):
            raise InvalidModel(
                "not a valid OBJ: a face has a corner that is not a vertex index"
            ) from None


def _check_ascii_stl(path: Path, limits: MeshLimits) -> None:
    triangles = 0
    tail = b""
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            # The tail keeps a keyword cut in two by the chunk boundary from being missed.
            window = tail + chunk
            triangles += window.count(b"endfacet")
            tail = window[-7:]  # one byte short of a keyword: nothing is counted twice
            check_totals(triangles, None, limits)
