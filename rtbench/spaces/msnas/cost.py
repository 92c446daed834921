"""Differentiable latency and FLOPs estimates of the ``msnas`` supernet (seed 000 §2.2, eq. 3-5).

Every estimator reads the eq. 1 weights of a supernet (``MSNASSupernet.block_weights()``: per
block i a ``(i, |O|)`` tensor) and returns a 0-dim tensor differentiable w.r.t. them. The per-op
cost is a callable ``cost(inst: OpInstance) -> float`` (a latency table's lookup, or
``MSNASSpace().op_flops``), queried once per op instance at construction: the instances are those
of the *derived* network (full channels), since that is what the estimate is for; partial channel
connections are a search-time device only.

Eq. 3-5 as printed (``ExpectedLatency``, ``ExpectedFlops``; RT-DNAS's ``L_t`` with
``method.estimate=one_path``):

* Eq. 3, edge: ``Lat_ij(s) = sum_o w_i[j, o] * cost(o at scale s)``, the expected cost of
  connection j -> i at a tile of scale s (all tensors of a cell share the tile's shape).
* Eq. 4, cell: ``Lat_cell = D(a) + S_cell`` with ``D`` the block DAG's cost at the cell's input
  scale a and ``S_cell = cost(concat) + cost(scaling op a -> b)``, the constant of the cell type.
  ``ExpectedLatency``: ``D`` is the longest path, ``D_0 = 0``, ``D_i = max_{j<i} (D_j + Lat_ij)``,
  ``D = max_i D_i`` (eq. 4 names the path X_0 -> X_N; our cells concatenate all of X_1..X_N
  before the scaling op, so the cell's output node joins every X_i and the longest path may end
  at any of them). ``ExpectedFlops``: FLOPs add up whatever the schedule, so ``D = sum_{i,j} Lat_ij``.
* Eq. 5, network: ``L_t = sum_l sum_{c in layer l} k_c^l * Lat_cell + cost(stem) + cost(head)``,
  ``k_c^l`` from path counts (``paths.cell_probabilities``). Stem and head are constants the
  paper's sum leaves implicit; adding them makes ``L_t`` comparable with the latency bound and does
  not change gradients.
* ``k_c``: the share of legal end-to-end paths that pass cell c, ``arriving x leaving / #paths``
  (see ``paths.cell_probabilities`` for why not supplementary Fig. 3's arriving counts alone).

What eq. 3-5 computes. Since ``k_c`` is the share of legal paths through c, eq. 5 is the mean
over legal paths of the cost of a *one-path* network, with each connection priced at its
expected cost. It is the expected one-path cost under the softmax only for one-hot weights
(tested against the space's op graph): otherwise the longest path of expected edge costs is not
the expected longest path (max of means <= mean of max). On the 4 x 3 test grid with uniform eq. 1
weights and the tests' stand-in op latencies, eq. 5 gives 2.212 ms against 2.570 ms for the true
expectation (mean over the 384 one-pair-per-block cells, each equally likely, and the 9 legal
paths of the longest path through the one-path network). And a derived network is no one-path
network: it keeps ``edges_per_block`` pairs per block and N_l paths. Priced in FLOPs on the
default 10 x 4 grid at 128 px with uniform eq. 1 weights, eq. 5 gives 0.36 GFLOPs, while 30 random
N_l = 7 networks have a median of 1.42 (0.34-2.73) GFLOPs and ``UnionLatency`` for N_l = 7 gives
1.51: a bound meant for the derived network (the paper's 50 ms) hardly ever bit eq. 5 (issue 12).

``L_t`` of RT-DNAS (``UnionLatency``, ``method.estimate=union``, the default): the expected
table-sum latency of the derived network of N_l paths, the union of N_l *distinct legal paths
drawn uniformly*, each block keeping ``k_i = min(edges_per_block, i)`` (input, op) pairs:

* Cells sum, not eq. 4's longest path: the derived network runs every kept op one after
  another (``MSNASNet``, one stream), so its table-sum latency -- what the GA checks and what the
  calibration corrects (``rtbench.hardware.predict``) -- is the sum over its op graph. On local-cpu
  the longest path ranked measured networks worse (Spearman 0.79 vs 0.96, ``bench latency-check``).
* Block i costs ``k_i * sum_{j,o} w_i[j, o] * cost(o at the tile) + (k_i - 1) * cost(add)``: each
  kept pair priced at eq. 3's expectation. A source tile (l, a) of the union costs its blocks plus
  the concat, ``T(a)``; the cells leaving it share them. Each cell adds its scaling op; a target
  tile where m > 1 cells of the union arrive adds m - 1 merges (``add``).
* A tile or cell x that ``n_x`` of the ``n`` legal paths pass is in the union with probability
  ``P_x = 1 - C(n - n_x, N_l) / C(n, N_l)`` (no drawn path passes it otherwise); ``n_x / n`` is
  ``k_c`` for a cell. By linearity of expectation
  ``L_t = stem + head + sum_tiles P_t T(a) + sum_cells P_c S(c) + sum_targets (sum_{c -> t} P_c - P_t) cost(add at t)``.
* Exact: with "k-hot" weights (block i's mass spread evenly over the k_i pairs of a fixed derived
  cell) it equals the mean, over all N_l-subsets of legal paths, of that network's table sum
  (tested by brute force). With soft weights it prices each kept pair at the softmax expectation
  of one pair, as eq. 3 does. N_l = 1 is eq. 5 with summed cells and the derived cell's pairs.
* Like eq. 5 (supplementary Fig. 3: "trainable coefficients are not considered in network level
  latency model") it ignores the network-level weights: the decoders pick the heaviest paths,
  not uniform ones, so it is the cost of a typical N_l-path network of the current cell, not of
  the one that will be decoded.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import torch

from rtbench.spaces.base import OpInstance
from rtbench.spaces.msnas.config import MSNASConfig, scale_size
from rtbench.spaces.msnas.ops import ADD, CONCAT, HEAD, STEM, scaling_op_name
from rtbench.spaces.msnas.paths import Cell, cell_probabilities, legal_cells, legal_tiles, path_counts
from rtbench.tasks import Task

CostFn = Callable[[OpInstance], float]
"""``cost(inst)``: the cost of one op instance (ms for latency, FLOPs for FLOPs)."""


class ExpectedCost(ABC):
    """Eq. 3-5 over the supernet of ``config`` at ``image_size``; subclasses choose the cell reduction (eq. 4).

    Args:
        config: the supernet's space options (``MSNASSupernet.config``).
        task: input channels and classes (stem and head shapes).
        image_size: H = W of the input.
        cost: per-op cost of the derived network's op instances.

    Call with the eq. 1 weights (``supernet.block_weights()``) to get ``L_t`` (eq. 5).

    Attributes (constants, computed once from ``cost``):
        cells: every legal cell ``(l, a, b)``, sorted; the order of the per-cell tensors.
        op_cost: ``(scales, |O|)``, the cost of each of ``config.ops`` at each scale's tile shape.
        k: ``k_c`` per cell (eq. 5).
        source: the input scale of each cell.
        s_cell: ``S_cell`` per cell: the concat of the blocks + the cell type's scaling op (eq. 4).
        fixed: stem + head, outside the grid.
    """

    def __init__(self, config: MSNASConfig, task: Task, image_size: int, cost: CostFn) -> None:
        self.config = config
        k = cell_probabilities(config.layers, config.scales)
        self.cells: list[Cell] = sorted(k)
        c, n = config.scale_channels, config.blocks

        def inst(op: str, a: int, c_in: int, c_out: int) -> OpInstance:
            h = scale_size(image_size, a)
            return OpInstance(op, c_in, c_out, h, h)

        scales = range(max(a for _, a, _ in self.cells) + 1)
        self.op_cost = torch.tensor([[cost(inst(o, s, c(s), c(s))) for o in config.ops] for s in scales])
        self.k = torch.tensor([k[cell] for cell in self.cells])
        self.source = torch.tensor([a for _, a, _ in self.cells])
        self.s_cell = torch.tensor(
            [cost(inst(CONCAT, a, c(a), n * c(a))) + cost(inst(scaling_op_name(a, b), a, n * c(a), c(b))) for _, a, b in self.cells]
        )
        self.fixed = float(cost(inst(STEM, 0, task.in_channels, c(0))) + cost(inst(HEAD, 0, c(0), task.num_classes)))

    @abstractmethod
    def block_dag(self, edges: Sequence[torch.Tensor]) -> torch.Tensor:
        """Cost of the block DAG at every scale from ``edges[i - 1]``, block i's eq. 3 edge costs ``(i, scales)``."""

    def cell_costs(self, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """``Lat_cell`` (eq. 3 + 4) of every cell of ``self.cells``, shape ``(len(cells),)``."""
        ref = weights[0]
        op_cost = self.op_cost.to(ref)
        edges = [w @ op_cost.T for w in weights]  # eq. 3: (i, scales), row j = connection X_j -> X_i
        return self.block_dag(edges)[self.source.to(ref.device)] + self.s_cell.to(ref)

    def __call__(self, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """``L_t`` (eq. 5): ``sum_c k_c * Lat_cell + stem + head``, a 0-dim tensor."""
        if len(weights) != self.config.blocks:
            raise ValueError(f"expected eq. 1 weights for {self.config.blocks} blocks, got {len(weights)}")
        return (self.k.to(weights[0]) * self.cell_costs(weights)).sum() + self.fixed


class ExpectedLatency(ExpectedCost):
    """Expected latency ``L_t`` of RT-DNAS (eq. 3-5), cells reduced by their longest path (eq. 4)."""

    def block_dag(self, edges: Sequence[torch.Tensor]) -> torch.Tensor:
        """Eq. 4: ``D_i = max_{j<i} (D_j + Lat_ij)``, ``D_0 = 0``; the cell's path cost is ``max_i D_i``."""
        done = [torch.zeros_like(edges[0][0])]
        for e in edges:
            done.append(torch.stack([done[j] + e[j] for j in range(e.shape[0])]).amax(0))
        return torch.stack(done[1:]).amax(0)


class ExpectedFlops(ExpectedCost):
    """Expected FLOPs for FLOPs-aware baselines: eq. 3 and 5 as for latency, but a cell *sums* its edges.

    FLOPs are work, not time: every op of a cell runs whatever the schedule, so the cell's FLOPs
    are the sum of its edges' expected FLOPs rather than a longest path. Pass ``MSNASSpace().op_flops`` as ``cost``.
    """

    def block_dag(self, edges: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack([e.sum(0) for e in edges]).sum(0)


def union_probability(n: int, n_x: int, n_paths: int) -> float:
    """``P_x = 1 - C(n - n_x, N_l) / C(n, N_l)``: the probability that N_l distinct paths drawn uniformly
    among ``n`` include one of the ``n_x`` that pass a tile or cell (``UnionLatency``), exact."""
    return 1.0 - math.comb(n - n_x, n_paths) / math.comb(n, n_paths)


class UnionLatency:
    """``L_t`` of RT-DNAS: expected table-sum latency of the derived network of N_l uniform legal paths (module docstring).

    Args:
        config: the supernet's space options (``MSNASSupernet.config``; ``edges_per_block`` gives k_i).
        task: input channels and classes (stem and head shapes).
        image_size: H = W of the input.
        cost: per-op cost of the derived network's op instances (a latency table's p50, ms).
        n_paths: N_l, at most the number of legal paths.

    Call with the eq. 1 weights (``supernet.block_weights()``) to get ``L_t``.

    Attributes (constants, computed once from ``cost``):
        op_cost: ``(scales, |O|)``, the cost of each of ``config.ops`` at each scale's tile shape.
        kept: ``(blocks,)``, k_i, the pairs a derived block keeps.
        tile_fixed: ``(scales,)``, per source tile at scale a, its blocks' adds and the concat.
        tile_p: ``(scales,)``, sum of ``P_t`` over the source tiles at each scale.
        fixed: everything that does not depend on the weights: stem, head, expected scaling ops,
            expected merges and ``sum_t P_t * tile_fixed``.
    """

    def __init__(self, config: MSNASConfig, task: Task, image_size: int, cost: CostFn, n_paths: int) -> None:
        self.config = config
        layers, scales = config.layers, config.scales
        arriving, leaving = path_counts(layers, scales)
        n = arriving[layers][0]
        if not 1 <= n_paths <= n:
            raise ValueError(f"N_l={n_paths} must be in 1..{n}, the number of legal paths of a {layers} x {scales} grid")
        self.n_paths = n_paths
        c = config.scale_channels

        def inst(op: str, a: int, c_in: int, c_out: int) -> OpInstance:
            h = scale_size(image_size, a)
            return OpInstance(op, c_in, c_out, h, h)

        def p(column: int, s: int) -> float:
            return union_probability(n, arriving[column][s] * leaving[column][s], n_paths)

        sources = [(col, s) for col, s in legal_tiles(layers, scales) if col < layers]
        reach = range(max(s for _, s in sources) + 1)
        self.op_cost = torch.tensor([[cost(inst(o, s, c(s), c(s))) for o in config.ops] for s in reach], dtype=torch.float64)
        self.kept = torch.tensor([min(config.edges_per_block, i) for i in range(1, config.blocks + 1)], dtype=torch.float64)
        adds = float((self.kept - 1).sum())
        n_blocks = config.blocks
        self.tile_fixed = torch.tensor(
            [adds * cost(inst(ADD, s, c(s), c(s))) + cost(inst(CONCAT, s, c(s), n_blocks * c(s))) for s in reach], dtype=torch.float64
        )
        tile_p = [0.0 for _ in reach]
        for col, s in sources:
            tile_p[s] += p(col, s)
        self.tile_p = torch.tensor(tile_p, dtype=torch.float64)
        fixed = cost(inst(STEM, 0, task.in_channels, c(0))) + cost(inst(HEAD, 0, c(0), task.num_classes))
        arrivals: dict[tuple[int, int], float] = {}
        for layer, a, b in legal_cells(layers, scales):
            p_cell = union_probability(n, arriving[layer][a] * leaving[layer + 1][b], n_paths)
            fixed += p_cell * cost(inst(scaling_op_name(a, b), a, n_blocks * c(a), c(b)))
            arrivals[(layer + 1, b)] = arrivals.get((layer + 1, b), 0.0) + p_cell
        for (col, b), expected_cells in arrivals.items():  # E[max(m - 1, 0)] = E[m] - P(m >= 1)
            fixed += (expected_cells - p(col, b)) * cost(inst(ADD, b, c(b), c(b)))
        self.fixed = fixed + float((self.tile_p * self.tile_fixed).sum())

    def tile_costs(self, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """``(scales,)``: the weight-dependent part of a source tile's cost, ``sum_i k_i * sum_{j,o} w_i[j, o] * cost(o)``."""
        ref = weights[0]
        op_cost = self.op_cost.to(ref)
        per_pair = torch.stack([w.sum(0) @ op_cost.T for w in weights])  # (blocks, scales): eq. 3 expectation of one pair
        return (self.kept.to(ref)[:, None] * per_pair).sum(0)

    def __call__(self, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """``L_t``: the expected table sum of the N_l-path derived network, a 0-dim tensor (module docstring)."""
        if len(weights) != self.config.blocks:
            raise ValueError(f"expected eq. 1 weights for {self.config.blocks} blocks, got {len(weights)}")
        return (self.tile_p.to(weights[0]) * self.tile_costs(weights)).sum() + self.fixed
