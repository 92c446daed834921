"""What a method can see: the search pool's volumes without file paths or roots (``trials.search_view``)."""

from __future__ import annotations

import numpy as np

from rtbench.datasets import Volume
from rtbench.trials import search_view


def _volume(meta: dict) -> Volume:
    z = np.zeros((2, 8, 8), np.float32)
    return Volume("p001_ED", "p001", "NOR", "ED", z, z.astype(np.uint8), (10.0, 1.5, 1.5), meta)


def test_search_view_drops_paths_and_roots_and_keeps_the_rest() -> None:
    meta = {
        "source": "/data/acdc/training/patient001/patient001_frame01.nii.gz",
        "root": "relative-root",
        "label_path": "x",
        "note": "see ../testing/patient101",
        "frame": 1,
        "source_spacing": [10.0, 1.5, 1.5],
        "lv_ef": 0.6,
    }
    (seen,) = search_view([_volume(meta)])
    assert seen.meta == {"frame": 1, "lv_ef": 0.6}
    assert meta["source"].startswith("/data")  # the harness's own copy is untouched
