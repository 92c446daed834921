"""A cache of preprocessed volumes: one uncompressed ``.npz`` per dataset, written atomically.

A dataset decides what the arrays depend on (which files, grid and preprocessing version); this
module names the cache file after it (:func:`cache_path`), stores and reads the volumes, native
grids included (each native label map flattened into one uint8 array, its shape and geometry in
the JSON records), and removes the entries a new one supersedes: the same root, files, grid and
options with older file sizes or mtimes. Without that, every re-copy of the data (new mtimes) left
another full copy of the arrays behind (258 MB each for ACDC at the quick grid).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rtbench.datasets.base import NativeGrid, Volume
from rtbench.datasets.nifti import sha256_of


def cache_dir() -> Path:
    """Where preprocessed arrays are cached: ``$RTBENCH_CACHE``, else ``~/.cache/rtbench``."""
    return Path(os.environ.get("RTBENCH_CACHE") or Path.home() / ".cache" / "rtbench")


def cache_path(kind: str, blob: dict[str, Any]) -> Path:
    """The cache file of the volumes ``blob`` describes: ``<kind>-<slot>-<content>.npz`` in :func:`cache_dir`.

    Args:
        kind: the dataset's cache prefix (``acdc``, ``camus``, ``nifti``), without ``-``.
        blob: everything the arrays depend on, with ``blob["files"]`` as ``[relative path, size,
            mtime_ns]`` rows (``rtbench.datasets.nifti.file_stats``). The *slot* hashes it with each
            file's size and mtime left out, the *content* hashes all of it: entries of one slot
            differ only in the state of the same files, so a new one supersedes the others.
    """
    slot = {**blob, "files": [row[0] for row in blob["files"]]}
    return cache_dir() / f"{kind}-{sha256_of(slot)[:12]}-{sha256_of(blob)[:12]}.npz"


def prune_superseded(path: Path) -> list[Path]:
    """Remove the other entries of ``path``'s slot (see :func:`cache_path`); the removed paths.

    A process still reading one keeps its open file (POSIX); one that cannot be removed stays.
    """
    slot = path.name.rsplit("-", 1)[0]
    removed = []
    for old in path.parent.glob(f"{slot}-*.npz"):
        if old != path:
            try:
                old.unlink()
            except OSError:
                continue
            removed.append(old)
    return removed


def save_cache(path: Path, volumes: list[Volume]) -> None:
    """Write ``volumes`` to ``path`` (npz, uncompressed) atomically: a temporary file, then os.replace."""
    offsets = np.cumsum([0] + [v.num_slices for v in volumes])
    natives = [v.native.label.ravel() for v in volumes if v.native is not None]
    records = [
        {
            "case_id": v.case_id,
            "patient": v.patient,
            "group": v.group,
            "phase": v.phase,
            "spacing": v.spacing,
            "meta": v.meta,
            "native": _native_record(v.native),
        }
        for v in volumes
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                image=np.concatenate([v.image for v in volumes]),
                label=np.concatenate([v.label for v in volumes]),
                offsets=offsets,
                native_label=np.concatenate(natives) if natives else np.zeros(0, np.uint8),
                records=np.array(json.dumps(records)),
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_cache(path: Path) -> list[Volume] | None:
    """The volumes cached at ``path``, or None when there is no usable cache file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            image, label, offsets = z["image"], z["label"], z["offsets"]
            native_label = z["native_label"]
            records = json.loads(str(z["records"]))
        volumes = []
        start = 0
        for i, r in enumerate(records):
            native = None
            if r["native"] is not None:
                n = r["native"]
                size = int(np.prod(n["shape"]))
                native = NativeGrid(
                    label=native_label[start : start + size].reshape(n["shape"]),
                    spacing=(float(n["spacing"][0]), float(n["spacing"][1]), float(n["spacing"][2])),
                    resized=(int(n["resized"][0]), int(n["resized"][1])),
                    offset=(int(n["offset"][0]), int(n["offset"][1])),
                )
                start += size
            volumes.append(
                Volume(
                    case_id=r["case_id"],
                    patient=r["patient"],
                    group=r["group"],
                    phase=r["phase"],
                    image=image[offsets[i] : offsets[i + 1]],
                    label=label[offsets[i] : offsets[i + 1]],
                    spacing=(float(r["spacing"][0]), float(r["spacing"][1]), float(r["spacing"][2])),
                    meta=r["meta"],
                    native=native,
                )
            )
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None
    return volumes


def _native_record(native: NativeGrid | None) -> dict[str, Any] | None:
    if native is None:
        return None
    return {"shape": list(native.shape), "spacing": list(native.spacing), "resized": list(native.resized), "offset": list(native.offset)}


def load_or_build(path: Path, build: Callable[[], list[Volume]]) -> tuple[list[Volume], bool]:
    """The volumes cached at ``path`` if usable, else ``build()`` stored there: ``(volumes, from_cache)``.

    ``build`` validates everything it reads before returning, and the file is written only after
    it returns (atomically), so an error never leaves a partial cache file; once it is written, the
    entries it supersedes are removed (:func:`prune_superseded`). A cache folder that cannot be
    written costs speed, not correctness: a warning, and the built volumes are returned.
    """
    if path.is_file():
        cached = load_cache(path)
        if cached is not None:
            return cached, True
    volumes = build()
    try:
        save_cache(path, volumes)
    except OSError as err:
        warnings.warn(f"could not write the dataset cache {path}: {err}", stacklevel=2)
    else:
        prune_superseded(path)
    return volumes, False
