"""The shared training recipe: the harness trains every candidate of every method with it.

One recipe for all methods is what makes two leaderboard rows comparable; a method never trains
its own final networks. The recipe (only the budget's numbers change it):

* loss: ``monai.losses.DiceCELoss(to_onehot_y=True, softmax=True, include_background=False,
  batch=True)``, soft Dice over the foreground classes + cross-entropy, equal weights. ``batch=True``
  pools the Dice over the whole batch of slices: per-slice Dice on 2D short-axis slices where a
  structure is absent (the RV at the apex, small end-systolic cavities) gives noisy gradients.
  Measured on ACDC, budget=quick, U-Net(16), 20 held-out patients: per-slice Dice with background
  gave mean per-volume Dice 0.848 / HD95 10.2 mm, batch Dice without background 0.846 / 9.3 mm;
* optimiser: ``torch.optim.Adam(lr=budget.lr)``, no weight decay;
* schedule: cosine annealing from ``budget.lr`` to 0 over all ``budget.epochs * steps_per_epoch``
  steps (``torch.optim.lr_scheduler.CosineAnnealingLR``, stepped per batch). Cosine needs no
  validation set (the recipe trains on all training patients, so a plateau schedule has nothing to
  watch) and no tuning beyond the budget's epochs; stepping per batch keeps it smooth when the
  budget has only one or two epochs;
* data: every slice of the training volumes once per epoch, shuffled, batch ``budget.batch_size``,
  MONAI augmentation (``rtbench.train.data.train_transforms``).

Divergence: a loss that becomes NaN or infinite (a diverged optimisation, or a NaN that reached
the network) stops the training with :class:`TrainingDiverged`, naming the epoch, the step and the
loss; a diverged network is never scored. Each step's loss stays on the device and the check runs
once per epoch (one host sync, as for the epoch's mean loss), so the error names the first bad step
exactly; the rest of that epoch is wasted, no more.

Determinism: :func:`seed_everything` seeds Python, NumPy and torch through
``monai.utils.set_determinism`` (which also sets ``cudnn.deterministic`` and turns
``cudnn.benchmark`` off); the loader's shuffling and augmentation draw from a generator seeded with
``seed``. On CPU two runs with the same seed, model initialisation and thread count give identical
weights and losses. ``torch.use_deterministic_algorithms`` is *not* switched on: it is a
process-wide switch that makes some CUDA kernels raise, and CPU training is deterministic without
it; on a GPU, results may differ in the last bits between runs.

Resume: given a ``checkpoint`` path, :func:`train_model` writes the training's state there after
every epoch and, when the file exists, continues after the epoch it records
(``rtbench.train.resume``); the resumed training equals the uninterrupted one bit for bit on a CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from monai.losses import DiceCELoss
from monai.utils import set_determinism
from torch import nn

from rtbench.errors import RTBenchError
from rtbench.train.data import slice_loader
from rtbench.train.resume import TrainingState

if TYPE_CHECKING:
    from rtbench.budgets import Budget
    from rtbench.datasets.base import Volume

__all__ = ["TrainingDiverged", "seed_everything", "train_model"]


class TrainingDiverged(RTBenchError):
    """The training loss became NaN or infinite; the message names the epoch, the step and the loss value."""


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global RNG and torch (CPU and CUDA); deterministic cuDNN.

    Call it before building a network so its initial weights are a function of ``seed``.
    """
    set_determinism(seed=int(seed))


def train_model(
    model: nn.Module,
    volumes: Sequence[Volume],
    budget: Budget,
    seed: int,
    device: torch.device,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    frames: int = 1,
    channels: int = 1,
    checkpoint: Path | None = None,
) -> dict[str, Any]:
    """Train ``model`` (freshly built, untrained) on the slices of ``volumes`` with the shared recipe.

    Args:
        model: network mapping (B, C_in, H, W) to logits (B, num_classes, H, W); moved to ``device``
            and trained in place. Build it after ``seed_everything(seed)`` for a fully seeded run.
        volumes: training volumes (patients the candidate will never be scored on).
        budget: supplies ``epochs``, ``batch_size`` and ``lr``.
        seed: seeds torch / NumPy / MONAI, the slice order and the augmentation.
        device: where to train.
        on_epoch: called after every epoch with ``{"epoch": i (1-based), "epochs": n, "loss": mean
            training loss of the epoch, "lr": learning rate of the epoch's last step, "seconds":
            wall time of the epoch}``.
        frames: the network's temporal window; > 1 feeds each slice's causal window of that many
            frames (``rtbench.train.data.SliceDataset``).
        channels: the task's input channels (``Task.in_channels``; the echo task's 3).
        checkpoint: where to keep the per-epoch state (``rtbench.train.resume``); an existing file
            there is resumed from. ``None``: no checkpoint.

    Returns:
        ``{"epochs", "final_loss" (mean loss of the last epoch), "train_seconds" (all epochs', also
        those before a resume), "slices" (training slices per epoch), "losses" (mean loss per epoch),
        "resumed_after" (epochs restored from the checkpoint; 0 when none)}``.

    Raises:
        TrainingDiverged: a step's loss was NaN or infinite (see the module docstring).
    """
    if sum(v.num_slices for v in volumes) == 0:
        raise ValueError("train_model needs at least one training slice")
    seed_everything(seed)
    loader = slice_loader(volumes, budget.batch_size, shuffle=True, augment=True, seed=seed, frames=frames, channels=channels)
    steps = budget.epochs * len(loader)
    model.to(device).train()
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=budget.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))

    state: TrainingState | None = None
    done, before = 0, 0.0
    losses: list[float] = []
    if checkpoint is not None:
        slices = len(loader.dataset)
        signature = {"epochs": budget.epochs, "batch_size": budget.batch_size, "lr": budget.lr, "slices": slices, "seed": int(seed)}
        state = TrainingState(Path(checkpoint), signature)
        done, losses, before = state.load(model, optimizer, scheduler, loader)
    start = time.perf_counter() - before
    for epoch in range(done + 1, budget.epochs + 1):
        t0 = time.perf_counter()
        total = torch.zeros((), device=device)
        step_losses: list[torch.Tensor] = []
        lr = scheduler.get_last_lr()[0]
        for batch in loader:
            x, y = batch["image"].to(device), batch["label"].to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            total += loss.detach() * x.shape[0]
            step_losses.append(loss.detach())
        _check_finite(torch.stack(step_losses), epoch, budget.epochs, budget.lr)
        mean_loss = float(total) / len(loader.dataset)  # one host sync per epoch
        losses.append(mean_loss)
        if state is not None:
            state.save(epoch, model, optimizer, scheduler, loader, losses, time.perf_counter() - start)
        if on_epoch is not None:
            on_epoch({"epoch": epoch, "epochs": budget.epochs, "loss": mean_loss, "lr": lr, "seconds": time.perf_counter() - t0})
    return {
        "epochs": budget.epochs,
        "final_loss": losses[-1] if losses else float("nan"),
        "train_seconds": time.perf_counter() - start,
        "slices": len(loader.dataset),
        "losses": losses,
        "resumed_after": done,
    }


def _check_finite(step_losses: torch.Tensor, epoch: int, epochs: int, lr: float) -> None:
    """Raise :class:`TrainingDiverged` at the first non-finite loss of an epoch's steps (one host sync)."""
    bad = (~torch.isfinite(step_losses)).nonzero()
    if bad.numel():
        step = int(bad[0, 0])
        value = float(step_losses[step])
        raise TrainingDiverged(
            f"training diverged at epoch {epoch}/{epochs}, step {step + 1}/{step_losses.numel()}: loss {value} "
            f"(budget.lr={lr:g}); a NaN/inf reached the network or the learning rate is too high for it"
        )
