"""The joint search of seed 003 (§III, §IV-A): first-order DARTS on eq. 3 over the ``echonas`` supernet, checkpointed per epoch.

Data roles (003 §IV-A, inside the search pool). ``ctx.loaders(val_fraction=0.5)`` gives two halves
of the search pool's patients, disjoint: ``seg_train`` (D_seg_train) and ``seg_eval`` (D_seg_eval).

* Segmentation weights train on D_seg_train with ``L_CE``.
* QC weights train on D_seg_eval with ``lambda_1 * L_MSE`` against the true per-frame Dice of the
  current segmentation's predictions on those frames (``objective.qc_target``, detached), the
  segmentation frozen (its forward under ``no_grad``, its weights not stepped). The QC network thus
  never learns from predictions on frames the segmentation trained on, which would be optimistic.
  A D_seg_eval batch of one frame (the loader's last) is skipped: the QC's BatchNorm after global
  pooling cannot train on it (the harness's QC training skips it too).
* Architecture parameters (both networks' alphas) step on D_seg_eval with the whole of eq. 3,
  ``L_CE + lambda_1 * L_MSE + lambda_2 * LAT``: held-out data for the segmentation's alphas, as
  DARTS's architecture step, and the only half where the QC target is representative of unseen
  frames. ``L_MSE`` reaches the segmentation's alphas through the QC input (softmax and uncertainty
  of the logits), so the two networks are searched jointly, as 003 §III-A describes; ``LAT``
  reaches every alpha through 003 eq. 4.

Why the weight steps are not eq. 3 as a whole: ``LAT`` has no weight dependence, and ``L_MSE`` on
D_seg_train would need a QC target on frames the segmentation has fit. So eq. 3 splits over the
weights into ``L_CE`` (segmentation, D_seg_train) and ``lambda_1 * L_MSE`` (QC, D_seg_eval).

Step order (each step, DARTS first order): (1) after the warm-up, one architecture step on a
D_seg_eval batch; (2) one segmentation weight step on a D_seg_train batch; (3) one QC weight step on
the same D_seg_eval batch, against the Dice of the segmentation just updated. The first half of the
search epochs (``warmup_epochs = epochs // 2``, 003 §IV-A: "the first half is used to optimize the
network weight") skips (1): the alphas do not move.

Every forward runs in train mode (batch statistics), as in DARTS; BatchNorm running statistics are
never read during the search (and the harness retrains the derived networks from scratch), so the
QC step's frozen segmentation forward updating them does not matter.

Optimisers. Seed 003 names none. DARTS's (Liu et al., ICLR 2019, which 003 cites for its first-order
scheme): weights SGD, momentum 0.9, weight decay 3e-4, learning rate cosine from 0.025 to 0.001
over the search, gradients clipped to norm 5 (one optimiser per network, since they step on
different batches); alphas Adam, learning rate 3e-4, betas (0.5, 0.999), weight decay 1e-3.

Gumbel temperature of ``LAT``: FBNet's (003 says "similar to FBNet"), 5.0 in the first
architecture epoch, times 0.956 per epoch (``objective.gumbel_temperature``). One sample per step
from a generator seeded by the search seed (its state is checkpointed).

Resume. After every epoch the supernet, the three optimisers, the schedules, the Gumbel
generator, torch's RNG, the epoch and the history go to ``<checkpoint_dir>/echonas_search.pt``
(temporary file + ``os.replace``). A later call with the same settings continues after the last
finished epoch; each epoch's data order and augmentation are seeded by (seed, epoch, loader), so a
resumed search sees the batches of one that ran straight through.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.data.utils import set_rnd
from torch.optim import SGD, Adam
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader

from rtbench.errors import RTBenchError
from rtbench.methods.echonas.objective import SearchLoss, eq3, gumbel_temperature, qc_mse, qc_target
from rtbench.spaces.cells.echonas import EchoSupernet

CHECKPOINT = "echonas_search.pt"

Report = Callable[..., None]
Latency = Callable[..., torch.Tensor]
"""``LAT(tau=, generator=)``: 003 eq. 4 over the supernet's alphas, table ms (``ExpectedLatency``)."""


@dataclass(frozen=True)
class SearchSettings:
    """What one search does; every field but ``epochs`` must match for a checkpoint to resume.

    Attributes:
        epochs: search epochs (``budget.search_epochs``; 003: 80).
        steps_per_epoch: steps per epoch; 0: one pass over D_seg_train, else at most that many.
        mse_weight: ``lambda_1`` of eq. 3 (003: 1).
        latency_weight: ``lambda_2`` of eq. 3 (003: 0.001, on table ms); 0 needs no table.
        latency_table: what the table is (profile, file), so a checkpoint resumes under the same one.
        weight_lr, weight_lr_min, momentum, weight_decay, grad_clip: the weights' SGD (DARTS).
        arch_lr, arch_betas, arch_weight_decay: the alphas' Adam (DARTS).
        tau_start, tau_decay: the Gumbel temperature schedule of ``LAT`` (FBNet).
    """

    epochs: int
    steps_per_epoch: int
    mse_weight: float = 1.0
    latency_weight: float = 0.001
    latency_table: str = ""
    weight_lr: float = 0.025
    weight_lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    tau_start: float = 5.0
    tau_decay: float = 0.956

    @property
    def warmup_epochs(self) -> int:
        """The first half of the search (003 §IV-A), weights only: ``epochs // 2``."""
        return self.epochs // 2

    def fingerprint(self) -> dict[str, Any]:
        """Every setting but ``epochs`` (tuples as lists, as a checkpoint stores them)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k != "epochs"}


def _cosine(total_steps: int, ratio: float) -> Callable[[int], float]:
    """LR multiplier of a cosine from 1 to ``ratio`` over ``total_steps`` steps (then flat)."""
    total = max(total_steps, 1)
    return lambda t: ratio + (1.0 - ratio) * 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))


def _reseed(loader: DataLoader, *key: int) -> None:
    """Seed ``loader``'s shuffling and augmentation from ``key`` (seed, epoch, loader)."""
    s = int(np.random.SeedSequence(list(key)).generate_state(1)[0])
    if loader.generator is not None:
        loader.generator.manual_seed(s)
    set_rnd(loader.dataset, s)


def _held_out(loader: DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    """D_seg_eval batches, round and round, without a batch of one frame.

    The QC network ends in BatchNorm over globally pooled features (1 x 1 at 32 px), which cannot
    train on one value per channel; the harness's QC training skips such a batch too. The loader's
    last, smaller batch is the only one that can hold a single frame.
    """
    while True:
        yield from (batch for batch in loader if batch["image"].shape[0] >= 2)


class EchoSearch:
    """Searches ``supernet`` in place on eq. 3 (see the module docstring).

    Args:
        supernet: the ``echonas`` supernet, on the device to search on, freshly built under the seed.
        latency: ``LAT`` over the supernet (``ExpectedLatency``), or None when ``latency_weight`` is 0.
        seg_train: D_seg_train loader; seg_eval: D_seg_eval loader. Both yield
            ``{"image": (B, C, H, W), "label": (B, 1, H, W) int64}``.
        settings: epochs, steps, eq. 3 weights, optimiser settings.
        checkpoint_dir: folder of the per-epoch checkpoint.
        seed: seeds data order, augmentation and the Gumbel noise.
    """

    def __init__(
        self,
        supernet: EchoSupernet,
        latency: Latency | None,
        seg_train: DataLoader,
        seg_eval: DataLoader,
        settings: SearchSettings,
        checkpoint_dir: Path,
        seed: int,
    ) -> None:
        if latency is None and settings.latency_weight != 0:
            raise ValueError(f"latency_weight={settings.latency_weight} needs LAT (a latency table); only 0 runs without one")
        if len(seg_train) == 0:
            raise RTBenchError("D_seg_train (the search-train half of the search pool) has no frames")
        if len(seg_eval) == 0:
            raise RTBenchError(
                "D_seg_eval (the search-val half of the search pool) has no frames: the search pool needs at least 2 patients"
            )
        if len(seg_eval.dataset) < 2 or (seg_eval.batch_size or 0) < 2:  # type: ignore[arg-type]
            raise RTBenchError(
                f"D_seg_eval gives batches of {seg_eval.batch_size} from {len(seg_eval.dataset)} frames; "  # type: ignore[arg-type]
                "the QC supernet's BatchNorm needs batches of at least 2 frames (budget.batch_size >= 2, "
                "and a search pool whose D_seg_eval half has 2 frames or more)"
            )
        self.net, self.latency = supernet, latency
        self.seg_train, self.seg_eval = seg_train, seg_eval
        self.settings = s = settings
        self.path = Path(checkpoint_dir) / CHECKPOINT
        self.seed = seed
        self.device = next(supernet.parameters()).device
        self.steps = len(seg_train) if s.steps_per_epoch <= 0 else min(s.steps_per_epoch, len(seg_train))
        sgd = dict(lr=s.weight_lr, momentum=s.momentum, weight_decay=s.weight_decay)
        self.seg_opt = SGD(supernet.seg.weight_parameters(), **sgd)
        self.qc_opt = SGD(supernet.qc.weight_parameters(), **sgd)
        self.arch_opt = Adam(supernet.arch_parameters(), lr=s.arch_lr, betas=s.arch_betas, weight_decay=s.arch_weight_decay)
        cosine = _cosine(s.epochs * self.steps, s.weight_lr_min / s.weight_lr)
        self.scheds = [LambdaLR(self.seg_opt, cosine), LambdaLR(self.qc_opt, cosine)]
        self.gumbel = torch.Generator(device=self.device).manual_seed(int(seed))
        self.epoch = 0
        self.history: list[dict[str, float]] = []

    def tau(self) -> float:
        """The Gumbel temperature of the current epoch (counted from the first architecture epoch)."""
        s = self.settings
        return gumbel_temperature(self.epoch - s.warmup_epochs, s.tau_start, s.tau_decay)

    def loss(self, batch: dict[str, torch.Tensor], tau: float) -> SearchLoss:
        """Eq. 3 on one batch, differentiable in every weight and alpha (the QC target detached)."""
        x, y = batch["image"].to(self.device), batch["label"].to(self.device)
        logits = self.net.seg(x)
        ce = F.cross_entropy(logits, y[:, 0])
        mse = qc_mse(self.net.qc(self.net.qc_input(logits, x)), qc_target(logits, y))
        lat = self.latency(tau=tau, generator=self.gumbel) if self.latency is not None else None
        return eq3(ce, mse, lat, self.settings.mse_weight, self.settings.latency_weight)

    def arch_step(self, batch: dict[str, torch.Tensor], tau: float) -> SearchLoss:
        """One Adam step of every alpha on eq. 3 of a D_seg_eval batch."""
        self.arch_opt.zero_grad(set_to_none=True)
        terms = self.loss(batch, tau)
        terms.total.backward(inputs=self.net.arch_parameters())
        self.arch_opt.step()
        return terms

    def seg_step(self, batch: dict[str, torch.Tensor]) -> float:
        """One SGD step of the segmentation weights on ``L_CE`` of a D_seg_train batch."""
        self.seg_opt.zero_grad(set_to_none=True)
        ce = F.cross_entropy(self.net.seg(batch["image"].to(self.device)), batch["label"].to(self.device)[:, 0])
        ce.backward(inputs=self.net.seg.weight_parameters())
        torch.nn.utils.clip_grad_norm_(self.net.seg.weight_parameters(), self.settings.grad_clip)
        self.seg_opt.step()
        return ce.item()

    def qc_step(self, batch: dict[str, torch.Tensor]) -> float:
        """One SGD step of the QC weights on ``lambda_1 * L_MSE`` of a D_seg_eval batch, the segmentation frozen."""
        x, y = batch["image"].to(self.device), batch["label"].to(self.device)
        with torch.no_grad():
            logits = self.net.seg(x)
        self.qc_opt.zero_grad(set_to_none=True)
        mse = qc_mse(self.net.qc(self.net.qc_input(logits, x)), qc_target(logits, y))
        (self.settings.mse_weight * mse).backward(inputs=self.net.qc.weight_parameters())
        torch.nn.utils.clip_grad_norm_(self.net.qc.weight_parameters(), self.settings.grad_clip)
        self.qc_opt.step()
        return mse.item()

    def run(self, report: Report) -> list[dict[str, float]]:
        """Resume from the checkpoint if there is one, run the remaining epochs; the per-epoch history.

        ``report(epoch=, epochs=, phase=, L_CE=, L_MSE=, ...)`` after every epoch (see :meth:`run_epoch`).
        """
        if self.load():
            report(message=f"echonas search: resuming after epoch {self.epoch}/{self.settings.epochs} from {self.path}")
        while self.epoch < self.settings.epochs:
            metrics = self.run_epoch()
            self.history.append(metrics)
            self.epoch += 1
            self.save()
            report(epoch=self.epoch, epochs=self.settings.epochs, **metrics)
        return self.history

    def run_epoch(self) -> dict[str, float]:
        """One epoch: per step, the architecture step (after the warm-up), the segmentation and the QC weight steps.

        Returns ``L_CE`` (mean over the segmentation steps, D_seg_train), ``L_MSE`` (QC steps,
        D_seg_eval), ``arch`` (1 if the alphas stepped), and for architecture epochs ``val_L_CE``,
        ``val_L_MSE``, ``loss`` (eq. 3 of the architecture steps), ``LAT_ms`` (their mean Gumbel
        sample) and ``tau``; ``seconds``.
        """
        start = time.perf_counter()
        _reseed(self.seg_train, self.seed, self.epoch, 0)
        _reseed(self.seg_eval, self.seed, self.epoch, 1)
        search_arch = self.epoch >= self.settings.warmup_epochs
        tau = self.tau()
        evals = _held_out(self.seg_eval)
        self.net.train()
        ce, mse, arch = [], [], []
        for _, batch in zip(range(self.steps), self.seg_train):
            held_out = next(evals)
            if search_arch:
                arch.append(self.arch_step(held_out, tau))
            ce.append(self.seg_step(batch))
            mse.append(self.qc_step(held_out))
            for sched in self.scheds:
                sched.step()
        metrics = {"L_CE": float(np.mean(ce)), "L_MSE": float(np.mean(mse)), "arch": float(search_arch)}
        if arch:
            metrics["loss"] = float(np.mean([t.total.item() for t in arch]))
            metrics["val_L_CE"] = float(np.mean([t.ce.item() for t in arch]))
            metrics["val_L_MSE"] = float(np.mean([t.mse.item() for t in arch]))
            metrics["LAT_ms"] = float(np.mean([t.lat_ms.item() for t in arch]))
            metrics["tau"] = tau
        metrics["seconds"] = time.perf_counter() - start
        return metrics

    def state(self) -> dict[str, Any]:
        return {
            "fingerprint": self.settings.fingerprint(),
            "epoch": self.epoch,
            "supernet": self.net.state_dict(),
            "seg_opt": self.seg_opt.state_dict(),
            "qc_opt": self.qc_opt.state_dict(),
            "arch_opt": self.arch_opt.state_dict(),
            "scheds": [s.state_dict() for s in self.scheds],
            "gumbel": self.gumbel.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": self.history,
        }

    def save(self) -> None:
        """Write the checkpoint atomically (temporary file in the same folder, then ``os.replace``)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        try:
            torch.save(self.state(), tmp)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self) -> bool:
        """Restore the checkpoint if one exists with these settings; whether one was restored."""
        if not self.path.is_file():
            return False
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        if state["fingerprint"] != self.settings.fingerprint():
            raise RTBenchError(
                f"{self.path} holds an echonas search with other settings ({state['fingerprint']}); "
                f"this search has {self.settings.fingerprint()}; delete it to start over"
            )
        self.net.load_state_dict(state["supernet"])
        self.seg_opt.load_state_dict(state["seg_opt"])
        self.qc_opt.load_state_dict(state["qc_opt"])
        self.arch_opt.load_state_dict(state["arch_opt"])
        for sched, saved in zip(self.scheds, state["scheds"], strict=True):  # cosine over this call's epochs, from the step reached
            sched.load_state_dict(saved)
            for group, base, fn in zip(sched.optimizer.param_groups, sched.base_lrs, sched.lr_lambdas):
                group["lr"] = base * fn(sched.last_epoch)
        self.gumbel.set_state(state["gumbel"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        return True
