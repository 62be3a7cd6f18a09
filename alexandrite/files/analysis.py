"""What a stored model measures: triangles, volume, bounding box, watertightness (with trimesh).

``analyse_model`` is a pure function of a file path, CPU-bound and blocking: the service runs it
in a worker (``asyncio.to_thread`` or a process pool), never on the event loop. Every way a file
can fail (a broken header, a parser error, no triangles, only degenerate triangles) comes out as
``InvalidModel`` with a reason a customer can act on; trimesh and numpy errors never escape as
anything else, except ``MemoryError``, which is the server's trouble, not the file's.

Lengths are millimetres: STL and OBJ carry no unit and slicers read them as mm; a 3MF that
declares another unit (inch, micron...) is scaled to mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from alexandrite.files.errors import InvalidModel
from alexandrite.files.formats import FormatKind, ModelFormat, detect_file_format
from alexandrite.files.mesh_limits import MeshLimits, check_mesh_limits

__all__ = ["ModelAnalysis", "analyse_model"]

_MM3_PER_CM3 = 1000.0
# Below this a triangle has no area worth printing (mm²): float noise on a zero-area face.
_DEGENERATE_AREA_MM2 = 1e-12
_WHAT = {
    FormatKind.STL_BINARY: "not a valid binary STL",
    FormatKind.STL_ASCII: "not a valid ASCII STL",
    FormatKind.OBJ: "not a valid OBJ",
    FormatKind.THREE_MF: "not a valid 3MF",
}


@dataclass(frozen=True, slots=True)
class ModelAnalysis:
    """The figures of a mesh; ``volume_cm3`` is None when the mesh is open (not watertight).

    Volume is rounded to 0.001 cm³ (1 mm³) and the box to 0.001 mm: finer figures are float
    noise that would only make prices and dashboards flicker.
    """

    triangles: int
    volume_cm3: float | None
    bbox_mm: tuple[float, float, float]
    watertight: bool
    kind: FormatKind

    def as_contract(self) -> dict[str, Any]:
        """The ``analysis`` object of the Files API (DESIGN.md): no format detail."""
        return {
            "triangles": self.triangles,
            "volume_cm3": self.volume_cm3,
            "bbox_mm": list(self.bbox_mm),
            "watertight": self.watertight,
        }


def analyse_model(path: Path, fmt: ModelFormat, limits: MeshLimits | None = None) -> ModelAnalysis:
    """Load the model at ``path`` as ``fmt`` and measure it; ``InvalidModel`` if it cannot be.

    The file is first streamed against ``limits`` (``check_mesh_limits``): trimesh's memory
    grows with the triangles, so a file past them is refused before trimesh is given it.
    """
    # The name only hints the format where the bytes cannot decide (an OBJ of comments first).
    detection = detect_file_format(path, filename=f"model.{fmt.value}")
    if detection.format is not fmt:
        raise InvalidModel(f"the file holds {detection.kind.value} data, not {fmt.value}")
    kind = detection.kind
    check_mesh_limits(path, kind, limits or MeshLimits())
    try:
        # errstate is thread-local, so this is safe in a thread pool (warnings filters are not).
        with np.errstate(all="ignore"):
            return _measure(_load(path, kind), kind)
    except (InvalidModel, MemoryError):
        raise
    except KeyError as error:
        if kind is FormatKind.THREE_MF and error.args == ("world",):
            # trimesh's 3MF loader finds no node to hang geometry on: the build is empty.
            raise InvalidModel("not a valid 3MF: its build lists no objects") from error
        raise InvalidModel(f"{_WHAT[kind]}: {_reason(error)}") from error
    except Exception as error:
        raise InvalidModel(f"{_WHAT[kind]}: {_reason(error)}") from error


def _load(path: Path, kind: FormatKind) -> trimesh.Trimesh:
    # process=False: trimesh would silently drop triangles with NaN corners; we refuse them.
    with path.open("rb") as file:
        loaded = trimesh.load(file, file_type=kind.model_format.value, force="mesh", process=False)
    mesh = _as_single_mesh(loaded)
    if mesh is None:
        raise InvalidModel("the mesh has no triangles")
    if kind is FormatKind.THREE_MF:
        _scale_to_millimetres(mesh)
    return mesh


def _as_single_mesh(loaded: Any) -> trimesh.Trimesh | None:
    # force="mesh" concatenates a scene already; older or odd loaders may still hand back one.
    if isinstance(loaded, trimesh.Trimesh):
        return loaded
    if isinstance(loaded, trimesh.Scene):
        parts = [g for g in loaded.dump(concatenate=False) if isinstance(g, trimesh.Trimesh)]
        if not parts:
            return None
        joined = trimesh.util.concatenate(parts)
        return joined if isinstance(joined, trimesh.Trimesh) else None
    return None


def _scale_to_millimetres(mesh: trimesh.Trimesh) -> None:
    unit = mesh.units or mesh.metadata.get("units")
    if unit and str(unit).lower() not in ("millimeter", "millimeters", "millimetre", "mm"):
        factor = trimesh.units.unit_conversion(str(unit), "millimeters")
        mesh.apply_scale(factor)  # type: ignore[no-untyped-call]  # trimesh leaves it untyped
        mesh.units = "millimeters"


def _measure(mesh: trimesh.Trimesh, kind: FormatKind) -> ModelAnalysis:
    triangles = len(mesh.faces)
    if triangles == 0:
        raise InvalidModel("the mesh has no triangles")
    finite = np.asarray(np.isfinite(mesh.vertices).all(axis=1), dtype=bool)
    if not finite.all():
        broken = int((~finite[mesh.faces]).any(axis=1).sum())
        raise InvalidModel(
            f"{broken} of {triangles} triangles have corners that are not numbers (NaN or infinity)"
        )
    # Merge the corners triangles share (STL repeats them): watertightness needs shared edges.
    mesh.process()
    if float(mesh.area_faces.max()) <= _DEGENERATE_AREA_MM2:
        raise InvalidModel(f"the mesh is degenerate: all {triangles} triangles have zero area")
    watertight = bool(mesh.is_watertight)
    # trimesh's volume is signed: a closed mesh wound inside-out gives the negative.
    volume = round(abs(float(mesh.volume)) / _MM3_PER_CM3, 3) if watertight else None
    x, y, z = (round(float(extent), 3) for extent in mesh.extents)
    return ModelAnalysis(
        triangles=triangles,
        volume_cm3=volume,
        bbox_mm=(x, y, z),
        watertight=watertight,
        kind=kind,
    )


def _reason(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    # Parser messages can quote a whole line of the file: keep the reason readable.
    return text if len(text) <= 200 else text[:197] + "..."
