"""BiX-NAS (Wang et al., "BiX-NAS: Searching Efficient Bi-directional Architecture for Medical Image
Segmentation", MICCAI 2021) as the rtbench method ``bixnas`` on the ``bionet`` space.

Two phases over BiX-Net's multi-scale bi-directional recurrent U-Net (``rtbench.spaces.bionet``):

* Phase 1 (``phase1``, §2.2): the supernet with every skip, a Gumbel-softmax selection matrix per
  block, trained with the weights; each block retains its main input and the skips its matrix
  selects (the *hyper network*).
* Phase 2 (``phase2``, §2.3): progressive evolutionary search of the hyper network's skips, one
  extraction stage per generation from the last to the first, candidates sharing weights and a
  head network, selection on the Pareto front of ``(1 - validation Dice, MACs)``.

Budget: both phases train ``budget.search_epochs`` epochs of ``budget.search_batches`` steps (0:
one pass over the search-train patients) per phase and per generation (the paper's Phase 2 trains
40 epochs per generation, ``budget=paper``'s ``search_epochs``); Phase 2 draws ``min(method.samples,
budget.ga_population)`` offspring configurations per generation (paper: 15) and runs
``min(2T - 1, budget.ga_generations)`` generations (the paper all ``2T - 1``; a smaller cap stops the
backward sweep early, the unsearched stages keeping the hyper network's skips); validation Dice
reads the first ``budget.search_batches`` search-val batches (0: all). ``budget.ga_generations=0``
runs Phase 1 alone: the hyper network is the candidate, without a validation Dice.

Candidates: the last generation's Pareto front. The entry, labelled ``BiX-NAS``, is its most
accurate member (lowest ``1 - Dice``, then fewest MACs), as BiX-Net is the most accurate of the
paper's searched networks; ``method.front=all`` also submits the other front members
(``BiX-NAS front 2/4``...). ``predicted`` holds ``val_dice`` (the Dice the search saw, on the
search-val patients only), ``macs`` and ``flops`` (= 2 x MACs, the harness's count), ``entry``
(1 for the entry) and ``front_rank`` (1 = most accurate).

Determinism: the supernet and the selection matrices are initialised under
``monai.utils.set_determinism(seed)``; data order, Gumbel noise and Phase 2's draws and
initialisations are seeded from (seed, phase, generation, epoch). Everything of the harness comes
through the ``SearchContext``: the space, the search-pool loaders, ``ctx.flops`` and the device.
"""

from __future__ import annotations

from dataclasses import dataclass

from monai.utils import set_determinism

from rtbench.errors import ConfigError
from rtbench.methods.base import Candidate, Method, register
from rtbench.methods.bixnas.evolution import parse_survivors
from rtbench.methods.bixnas.phase1 import SCHEMES, Phase1Search, Phase1Settings, SelectionMatrices
from rtbench.methods.bixnas.phase2 import Phase2Settings, ProgressiveSearch, Scored
from rtbench.methods.context import SearchContext
from rtbench.spaces.bionet import BiONetConfig, BiONetSupernet, to_genotype

PAPER_DEPTH = 4
FRONTS = ("entry", "all")


def auto_depth(image_size: int) -> int:
    """BiX-Net's 4 levels, or fewer where ``image_size`` leaves no 2x2 bridge (``BiONetConfig.fits``); at least 2."""
    for depth in range(PAPER_DEPTH, 2, -1):
        if BiONetConfig(depth=depth).fits(image_size):
            return depth
    return 2


@register("bixnas")
class BiXNAS(Method):
    space = "bionet"
    description = "BiX-NAS: Gumbel-softmax skip search, then progressive evolutionary Pareto search (Dice, MACs)"

    @dataclass
    class Config:
        """BiX-NAS options (defaults: BiX-Net's public code, where the paper and code give them).

        Attributes:
            iterations: T, recurrent iterations (BiX-Net: 3).
            depth: L, levels per stage; 0: BiX-Net's 4, fewer where the budget's image size
                leaves no 2x2 bridge (32 px: 3).
            channels: block width C (BiX-Net: 48).
            stem_channels: stem and head width (BiX-Net: 32).
            samples: Phase 2 offspring configurations per generation, s (paper: 15); capped by
                ``budget.ga_population``.
            survivors: comma list, Pareto members kept per generation in search order, the last
                repeating (code: 3 after the first generation, then 2).
            phase1: the Phase 1 optimiser scheme, ``bilevel`` or ``joint`` (see ``phase1``).
            lr: Adam's learning rate in both phases (code: 1e-3).
            tau: the Gumbel-softmax temperature of Phase 1 (code: 1, torch's default).
            front: ``entry`` submits the most accurate front member, ``all`` the whole front.
        """

        iterations: int = 3
        depth: int = 0
        channels: int = 48
        stem_channels: int = 32
        samples: int = 15
        survivors: str = "3,2"
        phase1: str = "bilevel"
        lr: float = 1e-3
        tau: float = 1.0
        front: str = "entry"

        def __post_init__(self) -> None:
            for name, low in (("iterations", 1), ("channels", 1), ("stem_channels", 1), ("samples", 1)):
                if getattr(self, name) < low:
                    raise ConfigError(f"method.{name}={getattr(self, name)} is out of range; expected >= {low}")
            if self.depth != 0 and self.depth < 2:
                raise ConfigError(f"method.depth={self.depth} is out of range; expected 0 (auto) or >= 2")
            try:
                parse_survivors(self.survivors)
            except ValueError:
                raise ConfigError(
                    f"method.survivors='{self.survivors}' is not valid; expected a comma list of integers >= 1, e.g. 3,2"
                ) from None
            if self.phase1 not in SCHEMES:
                raise ConfigError(f"method.phase1='{self.phase1}' is not valid; expected one of: {', '.join(SCHEMES)}")
            if self.front not in FRONTS:
                raise ConfigError(f"method.front='{self.front}' is not valid; expected one of: {', '.join(FRONTS)}")
            for name in ("lr", "tau"):
                if not getattr(self, name) > 0:
                    raise ConfigError(f"method.{name}={getattr(self, name)} is out of range; expected > 0")

        def space_config(self, image_size: int) -> BiONetConfig:
            """The searched shape at ``image_size`` (ConfigError if ``depth`` does not fit it)."""
            depth = self.depth or auto_depth(image_size)
            config = BiONetConfig(self.iterations, depth, self.channels, self.stem_channels)
            config.check_image_size(image_size)
            return config

    def search(self, ctx: SearchContext) -> list[Candidate]:
        """Phase 1, then Phase 2 (each resuming from ``ctx.checkpoint_dir``); the candidates of the module docstring."""
        cfg = self.config
        budget = ctx.budget
        config = cfg.space_config(budget.image_size)
        set_determinism(seed=int(ctx.seed))
        supernet = ctx.space.supernet(config, ctx.task).to(ctx.device)
        selection = SelectionMatrices(config).to(ctx.device)
        train, val = ctx.loaders(val_fraction=0.5)
        ctx.report(
            message=f"bixnas phase 1: T={config.iterations} L={config.depth} C={config.channels}, "
            f"{budget.search_epochs} epochs, {cfg.phase1} optimisation"
        )
        phase1 = Phase1Settings(budget.search_epochs, budget.search_batches, cfg.phase1, cfg.lr, cfg.tau)
        hyper = Phase1Search(supernet, selection, train, val, phase1, ctx.checkpoint_dir, ctx.seed).run(ctx.report)
        generations = min(config.stages - 1, budget.ga_generations)
        if generations == 0:
            genotype = to_genotype(config, hyper)
            flops = ctx.flops(genotype)
            return [Candidate(self.space, genotype, "BiX-NAS", {"macs": flops / 2, "flops": flops, "entry": 1.0})]
        settings = Phase2Settings(
            epochs=budget.search_epochs,
            search_batches=budget.search_batches,
            samples=min(cfg.samples, budget.ga_population),
            survivors=parse_survivors(cfg.survivors),
            generations=generations,
            lr=cfg.lr,
        )

        def build() -> BiONetSupernet:
            return ctx.space.supernet(config, ctx.task).to(ctx.device)

        search = ProgressiveSearch(build, config, hyper, train, val, settings, ctx.flops, ctx.checkpoint_dir, ctx.seed)
        return self.candidates(search.run(ctx.report))

    def candidates(self, front: list[Scored]) -> list[Candidate]:
        """The entry (``front[0]``, the most accurate) and, with ``front=all``, the rest of the front."""
        chosen = front if self.config.front == "all" else front[:1]
        out = []
        for rank, s in enumerate(chosen, start=1):
            label = "BiX-NAS" if rank == 1 else f"BiX-NAS front {rank}/{len(front)}"
            predicted = {"val_dice": s.dice, "macs": s.macs, "flops": 2 * s.macs, "entry": float(rank == 1), "front_rank": float(rank)}
            out.append(Candidate(self.space, s.genotype, label, predicted))
        return out
