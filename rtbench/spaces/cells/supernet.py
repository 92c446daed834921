"""The supernet of a cell space: every searched edge mixes all its candidates (003 eq. 1-2).

Each edge (i, j) of a cell type has its own architecture parameters ``alpha^(i,j)`` (K values)
and mixes its candidates with the per-edge softmax ``p_k = exp(alpha_k) / sum_k' exp(alpha_k')``
(003 eq. 2; seed 000 instead normalises jointly over all paths). Cells of one type share their
alphas, so the search yields one genotype per cell type, as 003 Fig. 4 shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from rtbench.spaces.base import OpInstance, OpNode
from rtbench.spaces.cells.cell import CellType
from rtbench.spaces.cells.graph import BuildOp, GraphNet, GraphNode, MixedNode

ALPHA_INIT_STD = 1e-3
"""Architecture parameters start near uniform, ``alpha ~ N(0, 1e-3^2)`` (as DARTS), so ties break at random."""


@dataclass(frozen=True)
class SearchedEdge:
    """One searched edge of one cell of a supernet, as the estimators price it (003 eq. 4).

    ``alpha`` (K,) is shared by this edge in every cell of its type; ``candidates`` are the K
    candidate ops at this cell's input shape (different cells have different shapes).
    """

    alpha: nn.Parameter
    candidates: tuple[OpInstance, ...]


class Supernet(nn.Module):
    """A cell space's supernet: input (B, C, H, W) -> the network's output, every edge mixed.

    Args:
        graph: the supernet's graph (``MixedNode`` for every searched edge).
        build: the module of one op instance.
        genes: the macro genes (e.g. filters, depth, nodes) every derived genotype keeps.
        cells: the cell types, with the number of intermediate nodes in ``genes["nodes"]``.
    """

    def __init__(self, graph: Sequence[GraphNode], build: BuildOp, genes: Mapping[str, int], cells: Sequence[CellType]) -> None:
        super().__init__()
        self.genes = dict(genes)
        self.edges = {cell.name: cell.edges(self.genes["nodes"]) for cell in cells}
        self.net = GraphNet(graph, build)
        self.alphas = nn.ModuleDict(
            {
                name: nn.ParameterList([nn.Parameter(ALPHA_INIT_STD * torch.randn(len(e.candidates))) for e in edges])
                for name, edges in self.edges.items()
            }
        )

    def cell_alphas(self, cell: str) -> list[nn.Parameter]:
        """The alphas of cell type ``cell``, one (K,) parameter per edge in ``CellType.edges`` order."""
        return list(cast(nn.ParameterList, self.alphas[cell]))

    def probabilities(self) -> dict[str, list[torch.Tensor]]:
        """``p_alpha^(i,j)`` of every edge of every cell type: the per-edge softmax of 003 eq. 2."""
        return {name: [torch.softmax(a, dim=-1) for a in self.cell_alphas(name)] for name in self.edges}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The supernet's output with every node computed by 003 eq. 1."""
        return self.net(x, self.probabilities())

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters alpha (updated on the validation split in first-order DARTS)."""
        return list(self.alphas.parameters())

    def weight_parameters(self) -> list[nn.Parameter]:
        """The network weights w (everything but alpha)."""
        return list(self.net.parameters())

    def searched_edges(self) -> list[SearchedEdge]:
        """Every searched edge of every cell, in graph order (the terms of 003 eq. 4)."""
        alphas = {name: self.cell_alphas(name) for name in self.edges}
        return [SearchedEdge(alphas[n.cell][n.row], n.candidates) for n in self.net.graph if isinstance(n, MixedNode)]

    def fixed_ops(self) -> list[OpInstance]:
        """The ops outside the searched edges (stem, preprocessing, sums, heads), whose cost no alpha changes.

        The sums are those of the supernet, where no edge is pruned; a derived network with
        ``zero`` edges has fewer ``add``s (0 FLOPs, a few microseconds each).
        """
        return [n.inst for n in self.net.graph if isinstance(n, OpNode)]

    def derive(self) -> dict[str, Any]:
        """The derived genotype: on every edge the op with the highest probability (003 §III-B).

        ``zero`` is *not* excluded: the paper prunes "the redundant operations and paths" by the
        argmax, and a derived ``zero`` drops its edge. It can only occur on normal-family edges
        (between NAS-Unet nodes, or in QC Non-scaling cells), so every NAS-Unet node keeps its
        two edges from the cell inputs and every QC cell its residual path: the derived network
        stays connected.
        """
        genotype: dict[str, Any] = dict(self.genes)
        for name, edges in self.edges.items():
            genotype[name] = [e.candidates[int(torch.argmax(a))] for e, a in zip(edges, self.cell_alphas(name), strict=True)]
        return genotype
