"""What every NIfTI-reading dataset shares: reading and checking a labelled frame, building its volume, file stats.

The ``acdc`` and ``nifti-folder`` datasets differ only in how they find their files; both read a
frame with :func:`read_pair` (every check below, each a :class:`~rtbench.errors.DataError` of one
line naming the file), bring it to the harness grid with :func:`make_volume` (native grid kept)
and key their preprocessing cache on :func:`file_stats` (stats only: no file is read) and their
:meth:`fingerprint` on :func:`content_stats` (what is in the files, wherever they lie).

Arrays come out as short-axis stacks ``(S, X, Y)`` (the NIfTI ``(X, Y, slices)`` with the slice
axis moved first); spacing comes from the header zooms, never from the affine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import nibabel as nib
import numpy as np
import numpy.typing as npt

from rtbench.budgets import Budget
from rtbench.datasets.base import DatasetBundle, Volume
from rtbench.datasets.preprocess import PREPROCESS_VERSION, normalise_intensity, resample_to_grid
from rtbench.errors import ConfigError, DataError


def read_nifti(path: Path, dtype: npt.DTypeLike) -> tuple[np.ndarray, tuple[float, ...]]:
    """(array, header zooms) of one NIfTI file; any read failure is a DataError naming the file."""
    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj, dtype=dtype)
        zooms = tuple(float(z) for z in img.header.get_zooms())
    except Exception as err:  # nibabel raises ImageFileError, OSError, EOFError, zlib.error, ValueError...
        raise DataError(f"cannot read NIfTI file {path}: {type(err).__name__}: {err}") from err
    return data, zooms


def check_finite(path: Path, data: np.ndarray) -> None:
    """Refuse an array with NaN or infinite values: a DataError naming ``path`` and the count."""
    bad = int(data.size - np.count_nonzero(np.isfinite(data)))
    if bad:
        raise DataError(f"{path} has {bad} NaN/inf voxel(s); expected finite values everywhere")


def read_pair(
    image_path: Path, label_path: Path, label_values: Sequence[int], meaning: str
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """One labelled frame as (image float32 (S, X, Y), label int64 (S, X, Y) as stored, zooms (X, Y, slice) mm).

    Args:
        image_path, label_path: the image and its label map.
        label_values: the values a label map may hold (0, background, included).
        meaning: what the values mean, for the error message, e.g. ``"(0 bg, 1 RV, 2 MYO, 3 LV)"``.

    Raises:
        DataError: unreadable file, not a 3D stack, non-positive zooms, a NaN/inf voxel in either
            file, image and label shapes or zooms that differ, or a label value (or a non-integer
            one) outside ``label_values``.
    """
    image, zooms = read_nifti(image_path, np.float32)
    label, label_zooms = read_nifti(label_path, np.float64)
    for path, arr, z in ((image_path, image, zooms), (label_path, label, label_zooms)):
        if arr.ndim != 3 or len(z) < 3 or min(z[:3]) <= 0:
            raise DataError(f"{path} has shape {arr.shape} and zooms {z}; expected a 3D stack (X, Y, slices) with positive zooms")
        check_finite(path, arr)
    if image.shape != label.shape:
        raise DataError(f"{label_path} has shape {label.shape} but its image {image_path.name} has {image.shape}; expected equal")
    if not np.allclose(zooms[:3], label_zooms[:3], rtol=1e-3):
        raise DataError(f"{label_path} has zooms {label_zooms[:3]} but its image {image_path.name} {zooms[:3]}; expected equal")
    values = np.unique(label)
    bad = values[(values != np.round(values)) | ~np.isin(values, np.asarray(label_values, dtype=np.float64))]
    if bad.size:
        allowed = ", ".join(str(v) for v in sorted(label_values))
        shown = [int(v) if v == round(v) else float(v) for v in bad[:5]]
        raise DataError(f"{label_path} has label values {shown} outside {{{allowed}}} {meaning}")
    return np.moveaxis(image, 2, 0), np.moveaxis(label, 2, 0).astype(np.int64), (zooms[0], zooms[1], zooms[2])


def map_labels(label: np.ndarray, mapping: Mapping[int, int]) -> np.ndarray:
    """Stored label values -> task classes (uint8); values not in ``mapping`` (only 0 after :func:`read_pair`) are background."""
    out = np.zeros(label.shape, dtype=np.uint8)
    for value, cls in mapping.items():
        out[label == value] = cls
    return out


def make_volume(
    image: np.ndarray,
    label: np.ndarray,
    zooms: tuple[float, float, float],
    budget: Budget,
    *,
    case_id: str,
    patient: str,
    group: str,
    phase: str,
    meta: dict[str, Any],
) -> Volume:
    """One frame at the budget's grid: resampled, centre cropped or padded, normalised, native grid kept.

    Args:
        image: (S, X, Y) float array as read.
        label: (S, X, Y) label map already in task classes (0 background, i + 1 for class i).
        zooms: (X, Y, slice) header zooms in mm.
        budget: gives ``spacing_mm`` and ``image_size``.
    """
    grid_image, grid_label, native = resample_to_grid(image, label, zooms, budget.spacing_mm, budget.image_size)
    return Volume(
        case_id=case_id,
        patient=patient,
        group=group,
        phase=phase,
        image=normalise_intensity(grid_image),
        label=grid_label,
        spacing=(float(zooms[2]), float(budget.spacing_mm), float(budget.spacing_mm)),
        meta=meta,
        native=native,
    )


def file_stats(root: Path, paths: Sequence[Path]) -> list[list[Any]]:
    """``[relative path, size, mtime_ns]`` of every file: what the cache key and the fingerprint hash (no file is read)."""
    out: list[list[Any]] = []
    for path in paths:
        try:
            st = path.stat()
        except OSError as err:
            raise DataError(f"cannot read {path}: {err}") from err
        out.append([path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns])
    return out


def content_stats(root: Path, paths: Sequence[Path]) -> list[list[Any]]:
    """``[relative path, size, sha256 of the bytes]`` of every file: what a dataset's fingerprint hashes.

    The content, not the path or mtime: the same data copied to another folder or machine (new
    mtimes) keep their fingerprint, so their board and run ids, and an interrupted run resumes there;
    any changed byte gives a new one. Reading ACDC's 117 MB this way takes about a second.
    """
    out: list[list[Any]] = []
    for path in paths:
        try:
            with path.open("rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
            size = path.stat().st_size
        except OSError as err:
            raise DataError(f"cannot read {path}: {err}") from err
        out.append([path.relative_to(root).as_posix(), size, digest])
    return out


def location_free(config: Any) -> dict[str, Any]:
    """A dataset config as a dict without its location fields (names ending in ``root``): where
    the files lie is not what they are; the fingerprint's :func:`content_stats` stands for them."""
    import dataclasses

    return {k: v for k, v in dataclasses.asdict(config).items() if not k.endswith("root")}


def sha256_of(blob: Any) -> str:
    """The 64-hex sha256 of a JSON-able value (keys sorted, so dict order does not matter)."""
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def generated_fingerprint(dataset: str, config: Any, generator: int) -> str:
    """A generated dataset's fingerprint: sha256 of its name, its config (a dataclass), its generator
    version and the shared preprocessing version (no file is read)."""
    blob = {"dataset": dataset, "config": dataclasses.asdict(config), "generator": generator, "preprocess": PREPROCESS_VERSION}
    return sha256_of(blob)


class _Patient(Protocol):
    @property
    def patient(self) -> str: ...

    @property
    def group(self) -> str: ...


P = TypeVar("P", bound=_Patient)


def select_patients(records: list[P], max_patients: int) -> list[P]:
    """A group-stratified subset of at most ``max_patients`` (0: all) of ``records`` (sorted by patient id).

    Round-robin over the groups (sorted by name), taking each group's patients in id order. The
    subset does not depend on the submission seed, so every submission on a board sees the same
    patients (and shares one cache entry).
    """
    if max_patients <= 0 or max_patients >= len(records):
        return records
    by_group: dict[str, list[P]] = {}
    for rec in records:
        by_group.setdefault(rec.group, []).append(rec)
    queues = [by_group[g] for g in sorted(by_group)]
    chosen: list[P] = []
    depth = 0
    while len(chosen) < max_patients:
        chosen += [q[depth] for q in queues if depth < len(q)][: max_patients - len(chosen)]
        depth += 1
    return sorted(chosen, key=lambda rec: rec.patient)


def bundle_from_roots(
    dataset: str,
    root: str,
    test_root: str,
    budget: Budget,
    load_root: Callable[[str, bool], list[Volume]],
    root_example: str,
    test_example: str,
) -> DatasetBundle:
    """The development pool from ``root`` and, under ``budget.protocol=roots`` only, the test set from ``test_root``.

    ``load_root(path, is_test)`` reads one root. ``budget.max_patients`` caps each root separately.

    Raises:
        ConfigError: ``dataset.root`` not set; ``dataset.test_root`` missing under protocol
            ``roots``, set under another protocol, or sharing patients with ``dataset.root``.
    """
    if not root:
        raise ConfigError(f"dataset={dataset} needs its data folder: set dataset.root=PATH (e.g. dataset.root={root_example})")
    roots = budget.protocol == "roots"
    if roots and not test_root:
        raise ConfigError(f"budget.protocol=roots with dataset={dataset} needs dataset.test_root=PATH ({test_example})")
    if test_root and not roots:
        raise ConfigError(f"dataset.test_root is set but budget.protocol={budget.protocol}; use budget.protocol=roots")
    volumes = load_root(root, False)
    if not roots:
        return DatasetBundle(volumes=volumes)
    test_volumes = load_root(test_root, True)
    shared = sorted({v.patient for v in volumes} & {v.patient for v in test_volumes})
    if shared:
        raise ConfigError(f"dataset.root and dataset.test_root share patients ({', '.join(shared[:5])}...); the test set must be unseen")
    return DatasetBundle(volumes=volumes, test_volumes=test_volumes)
