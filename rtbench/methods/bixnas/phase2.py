"""BiX-NAS Phase 2: progressive evolutionary search over the Phase 1 hyper network (Wang et al. 2021, §2.3).

The extraction stages are searched one per generation, from the last (the last decoder stage,
``2T - 1``) to the second (the first encoder stage has no skips). Generation ``g`` searching stage
``s``:

1. Offspring: ``samples`` distinct skip configurations of stage ``s`` (``evolution.sample_stage``),
   each applied to every survivor of generation ``g - 1`` (generation 0: the hyper network), so
   ``samples x survivors`` candidates (fewer where two make the same network, i.e. have the same
   ``canonical`` form; the genotypes themselves are carried unchanged, because a block dead now
   in a stage ``< s`` may come alive when stage ``s`` changes, and must then still read its hyper
   genes). Every candidate has the hyper network's genes in stages ``< s``.
2. Training: a fresh supernet (seeded by (seed, g)) trains every candidate at once, as the code
   does. Stages ``< s`` are the same in all candidates (the *head network*), so each batch runs
   them once, forward and backward; each candidate's *tail* (stages ``>= s`` and the head convs)
   runs on it in turn, its loss divided by the number of candidates (skip fairness: every
   candidate trains on every batch with an equal share of the gradient). A tail runs on detached
   copies of the head's outputs and is backpropagated at once (one tail's graph held at a time);
   the gradients it leaves on those copies are summed and sent through the head once
   (:meth:`ProgressiveSearch.train_step`): the gradient of the summed loss, without the head's
   backward pass repeated per candidate (with it, an epoch of ACDC's first generation took 293 s;
   without it 137-145 s, 2.0-2.1x faster; a Phase 1 epoch took 74-78 s: docs/methods/bixnas.md).
   Adam at ``method.lr`` with the code's step schedule (x0.1 after 1/4, 1/2 and 3/4 of the steps;
   the code: epochs 10, 20, 30 of 40). The code also divides the learning rate by the number of
   candidates; Adam's step does not depend on the loss scale, so with the loss already averaged
   that division would only slow the shared weights down 30- to 45-fold, and at the reduced
   budgets leave them untrained: we do not divide.
3. Scoring: each candidate's validation Dice (``training.mean_dice``, the first ``search_batches``
   batches of the search-val patients, 0: all) with BatchNorm on batch statistics (the running
   statistics mix every candidate of the generation), and its MACs (``ctx.flops / 2``, the
   harness's count: convolutions only, so resizes and merges are free and a network saves MACs
   by the blocks its skips leave dead). The code scores each candidate by its best validation
   epoch; we score the trained weights once: with shared weights a per-candidate best epoch picks
   noise and multiplies the validation cost by the epochs.
4. Selection: the Pareto front of ``(1 - Dice, MACs)``; its ``survivors`` most accurate members
   seed the next generation (``evolution``).

The last generation's Pareto front is the result. Resume: every finished generation (its
candidates, scores, front and survivors) is written to ``<checkpoint_dir>/bixnas_phase2.json``,
and the generation in progress checkpoints its supernet, optimiser and RNG after every epoch to
``bixnas_phase2_generation.pt``; data order is seeded by (seed, 2, g, epoch).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim import Adam
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader

from rtbench.errors import RTBenchError
from rtbench.methods.bixnas.evolution import (
    most_accurate,
    pareto_front,
    sample_stage,
    survivors_at,
)
from rtbench.methods.bixnas.training import (
    Batch,
    dice_counts,
    load_checked,
    mean_dice,
    reseed,
    save_atomic,
    search_loss,
    steps_per_epoch,
    validation_batches,
)
from rtbench.spaces.bionet import (
    BiONetConfig,
    BiONetSupernet,
    BlockId,
    Merge,
    State,
    canonical,
    live_nodes,
    mean_merge,
    parse_genes,
    to_genotype,
)

PROGRESS = "bixnas_phase2.json"
CHECKPOINT = "bixnas_phase2_generation.pt"
MILESTONES = (0.25, 0.5, 0.75)
"""Fractions of a generation's steps after which the learning rate drops x0.1 (the code: epochs 10, 20, 30 of 40)."""


@dataclass(frozen=True)
class Phase2Settings:
    """Per generation: epochs and steps (budget.search_epochs, budget.search_batches), offspring ``samples``,
    ``survivors`` per generation, the number of ``generations``, and Adam's ``lr``."""

    epochs: int
    search_batches: int
    samples: int
    survivors: tuple[int, ...]
    generations: int
    lr: float

    def fingerprint(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class Scored:
    """A candidate of a generation: its genotype, validation Dice and MACs."""

    genotype: dict[str, Any]
    dice: float
    macs: float

    @property
    def cost(self) -> tuple[float, float]:
        return (1.0 - self.dice, self.macs)


class ProgressiveSearch:
    """Phase 2 over the hyper network ``hyper`` (module docstring); ``run`` returns the last generation's front.

    Args:
        build: a fresh supernet of the search's shape, on the search device, under the global torch seed.
        config, hyper: the shape and Phase 1's retained skip sets.
        train, val: the search-train and search-val loaders.
        settings: see :class:`Phase2Settings`.
        flops: FLOPs of a genotype's derived network (``ctx.flops``).
        checkpoint_dir, seed: where progress goes; the search's seed.
    """

    def __init__(
        self,
        build: Callable[[], BiONetSupernet],
        config: BiONetConfig,
        hyper: dict[BlockId, tuple[int, ...]],
        train: DataLoader,
        val: DataLoader,
        settings: Phase2Settings,
        flops: Callable[[dict[str, Any]], float],
        checkpoint_dir: Path,
        seed: int,
    ) -> None:
        self.build, self.config, self.hyper = build, config, hyper
        self.train, self.val = train, val
        self.settings = settings
        self.flops = flops
        self.dir = Path(checkpoint_dir)
        self.seed = seed
        self.steps = steps_per_epoch(train, settings.search_batches)
        self.fingerprint = {**settings.fingerprint(), "hyper": to_genotype(config, hyper)}
        self.loss = search_loss()

    def run(self, report: Callable[..., None]) -> list[Scored]:
        """Run (or resume) every generation; the Pareto front of the last one, most accurate first, genotypes canonical."""
        done = self._load_progress()
        if done:
            report(message=f"bixnas phase 2: resuming after generation {len(done)}/{self.settings.generations}")
        survivors = [to_genotype(self.config, self.hyper)]
        front: list[Scored] = []
        for g in range(self.settings.generations):
            stage = self.config.stages - 1 - g
            if g < len(done):
                record = done[g]
            else:
                record = self._generation(g, stage, survivors, report)
                done.append(record)
                save_atomic({"fingerprint": self.fingerprint, "generations": done}, self.dir / PROGRESS, _write_json)
                (self.dir / CHECKPOINT).unlink(missing_ok=True)
            scored = [Scored(**c) for c in record["candidates"]]
            survivors = [scored[i].genotype for i in record["survivors"]]
            front = [scored[i] for i in most_accurate(record["front"], [c.cost for c in scored], len(record["front"]))]
        return [Scored(canonical(s.genotype), s.dice, s.macs) for s in front]

    def offspring(self, g: int, stage: int, survivors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Generation ``g``'s candidates: every sampled configuration of ``stage`` on every survivor, distinct networks."""
        rng = np.random.default_rng([int(self.seed), 2, g])
        retained = {b: genes for b, genes in self.hyper.items() if b.stage == stage}
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for sample in sample_stage(rng, self.config, stage, retained, self.settings.samples):
            for genotype in survivors:
                _, genes = parse_genes(genotype)
                child = to_genotype(self.config, {**genes, **sample})
                key = json.dumps(canonical(child), sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    out.append(child)
        return out

    def _generation(self, g: int, stage: int, survivors: list[dict[str, Any]], report: Callable[..., None]) -> dict[str, Any]:
        start = time.perf_counter()
        candidates = self.offspring(g, stage, survivors)
        report(
            message=f"bixnas phase 2: generation {g + 1}/{self.settings.generations} searches stage {stage}: "
            f"{len(candidates)} candidates, {self.settings.epochs} epochs x {self.steps} steps"
        )
        net = self._train(g, stage, candidates, report)
        dice = self._validate(net, stage, candidates)
        scored = [Scored(c, d, self.flops(c) / 2) for c, d in zip(candidates, dice)]
        costs = [s.cost for s in scored]
        front = pareto_front(costs)
        keep = most_accurate(front, costs, survivors_at(self.settings.survivors, g))
        best = scored[keep[0]]
        report(
            message=f"bixnas phase 2: generation {g + 1}: front of {len(front)}, best val Dice {best.dice:.4f} at "
            f"{best.macs / 1e9:.3f} GMACs ({time.perf_counter() - start:.0f} s)"
        )
        return {"generation": g, "stage": stage, "candidates": [asdict(s) for s in scored], "front": front, "survivors": keep}

    def _plan(self, stage: int, candidates: list[dict[str, Any]]) -> tuple[set[BlockId], list[tuple[Merge, set[BlockId]]]]:
        """The head's live blocks (any candidate's, in stages ``< stage``) and each candidate's (merge, live blocks)."""
        tails: list[tuple[Merge, set[BlockId]]] = []
        head_live: set[BlockId] = set()
        for genotype in candidates:
            config, genes = parse_genes(genotype)
            live, _ = live_nodes(config, genes)
            head_live |= {b for b in live if b.stage < stage}
            tails.append((mean_merge(genes), live))
        return head_live, tails

    def _forward(
        self, net: BiONetSupernet, stage: int, x: torch.Tensor, head_live: set[BlockId], tails: list[tuple[Merge, set[BlockId]]]
    ) -> Iterator[torch.Tensor]:
        """Each candidate's logits in turn, the shared head (stages ``< stage``) run once."""
        state = net.run_stages(net.start(x), range(stage), mean_merge(self.hyper), head_live)
        for merge, live in tails:
            yield net.finish(net.run_stages(state.copy(), range(stage, self.config.stages), merge, live))

    def train_step(
        self,
        net: BiONetSupernet,
        stage: int,
        x: torch.Tensor,
        y: torch.Tensor,
        head_live: set[BlockId],
        tails: list[tuple[Merge, set[BlockId]]],
    ) -> float:
        """Accumulate the gradient of ``sum_i loss_i / n`` over the ``n`` tails on ``net`` (module docstring, step 2); the summed loss."""
        head = net.run_stages(net.start(x), range(stage), mean_merge(self.hyper), head_live)
        outputs = list({id(t): t for t in (head.stem, *head.encoder, *head.decoder) if t is not None}.values())  # each once
        copies = {id(t): t.detach().requires_grad_(True) for t in outputs}

        def cut(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else copies[id(t)]

        total = 0.0
        for merge, live in tails:
            state = State(copies[id(head.stem)], [cut(t) for t in head.encoder], [cut(t) for t in head.decoder])
            loss = self.loss(net.finish(net.run_stages(state, range(stage, self.config.stages), merge, live)), y) / len(tails)
            loss.backward()
            total += loss.item()
        sent = [(t, copies[id(t)].grad) for t in outputs if t.requires_grad and copies[id(t)].grad is not None]
        if sent:
            torch.autograd.backward([t for t, _ in sent], [gr for _, gr in sent])
        return total

    def _train(self, g: int, stage: int, candidates: list[dict[str, Any]], report: Callable[..., None]) -> BiONetSupernet:
        torch.manual_seed(int(np.random.SeedSequence([int(self.seed), 2, g]).generate_state(1)[0]))
        net = self.build()
        device = next(net.parameters()).device
        opt = Adam(net.parameters(), lr=self.settings.lr)
        total = max(self.settings.epochs * self.steps, 1)
        marks = [math.floor(q * total) for q in MILESTONES]
        sched = LambdaLR(opt, lambda step: 0.1 ** sum(step >= m for m in marks))
        epoch = self._load_generation(g, net, opt, sched, device)
        head_live, tails = self._plan(stage, candidates)
        while epoch < self.settings.epochs:
            t0 = time.perf_counter()
            reseed(self.train, self.seed, 2, g, epoch)
            net.train()
            losses = []
            for _, batch in zip(range(self.steps), self.train):
                x, y = batch["image"].to(device), batch["label"].to(device)
                opt.zero_grad(set_to_none=True)
                step_loss = self.train_step(net, stage, x, y, head_live, tails)
                opt.step()
                sched.step()
                losses.append(step_loss)
            epoch += 1
            state = {
                "fingerprint": self.fingerprint,
                "generation": g,
                "epoch": epoch,
                "supernet": net.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "torch_rng": torch.get_rng_state(),
            }
            save_atomic(state, self.dir / CHECKPOINT)
            report(
                message=f"bixnas phase 2: generation {g + 1} epoch {epoch}/{self.settings.epochs}: mean loss "
                f"{float(np.mean(losses)):.4f} ({time.perf_counter() - t0:.0f} s)"
            )
        return net

    @torch.no_grad()
    def _validate(self, net: BiONetSupernet, stage: int, candidates: list[dict[str, Any]]) -> list[float]:
        """Each candidate's validation Dice (module docstring, step 3)."""
        batches: list[Batch] = validation_batches(self.val, self.seed, self.settings.search_batches)
        if not batches:
            raise RTBenchError("the search-val split has no slices: the search pool needs at least 2 patients")
        device = next(net.parameters()).device
        head_live, tails = self._plan(stage, candidates)
        counts = [torch.zeros(0)] * len(tails)
        net.train()  # batch statistics (module docstring); no gradients, weights unchanged
        for batch in batches:
            x, y = batch["image"].to(device), batch["label"].to(device)
            for i, logits in enumerate(self._forward(net, stage, x, head_live, tails)):
                c = dice_counts(logits, y)
                counts[i] = c if counts[i].numel() == 0 else counts[i] + c
        return [mean_dice(c) for c in counts]

    def _load_progress(self) -> list[dict[str, Any]]:
        path = self.dir / PROGRESS
        if not path.is_file():
            return []
        saved = json.loads(path.read_text())
        if saved.get("fingerprint") != json.loads(json.dumps(self.fingerprint)):
            raise RTBenchError(f"{path} holds a phase 2 search with other settings; delete it to start over")
        return list(saved["generations"])

    def _load_generation(self, g: int, net: BiONetSupernet, opt: Adam, sched: LambdaLR, device: torch.device) -> int:
        """Restore generation ``g``'s checkpoint if there is one (another generation's is stale: ignored); epochs done."""
        state = load_checked(self.dir / CHECKPOINT, self.fingerprint)
        if state is None or state["generation"] != g:
            return 0
        net.load_state_dict(state["supernet"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["torch_rng"])
        return int(state["epoch"])


def _write_json(obj: Any, path: str) -> None:
    Path(path).write_text(json.dumps(obj, indent=1, sort_keys=True))
