"""The cell level of the ``msnas`` space (seed 000 §2.1): blocks X_1..X_N over a DAG from X_0.

Two versions of one cell at one tile:

* ``MixedCell`` (supernet): every block mixes *all* (earlier tensor, op) pairs under one softmax
  (eq. 1), with partial channel connections (PC-DARTS): only ``1/K`` of a tensor's channels go
  through the ops.
* ``DerivedCell`` (derived network): each block sums the few (input, op) pairs of its gene, with
  all channels.

Both return the concatenation of X_1..X_N along channels, which the cell's scaling op
(``ops.ScalingOp``) then resamples and projects; the three cells that leave one tile differ
only in that scaling op (§2.1), so they share this block computation and it runs once per tile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from rtbench.spaces.ops import build_op

InputOp = tuple[int, str]
"""One (input index j, op name) pair of a block: X_i receives ``op(X_j)``, j < i (X_0 is the cell input)."""


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` equal channel groups (ShuffleNet), so the next block's op slice sees other channels."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class MixedCell(nn.Module):
    """Supernet cell (eq. 1 with partial channel connections).

    Block ``i`` (1..N) computes ``X_i = sum_{j<i} sum_{o in O} w_i[j, o] * o_PC(X_j)``, where
    ``w_i = softmax`` over all ``i * |O|`` (input, op) pairs jointly (eq. 1, the relaxation seed 000
    prefers to MS-NAS's separate connection and op weights) and ``o_PC(x) = shuffle(cat(o(x[:C/K]),
    x[C/K:]))`` is op ``o`` on the first ``C/K`` channels with the rest bypassing (PC-DARTS). Because
    cat and shuffle are linear, an edge is computed as ``shuffle(cat(sum_o w_o o(x_a), (sum_o w_o) x_b))``.

    Args:
        channels: C_s, the tile's channels.
        blocks: N.
        ops: candidate op names (the columns of each ``w_i``).
        partial_k: K; 1 sends all channels through the ops (no bypass, no shuffle).

    Shapes: ``forward(x0 (B, C_s, h, w), weights)`` -> ``(B, N * C_s, h, w)``.
    """

    def __init__(self, channels: int, blocks: int, ops: Sequence[str], partial_k: int) -> None:
        super().__init__()
        self.partial_k = partial_k
        self.split = channels // partial_k
        self.edges = nn.ModuleList(
            nn.ModuleList(nn.ModuleList(build_op(o, self.split, self.split) for o in ops) for _ in range(i)) for i in range(1, blocks + 1)
        )

    def forward(self, x0: torch.Tensor, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """``weights[i - 1]``: block i's eq. 1 softmax, shape ``(i, |O|)`` (``MSNASSupernet.block_weights``)."""
        states = [x0]
        for block, w in zip(self.edges, weights):
            states.append(_total(self._edge(states[j], ops, w[j]) for j, ops in enumerate(block)))
        return torch.cat(states[1:], dim=1)

    def _edge(self, x: torch.Tensor, ops: nn.ModuleList, w: torch.Tensor) -> torch.Tensor:
        if self.partial_k == 1:
            return _total(wo * op(x) for wo, op in zip(w, ops))
        xa, xb = x[:, : self.split], x[:, self.split :]
        mixed = _total(wo * op(xa) for wo, op in zip(w, ops))
        return channel_shuffle(torch.cat([mixed, w.sum() * xb], dim=1), self.partial_k)


def _total(terms: Iterable[torch.Tensor]) -> torch.Tensor:
    """Sum of tensors without Python ``sum``'s extra ``0 + t`` copy."""
    it = iter(terms)
    out = next(it)
    for t in it:
        out = out + t
    return out


class DerivedCell(nn.Module):
    """Derived (discrete) cell: block ``i`` is ``X_i = sum_{(j, o) in gene_i} o(X_j)``, all channels.

    Args:
        cell: per block, its (input, op) pairs (``InputOp``), inputs < the block's index.
        channels: C_s, the tile's channels.

    Shapes: ``(B, C_s, h, w)`` -> ``(B, N * C_s, h, w)``.
    """

    def __init__(self, cell: Sequence[Sequence[InputOp]], channels: int) -> None:
        super().__init__()
        self.inputs = [[j for j, _ in block] for block in cell]
        self.blocks = nn.ModuleList(nn.ModuleList(build_op(o, channels, channels) for _, o in block) for block in cell)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        states = [x0]
        for inputs, ops in zip(self.inputs, self.blocks):
            states.append(_total(op(states[j]) for j, op in zip(inputs, ops)))
        return torch.cat(states[1:], dim=1)
