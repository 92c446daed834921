"""Two-output candidates: segmentation + quality control (QC), trained and scored as seed 003 §IV-A does.

A two-output network (:class:`rtbench.spaces.cells.echonas.EchoNet`: ``echonas``, ``unet-resnet18``)
is a segmentation network ``seg`` followed by a QC network ``qc`` that reads
``qc_input(logits, image)`` = (image, softmax, uncertainty map) and predicts the Dice of that
segmentation. The harness trains and scores it in this order (:func:`rtbench.trials.run_train`):

1. the fold's training patients D_train are split in half by patient
   (:func:`rtbench.train.data.split_patients`, fraction 0.5, the fold's seed): D_seg_train and
   D_seg_eval (003 §IV-A: "D_train is split into D_seg_train and D_seg_eval");
2. ``seg`` trains on D_seg_train with the shared recipe (:mod:`rtbench.train.recipe`);
3. ``seg`` is frozen and the QC part trains on D_seg_eval (:func:`train_quality_control`) with the
   mean squared error between its prediction and the *true* Dice of the frozen segmentation's
   prediction of the same (augmented) frame: the target is recomputed per batch, so QC never sees
   a prediction on a D_seg_train frame, where the segmentation is over-fitted and its Dice
   optimistic;
4. on the test patients: segmentation Dice per volume (``evaluate``) and, per volume,
   :func:`score_quality`: ``qc_pred`` (predicted Dice), ``qc_true`` (true Dice of the mask on the
   harness grid, the quantity QC learnt), ``qc_baseline`` (the mean true Dice over D_seg_eval:
   what a QC that always predicts the mean would say). The record's ``qc_mae`` is
   ``mean |qc_pred - qc_true|`` and ``qc_mae_baseline`` the same for ``qc_baseline``;
   ``qc_auroc`` is the area under the ROC of ``1 - qc_pred`` as a detector of failed
   segmentations, ``qc_true < FAILURE_DICE`` (MONAI's ``compute_roc_auc``).

The per-frame true Dice (:func:`rtbench.spaces.cells.dice.frame_dice`, part of the framework's
definition so that a method searching QC networks uses the same one) is the mean over foreground classes of MONAI's Dice
of the argmax mask, with an empty reference and an empty prediction counting as 1 (a frame
correctly left empty is a success for the QC to recognise).

Optimisation of the QC part (our choice; 003 gives none for the separate stage): the QC starts
from the constant predictor (:func:`start_at_constant`: last linear layer zeroed, its bias at the
logit of D_seg_eval's mean true Dice), then Adam at
``budget.lr``, cosine to 0 over ``budget.epochs`` epochs stepped per batch, the recipe's
augmentation: the same recipe as the segmentation, so only the loss differs. A last batch of a
single frame is skipped (a QC network's BatchNorm on globally pooled features cannot train on one
value per channel). A NaN/inf loss raises
:class:`rtbench.train.recipe.TrainingDiverged` as there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai.metrics import compute_roc_auc
from torch import nn

from rtbench.datasets.echo_channels import as_channels
from rtbench.spaces.cells.dice import frame_dice
from rtbench.spaces.cells.echonas import EchoNet
from rtbench.train.data import slice_loader
from rtbench.train.recipe import TrainingDiverged, seed_everything

if TYPE_CHECKING:
    from rtbench.budgets import Budget
    from rtbench.datasets.base import Volume

__all__ = ["FAILURE_DICE", "frame_dice", "is_two_output", "quality_summary", "score_quality", "start_at_constant", "train_quality_control"]

FAILURE_DICE = 0.7
"""A segmentation whose true Dice is below this is a failure the QC should flag (``qc_auroc``)."""


def is_two_output(model: nn.Module) -> bool:
    """True for a segmentation + QC network (an :class:`EchoNet`), trained by this module's recipe."""
    return isinstance(model, EchoNet)


def train_quality_control(
    model: EchoNet,
    volumes: Sequence[Volume],
    budget: Budget,
    seed: int,
    device: torch.device,
    channels: int,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train ``model.qc`` on ``volumes`` (D_seg_eval) against the true Dice of the frozen ``model.seg`` (step 3).

    ``model.seg`` is put in eval mode with its gradients off and left so. Returns ``{"epochs",
    "final_loss", "losses" (mean MSE per epoch), "train_seconds", "frames" (per epoch),
    "eval_dice_mean" (mean true Dice of the frozen segmentation over ``volumes`` without
    augmentation: the constant predictor's value), "eval_patients"}``.
    """
    if sum(v.num_slices for v in volumes) == 0:
        raise ValueError("train_quality_control needs at least one D_seg_eval frame")
    model.to(device)
    model.seg.eval().requires_grad_(False)
    eval_dice = _true_dice(model.seg, volumes, device, channels, budget.batch_size)
    seed_everything(seed)
    start_at_constant(model.qc, float(eval_dice.mean()))
    loader = slice_loader(volumes, budget.batch_size, shuffle=True, augment=True, seed=seed, channels=channels)
    qc_params = [*model.qc_input.parameters(), *model.qc.parameters()]
    optimizer = torch.optim.Adam(qc_params, lr=budget.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(budget.epochs * len(loader), 1))
    model.qc_input.train()
    model.qc.train()
    losses: list[float] = []
    start = time.perf_counter()
    for epoch in range(1, budget.epochs + 1):
        t0 = time.perf_counter()
        step_losses: list[torch.Tensor] = []
        total = torch.zeros((), device=device)
        for batch in loader:
            x, y = batch["image"].to(device), batch["label"].to(device)
            if x.shape[0] < 2 < len(loader.dataset):
                continue  # a last batch of one frame: BatchNorm after the QC's global pooling needs two values per channel
            with torch.no_grad():
                logits = model.seg(x)
                target = frame_dice(logits, y)
            pred = model.qc(model.qc_input(logits, x)).reshape(-1)
            loss = nn.functional.mse_loss(pred, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.detach() * x.shape[0]
            step_losses.append(loss.detach())
        stacked = torch.stack(step_losses)
        if not bool(torch.isfinite(stacked).all()):
            step = int((~torch.isfinite(stacked)).nonzero()[0, 0])
            raise TrainingDiverged(
                f"quality-control training diverged at epoch {epoch}/{budget.epochs}, step {step + 1}: MSE {float(stacked[step])}"
            )
        losses.append(float(total) / len(loader.dataset))
        if on_epoch is not None:
            on_epoch({"stage": "qc", "epoch": epoch, "epochs": budget.epochs, "loss": losses[-1], "seconds": time.perf_counter() - t0})
    model.eval()
    return {
        "epochs": budget.epochs,
        "final_loss": losses[-1] if losses else float("nan"),
        "losses": losses,
        "train_seconds": time.perf_counter() - start,
        "frames": len(loader.dataset),
        "eval_dice_mean": float(eval_dice.mean()),
        "eval_patients": len({v.patient for v in volumes}),
    }


def start_at_constant(qc: nn.Module, mean_dice: float) -> None:
    """Zero the QC's last linear layer and set its bias to ``logit(mean_dice)``: training starts from the constant predictor.

    The QC's Dice head ends in a linear layer and a sigmoid (``dice_head``; ``unet-resnet18``'s
    ``fc``). Started there, the QC's first prediction is D_seg_eval's mean true Dice for every
    frame, and training moves away from it only as far as the image, mask and uncertainty explain
    the spread of true Dice around that mean.
    """
    last = [m for m in qc.modules() if isinstance(m, nn.Linear)]
    if not last:
        return
    p = min(max(mean_dice, 1e-3), 1 - 1e-3)
    with torch.no_grad():
        last[-1].weight.zero_()
        if last[-1].bias is not None:
            last[-1].bias.fill_(float(np.log(p / (1 - p))))


def _true_dice(seg: nn.Module, volumes: Sequence[Volume], device: torch.device, channels: int, batch_size: int) -> np.ndarray:
    """True Dice of ``seg``'s prediction of every frame of ``volumes`` (no augmentation), in loader order."""
    out = []
    with torch.inference_mode():
        for batch in slice_loader(volumes, batch_size, shuffle=False, augment=False, seed=0, channels=channels):
            out.append(frame_dice(seg(batch["image"].to(device)), batch["label"].to(device)).cpu())
    return torch.cat(out).numpy()


def score_quality(
    model: EchoNet, volumes: Sequence[Volume], device: torch.device, channels: int, baseline: float
) -> list[dict[str, float]]:
    """Per volume of ``volumes`` (test patients): ``qc_pred``, ``qc_true`` and ``qc_baseline`` (step 4).

    ``qc_pred`` is the mean over the volume's frames of the QC's predicted Dice, ``qc_true`` the
    mean of their true Dice (an echo volume is one frame: both are that frame's), ``qc_baseline``
    is ``baseline`` (D_seg_eval's mean true Dice).
    """
    was_training = model.training
    model.to(device).eval()
    rows = []
    try:
        with torch.inference_mode():
            for v in volumes:
                image = torch.from_numpy(np.ascontiguousarray(v.image, dtype=np.float32)).unsqueeze(1)
                label = torch.from_numpy(np.ascontiguousarray(v.label)).long().unsqueeze(1)
                x = as_channels(image, channels).to(device)
                out = model(x)
                true = frame_dice(out.logits, label.to(device))
                rows.append({"qc_pred": float(out.dice.float().mean()), "qc_true": float(true.mean()), "qc_baseline": float(baseline)})
    finally:
        model.train(was_training)
    return rows


def quality_summary(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """``qc_mae``, ``qc_mae_baseline``, ``qc_auroc`` (NaN when the rows hold one class only) and ``qc_failures`` of scored rows."""
    pred = np.array([r["qc_pred"] for r in rows], dtype=np.float64)
    true = np.array([r["qc_true"] for r in rows], dtype=np.float64)
    base = np.array([r["qc_baseline"] for r in rows], dtype=np.float64)
    failed = true < FAILURE_DICE
    auroc = float("nan")
    if 0 < failed.sum() < len(failed):
        auroc = float(compute_roc_auc(torch.as_tensor(1.0 - pred), torch.as_tensor(failed.astype(np.float64))))
    return {
        "qc_mae": float(np.abs(pred - true).mean()) if len(rows) else float("nan"),
        "qc_mae_baseline": float(np.abs(base - true).mean()) if len(rows) else float("nan"),
        "qc_auroc": auroc,
        "qc_failures": float(failed.sum()),
    }
