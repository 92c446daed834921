"""A cache of preprocessed volumes: one uncompressed ``.npz`` per dataset, written atomically.

A dataset decides the cache key (which files, grid and preprocessing version the arrays depend on);
this module only stores and reads the volumes.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from rtbench.datasets.base import Volume


def cache_dir() -> Path:
    """Where preprocessed arrays are cached: ``$RTBENCH_CACHE``, else ``~/.cache/rtbench``."""
    return Path(os.environ.get("RTBENCH_CACHE") or Path.home() / ".cache" / "rtbench")


def save_cache(path: Path, volumes: list[Volume]) -> None:
    """Write ``volumes`` to ``path`` (npz, uncompressed) atomically: a temporary file, then os.replace."""
    offsets = np.cumsum([0] + [v.num_slices for v in volumes])
    records = [
        {"case_id": v.case_id, "patient": v.patient, "group": v.group, "phase": v.phase, "spacing": v.spacing, "meta": v.meta}
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
            records = json.loads(str(z["records"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return [
        Volume(
            case_id=r["case_id"],
            patient=r["patient"],
            group=r["group"],
            phase=r["phase"],
            image=image[offsets[i] : offsets[i + 1]],
            label=label[offsets[i] : offsets[i + 1]],
            spacing=(float(r["spacing"][0]), float(r["spacing"][1]), float(r["spacing"][2])),
            meta=r["meta"],
        )
        for i, r in enumerate(records)
    ]
