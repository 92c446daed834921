"""``PathDecoder``: candidates from a searched ``msnas`` supernet, by MS-NAS's Dijkstra decoding and RT-DNAS's GA (seed 000 §2.3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rtbench.budgets import Budget
from rtbench.methods.base import Candidate
from rtbench.methods.rtdnas.dijkstra import WeightedPath, best_weight_paths, cell_log_weights, pool_size
from rtbench.methods.rtdnas.fitness import Fitness, RealTimeBounds
from rtbench.methods.rtdnas.ga import evolve
from rtbench.spaces.msnas import MSNASSupernet, derive_cells, path_counts

LABELS = {"ga": "GA", "dijkstra": "Dijkstra"}
GenotypeCost = Callable[[dict[str, Any]], float]
"""``cost(genotype)``: the predicted latency (ms) or FLOPs of a derived network."""


class PathDecoder:
    """Derives candidates from a searched supernet: its cell structure plus N_l paths per decoder (§2.3).

    Args:
        supernet: the searched supernet.
        latency_ms: predicted latency of a derived network (the latency model's table sum, ms;
            see ``fitness`` for why the sum model).
        flops: FLOPs of a derived network (recorded with each candidate).
        bounds: the real-time bounds of the GA's fitness.
    """

    def __init__(self, supernet: MSNASSupernet, latency_ms: GenotypeCost, flops: GenotypeCost, bounds: RealTimeBounds) -> None:
        self.cfg = supernet.config
        self.cells = derive_cells(supernet)
        self.weights = cell_log_weights(supernet)
        self.latency_ms = latency_ms
        self.flops = flops
        self.bounds = bounds
        arriving, _ = path_counts(self.cfg.layers, self.cfg.scales)
        self.n_legal = arriving[self.cfg.layers][0]

    def genotype(self, genes: list[WeightedPath]) -> dict[str, Any]:
        """The derived network of ``genes``: the searched cell structure and the genes' paths, heaviest first."""
        return {**self.cells, "paths": [list(g.path) for g in genes]}

    def dijkstra(self, n: int) -> list[WeightedPath]:
        """MS-NAS decoding: the N_l highest-weight paths."""
        return best_weight_paths(self.weights, self.cfg.layers, self.cfg.scales, n)

    def ga(self, n: int, budget: Budget, seed: int) -> list[WeightedPath]:
        """RT-DNAS decoding (§2.3): the GA over the top-``pool_size`` paths, fitness = predicted latency under the bounds.

        The GA's generator is seeded by (seed, N_l), so each N_l's result is independent of which
        other N_l values are decoded and in which order.
        """
        pool = best_weight_paths(self.weights, self.cfg.layers, self.cfg.scales, pool_size(n, self.n_legal))

        def fitness(individual: tuple[int, ...]) -> Fitness:
            return self.bounds.fitness(self.latency_ms(self.genotype([pool[g] for g in individual])))

        result = evolve(len(pool), n, fitness, budget.ga_population, budget.ga_generations, np.random.default_rng([seed, n]))
        return [pool[g] for g in result.best]

    def candidates(
        self, n_paths: tuple[int, ...], decoders: tuple[str, ...], budget: Budget, seed: int, report: Callable[..., None]
    ) -> list[Candidate]:
        """One candidate per (decoder, N_l), decoders in the order given; equal networks merged into one candidate."""
        found: dict[str, tuple[list[str], dict[str, Any], list[WeightedPath]]] = {}
        for decoder in decoders:
            for n in n_paths:
                genes = self.ga(n, budget, seed) if decoder == "ga" else self.dijkstra(n)
                genotype = self.genotype(genes)
                key = Candidate("msnas", genotype, "").key
                found.setdefault(key, ([], genotype, genes))[0].append(f"{LABELS[decoder]} N_l={n}")
        out = []
        for labels, genotype, genes in found.values():
            latency = self.latency_ms(genotype)
            fit = self.bounds.fitness(latency)
            predicted = {"latency_ms": latency, "flops": float(self.flops(genotype)), "log_weight": sum(g.log_weight for g in genes)}
            label = " = ".join(labels)
            verdict = "feasible" if fit.feasible else f"over the bounds by {fit.violation_ms:.1f} ms"
            report(message=f"{label}: predicted {latency:.1f} ms, {fit.fps:.1f} frames/s single-stream ({verdict})")
            out.append(Candidate(space="msnas", genotype=genotype, label=label, predicted=predicted))
        return out
