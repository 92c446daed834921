"""Differentiable expected latency and FLOPs of the ``msnas`` supernet (seed 000 §2.2, eq. 3-5).

Both estimators read the eq. 1 weights of a supernet (``MSNASSupernet.block_weights()``: per
block i a ``(i, |O|)`` tensor) and return a 0-dim tensor differentiable w.r.t. them. The per-op
cost is a callable ``cost(inst: OpInstance) -> float`` (a latency table's lookup, or
``MSNASSpace().op_flops``), queried once per op instance at construction: the instances are those
of the *derived* network (full channels), since that is what the estimate is for; partial channel
connections are a search-time device only.

* Eq. 3, edge: ``Lat_ij(s) = sum_o w_i[j, o] * cost(o at scale s)``, the expected cost of
  connection j -> i at a tile of scale s (all tensors of a cell share the tile's shape).
* Eq. 4, cell: ``Lat_cell = D(a) + S_cell`` with ``D`` the block DAG's cost at the cell's input
  scale a and ``S_cell = cost(concat) + cost(scaling op a -> b)``, the constant of the cell type.
  ``ExpectedLatency``: ``D`` is the longest path, ``D_0 = 0``, ``D_i = max_{j<i} (D_j + Lat_ij)``,
  ``D = max_i D_i`` (eq. 4 names the path X_0 -> X_N; our cells concatenate all of X_1..X_N
  before the scaling op, so the cell's output node joins every X_i and the longest path may end
  at any of them). ``ExpectedFlops``: FLOPs add up whatever the schedule, so ``D = sum_{i,j} Lat_ij``.
* Eq. 5, network: ``L_t = sum_l sum_{c in layer l} k_c^l * Lat_cell + cost(stem) + cost(head)``,
  ``k_c^l`` from path counts (supplementary Fig. 3, ``paths.cell_probabilities``). Stem and
  head are constants the paper's sum leaves implicit; adding them makes ``L_t`` comparable with the
  latency bound ``L_ub`` of eq. 2 and does not change gradients.

What the estimate is: since ``k_c`` is the share of legal paths through ``c``, ``L_t`` is the mean
over all legal paths of the (expected) cost of the *one-path* network along that path, each block
keeping one (input, op) pair drawn from its softmax. With one-hot weights it is exactly that mean
for the one-pair-per-block cell (tested against the space's op graph). A derived network keeps two
pairs per block and several paths, so its true cost is higher; the estimate ranks cells, it does
not predict the final network. Block-internal ``add``s and tile merges are not in eq. 3-5.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import torch

from rtbench.spaces.base import OpInstance
from rtbench.spaces.msnas.config import MSNASConfig, scale_size
from rtbench.spaces.msnas.ops import CONCAT, HEAD, STEM, scaling_op_name
from rtbench.spaces.msnas.paths import Cell, cell_probabilities
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
