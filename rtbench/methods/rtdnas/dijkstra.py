"""Network-level path evaluation and the MS-NAS (Dijkstra) decoding (seed 000 §2.1, §2.3).

Path weight (§2.1: "the performance of each path can be evaluated by the proximal accumulated
weight along the cells it covers"). The supernet's network-level weights are, at every tile, a
softmax over the (up to three) cells leaving it: transition probabilities
(``MSNASSupernet.cell_weights()`` returns their logarithms). We accumulate a path's weight as the
*sum of the log-probabilities* of the L cells it passes, i.e. the log of the *product* of the
probabilities: the probability that a walk guided by the network-level weights takes exactly this
path. We prefer it to the plain sum of probabilities because (1) one near-zero transition makes a
path one the supernet has all but switched off, which the product punishes and a sum of L terms
barely notices; (2) it is the accumulated weight of the supernet's own docstring and of MS-NAS /
Auto-DeepLab, whose decoders search for the most probable path; (3) ``-log p`` is a non-negative
edge length, so "highest accumulated weight" is a shortest-path problem, which is what Dijkstra's
algorithm in MS-NAS solves. Every legal path has exactly L cells, so neither choice is biased by
path length.

The best paths. :func:`best_weight_paths` returns the k highest-weight legal paths exactly by
k-best dynamic programming over the layered grid (see its docstring). They serve twice: the first
N_l are the MS-NAS decoding (``Dijkstra N_l``) and the first ``pool_size(N_l)`` are the RT-DNAS gene
pool (§3.1: the top 10 paths).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from rtbench.errors import ConfigError
from rtbench.spaces.msnas import MSNASSupernet, path_cells, path_counts
from rtbench.spaces.msnas.paths import Cell, Path

POOL_SIZE = 10
"""Genes in the RT-DNAS gene pool: the top 10 paths by accumulated weight (seed 000 §3.1)."""


@dataclass(frozen=True)
class WeightedPath:
    """A legal end-to-end path (a gene) and its accumulated log-weight (§2.1)."""

    path: Path
    log_weight: float


def cell_log_weights(supernet: MSNASSupernet) -> dict[Cell, float]:
    """The supernet's network-level weights as plain floats: ``{(l, a, b): log p}`` for every legal cell."""
    with torch.no_grad():
        return {cell: float(v) for cell, v in supernet.cell_weights().items()}


def path_log_weight(weights: Mapping[Cell, float], path: Path) -> float:
    """§2.1 accumulated weight of ``path``: ``sum_l log p(cell_l)`` over the cells it passes, layer by layer."""
    total = 0.0
    for cell in path_cells(path):
        total += weights[cell]
    return total


def best_weight_paths(weights: Mapping[Cell, float], layers: int, scales: int, k: int) -> list[WeightedPath]:
    """The ``k`` legal paths of highest accumulated weight, best first (ties: lexicographically smaller path first).

    This is the MS-NAS decoding. MS-NAS finds its best paths with Dijkstra's algorithm; with path
    weights that are sums of per-cell log-probabilities (edge lengths ``-log p >= 0``), the k best
    paths are exactly the top k legal paths by weight. We compute them exactly with a k-shortest-path
    search specialised to the layered grid (list Viterbi): sweeping the layers, every tile keeps the k
    best partial paths from the stem that reach it, extended by the cells leaving it. That is exact,
    since a path whose prefix to some tile is not among that tile's k best has k better paths (the
    same suffix after each better prefix), and it costs O(L * S * k log k) instead of enumerating
    every legal path (their number grows like 3^L). ``min(k, #legal paths)`` paths are returned.
    """
    if k < 1:
        raise ConfigError(f"best_weight_paths: k={k} must be >= 1")
    _, leaving = path_counts(layers, scales)
    frontier: dict[int, list[tuple[float, Path]]] = {0: [(0.0, (0,))]}
    for layer in range(layers):
        arriving: dict[int, list[tuple[float, Path]]] = {}
        for a, partial in frontier.items():
            for b in (a - 1, a, a + 1):
                if 0 <= b < scales and leaving[layer + 1][b]:
                    w = weights[(layer, a, b)]
                    arriving.setdefault(b, []).extend((total + w, (*p, b)) for total, p in partial)
        frontier = {b: sorted(cands, key=_rank)[:k] for b, cands in arriving.items()}
    return [WeightedPath(path=p, log_weight=w) for w, p in frontier[0]]


def _rank(entry: tuple[float, Path]) -> tuple[float, Path]:
    """Sort key of a (log-weight, path) pair: heavier first, then the lexicographically smaller path."""
    return (-entry[0], entry[1])


def pool_size(n_genes: int, n_legal: int) -> int:
    """Genes in the pool for individuals of ``n_genes`` paths: ``POOL_SIZE``, grown to ``n_genes + 1`` when
    N_l >= 10 so that mutation always has a gene to draw that the individual lacks, and capped at the
    number of legal paths of the grid (ConfigError if the grid has fewer than ``n_genes`` paths)."""
    if n_genes > n_legal:
        raise ConfigError(f"N_l={n_genes} paths asked for, but the grid has only {n_legal} legal paths")
    return min(max(POOL_SIZE, n_genes + 1), n_legal)
