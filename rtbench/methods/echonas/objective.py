"""The search loss of seed 003, eq. 3, and its parts: the QC target (true per-frame Dice) and the Gumbel temperature.

Eq. 3 (003 §III-D)::

    L(w, alpha) = L_CE(w, alpha) + lambda_1 * L_MSE(w, alpha) + lambda_2 * LAT(alpha)

* ``L_CE``: pixel-wise cross-entropy of the segmentation supernet's logits against the label map.
* ``L_MSE``: mean squared error between the QC supernet's predicted Dice (B, 1) and the *true*
  Dice of the segmentation's prediction of each frame (:func:`qc_target`). The target is computed
  from detached logits: it is a label, not a path for gradients (003 Fig. 1: "the ground truth of
  Dice is computed by using the segmentation result and ground truth mask").
* ``LAT``: the framework's expected latency, 003 eq. 4 over the latency table
  (``rtbench.spaces.cells.latency.ExpectedLatency``), in **table milliseconds**: every op's table
  entry is its p50 in ms timed alone on the profile (``LatencyModel.op_ms``), and the sum over-predicts
  the measured network (each entry carries a query's fixed cost). Seed 003 gives no unit; with
  ``lambda_2 = 0.001`` a framework of about 50 ms (the bound, and their Table II's rows: 47-82 ms)
  adds about 0.05 to a loss whose ``L_CE`` starts near ``ln 2 = 0.69`` for two classes, so ms is the
  unit in which the printed weight is neither negligible (seconds: 5e-5) nor dominant
  (microseconds: 50). We keep 0.001 on table ms.

  What moves the alphas is the gradient, and there the term is weak at small images. On the
  untrained default supernet at 32 px (budget=smoke) with the measured local-cpu table (2-core
  box shared with background runs; ``LAT`` 7.6-25.5 table ms over one-hot architectures, 14.8 at
  uniform weights), the gradient norm on all alphas of ``0.001 * LAT`` was 1.2e-4 at tau = 5
  (5.2e-4 at tau = 1), against 2.4e-2 / 9.2e-2 for ``L_CE`` and 0.27 / 0.28 for ``L_MSE`` (seeds
  0 / 1, one batch of 8 frames): 200-800 times weaker than ``L_CE``. Compute-bound ops cost about
  (256 / 32)^2 = 64 times more at 003's 256 px, so the pull grows with the image; below that,
  ``method.latency_weight`` is the knob (``docs/methods/echonas.md``).
* ``lambda_2 = 0`` drops the term and the table altogether (the paper's "w/o hardware-aware" row).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from rtbench.spaces.cells.dice import frame_dice

TAU_START = 5.0
"""Gumbel-softmax temperature of the first architecture epoch: FBNet's initial temperature (Wu et al., CVPR 2019, §4.1)."""

TAU_DECAY = 0.956
"""Per-epoch temperature factor: FBNet anneals with ``exp(-0.045) = 0.956`` every epoch (§4.1)."""


def gumbel_temperature(arch_epoch: int, start: float = TAU_START, decay: float = TAU_DECAY) -> float:
    """``tau = start * decay ** arch_epoch``: FBNet's exponential annealing, counted from the first architecture epoch."""
    return start * decay ** max(arch_epoch, 0)


def qc_target(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """The QC network's regression target: the true Dice of each frame's predicted mask (003 §III-A), detached.

    The harness's own per-frame Dice (:func:`rtbench.spaces.cells.dice.frame_dice`: the argmax mask of
    ``logits`` against ``label``, mean over the foreground classes, an empty reference predicted
    empty counting as 1), so the search regresses the quantity the harness trains and scores the
    QC network on. Computed from ``logits.detach()`` without gradients: a label, not a path.

    Args:
        logits: (B, K, H, W) segmentation logits, K >= 2 (class 0 is background).
        label: (B, 1, H, W) integer label map.

    Returns:
        (B,) float32 Dice in [0, 1] with ``requires_grad`` False.
    """
    with torch.no_grad():
        return frame_dice(logits.detach(), label)


class SearchLoss(NamedTuple):
    """The terms of eq. 3 for one batch and their weighted sum ``total`` (0-d tensors; ``lat_ms`` 0 without the term)."""

    total: torch.Tensor
    ce: torch.Tensor
    mse: torch.Tensor
    lat_ms: torch.Tensor


def qc_mse(predicted_dice: torch.Tensor, true_dice: torch.Tensor) -> torch.Tensor:
    """``L_MSE``: the QC network's predicted Dice (B, 1) against the detached true Dice (B,)."""
    return F.mse_loss(predicted_dice.reshape(-1), true_dice.detach().to(predicted_dice.dtype))


def eq3(ce: torch.Tensor, mse: torch.Tensor, lat_ms: torch.Tensor | None, mse_weight: float, latency_weight: float) -> SearchLoss:
    """003 eq. 3: ``L_CE + lambda_1 * L_MSE + lambda_2 * LAT``; ``lat_ms`` None (no table) only with ``latency_weight == 0``."""
    if lat_ms is None:
        if latency_weight != 0:
            raise ValueError(f"eq. 3 with latency_weight={latency_weight} needs LAT (a latency table)")
        lat_ms = torch.zeros((), device=ce.device)
    if not (math.isfinite(mse_weight) and math.isfinite(latency_weight)):
        raise ValueError(f"eq. 3 weights must be finite, got {mse_weight}, {latency_weight}")
    total = ce + mse_weight * mse + latency_weight * lat_ms.to(ce.dtype)
    return SearchLoss(total, ce, mse, lat_ms)
