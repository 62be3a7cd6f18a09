"""Which 3D format a file holds, told from its first bytes, its size and (as a hint) its name.

Content wins over the name: a zip is a 3MF only if it holds ``3D/3dmodel.model``, and a file is
a binary STL only if its 84-byte header agrees with its size (``84 + 50 * triangles`` exactly), so
a truncated upload or a header that lies is refused here, with the figures, before trimesh sees it.
The name matters only where the bytes cannot decide: an ``.stl`` that is not text is judged as a
binary STL (and reported as broken) rather than as an unknown format, and an ``.obj`` that is text
is taken as OBJ even if its first bytes are all comments.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath

from alexandrite.files.errors import InvalidModel

__all__ = [
    "HEAD_BYTES",
    "Detection",
    "FormatKind",
    "ModelFormat",
    "detect_file_format",
    "detect_format",
]

# Enough to see a binary STL header, the zip signature and the first lines of a text format.
HEAD_BYTES = 1024

_STL_HEADER = 84
_STL_TRIANGLE = 50
_ZIP_SIGNATURE = b"PK\x03\x04"
_THREEMF_MODEL = "3d/3dmodel.model"
# Text as the ASCII formats write it: printable bytes, whitespace and (for names) UTF-8.
_TEXT_BYTES = (
    frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D, 0x0C} | frozenset(range(0x80, 0x100))
)


class ModelFormat(StrEnum):
    """The formats the service stores; the value is what the API and span attributes carry."""

    STL = "stl"
    OBJ = "obj"
    THREE_MF = "3mf"


class FormatKind(StrEnum):
    """The format with its encoding: STL comes as binary or as ASCII."""

    STL_BINARY = "stl-binary"
    STL_ASCII = "stl-ascii"
    OBJ = "obj"
    THREE_MF = "3mf"

    @property
    def model_format(self) -> ModelFormat:
        if self in (FormatKind.STL_BINARY, FormatKind.STL_ASCII):
            return ModelFormat.STL
        return ModelFormat(self.value)


@dataclass(frozen=True, slots=True)
class Detection:
    """What ``detect_format`` found; ``declared_triangles`` is set for binary STL only."""

    kind: FormatKind
    declared_triangles: int | None = None

    @property
    def format(self) -> ModelFormat:
        return self.kind.model_format


def detect_format(head: bytes, size: int, filename: str | None = None) -> Detection:
    """Tell the format from the file's first ``HEAD_BYTES`` bytes and its total ``size``.

    A zip is reported as 3MF on its signature alone; ``detect_file_format`` also opens the zip
    and checks for the model part. Raises ``InvalidModel`` with the reason when the file is
    empty, a broken binary STL, or nothing this service reads.
    """
    if size == 0:
        raise InvalidModel("the file is empty")
    suffix = PurePath(filename).suffix.lower() if filename else ""
    if head.startswith(_ZIP_SIGNATURE):
        return Detection(FormatKind.THREE_MF)
    if size >= _STL_HEADER and _binary_stl_size(head) == size:
        # Checked before "solid": some CAD tools start binary headers with that word too.
        return Detection(FormatKind.STL_BINARY, _declared_triangles(head))
    text = _looks_like_text(head)
    if text and head.lstrip()[:5].lower() == b"solid":
        return Detection(FormatKind.STL_ASCII)
    if text and (suffix == ".obj" or _looks_like_obj(head)):
        return Detection(FormatKind.OBJ)
    if suffix == ".stl" and not text:
        raise InvalidModel(_binary_stl_mismatch(head, size))
    raise InvalidModel(f"unsupported format: {_describe(head, suffix)}")


def detect_file_format(path: Path, filename: str | None = None) -> Detection:
    """``detect_format`` on a stored file, checking that a 3MF zip holds its model part."""
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(HEAD_BYTES)
    detection = detect_format(head, size, filename)
    if detection.kind is FormatKind.THREE_MF:
        _check_3mf(path)
    return detection


def _declared_triangles(head: bytes) -> int:
    count: int = struct.unpack_from("<I", head, 80)[0]
    return count


def _binary_stl_size(head: bytes) -> int | None:
    if len(head) < _STL_HEADER:
        return None
    return _STL_HEADER + _STL_TRIANGLE * _declared_triangles(head)


def _binary_stl_mismatch(head: bytes, size: int) -> str:
    if size < _STL_HEADER:
        return f"truncated binary STL: {size} bytes is shorter than the {_STL_HEADER}-byte header"
    declared = _declared_triangles(head)
    expected = _STL_HEADER + _STL_TRIANGLE * declared
    held, partial = divmod(size - _STL_HEADER, _STL_TRIANGLE)
    if partial and size < expected:
        return (
            f"truncated binary STL: the header declares {declared} triangles "
            f"({expected:,} bytes) but the file has {size:,} bytes and ends inside "
            f"triangle {held + 1}"
        )
    if partial:
        return (
            f"not a valid binary STL: the header declares {declared} triangles "
            f"({expected:,} bytes) but the file has {size:,} bytes"
        )
    return f"the STL declares {declared} triangles but holds {held}"


def _check_3mf(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = {name.lower().lstrip("/") for name in archive.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise InvalidModel(f"not a valid 3MF: the zip cannot be read ({error})") from error
    if _THREEMF_MODEL not in names:
        raise InvalidModel("not a valid 3MF: the zip holds no 3D/3dmodel.model")


def _looks_like_text(head: bytes) -> bool:
    return bool(head) and all(byte in _TEXT_BYTES for byte in head)


def _looks_like_obj(head: bytes) -> bool:
    # A vertex line "v x y z" with numbers is the one thing every mesh OBJ has near its top.
    for line in head.splitlines():
        words = line.split()
        if len(words) >= 4 and words[0] == b"v" and all(_is_number(w) for w in words[1:4]):
            return True
    return False


def _is_number(word: bytes) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _describe(head: bytes, suffix: str) -> str:
    name = f"a {suffix} file" if suffix else "a file"
    if _looks_like_text(head):
        first = head.lstrip().split(b"\n", 1)[0][:40].decode("utf-8", "replace").strip()
        return f"{name} of text starting {first!r}, not STL, OBJ or 3MF"
    return f"{name} starting with bytes {head[:8].hex(' ')}, not STL, OBJ or 3MF"
