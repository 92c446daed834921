"""Scoring on the native grid: the geometry a volume carries, the way back (to_native), evaluate's two
sets of scores, the cache keeping native grids, and ED/ES/pooled aggregation in the run record."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.transforms import ResizeWithPadOrCrop
from torch import nn

from rtbench.budgets import Budget
from rtbench.datasets.acdc import read_frame, scan_root
from rtbench.datasets.base import Volume
from rtbench.datasets.nifti import make_volume
from rtbench.datasets.nifti_folder import NiftiFolder
from rtbench.datasets.preprocess import centre_offset, resample_to_grid, to_native
from rtbench.datasets.volume_cache import load_cache, save_cache
from rtbench.records import aggregate_folds
from rtbench.tasks import CINE
from rtbench.train import evaluate, metric_names, summarize

REAL_ACDC = Path(__file__).resolve().parents[2] / "shared" / "data" / "acdc"
ZOOMS = (1.6, 1.3, 8.0)  # (X, Y, slice) mm, as a header's zooms: anisotropic in-plane and across slices
GRID = Budget(name="t", image_size=40, spacing_mm=1.5)  # a 60 mm field of view


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache folder."""
    monkeypatch.setenv("RTBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def one_hot(label: np.ndarray, classes: int = 4) -> torch.Tensor:
    """(S, H, W) labels -> (C, S, H, W) probabilities."""
    return F.one_hot(torch.from_numpy(label.astype(np.int64)), classes).permute(3, 0, 1, 2).float()


def native_label() -> np.ndarray:
    """(S, X, Y) = (3, 60, 80) at 1.6 x 1.3 mm (96 x 104 mm): an LV disc in a MYO ring at the centre, an RV box
    across the edge of the harness's 60 mm field of view (|y| < 30 mm): a third of it is outside, the crop cuts it."""
    x, y = np.meshgrid((np.arange(60) - 29.5) * ZOOMS[0], (np.arange(80) - 39.5) * ZOOMS[1], indexing="ij")
    r = np.hypot(x, y)
    label = np.zeros((3, 60, 80), np.uint8)
    label[:, r < 20] = 2
    label[:, r < 12] = 3
    label[:, (np.abs(x) < 10) & (y > 22) & (y < 38)] = 1
    label[2] = 0  # an empty apical slice
    return label


def write_case(root: Path, phase: str = "ED") -> None:
    """The native label as a NIfTI pair (X, Y, slices), spacing only in the header zooms; the image is the label."""
    root.mkdir(parents=True, exist_ok=True)
    label = np.moveaxis(native_label(), 0, 2)
    for name, data in ((f"p0_{phase}.nii.gz", label.astype(np.float32)), (f"p0_{phase}_gt.nii.gz", label)):
        img = nib.Nifti1Image(data, np.eye(4))
        img.header.set_zooms(ZOOMS)
        nib.save(img, root / name)


@pytest.mark.parametrize("target", [7, 8])
def test_centre_offset_is_monai_resize_with_pad_or_crop(target: int) -> None:
    for size in range(1, 20):
        ramp = torch.arange(1, size + 1, dtype=torch.float32)[None, :, None]
        out = ResizeWithPadOrCrop(spatial_size=(target, 1))(ramp)[0, :, 0].numpy()
        o = centre_offset(size, target)
        expected = [i + o + 1 if 0 <= i + o < size else 0 for i in range(target)]
        assert out.tolist() == expected, (size, target)


def test_forward_and_back_recovers_the_native_label_and_a_cropped_structure_is_a_miss(tmp_path: Path) -> None:
    write_case(tmp_path / "data")
    v = NiftiFolder(NiftiFolder.Config(root=str(tmp_path / "data"))).load(GRID, 0).volumes[0]
    label, native = native_label(), v.native
    assert native is not None and v.label.shape == (3, 40, 40) and v.spacing == pytest.approx((8.0, 1.5, 1.5))
    assert native.spacing == pytest.approx((8.0, 1.6, 1.3)) and native.resized == (64, 69) and native.offset == (12, 14)
    assert native.zoom == pytest.approx((64 / 60, 69 / 80))
    assert native.label.dtype == np.uint8 and np.array_equal(native.label, label)  # uncropped

    back = to_native(one_hot(v.label), native)
    assert back.shape == label.shape and back.dtype == np.uint8
    fov = to_native(one_hot(np.ones_like(v.label)), native) == 1  # the harness field of view, on the native grid
    assert fov.any() and not fov.all()
    assert not back[~fov].any()  # nothing comes back from outside the crop
    for c in (2, 3):
        assert dice(back == c, label == c) > 0.97, c
    rv, rv_in = label == 1, (label == 1) & fov
    assert dice(back == 1, rv_in) > 0.97  # what the crop kept comes back ...
    expected = 2 * rv_in.sum() / (rv_in.sum() + rv.sum())  # ... what it cut is missed
    assert 0.5 < expected < 0.8 and dice(back == 1, rv) == pytest.approx(expected, abs=0.02)


def test_padded_grid_goes_back_too() -> None:
    label = native_label()[:, 15:45, 20:60]  # 48 x 52 mm: padded to a 60 mm field of view
    _, grid_label, native = resample_to_grid(label.astype(np.float32), label, ZOOMS, 1.5, 40)
    assert native.offset[0] < 0 and native.offset[1] < 0
    back = to_native(one_hot(grid_label), native)
    for c in (2, 3):
        assert dice(back == c, label == c) > 0.9, c


class Sharp(nn.Module):
    """Logits -20 (x - k)^2 for k = 0..3: nearly one-hot probabilities of the class nearest to the pixel value."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("k", torch.arange(4, dtype=torch.float32).view(1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -20.0 * (x - self.k) ** 2


def harness_volume(phase: str = "ED") -> Volume:
    """The native label at a 40 px, 1.5 mm grid, with the grid label as its image (Sharp segments it perfectly)."""
    label = native_label()
    v = make_volume(label.astype(np.float32), label, ZOOMS, GRID, **ids(phase))
    v.image = v.label.astype(np.float32)
    return v


def ids(phase: str) -> dict:
    return {"case_id": f"p0_{phase}", "patient": "p0", "group": "NOR", "phase": phase, "meta": {}}


def test_evaluate_scores_on_the_native_grid_and_keeps_the_grid_scores() -> None:
    row = evaluate(Sharp(), [harness_volume()], CINE, torch.device("cpu"))[0]
    assert row["scored_on"] == "native grid"
    for name in metric_names(CINE.classes):
        assert f"grid_{name}" in row
    assert row["grid_dice_RV"] == row["grid_dice_MYO"] == row["grid_dice_LV"] == pytest.approx(1.0)
    assert row["grid_hd95_mean"] == pytest.approx(0.0)
    assert row["dice_LV"] > 0.97 and row["dice_MYO"] > 0.95
    assert row["dice_RV"] < 0.8  # half the RV is outside the harness field of view: a miss on the native grid
    assert row["hd95_RV"] > 5.0  # mm, at the native spacing: the missed part is far from the kept part


def test_cache_keeps_native_grids(tmp_path: Path) -> None:
    vols = [harness_volume("ED"), harness_volume("ES")]
    vols[1].native = None
    save_cache(tmp_path / "c.npz", vols)
    back = load_cache(tmp_path / "c.npz")
    assert back is not None and back[1].native is None
    a, b = vols[0].native, back[0].native
    assert a is not None and b is not None
    assert (a.spacing, a.resized, a.offset) == (b.spacing, b.resized, b.offset)
    assert b.label.dtype == np.uint8 and np.array_equal(a.label, b.label)


def test_aggregate_reports_native_grid_and_phases() -> None:
    rows = evaluate(Sharp(), [harness_volume("ED"), harness_volume("ES")], CINE, torch.device("cpu"))
    rows[1] = {**rows[1], "dice_LV": 0.5}  # a worse ES
    m = aggregate_folds([{"per_volume": rows}], CINE.classes)
    assert m["dice_LV_ED"] == rows[0]["dice_LV"] and m["dice_LV_ES"] == 0.5
    assert m["dice_LV"] == pytest.approx((rows[0]["dice_LV"] + 0.5) / 2)
    assert m["grid_dice_LV"] == m["grid_dice_LV_ES"] == pytest.approx(1.0)
    assert m["dice_mean"] < m["grid_dice_mean"]
    assert (m["volumes"], m["volumes_ED"], m["volumes_ES"], m["folds"]) == (2, 1, 1, 1)
    for key in ("dice_mean", "hd95_mean", "dice_RV", "grid_hd95_mean", "dice_mean_ED", "hd95_mean_ES"):
        assert key in m and f"{key}_std" in m
    s = summarize(rows, CINE.classes)
    assert s["dice_LV_ES_mean"] == 0.5 and s["grid_dice_mean_mean"] == pytest.approx(1.0)
    two = aggregate_folds([{"per_volume": rows[:1]}, {"per_volume": rows[1:]}], CINE.classes)
    assert two["dice_LV_ED"] == rows[0]["dice_LV"] and two["dice_LV_ED_std"] == 0.0  # ED only in fold 0: one fold value


@pytest.mark.acdc
@pytest.mark.skipif(not (REAL_ACDC / "training").is_dir(), reason=f"real ACDC data not found at {REAL_ACDC}")
def test_real_acdc_forward_and_back_recovers_the_native_label() -> None:
    patient_root, records = scan_root(str(REAL_ACDC), "training")
    rec = next(r for r in records if r.patient == "patient001")
    for phase in ("ED", "ES"):
        image, label, zooms = read_frame(rec.image_path(phase), rec.label_path(phase))
        _, grid_label, native = resample_to_grid(image, label, zooms, 1.5, 128)  # the quick budget's grid
        back = to_native(one_hot(grid_label), native)
        for c in (1, 2, 3):
            assert dice(back == c, label == c) > 0.97, (phase, c)
