"""Expected cost of a supernet over its architecture parameters, and expected FLOPs.

The estimators price a supernet edge by edge (003 §III-D): the expected cost of searched edge
(i, j) is ``sum_k w_k^(i,j) * cost(op_k^(i,j))`` for architecture weights ``w`` derived from
``alpha^(i,j)``; a cell costs the sum of its edges, the network the sum of its cells, plus the
fixed ops around the cells (stem, preprocessing, heads), whose cost no alpha changes. With
``w = softmax(alpha)`` (003 eq. 2) and FLOPs as the cost this is the expected FLOPs of the derived
network; with Gumbel-softmax weights and a latency table it is 003 eq. 4 (``fbnet.py``).

The per-op cost is any callable ``cost(inst) -> float`` (``Space.op_flops``, a latency table's
``latency_ms``), and a supernet is anything with ``searched_edges()`` and ``fixed_ops()`` (the
``nasunet``/``qcnet``/``echonas`` supernets), so the estimators know neither tables nor spaces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch

from rtbench.spaces.base import OpInstance

Cost = Callable[[OpInstance], float]
"""``cost(inst)``: the cost of one op instance (FLOPs, milliseconds...)."""

Weights = Callable[[torch.Tensor], torch.Tensor]
"""``weights(alpha)``: architecture weights (K,) of one edge from its alphas (K,)."""


class PricedEdge(Protocol):
    """A searched edge: its alphas (K,), shared by the same edge of every cell of one type, and
    its K candidate op instances at this cell's input shape."""

    @property
    def alpha(self) -> torch.Tensor: ...

    @property
    def candidates(self) -> Sequence[OpInstance]: ...


class PricedSupernet(Protocol):
    """What the estimators read from a supernet."""

    def searched_edges(self) -> Sequence[PricedEdge]: ...

    def fixed_ops(self) -> Sequence[OpInstance]: ...


class ExpectedCost:
    """``sum_edges sum_k w(alpha)_k * cost(op_k) + sum_fixed cost(op)`` for a weighting rule ``w``.

    ``cost`` is queried once, here: each distinct alpha tensor (an edge of a cell type, shared by
    every cell of that type) gets the sum of the candidates' cost vectors over the cells that share
    it, ``P_a``, so an evaluation is ``sum_a w(a) . P_a + fixed``, one weighting per architecture
    decision (and, for a sampling rule, one sample), in order of first appearance among
    ``supernet.searched_edges()``. The alphas are held by reference, so optimiser steps show.

    Args:
        supernet: anything with ``searched_edges()`` and ``fixed_ops()``.
        cost: the cost of one op instance.
    """

    def __init__(self, supernet: PricedSupernet, cost: Cost) -> None:
        alphas: dict[int, torch.Tensor] = {}
        prices: dict[int, list[float]] = {}
        for edge in supernet.searched_edges():
            key, edge_prices = id(edge.alpha), [float(cost(inst)) for inst in edge.candidates]
            if key in prices:
                prices[key] = [a + b for a, b in zip(prices[key], edge_prices, strict=True)]
            else:
                alphas[key], prices[key] = edge.alpha, edge_prices
        self.alphas = list(alphas.values())
        self.prices = [torch.tensor(prices[key], dtype=torch.float64) for key in alphas]
        self.fixed = float(sum(float(cost(inst)) for inst in supernet.fixed_ops()))

    def weighted(self, weights: Weights) -> torch.Tensor:
        """The cost with architecture weights ``weights(alpha)`` per edge: a 0-d tensor, differentiable in alpha."""
        terms = []
        for alpha, prices in zip(self.alphas, self.prices, strict=True):
            w = weights(alpha)
            terms.append(torch.dot(w, prices.to(w)))
        return torch.stack(terms).sum() + self.fixed if terms else torch.tensor(self.fixed)


class ExpectedFlops(ExpectedCost):
    """Expected FLOPs of the derived network: edge costs weighted by ``softmax(alpha)`` (003 eq. 2), no sampling.

    ``ExpectedFlops(supernet, space.op_flops)()``. With one-hot probabilities this is the exact
    FLOPs of the derived network (the fixed ops included), unless a derived ``zero`` leaves a node
    without inputs (only possible in QC Non-scaling cells): the derived network then prunes the
    edges leaving that node as well, which the edge-by-edge sum still counts (an upper bound).
    """

    def __call__(self) -> torch.Tensor:
        return self.weighted(lambda alpha: torch.softmax(alpha, dim=-1))
