"""Scoring: slice-wise prediction of a volume, per-class 3D Dice and HD95 (MONAI), summaries.

Where volumes are scored (the ACDC challenge's and nnU-Net's practice). A network predicts on the
harness grid (``budget.spacing_mm``, ``budget.image_size``); its class probabilities are sent back
to each volume's native grid (:func:`rtbench.datasets.preprocess.to_native`: crop / pad undone,
probabilities resampled bilinearly, argmax) and scored there against the original label map,
uncropped, with the native header spacing. Those are the primary ``dice_*`` / ``hd95_*`` figures;
a structure cut off by the harness crop counts as missed there. The same row also holds the
harness-grid scores (prediction against the resampled, cropped label at the harness spacing)
under ``grid_dice_*`` / ``grid_hd95_*``. A volume without a native grid (``Volume.native is None``:
synthetic data, drawn on the harness grid) has native scores equal to its grid scores, and its
row says so (``"scored_on": "harness grid (native)"``).

Per volume and foreground class c (label value ``i + 1`` for ``classes[i]``), with A the predicted
and B the reference mask of the whole 3D stack:

* Dice (``monai.metrics.DiceMetric``): ``Dice = 2 |A ∩ B| / (|A| + |B|)``.
* HD95 (``monai.metrics.HausdorffDistanceMetric(percentile=95)``): the 95th percentile of the
  symmetric surface distances, in mm, with the volume's anisotropic (slice, row, col) spacing.
  As MONAI (and DeepMind's ``surface-distance``, ``compute_robust_hausdorff``) computes it,
  ``HD95 = max(P95{d(a, ∂B) : a ∈ ∂A}, P95{d(b, ∂A) : b ∈ ∂B})``, where ∂A is the surface (edge
  voxels) of A and d the Euclidean distance in mm.

Empty-class conventions (decided here, one rule for every method):

* class absent in both reference and prediction: Dice = NaN and HD95 = NaN; nothing to score, and
  the value is excluded from every mean (MONAI's ``DiceMetric`` default, ``ignore_empty=True``,
  and its HD give NaN here too; rewarding 1.0 would inflate the means of trivially empty cases).
* class absent in the reference only (false positives) or in the prediction only (missed class):
  Dice = 0.0, and HD95 = the diagonal of the field of view in mm,
  ``sqrt(sum_k (shape_k * spacing_k)^2)``: an upper bound on any distance inside the volume (the
  BraTS convention for an undefined HD95). MONAI itself would give NaN for a reference-empty
  class, which hides false positives, and infinity for a prediction-empty class, which breaks
  every mean; both are replaced by this finite penalty.

Summaries are given over all volumes (pooled) and separately over the ED and the ES volumes
(``Volume.phase``; other phases count only in the pooled figure): ``<metric>_ED``, ``<metric>_ES``.

Every aggregation over classes and volumes is NaN-aware (``numpy.nanmean`` / ``numpy.nanstd``);
a mean over nothing but NaN is NaN. Standard deviations over volumes are population standard
deviations (``ddof=0``), so a single volume has std 0. Folds are aggregated by the record
(``rtbench.records.aggregate_folds``: sample std across folds).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai.metrics import DiceMetric, HausdorffDistanceMetric
from monai.networks.utils import one_hot
from torch import nn

from rtbench.datasets.echo_channels import as_channels
from rtbench.datasets.preprocess import to_native
from rtbench.datasets.windows import causal_window, stack_window

if TYPE_CHECKING:
    from rtbench.datasets.base import Volume
    from rtbench.tasks import Task

__all__ = [
    "GRID_PREFIX",
    "PHASES",
    "evaluate",
    "metric_names",
    "predict_probabilities",
    "predict_volume",
    "row_metric_names",
    "score_volume",
    "summarize",
]

GRID_PREFIX = "grid_"
"""Prefix of the harness-grid scores in a per-volume row (``grid_dice_RV``, ``grid_hd95_mean``...)."""

PHASES = ("ED", "ES")
"""Phases summarised separately besides the pooled figure: ``dice_mean_ED``, ``dice_mean_ES``..."""


def metric_names(classes: Sequence[str], prefix: str = "") -> list[str]:
    """Per-volume metric keys, in table order: ``dice_<c>`` for each class, ``dice_mean``, then HD95; each with ``prefix``."""
    names = [f"dice_{c}" for c in classes] + ["dice_mean"] + [f"hd95_{c}" for c in classes] + ["hd95_mean"]
    return [prefix + n for n in names]


def row_metric_names(classes: Sequence[str]) -> list[str]:
    """Every metric key of an :func:`evaluate` row: the native-grid ones, then the ``grid_`` ones."""
    return metric_names(classes) + metric_names(classes, GRID_PREFIX)


def predict_probabilities(
    model: nn.Module, volume: Volume, device: torch.device, batch_size: int = 16, frames: int = 1, channels: int = 1
) -> torch.Tensor:
    """Class probabilities of ``volume``, slice by slice: softmax over the logits of each batch of slices.

    A network with a temporal window (``frames`` > 1) is given each slice's causal window, (n, H, W),
    oldest frame first (:func:`rtbench.datasets.windows.causal_window`); a task of ``channels`` > 1
    input channels (echo) gets the greyscale slice repeated into them. A network with several outputs
    (the echo task's :class:`~rtbench.spaces.cells.echonas.EchoOutput`) is scored on its first, the
    segmentation logits. Runs in eval mode under
    ``torch.inference_mode`` and restores the model's previous mode. Returns a float32 CPU tensor
    (C, S, H, W).
    """
    was_training = model.training
    model.eval()
    window = causal_window(volume, frames)[0] if frames > 1 else ()
    image = torch.from_numpy(np.ascontiguousarray(volume.image, dtype=np.float32))
    parts = []
    try:
        with torch.inference_mode():
            for start in range(0, image.shape[0], batch_size):
                if frames > 1:
                    x = torch.from_numpy(stack_window(window, start, start + batch_size)).to(device)
                else:
                    x = as_channels(image[start : start + batch_size].unsqueeze(1), channels).to(device)
                out = model(x)
                logits = out[0] if isinstance(out, tuple) else out
                parts.append(torch.softmax(logits.float(), dim=1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(parts).transpose(0, 1).contiguous()


def predict_volume(model: nn.Module, volume: Volume, device: torch.device, batch_size: int = 16) -> np.ndarray:
    """Segment ``volume`` on the harness grid: the argmax of :func:`predict_probabilities`.

    Returns a uint8 array of shape (S, H, W) with values in {0, ..., C - 1}.
    """
    return predict_probabilities(model, volume, device, batch_size).argmax(dim=0).to(torch.uint8).numpy()


def score_volume(pred: np.ndarray, label: np.ndarray, spacing: Sequence[float], classes: Sequence[str]) -> dict[str, float]:
    """Dice and HD95 (mm) of each class of one 3D volume, plus their NaN-aware means over classes.

    Args:
        pred: predicted label map, integer array (S, H, W).
        label: reference label map, integer array (S, H, W); ``classes[i]`` is label ``i + 1``.
        spacing: (slice, row, col) voxel spacing in mm.
        classes: foreground class names, e.g. ``("RV", "MYO", "LV")``.

    Returns:
        floats keyed (in this order) by :func:`metric_names`: ``dice_<c>`` for each class,
        ``dice_mean``, ``hd95_<c>`` for each class, ``hd95_mean``; with the empty-class conventions
        of this module's docstring.
    """
    if pred.shape != label.shape or pred.ndim != 3:
        raise ValueError(f"pred and label must both be (S, H, W); got {pred.shape} and {label.shape}")
    if len(spacing) != 3:
        raise ValueError(f"spacing must be (slice, row, col) in mm, got {spacing}")
    n = len(classes) + 1
    y_pred = one_hot(torch.as_tensor(pred.astype(np.int64))[None, None], num_classes=n)
    y = one_hot(torch.as_tensor(label.astype(np.int64))[None, None], num_classes=n)
    spacing_mm = tuple(float(s) for s in spacing)

    dice = DiceMetric(include_background=False, reduction="none", ignore_empty=False)(y_pred, y)[0].numpy()
    with warnings.catch_warnings():  # MONAI warns on every empty class; the conventions below handle them
        warnings.simplefilter("ignore")
        hd_metric = HausdorffDistanceMetric(include_background=False, percentile=95, reduction="none")
        hd95 = hd_metric(y_pred, y, spacing=spacing_mm)[0].numpy()

    in_pred = y_pred[0, 1:].flatten(1).any(dim=1).numpy()
    in_ref = y[0, 1:].flatten(1).any(dim=1).numpy()
    diagonal = float(np.sqrt(sum((k * s) ** 2 for k, s in zip(pred.shape, spacing_mm, strict=True))))
    dice = np.where(in_pred | in_ref, dice, np.nan)
    hd95 = np.where(in_pred & in_ref, hd95, np.where(in_pred | in_ref, diagonal, np.nan))

    out = {f"dice_{c}": float(d) for c, d in zip(classes, dice, strict=True)}
    out["dice_mean"] = _nanmean(dice)
    out.update({f"hd95_{c}": float(h) for c, h in zip(classes, hd95, strict=True)})
    out["hd95_mean"] = _nanmean(hd95)
    return out


def evaluate(model: nn.Module, volumes: Sequence[Volume], task: Task, device: torch.device, frames: int = 1) -> list[dict[str, Any]]:
    """Score ``model`` on every volume, on its native grid and on the harness grid: one row per volume.

    Each row holds ``case_id``, ``patient``, ``phase``, ``group``, ``scored_on``, the native-grid
    metrics of :func:`score_volume` for ``task.classes`` (``dice_RV``...) and the harness-grid ones
    under :data:`GRID_PREFIX` (``grid_dice_RV``...); see the module docstring. A network with a
    temporal window (``frames`` > 1) is fed causal windows, and its rows also hold ``window``: the
    kind of window the volume got (``cine``, ``padded``, or ``repeated`` for the fallback;
    :mod:`rtbench.datasets.windows`).
    """
    model = model.to(device)
    rows = []
    for v in volumes:
        probs = predict_probabilities(model, v, device, frames=frames, channels=task.in_channels)
        grid = score_volume(probs.argmax(dim=0).to(torch.uint8).numpy(), v.label, v.spacing, task.classes)
        if v.native is None:
            native, scored_on = grid, "harness grid (native)"
        else:
            native = score_volume(to_native(probs, v.native), v.native.label, v.native.spacing, task.classes)
            scored_on = "native grid"
        row: dict[str, Any] = {"case_id": v.case_id, "patient": v.patient, "phase": v.phase, "group": v.group, "scored_on": scored_on}
        if frames > 1:
            row["window"] = causal_window(v, frames)[1]
        row.update(native)
        row.update({GRID_PREFIX + k: x for k, x in grid.items()})
        rows.append(row)
    return rows


def summarize(rows: Sequence[Mapping[str, Any]], classes: Sequence[str]) -> dict[str, float]:
    """Mean and std of each metric across volumes (NaN-aware; population std), pooled and per phase.

    Returns ``{"<metric>_mean", "<metric>_std"}`` over all rows and ``{"<metric>_<P>_mean",
    "<metric>_<P>_std"}`` over the rows of phase P in :data:`PHASES`, for every metric of
    :func:`row_metric_names` present in the rows (native-grid and ``grid_`` ones), plus
    ``"volumes"`` and ``"volumes_<P>"``, the row counts. A metric that is NaN in every row (or a
    phase without rows) has mean and std NaN.
    """
    names = [n for n in row_metric_names(classes) if any(n in r for r in rows)] or metric_names(classes)
    out: dict[str, float] = {}
    for suffix, subset in _phase_subsets(rows):
        for name in names:
            values = np.array([float(r.get(name, np.nan)) for r in subset], dtype=np.float64)
            out[f"{name}{suffix}_mean"] = _nanmean(values)
            out[f"{name}{suffix}_std"] = _nanstd(values)
        out[f"volumes{suffix}"] = len(subset)
    return out


def _phase_subsets(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """``[("", all rows), ("_ED", ED rows), ("_ES", ES rows)]``: the key suffix and the rows of each summary."""
    return [("", list(rows))] + [(f"_{p}", [r for r in rows if r.get("phase") == p]) for p in PHASES]


def _nanmean(values: np.ndarray) -> float:
    """``numpy.nanmean`` that returns NaN (without a RuntimeWarning) when every value is NaN."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _nanstd(values: np.ndarray) -> float:
    """``numpy.nanstd`` (ddof=0) that returns NaN (without a RuntimeWarning) when every value is NaN."""
    finite = values[~np.isnan(values)]
    return float(finite.std()) if finite.size else float("nan")
