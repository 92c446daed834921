"""Dice / HD95 scoring (MONAI), its empty-class conventions, prediction, evaluation and summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from rtbench.datasets.base import Volume
from rtbench.tasks import CINE
from rtbench.train import evaluate, metric_names, predict_volume, row_metric_names, score_volume, summarize

CLASSES = ("RV", "MYO", "LV")
SPACING = (10.0, 1.0, 1.5)  # (slice, row, col) mm


def three_class_label() -> np.ndarray:
    label = np.zeros((3, 16, 16), np.uint8)
    label[1, 2:6, 2:6] = 1
    label[1, 8:12, 4:8] = 2
    label[0:2, 10:14, 10:14] = 3
    return label


class Rounder(nn.Module):
    """Logits -(x - k)^2 for k = 0..3: the argmax is the class nearest to the pixel value."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("k", torch.arange(4, dtype=torch.float32).view(1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -((x - self.k) ** 2)


def test_identical_masks_score_perfectly() -> None:
    label = three_class_label()
    m = score_volume(label, label, SPACING, CLASSES)
    assert (
        list(m) == metric_names(CLASSES) == ["dice_RV", "dice_MYO", "dice_LV", "dice_mean", "hd95_RV", "hd95_MYO", "hd95_LV", "hd95_mean"]
    )
    for c in CLASSES:
        assert m[f"dice_{c}"] == pytest.approx(1.0) and m[f"hd95_{c}"] == pytest.approx(0.0)
    assert m["dice_mean"] == pytest.approx(1.0) and m["hd95_mean"] == pytest.approx(0.0)


def test_shifted_box_gives_known_dice_and_hd95_in_mm() -> None:
    # a 4 x 4 box in one slice shifted by 2 pixels: |A ∩ B| = 8, Dice = 2 * 8 / (16 + 16) = 0.5;
    # the 95th percentile of the surface distances is the 2-pixel offset, times the axis spacing
    ref = np.zeros((3, 16, 16), np.uint8)
    ref[1, 4:8, 4:8] = 1  # RV: shifted along columns (1.5 mm)
    ref[1, 9:13, 9:13] = 2  # MYO: shifted along rows (1.0 mm)
    ref[0, 1, 12] = 3  # LV: one voxel shifted by one slice (10 mm)
    pred = np.zeros_like(ref)
    pred[1, 4:8, 6:10] = 1
    pred[1, 11:15, 9:13] = 2
    pred[1, 1, 12] = 3
    m = score_volume(pred, ref, SPACING, CLASSES)
    assert m["dice_RV"] == pytest.approx(0.5) and m["hd95_RV"] == pytest.approx(3.0)
    assert m["dice_MYO"] == pytest.approx(0.5) and m["hd95_MYO"] == pytest.approx(2.0)
    assert m["dice_LV"] == pytest.approx(0.0) and m["hd95_LV"] == pytest.approx(10.0)
    assert m["dice_mean"] == pytest.approx(1.0 / 3.0) and m["hd95_mean"] == pytest.approx(5.0)


def test_empty_class_conventions() -> None:
    ref = three_class_label()
    pred = ref.copy()
    pred[pred == 1] = 0  # RV missed: present in reference only
    ref[ref == 2] = 0  # MYO present in the prediction only (false positives)
    pred[pred == 3] = 0
    ref[ref == 3] = 0  # LV absent from both
    m = score_volume(pred, ref, SPACING, CLASSES)
    diagonal = math.sqrt((3 * 10.0) ** 2 + (16 * 1.0) ** 2 + (16 * 1.5) ** 2)
    assert m["dice_RV"] == 0.0 and m["hd95_RV"] == pytest.approx(diagonal)
    assert m["dice_MYO"] == 0.0 and m["hd95_MYO"] == pytest.approx(diagonal)
    assert math.isnan(m["dice_LV"]) and math.isnan(m["hd95_LV"])
    assert m["dice_mean"] == 0.0 and m["hd95_mean"] == pytest.approx(diagonal)  # NaN excluded
    empty = np.zeros_like(ref)
    m = score_volume(empty, empty, SPACING, CLASSES)
    assert all(math.isnan(v) for v in m.values())


def test_predict_volume_shape_dtype_and_mode() -> None:
    label = three_class_label()
    vol = Volume("p0_ED", "p0", "NOR", "ED", label.astype(np.float32) + 0.1, label, SPACING)
    model = Rounder().train()
    pred = predict_volume(model, vol, torch.device("cpu"), batch_size=2)
    assert pred.dtype == np.uint8 and pred.shape == label.shape
    np.testing.assert_array_equal(pred, label)
    assert model.training  # mode restored


def _volume(case: str, patient: str, label: np.ndarray, image: np.ndarray) -> Volume:
    return Volume(case, patient, "NOR", case.split("_")[1], image.astype(np.float32), label, SPACING)


def test_evaluate_and_summarize() -> None:
    label = three_class_label()
    worse = label.copy()
    worse[worse == 1] = 0  # the model will miss the RV of this volume
    vols = [_volume("p0_ED", "p0", label, label), _volume("p0_ES", "p0", label, worse), _volume("p1_ED", "p1", label, label)]
    rows = evaluate(Rounder(), vols, CINE, torch.device("cpu"))
    assert [r["case_id"] for r in rows] == ["p0_ED", "p0_ES", "p1_ED"]
    for r in rows:
        assert {"case_id", "patient", "phase", "group", "scored_on"} | set(row_metric_names(CINE.classes)) == set(r)
        # no native grid (as synthetic data): the harness grid is the native grid, both scores are one
        assert r["scored_on"] == "harness grid (native)"
        assert all(r[n] == r[f"grid_{n}"] or (math.isnan(r[n]) and math.isnan(r[f"grid_{n}"])) for n in metric_names(CINE.classes))
    assert rows[0]["dice_mean"] == pytest.approx(1.0) and rows[1]["dice_RV"] == 0.0

    s = summarize(rows, CINE.classes)
    names = row_metric_names(CINE.classes)
    expected = {f"{n}{p}_{a}" for n in names for p in ("", "_ED", "_ES") for a in ("mean", "std")}
    assert set(s) == expected | {"volumes", "volumes_ED", "volumes_ES"}
    assert (s["volumes"], s["volumes_ED"], s["volumes_ES"]) == (3, 2, 1)
    assert s["dice_RV_mean"] == pytest.approx(2 / 3) and s["dice_RV_std"] == pytest.approx(np.std([1, 0, 1]))
    assert s["dice_LV_mean"] == pytest.approx(1.0) and s["dice_LV_std"] == pytest.approx(0.0)
    assert s["dice_RV_ED_mean"] == 1.0 and s["dice_RV_ES_mean"] == 0.0 and s["grid_dice_RV_ES_mean"] == 0.0


def test_summarize_is_nan_aware() -> None:
    rows = [{n: 1.0 for n in metric_names(CLASSES)}, {n: 0.5 for n in metric_names(CLASSES)}]
    rows[1]["dice_RV"] = float("nan")
    s = summarize(rows, CLASSES)
    assert s["dice_RV_mean"] == 1.0 and s["dice_RV_std"] == 0.0
    assert s["dice_LV_mean"] == pytest.approx(0.75)
    rows[0]["dice_RV"] = float("nan")
    assert math.isnan(summarize(rows, CLASSES)["dice_RV_mean"])
