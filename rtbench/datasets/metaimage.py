"""A small MetaImage reader: a ``.mhd`` text header and its ``.raw`` (or ``.zraw``) pixel data, as CAMUS ships them.

Why this module exists: no installed library reads MetaImage. The project's environment has
neither SimpleITK nor itk (checked with ``import``), nibabel reads NIfTI/Analyze/MGH but not
MetaImage, and MONAI's ``ITKReader`` needs itk. Adding SimpleITK (a large binary) for one file
format of one dataset was not worth it; the format is a documented ``key = value`` header.

Supported, the subset ITK writes for one scalar image: ``NDims`` 2 or 3, ``DimSize``,
``ElementType`` (``MET_UCHAR`` ... ``MET_DOUBLE``), ``ElementSpacing`` (or ``ElementSize``),
``ElementByteOrderMSB`` / ``BinaryDataByteOrderMSB``, ``CompressedData`` (zlib),
``ElementNumberOfChannels`` 1, ``HeaderSize`` 0, and ``ElementDataFile`` naming a file beside the
header or ``LOCAL`` (the data follow the header in the same file). Orientation fields
(``TransformMatrix``, ``Offset``, ``AnatomicalOrientation``) are not read: like the NIfTI readers,
the spacing is all the harness uses. Every failure is a :class:`~rtbench.errors.DataError` naming
the file and what was expected.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from rtbench.errors import DataError

ELEMENT_TYPES = {
    "MET_UCHAR": "u1",
    "MET_CHAR": "i1",
    "MET_USHORT": "u2",
    "MET_SHORT": "i2",
    "MET_UINT": "u4",
    "MET_INT": "i4",
    "MET_ULONG": "u4",
    "MET_LONG": "i4",
    "MET_ULONG_LONG": "u8",
    "MET_LONG_LONG": "i8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}


def read_header(path: Path) -> tuple[dict[str, str], int]:
    """The header's ``key = value`` fields and the byte offset just after the ``ElementDataFile`` line (for LOCAL data).

    Raises:
        DataError: unreadable file, a line without ``=``, or no ``ElementDataFile`` (the last field of a header).
    """
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read MetaImage header {path}: {err}") from err
    fields: dict[str, str] = {}
    offset = 0
    for raw in blob.splitlines(keepends=True):
        offset += len(raw)
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise DataError(
                f"{path} is not a MetaImage header (binary data before ElementDataFile); expected 'key = value' lines"
            ) from None
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise DataError(f"{path}: header line '{line[:60]}' is not 'key = value'; expected a MetaImage (.mhd) header")
        fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            return fields, offset
    raise DataError(f"{path} has no ElementDataFile field; expected a MetaImage (.mhd) header ending with 'ElementDataFile = NAME.raw'")


def data_file(path: Path) -> Path | None:
    """The pixel-data file a ``.mhd`` header names (beside it), or None for ``LOCAL`` data (in the header file)."""
    name = read_header(path)[0]["ElementDataFile"]
    return None if name == "LOCAL" else path.parent / name


def _numbers(path: Path, fields: dict[str, str], key: str, count: int, kind: type) -> list:
    try:
        values = [kind(v) for v in fields[key].split()]
    except KeyError:
        raise DataError(f"{path} has no {key} field; expected {count} values") from None
    except ValueError:
        raise DataError(f"{path}: {key} = {fields[key]} is not {count} numbers") from None
    if len(values) != count:
        raise DataError(f"{path}: {key} = {fields[key]} has {len(values)} values; expected {count} (NDims)")
    return values


def read_metaimage(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """(array, spacing) of one ``.mhd`` image: the array in numpy order (``(Z,) Y, X``, DimSize
    reversed), the spacing in header order (``x, y(, z)`` mm).

    Raises:
        DataError: a missing or malformed field, an unsupported feature, a missing data file, or
            a data file whose size does not match DimSize and ElementType.
    """
    fields, offset = read_header(path)
    try:
        ndims = int(fields.get("NDims", ""))
    except ValueError:
        raise DataError(f"{path}: NDims = {fields.get('NDims')!r}; expected 2 or 3") from None
    if ndims not in (2, 3):
        raise DataError(f"{path}: NDims = {ndims}; expected a 2D or 3D image")
    dims = _numbers(path, fields, "DimSize", ndims, int)
    spacing_key = "ElementSpacing" if "ElementSpacing" in fields else "ElementSize"
    spacing = _numbers(path, fields, spacing_key, ndims, float) if spacing_key in fields else [1.0] * ndims
    element = fields.get("ElementType", "")
    if element not in ELEMENT_TYPES:
        raise DataError(f"{path}: ElementType = {element!r}; expected one of {', '.join(ELEMENT_TYPES)}")
    if fields.get("ElementNumberOfChannels", "1") != "1":
        raise DataError(f"{path}: ElementNumberOfChannels = {fields['ElementNumberOfChannels']}; expected 1 (a scalar image)")
    if fields.get("HeaderSize", "0") != "0":
        raise DataError(f"{path}: HeaderSize = {fields['HeaderSize']} is not supported; expected 0")
    msb = fields.get("ElementByteOrderMSB", fields.get("BinaryDataByteOrderMSB", "False")).lower() == "true"
    dtype = np.dtype(ELEMENT_TYPES[element]).newbyteorder(">" if msb else "<")
    source = data_file(path)
    try:
        blob = path.read_bytes()[offset:] if source is None else source.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read the pixel data {source} of MetaImage header {path}: {err}") from err
    if fields.get("CompressedData", "False").lower() == "true":
        try:
            blob = zlib.decompress(blob)
        except zlib.error as err:
            raise DataError(f"cannot decompress the pixel data of {path} (CompressedData = True): {err}") from err
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(blob) != expected:
        where = "after the header" if source is None else str(source)
        raise DataError(f"{where} holds {len(blob)} bytes; {path} expects {expected} (DimSize {' '.join(map(str, dims))}, {element})")
    array = np.frombuffer(blob, dtype=dtype).reshape(dims[::-1])
    return array.astype(dtype.newbyteorder("="), copy=True), tuple(float(s) for s in spacing)
