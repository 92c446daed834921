"""BiX-NAS Phase 1: the multi-scale supernet with Gumbel-softmax selection matrices (Wang et al. 2021, §2.2).

Every block that may read skips (all but the first encoder stage) owns a *selection matrix*
``alpha`` of shape ``N x (N - 2)``: ``N = L + 1`` rows, one per candidate (``0`` the main input,
``1 + j`` the skip from level ``j``: the space's numbering, ``rtbench.spaces.bionet.config``),
and ``N - 2`` columns, each column one selection. In the supernet a column ``k`` mixes the
candidates with Gumbel-softmax weights ``g_k = gumbel_softmax(alpha[:, k], tau)`` over the rows,
``m_k = sum_n g_nk * X_n``, and the block's input is

    (X_0 + sum_k m_k / c_k) / (1 + U),

with ``c_k`` the number of columns sharing column ``k``'s current argmax and ``U`` the number of
distinct argmaxes: the mean of the main input and of the distinct selections, so that two
columns picking the same candidate count once (as BiX-Net's code). After the search a block
*retains* its main input and the argmax of every column (at most ``N - 1`` candidates): the
Phase 1 "hyper network" whose skip sets Phase 2 prunes.

Optimiser scheme (the paper's text gives none for the selection matrices; BiX-NAS's code trains
them with the weights under one Adam on the training images). We choose, by default
(``method.phase1=bilevel``), DARTS's first-order bi-level alternation with two Adam optimisers:
each step updates the selection matrices on a batch of the search-*val* patients, then the
weights on a batch of the search-*train* patients. Why: the matrices are architecture choices and
should be judged on patients the weights did not fit (trained on the training images, a skip that
helps memorise them wins); Phase 2 ranks its candidates on the same val patients; and rtdnas, the
other differentiable method of this benchmark, uses the same scheme, so the two differ in their
search spaces and algorithms, not in how they split the data. ``method.phase1=joint`` is the
public code's scheme (one Adam over weights and matrices, training batches only). Both use the
code's settings: Adam, lr 1e-3 (``method.lr``), no weight decay, the Keras-style decay
``lr / (1 + 3e-3 * step)``; the matrices start Xavier-uniform (as the code).

Resume: after every epoch the supernet, the matrices, the optimisers and schedules, the torch RNG
(the Gumbel noise) and the history go to ``<checkpoint_dir>/bixnas_phase1.pt``; each epoch's data
order is seeded by (seed, 1, epoch), so a resumed search is the one that ran straight through.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Adam
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader

from rtbench.errors import RTBenchError
from rtbench.methods.bixnas.training import cycle, load_checked, reseed, save_atomic, search_loss, steps_per_epoch
from rtbench.spaces.bionet import MAIN, BiONetConfig, BiONetSupernet, BlockId

CHECKPOINT = "bixnas_phase1.pt"
LR_DECAY = 3e-3
"""BiX-Net's code: ``lr / (1 + LR_DECAY * step)`` (Keras's ``decay``)."""
SCHEMES = ("bilevel", "joint")


class SelectionMatrices(nn.Module):
    """One ``N x (N - 2)`` selection matrix per block of the stages ``>= 1``, keyed ``str(BlockId)``."""

    def __init__(self, config: BiONetConfig) -> None:
        super().__init__()
        self.config = config
        self.alpha = nn.ParameterDict()
        for b in config.blocks():
            if b.stage > 0:
                alpha = nn.Parameter(torch.empty(config.candidates, config.candidates - 2))
                nn.init.xavier_uniform_(alpha)
                self.alpha[str(b)] = alpha

    def argmax(self, b: BlockId) -> list[int]:
        """The candidate each column of ``b``'s matrix selects now."""
        return self.alpha[str(b)].detach().argmax(0).tolist()

    def retained(self) -> dict[BlockId, tuple[int, ...]]:
        """Each block's retained skip set: its main input and every column's argmax (the first stage: main input)."""
        return {b: (MAIN,) if b.stage == 0 else tuple(sorted({MAIN, *self.argmax(b)})) for b in self.config.blocks()}

    def merge(self, tau: float) -> Callable[[BlockId, Callable[[int], torch.Tensor]], torch.Tensor]:
        """The supernet's merge: the module docstring's formula, Gumbel noise from the global torch RNG."""

        def merge(b: BlockId, get: Callable[[int], torch.Tensor]) -> torch.Tensor:
            main = get(MAIN)
            if b.stage == 0:
                return main
            alpha = self.alpha[str(b)]
            stacked = torch.stack([main] + [get(k) for k in range(1, self.config.candidates)])  # (N, B, C, H, W)
            weights = F.gumbel_softmax(alpha, tau=tau, dim=0)  # (N, K)
            mixtures = torch.einsum("nbchw,nk->kbchw", stacked, weights)
            picks = self.argmax(b)
            share = torch.tensor([1.0 / picks.count(p) for p in picks], device=main.device, dtype=main.dtype)
            return (main + torch.einsum("kbchw,k->bchw", mixtures, share)) / (1 + len(set(picks)))

        return merge


@dataclass(frozen=True)
class Phase1Settings:
    """Epochs and steps (from the budget), the optimiser scheme, lr and Gumbel temperature (options)."""

    epochs: int
    search_batches: int
    scheme: str
    lr: float
    tau: float

    def fingerprint(self) -> dict[str, Any]:
        """Every setting but ``epochs``: a checkpoint resumes only under an equal fingerprint."""
        return {k: v for k, v in asdict(self).items() if k != "epochs"}


class Phase1Search:
    """Trains ``supernet`` and ``selection`` in place (module docstring); ``run`` returns the retained skip sets."""

    def __init__(
        self,
        supernet: BiONetSupernet,
        selection: SelectionMatrices,
        train: DataLoader,
        val: DataLoader,
        settings: Phase1Settings,
        checkpoint_dir: Path,
        seed: int,
    ) -> None:
        self.net, self.selection = supernet, selection
        self.train, self.val = train, val
        self.settings = s = settings
        self.path = Path(checkpoint_dir) / CHECKPOINT
        self.seed = seed
        self.device = next(supernet.parameters()).device
        self.steps = steps_per_epoch(train, s.search_batches)
        if s.scheme == "bilevel" and len(val) == 0 and s.epochs > 0:
            raise RTBenchError("the search-val split has no slices: the search pool needs at least 2 patients")
        self.loss = search_loss()
        decay = lambda step: 1.0 / (1.0 + LR_DECAY * step)  # noqa: E731
        weights = list(supernet.parameters())
        if s.scheme == "joint":
            self.w_opt = Adam(weights + list(selection.parameters()), lr=s.lr)
            self.a_opt = None
        else:
            self.w_opt = Adam(weights, lr=s.lr)
            self.a_opt = Adam(selection.parameters(), lr=s.lr)
        self.w_sched = LambdaLR(self.w_opt, decay)
        self.a_sched = LambdaLR(self.a_opt, decay) if self.a_opt is not None else None
        self.epoch = 0
        self.history: list[dict[str, float]] = []

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.net(batch["image"].to(self.device), self.selection.merge(self.settings.tau))
        return self.loss(logits, batch["label"].to(self.device))

    def run(self, report: Callable[..., None]) -> dict[BlockId, tuple[int, ...]]:
        """Resume from the checkpoint if any, run the remaining epochs, return ``SelectionMatrices.retained``."""
        if self.load():
            report(message=f"bixnas phase 1: resuming after epoch {self.epoch}/{self.settings.epochs} from {self.path}")
        while self.epoch < self.settings.epochs:
            metrics = self.run_epoch()
            self.history.append(metrics)
            self.epoch += 1
            self.save()
            report(epoch=self.epoch, epochs=self.settings.epochs, phase=1, **metrics)
        return self.selection.retained()

    def run_epoch(self) -> dict[str, float]:
        start = time.perf_counter()
        reseed(self.train, self.seed, 1, self.epoch, 0)
        reseed(self.val, self.seed, 1, self.epoch, 1)
        val_batches = cycle(self.val) if self.a_opt is not None else None
        self.net.train()
        train_loss, val_loss = [], []
        for _, batch in zip(range(self.steps), self.train):
            if self.a_opt is not None and val_batches is not None:
                self.a_opt.zero_grad(set_to_none=True)
                loss = self._loss(next(val_batches))
                loss.backward()
                self.a_opt.step()
                val_loss.append(loss.item())
            self.w_opt.zero_grad(set_to_none=True)
            loss = self._loss(batch)
            loss.backward()
            self.w_opt.step()
            train_loss.append(loss.item())
            self.w_sched.step()
            if self.a_sched is not None:
                self.a_sched.step()
        metrics = {"loss": float(np.mean(train_loss))}
        if val_loss:
            metrics["val_loss"] = float(np.mean(val_loss))
        metrics["seconds"] = time.perf_counter() - start
        return metrics

    def state(self) -> dict[str, Any]:
        return {
            "fingerprint": self.settings.fingerprint(),
            "epoch": self.epoch,
            "supernet": self.net.state_dict(),
            "selection": self.selection.state_dict(),
            "w_opt": self.w_opt.state_dict(),
            "a_opt": self.a_opt.state_dict() if self.a_opt is not None else {},
            "w_sched": self.w_sched.state_dict(),
            "a_sched": self.a_sched.state_dict() if self.a_sched is not None else {},
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else torch.empty(0),
            "history": self.history,
        }

    def save(self) -> None:
        save_atomic(self.state(), self.path)

    def load(self) -> bool:
        """Restore the checkpoint if one exists with these settings; whether one was restored."""
        state = load_checked(self.path, self.settings.fingerprint())
        if state is None:
            return False
        self.net.load_state_dict(state["supernet"])
        self.selection.load_state_dict(state["selection"])
        self.w_opt.load_state_dict(state["w_opt"])
        self.w_sched.load_state_dict(state["w_sched"])
        if self.a_opt is not None and self.a_sched is not None:
            self.a_opt.load_state_dict(state["a_opt"])
            self.a_sched.load_state_dict(state["a_sched"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and state["cuda_rng"].numel():
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        return True
