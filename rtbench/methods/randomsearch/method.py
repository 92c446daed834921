"""Random sampling of the ``msnas`` space (seed 000 Fig. 2's grey cloud): ``method=random``.

Seed 000 Fig. 2 plots "randomly sampled architectures from the exploration space" against the
networks of the NAS methods and concludes that "a random search has a very slim chance to find
any close-to-optimal architectures". This method draws those samples: K genotypes of the ``msnas``
space, every gene drawn by Optuna's ``RandomSampler`` through ``trial.suggest_*`` (``genes``) in a
study journaled in ``ctx.checkpoint_dir`` (``study``), so an interrupted search resumes without
redrawing finished samples. Every sample is a candidate, labelled ``random #k N_l=n`` (k from 1),
with ``predicted.flops`` (``ctx.flops``) and ``predicted.n_paths``; the harness trains, scores and
times each, which is what the figure shows. Nothing is selected: the method proposes the cloud.

Choices the paper leaves open (it gives no K, no N_l range and no sampling distribution):

* ``samples`` (K) default 0: the budget's ``random_samples`` (smoke 2, quick 8, paper 100).
* N_l uniform in ``min_paths..max_paths``, default 1..8: seed 000's networks have N_l = 3..8
  (Table 1: 3, 5, 7; Table 2: 6, 7, 8), and 1..2 adds the fast end: on the default grid one or two
  paths run about 17-25 ms and five to eight 65-90 ms (``rtbench.spaces.msnas``), so the cloud
  spans both sides of the 50 ms bound, as Fig. 2's does. The same range as
  ``MSNASSpace.sample_genotype``'s default.
* Within an N_l, uniform over cells and path sets (``genes``); repeated genotypes are redrawn, so
  the K candidates are distinct (``study``).
* The grid (``layers``, ``scales``, ``channels``) is RT-DNAS's, so the cloud is of the same space.
* The method needs no latency model and never asks for one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optuna.trial import BaseTrial

from rtbench.errors import ConfigError
from rtbench.methods.base import Candidate, Method, register
from rtbench.methods.context import SearchContext
from rtbench.methods.randomsearch.genes import suggest_genotype
from rtbench.methods.randomsearch.study import SampleStudy, genotype_key
from rtbench.methods.rtdnas.options import MSNASOptions
from rtbench.spaces.msnas import legal_paths


@register("random")
class RandomSearch(Method):
    space = "msnas"
    description = "random sampling of the msnas space (seed 000 Fig. 2's cloud): K genotypes drawn by Optuna's RandomSampler"

    @dataclass
    class Config:
        """Random-search options (see the module docstring for the defaults).

        Attributes:
            samples: K, the number of genotypes (candidates); 0 takes ``budget.random_samples``.
            min_paths, max_paths: the range N_l is drawn from, uniformly (at most the grid's legal paths).
            layers, scales, channels: the ``msnas`` grid, as RT-DNAS's options.
        """

        samples: int = 0
        min_paths: int = 1
        max_paths: int = 8
        layers: int = 10
        scales: int = 4
        channels: int = 8

        def __post_init__(self) -> None:
            if self.samples < 0:
                raise ConfigError(f"method.samples={self.samples} is out of range; expected >= 0 (0: budget.random_samples)")
            if self.min_paths < 1:
                raise ConfigError(f"method.min_paths={self.min_paths} is out of range; expected >= 1")
            if self.max_paths < self.min_paths:
                raise ConfigError(f"method.max_paths={self.max_paths} is out of range; expected >= method.min_paths ({self.min_paths})")
            n_legal = self.grid().n_legal_paths()
            if self.max_paths > n_legal:
                raise ConfigError(
                    f"method.max_paths={self.max_paths} is out of range; a grid of {self.layers} layers x {self.scales} scales "
                    f"has only {n_legal} legal paths"
                )

        def grid(self) -> MSNASOptions:
            """The grid, checked as RT-DNAS checks it (ConfigError naming the key)."""
            return MSNASOptions(paths="1", layers=self.layers, scales=self.scales, channels=self.channels)

    def search(self, ctx: SearchContext) -> list[Candidate]:
        """Draw (or reload from the journal) K samples; one candidate each, in sample order."""
        cfg: RandomSearch.Config = self.config
        space_cfg = cfg.grid().space_config()
        k_total = cfg.samples or ctx.budget.random_samples
        legal = legal_paths(space_cfg.layers, space_cfg.scales)
        fingerprint = {**cfg.grid().space_options(), "min_paths": cfg.min_paths, "max_paths": cfg.max_paths, "seed": int(ctx.seed)}
        study = SampleStudy(ctx.checkpoint_dir, int(ctx.seed), fingerprint)
        done = study.samples()
        if done:
            ctx.report(message=f"random: resuming with {len(done)} finished sample(s) from {study.path}")
        taken = {genotype_key(s.genotype): s.index for s in done}
        what = f"a {cfg.layers} x {cfg.scales} grid with N_l {cfg.min_paths}..{cfg.max_paths}"

        def suggest(trial: BaseTrial) -> dict[str, Any]:
            return suggest_genotype(trial, space_cfg, cfg.min_paths, cfg.max_paths, legal)

        while len(done) < k_total:
            sample = study.draw(len(done), suggest, ctx.flops, taken, what)
            done.append(sample)
            taken[genotype_key(sample.genotype)] = sample.index
            n = len(sample.genotype["paths"])
            ctx.report(message=f"random #{sample.index + 1}/{k_total} N_l={n}: {sample.flops / 1e9:.3f} GFLOPs")
        out = []
        for sample in done[:k_total]:
            n = len(sample.genotype["paths"])
            predicted = {"flops": sample.flops, "n_paths": float(n)}
            out.append(
                Candidate(space=self.space, genotype=sample.genotype, label=f"random #{sample.index + 1} N_l={n}", predicted=predicted)
            )
        return out
