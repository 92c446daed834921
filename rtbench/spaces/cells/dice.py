"""What the quality-control (QC) network of the echo framework predicts: the true Dice of each frame's mask (seed 003 §III-A).

One definition shared by the harness, which trains and scores QC networks on it
(:mod:`rtbench.train.quality`), and by the methods that search QC networks (``echonas``): it
belongs to the framework's definition, as the ``qc_input`` op does, not to either side.
"""

from __future__ import annotations

import torch
from monai.metrics import compute_dice
from monai.networks.utils import one_hot


def frame_dice(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """True Dice per frame of the argmax mask of ``logits`` (B, K, H, W) against ``label`` (B, 1, H, W): (B,) float32.

    Mean over the K - 1 foreground classes of MONAI's ``compute_dice`` (``ignore_empty=False``: an
    empty reference with an empty prediction is 1, with a non-empty one 0).
    """
    k = logits.shape[1]
    pred = one_hot(logits.argmax(dim=1, keepdim=True), num_classes=k)
    ref = one_hot(label.long(), num_classes=k)
    dice = compute_dice(pred, ref, include_background=False, ignore_empty=False)
    return dice.float().mean(dim=1)
