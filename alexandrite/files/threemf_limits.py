"""The limits of a 3MF (a zip of XML), checked from its zip directory, then its streamed XML.

A 3MF zip bomb (a few kilobytes that expand to gigabytes of XML) must be refused before it is
extracted. The zip's central directory declares each part's compressed and uncompressed size,
so the totals and the compression ratio are checked from it alone; and what the directory
declares bounds what is read after: Python's ``zipfile`` stops a part at its declared size (and
fails its CRC) however much more the deflate stream would give.

The model parts are then streamed through expat (no tree is built) to count vertices and
triangles, check every triangle's indices against its mesh's vertices, and count the triangles
the build really places: an object placed 10,000 times, or a component nested in components,
multiplies its triangles, which trimesh would all build.
"""

from __future__ import annotations

import zipfile
import zlib
from collections import defaultdict
from pathlib import Path
from xml.parsers import expat

from alexandrite.files.errors import InvalidModel
from alexandrite.files.mesh_limits import MeshLimits, check_totals

__all__ = ["check_3mf_limits"]

_CHUNK = 256 * 1024
# Parts smaller than this cannot hurt whatever their ratio (a small XML compresses a lot).
_RATIO_MIN_BYTES = 1024 * 1024
_MAX_NESTING = 16
# What zipfile raises on a damaged, encrypted or oddly compressed archive.
_BROKEN_ZIP = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def check_3mf_limits(path: Path, limits: MeshLimits) -> None:
    """Raise ``InvalidModel`` if the 3MF at ``path`` is a bomb or holds too big a mesh."""
    try:
        with zipfile.ZipFile(path) as archive:
            models = _check_directory(archive, limits)
            counter = _ModelCounter(limits)
            for info in models:
                counter.read(archive, info)
    except _BROKEN_ZIP as error:
        raise InvalidModel(f"not a valid 3MF: the zip cannot be read ({error})") from error


def _check_directory(archive: zipfile.ZipFile, limits: MeshLimits) -> list[zipfile.ZipInfo]:
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if total > limits.max_uncompressed_bytes:
            raise InvalidModel(
                f"not accepted: the 3MF expands to more than {limits.max_uncompressed_bytes:,} "
                "bytes, the limit"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= _RATIO_MIN_BYTES and ratio > limits.max_compression_ratio:
            raise InvalidModel(
                f"not accepted: the 3MF part {info.filename[:80]!r} expands {ratio:,.0f} times "
                f"(to {info.file_size:,} bytes); more than {limits.max_compression_ratio:g} "
                "times is a zip bomb, not a model"
            )
    return [info for info in archive.infolist() if info.filename.lower().endswith(".model")]


class _ModelCounter:
    """Expat callbacks over the model parts: counts, index checks, and the build's placements."""

    def __init__(self, limits: MeshLimits) -> None:
        self.limits = limits
        self.vertices = 0
        self.triangles = 0
        self._mesh_vertices = 0
        self._object: str | None = None
        # Per object id of the root model part: its own triangles and the objects it nests.
        self._own: dict[str, int] = defaultdict(int)
        self._components: dict[str, list[str]] = defaultdict(list)
        self._memo: dict[str, int] = {}
        self.placed = 0
        self._root = True

    def read(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler = self._start
        # Entities are how an XML expands without a zip: a 3MF has no use for a DTD.
        parser.StartDoctypeDeclHandler = _refuse_doctype
        self._root = info.filename.lower().lstrip("/") == "3d/3dmodel.model"
        try:
            with archive.open(info) as part:
                while chunk := part.read(_CHUNK):
                    parser.Parse(chunk, False)
                    check_totals(self.triangles, self.vertices, self.limits)
                parser.Parse(b"", True)
        except expat.ExpatError as error:
            raise InvalidModel(
                f"not a valid 3MF: {info.filename[:80]!r} is not XML ({error})"
            ) from error
        check_totals(self.triangles, self.vertices, self.limits)

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(" ")[2]
        if local == "vertex":
            self.vertices += 1
            self._mesh_vertices += 1
        elif local == "triangle":
            self._triangle(attributes)
        elif local == "object":
            self._object = attributes.get("id")
        elif local == "mesh":
            self._mesh_vertices = 0
        elif local == "component" and self._root and self._object is not None:
            self._components[self._object].append(attributes.get("objectid", ""))
        elif local == "item" and self._root:
            # The build comes after the resources: what an item places is known already.
            self.placed += self._expanded(attributes.get("objectid", ""), 0)
            check_totals(self.placed, None, self.limits)

    def _triangle(self, attributes: dict[str, str]) -> None:
        for corner in ("v1", "v2", "v3"):
            try:
                index = int(attributes.get(corner, ""))
            except ValueError:
                raise InvalidModel(f"not a valid 3MF: a triangle has no index {corner}") from None
            if not 0 <= index < self._mesh_vertices:
                raise InvalidModel(
                    f"not a valid 3MF: a triangle refers to vertex {index} of a mesh of "
                    f"{self._mesh_vertices:,} vertices"
                )
        self.triangles += 1
        if self._root and self._object is not None:
            self._own[self._object] += 1

    def _expanded(self, object_id: str, depth: int) -> int:
        """The triangles one placement of ``object_id`` makes, nested components multiplied."""
        if object_id in self._memo:
            return self._memo[object_id]
        if depth > _MAX_NESTING:
            raise InvalidModel(
                f"not a valid 3MF: components nest deeper than {_MAX_NESTING} levels (or loop)"
            )
        total = self._own.get(object_id, 0)
        for child in self._components.get(object_id, ()):
            total += self._expanded(child, depth + 1)
            check_totals(total, None, self.limits)
        self._memo[object_id] = total
        return total


def _refuse_doctype(*_: object) -> None:
    raise InvalidModel("not a valid 3MF: its model declares a DTD (entities are not accepted)")
