"""The RT-DNAS supernet search: first-order bi-level optimisation of eq. 2, checkpointed every epoch (seed 000 §2.2, §3.1).

Objective (eq. 2), for the architecture parameters on a search-val batch, in units of the bound::

    L = L_a * (L_t / L_ub) + lambda * exp(s * (L_t - L_ub) / L_ub)

* ``L_a``: the segmentation cross-entropy of the supernet (eq. 1 mixing, partial channels).
* ``L_t``: the latency estimate of the network the decoder will derive: by default the expected
  table-sum latency of the derived network of N_l paths (``rtbench.spaces.msnas.cost.UnionLatency``;
  ``method.estimate=one_path``: eq. 3-5 as printed), in the same unit as ``L_ub``, the latency bound.
* What the paper leaves open: eq. 2 as printed, ``L_a * L_t + lambda * exp(L_t - L_ub)``, gives
  ``L_ub = 50 ms`` but no unit for the terms, and both terms depend on it. In ms, the first term
  multiplies the architecture gradient of ``L_a`` by ``L_t`` (tens of ms), so with the same
  optimiser the latency-aware search took architecture steps tens of times larger than the
  MS-NAS baseline's (``L = L_a``); in seconds it would shrink them a thousandfold, and the
  exponential would be e-fold per second instead of per ms. We measure latency in units of the
  bound, ``x = L_t / L_ub``, which makes both terms dimensionless:
* First term ``L_a * x``: near the bound ``x`` is about 1, so the architecture steps are those of
  ``L = L_a`` plus a latency pull ``L_a * dx`` (tested: comparable gradient norms, ``tests/test_rtdnas_search.py``).
* Penalty ``lambda * exp(s * (x - 1))``, sharpness ``s = PENALTY_SHARPNESS = 50``: at the paper's
  ``L_ub = 50 ms`` the exponent is exactly the printed one, ``L_t - L_ub`` in ms (e-fold per ms),
  and at any other bound or unit it keeps that relative sharpness, e-fold per 2% of the bound.
  With ``lambda = 10`` (the method's default, "a large penalty factor") the penalty's slope in
  ``x`` is ``lambda * s = 500`` times the first term's (``L_a``, about 1 for a 4-class
  cross-entropy) at the bound, and falls below it 12% under the bound
  (``x < 1 - ln(lambda * s) / s = 0.876``), so a bound that is not binding hardly distorts the search.
* Keeping it finite: ``exp`` overflows float32 past an exponent of ~88 (an infinite loss, NaN
  gradients), so the exponential is continued linearly beyond ``EXP_CAP`` = 20 e-folds (40% over
  the bound at ``s = 50``; :func:`capped_exp`: value and slope continuous, still strictly
  increasing; the penalty's slope never exceeds ``lambda * s * e^20``). At or below the cap it is
  the exponential exactly. The cap is a constant, the same in every budget.
* The MS-NAS baseline searches with ``L = L_a`` (``SearchSettings.latency_bound_ms = None``).

Bi-level scheme (DARTS first order): every step first updates the architecture parameters
(``MSNASSupernet.arch_parameters()``: the eq. 1 block logits and the network-level logits) on a
search-val batch with the objective above, then the weights on a search-train batch with ``L_a``.
Since ``L_t`` does not depend on the weights, eq. 2 and ``L_a`` have the same minimiser in the
weights; minimising eq. 2 would only rescale the weights' learning rate by the current
``L_t / L_ub``, so the weights minimise ``L_a``. The first ``warmup_epochs`` epochs update weights only.

Optimisers. Seed 000 §3.1 names one optimiser, "SGD with momentum 0.9, learning rate from 0.01 to
0.001, weight decay 0.0003", for "the architectural parameters"; it gives nothing else. We use
exactly that for the architecture parameters, as written, and the same settings for the weights:
they are the weight optimiser of DARTS and MS-NAS (SGD, momentum 0.9, cosine to 0.001, weight
decay 3e-4; 0.025 at the start there), which §3.1 says RT-DNAS follows. Both learning rates follow a
cosine from 0.01 to 0.001, the weights' over every step of the search, the architecture's over
the steps after warm-up. Weight gradients are clipped to norm 5, as DARTS does.

Resume. After every epoch the supernet, both optimisers and schedules, the epoch count, the RNG
state and the per-epoch history are written to ``<checkpoint_dir>/rtdnas_search.pt`` (temporary
file + ``os.replace``). A later call with the same settings (any number of epochs) continues after
the last finished epoch; the cosine schedules are re-spread over the new number of epochs from the
step reached. Each epoch's shuffling and augmentation are seeded by (seed, epoch), so an
interrupted and resumed search sees the same batches as one that ran straight through.
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
from torch.optim import SGD
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader

from rtbench.errors import RTBenchError
from rtbench.spaces.msnas import MSNASSupernet

PROGRESS_EVERY_S = 30.0
"""Seconds between two progress messages inside a search epoch (an epoch can take many minutes on a CPU)."""

EXP_CAP = 20.0
"""Exponent (e-folds) beyond which eq. 2's exponential is continued linearly (:func:`capped_exp`)."""

PENALTY_SHARPNESS = 50.0
"""``s`` of eq. 2's penalty ``exp(s * (L_t - L_ub) / L_ub)``: e-fold per ``1 / s`` of the bound over it
(50: per 2%, the printed eq. 2's e-fold per ms at the paper's 50 ms bound; see the module docstring)."""

CHECKPOINT = "rtdnas_search.pt"

Report = Callable[..., None]


@dataclass(frozen=True)
class SearchSettings:
    """What one search does (budget numbers and the method's options).

    Attributes:
        epochs: search epochs (``budget.search_epochs``; the paper: 40).
        steps_per_epoch: weight/architecture steps per epoch; 0 means one pass over the search-train
            loader, otherwise at most that many (``budget.search_batches``).
        warmup_epochs: leading epochs that update weights only (``budget.search_warmup_epochs``).
        latency_bound_ms: ``L_ub`` of eq. 2 (> 0); None searches with ``L = L_a`` (MS-NAS).
        lambda_: the penalty factor of eq. 2.
        sharpness: ``s`` of eq. 2's penalty (``PENALTY_SHARPNESS``).
        latency_estimate: what ``L_t`` is (e.g. ``"union N_l=7, table ms"``), so that a checkpoint
            resumes only under the same estimate.
        lr, lr_min, momentum, weight_decay: the SGD settings of §3.1 (both parameter groups).
        grad_clip: max norm of the weight gradients.
        arch_grad_clip: max norm of the architecture gradients (ours; DARTS and seed 000 clip
            neither). Eq. 2's exponential penalty has a gradient of ``lambda * s / L_ub *
            exp(s * (L_t - L_ub) / L_ub)`` per unit of ``L_t``: with ``L_t`` 2x the bound that is
            ~e^50, and one SGD step threw the op logits to +-1e9 (issue 12's first ACDC runs,
            session 6: ``L_t`` froze at the all-cheapest-op network from the first architecture
            step on). The clip bounds every architecture step at ``lr * arch_grad_clip`` without
            changing its direction; a cross-entropy gradient on the logits is far below 5, so an
            unpenalised step is untouched. 0 turns it off.
    """

    epochs: int
    steps_per_epoch: int
    warmup_epochs: int
    latency_bound_ms: float | None
    lambda_: float = 10.0
    sharpness: float = PENALTY_SHARPNESS
    latency_estimate: str = ""
    lr: float = 0.01
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_grad_clip: float = 5.0

    def __post_init__(self) -> None:
        if self.latency_bound_ms is not None and not self.latency_bound_ms > 0:
            raise ValueError(f"eq. 2 needs a positive latency bound, got {self.latency_bound_ms}")

    def fingerprint(self) -> dict[str, Any]:
        """Every setting but ``epochs``: a checkpoint resumes only under an equal fingerprint."""
        return {k: v for k, v in asdict(self).items() if k != "epochs"}


def capped_exp(x: torch.Tensor, cap: float = EXP_CAP) -> torch.Tensor:
    """``exp(x)`` for ``x <= cap``; ``e^cap * (1 + x - cap)`` beyond (same value and slope at ``cap``), always finite."""
    return torch.where(x <= cap, torch.exp(torch.clamp(x, max=cap)), math.exp(cap) * (1.0 + x - cap))


def rtdnas_objective(
    l_a: torch.Tensor, l_t: torch.Tensor, bound_ms: float | None, lambda_: float, sharpness: float = PENALTY_SHARPNESS
) -> torch.Tensor:
    """Eq. 2 in units of the bound: ``L_a * (L_t / L_ub) + lambda * exp(s * (L_t - L_ub) / L_ub)`` (exponential
    capped, :func:`capped_exp`; see the module docstring); ``L_a`` if there is no bound."""
    if bound_ms is None:
        return l_a
    x = l_t / bound_ms
    return l_a * x + lambda_ * capped_exp(sharpness * (x - 1.0))


def _cosine(total_steps: int, ratio: float) -> Callable[[int], float]:
    """LR multiplier of a cosine from 1 to ``ratio`` over ``total_steps`` steps (then flat)."""
    total = max(total_steps, 1)
    return lambda t: ratio + (1.0 - ratio) * 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))


def _reseed(loader: DataLoader, *key: int) -> None:
    """Seed ``loader``'s shuffling and augmentation from ``key`` (e.g. seed, epoch, loader)."""
    s = int(np.random.SeedSequence(list(key)).generate_state(1)[0])
    if loader.generator is not None:
        loader.generator.manual_seed(s)
    set_rnd(loader.dataset, s)


def _cycle(loader: DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    while True:
        yield from loader


def _cross_entropy(net: MSNASSupernet, batch: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
    """``L_a``: pixel-wise cross-entropy of the supernet's logits against the label map ``(B, 1, H, W)``."""
    return F.cross_entropy(net(batch["image"].to(device)), batch["label"].to(device)[:, 0])


class SupernetSearch:
    """Searches ``supernet`` in place (eq. 2, bi-level, checkpointed); see the module docstring.

    Args:
        supernet: the MS-NAS supernet, on the device to search on, freshly built under the seed.
        latency: the ``L_t`` estimator over the supernet's shape (``UnionLatency`` or eq. 3-5's
            ``ExpectedLatency``), called with the eq. 1 weights; ms.
        train: search-train loader (weights); val: search-val loader (architecture). Both yield
            ``{"image": (B, 1, H, W), "label": (B, 1, H, W) int64}``.
        settings: epochs, steps, warm-up, eq. 2 parameters, optimiser settings.
        checkpoint_dir: folder of the per-epoch checkpoint.
        seed: seeds each epoch's data order and augmentation.
    """

    def __init__(
        self,
        supernet: MSNASSupernet,
        latency: Callable[[list[torch.Tensor]], torch.Tensor],
        train: DataLoader,
        val: DataLoader,
        settings: SearchSettings,
        checkpoint_dir: Path,
        seed: int,
    ) -> None:
        self.net = supernet
        self.latency = latency
        self.train, self.val = train, val
        self.settings = s = settings
        self.path = Path(checkpoint_dir) / CHECKPOINT
        self.seed = seed
        self.device = next(supernet.parameters()).device
        n_train = len(train)
        if n_train == 0:
            raise RTBenchError("the search-train split has no slices")
        if len(val) == 0 and s.epochs > s.warmup_epochs:
            raise RTBenchError("the search-val split has no slices: the search pool needs at least 2 patients")
        self.steps = n_train if s.steps_per_epoch <= 0 else min(s.steps_per_epoch, n_train)
        opt = dict(lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
        self.w_opt = SGD(supernet.weight_parameters(), **opt)
        self.a_opt = SGD(supernet.arch_parameters(), **opt)
        arch_epochs = max(s.epochs - s.warmup_epochs, 0)
        self.w_sched = LambdaLR(self.w_opt, _cosine(s.epochs * self.steps, s.lr_min / s.lr))
        self.a_sched = LambdaLR(self.a_opt, _cosine(arch_epochs * self.steps, s.lr_min / s.lr))
        self.epoch = 0
        self.history: list[dict[str, float]] = []

    def l_t(self) -> torch.Tensor:
        """``L_t`` of the current eq. 1 weights, ms."""
        return self.latency(self.net.block_weights())

    def run(self, report: Report) -> list[dict[str, float]]:
        """Resume from the checkpoint if there is one, run the remaining epochs; the per-epoch history.

        ``report(epoch=, epochs=, loss=, L_a=, L_t_ms=, val_L_a=, seconds=)`` after every epoch, where
        ``L_a`` is the mean training cross-entropy of the epoch's weight steps, ``val_L_a`` that of its
        architecture steps (absent in warm-up), ``L_t_ms`` the estimate after the epoch and ``loss``
        eq. 2 of those two (``L_a`` for MS-NAS).
        """
        if self.load():
            report(message=f"search: resuming after epoch {self.epoch}/{self.settings.epochs} from {self.path}")
        while self.epoch < self.settings.epochs:
            metrics = self.run_epoch(report)
            self.history.append(metrics)
            self.epoch += 1
            self.save()
            report(epoch=self.epoch, epochs=self.settings.epochs, **metrics)
        return self.history

    def run_epoch(self, report: Report | None = None) -> dict[str, float]:
        """One epoch of ``self.steps`` steps; a progress message to ``report`` at most every :data:`PROGRESS_EVERY_S`."""
        s, net = self.settings, self.net
        start = last = time.perf_counter()
        _reseed(self.train, self.seed, self.epoch, 0)
        _reseed(self.val, self.seed, self.epoch, 1)
        search_arch = self.epoch >= s.warmup_epochs
        val_batches = _cycle(self.val)
        net.train()
        train_ce, val_ce = [], []
        for _, batch in zip(range(self.steps), self.train):
            if search_arch:
                self.a_opt.zero_grad(set_to_none=True)
                l_a = _cross_entropy(net, next(val_batches), self.device)
                rtdnas_objective(l_a, self.l_t(), s.latency_bound_ms, s.lambda_, s.sharpness).backward()
                if s.arch_grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(net.arch_parameters(), s.arch_grad_clip)
                self.a_opt.step()
                self.a_sched.step()
                val_ce.append(l_a.item())
            self.w_opt.zero_grad(set_to_none=True)
            l_a = _cross_entropy(net, batch, self.device)
            l_a.backward()
            torch.nn.utils.clip_grad_norm_(net.weight_parameters(), s.grad_clip)
            self.w_opt.step()
            self.w_sched.step()
            train_ce.append(l_a.item())
            now = time.perf_counter()
            if report is not None and now - last >= PROGRESS_EVERY_S and len(train_ce) < self.steps:
                last, done = now, len(train_ce)
                eta = (now - start) / done * (self.steps - done)
                report(
                    message=f"search epoch {self.epoch + 1}/{s.epochs} step {done}/{self.steps}"
                    f"{' (weights and architecture)' if search_arch else ' (warm-up, weights only)'}: "
                    f"L_a {np.mean(train_ce):.3f}, epoch ETA {eta:.0f} s"
                )
        with torch.no_grad():
            l_t = self.l_t()
            loss = rtdnas_objective(torch.tensor(float(np.mean(train_ce))), l_t.cpu(), s.latency_bound_ms, s.lambda_, s.sharpness)
        metrics = {"loss": float(loss), "L_a": float(np.mean(train_ce)), "L_t_ms": float(l_t)}
        if val_ce:
            metrics["val_L_a"] = float(np.mean(val_ce))
        metrics["seconds"] = time.perf_counter() - start
        return metrics

    def state(self) -> dict[str, Any]:
        return {
            "fingerprint": self.settings.fingerprint(),
            "epoch": self.epoch,
            "supernet": self.net.state_dict(),
            "w_opt": self.w_opt.state_dict(),
            "a_opt": self.a_opt.state_dict(),
            "w_sched": self.w_sched.state_dict(),
            "a_sched": self.a_sched.state_dict(),
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
        """Restore the checkpoint if one exists with this search's fingerprint; whether one was restored."""
        if not self.path.is_file():
            return False
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        if state["fingerprint"] != self.settings.fingerprint():
            raise RTBenchError(
                f"{self.path} holds a search with other settings ({state['fingerprint']}); "
                f"this search has {self.settings.fingerprint()}; delete it to start over"
            )
        self.net.load_state_dict(state["supernet"])
        self.w_opt.load_state_dict(state["w_opt"])
        self.a_opt.load_state_dict(state["a_opt"])
        # the schedules keep their cosines (spread over this call's epochs) and take the step reached
        for sched, saved in ((self.w_sched, state["w_sched"]), (self.a_sched, state["a_sched"])):
            sched.load_state_dict(saved)
            for group, base, fn in zip(sched.optimizer.param_groups, sched.base_lrs, sched.lr_lambdas):
                group["lr"] = base * fn(sched.last_epoch)
        torch.set_rng_state(state["torch_rng"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        return True
