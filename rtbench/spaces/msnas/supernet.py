"""The ``msnas`` supernet (seed 000 §2.1, Fig. 1) and the derivation of the discrete cell structure.

The supernet holds every legal tile and cell of the L x S grid (``paths``). At each tile
``(l, a)`` one ``MixedCell`` computes the blocks X_1..X_N from the tile's feature map (eq. 1); each
cell ``(l, a, b)`` leaving the tile applies its scaling op to them. A tile sums the cells arriving
at it, each weighted by its network-level weight (below). The stem feeds tile ``(0, 0)``; the head
reads tile ``(L, 0)``.

Architecture parameters (``arch_parameters``):

* ``alphas``: the cell structure, one tensor per block, ``alphas[i - 1]`` of shape ``(i, |O|)``:
  the logits ``v_{i,j}^o`` of eq. 1. One structure is shared by every cell of the network, as in
  MS-NAS and Auto-DeepLab: seed 000 §2.1 says the scaling op is the only difference among cell
  types, and sharing lets the cells leaving a tile share their blocks (computed once per tile, in
  the supernet and in derived networks). The conv weights of the ops are per tile.
* ``betas``: the network level, one logit per legal cell. At every tile the logits of the (up to
  three) cells leaving it go through one softmax, so the network-level weights of a tile's
  outgoing cells are transition probabilities (as Auto-DeepLab): a path's weight is the product
  of the weights of the cells it passes, its accumulated log-weight the sum of ``cell_weights()``
  along it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rtbench.spaces.msnas.cell import InputOp, MixedCell
from rtbench.spaces.msnas.config import IDENTITY, MSNASConfig, scale_size
from rtbench.spaces.msnas.genotype import cell_gene
from rtbench.spaces.msnas.ops import Head, ScalingOp, Stem, scaling_op_name
from rtbench.spaces.msnas.paths import Cell, legal_cells
from rtbench.tasks import Task

ARCH_INIT_STD = 1e-3  # DARTS initialises architecture logits near zero (near-uniform softmax)


class MSNASSupernet(nn.Module):
    """The MS-NAS two-level supernet: ``(B, task.in_channels, H, W)`` -> logits ``(B, task.num_classes, H, W)``.

    H and W must be divisible by ``2^(S'-1)``, S' the number of scales the grid reaches.

    Args:
        config: the space options (grid, blocks, width, partial channels, ops).
        task: input channels and classes.
    """

    def __init__(self, config: MSNASConfig, task: Task) -> None:
        super().__init__()
        self.config = config
        self.cells = legal_cells(config.layers, config.scales)
        self.sources = sorted({(layer, a) for layer, a, _ in self.cells})
        self.max_scale = max(a for _, a, _ in self.cells)
        c = config.scale_channels
        n = config.blocks
        self.stem = Stem(task.in_channels, config.channels)
        self.mixed = nn.ModuleDict({_tile_key(layer, a): MixedCell(c(a), n, config.ops, config.partial_k) for layer, a in self.sources})
        self.scaling = nn.ModuleDict(
            {_cell_key(cell): ScalingOp(scaling_op_name(cell[1], cell[2]), n * c(cell[1]), c(cell[2])) for cell in self.cells}
        )
        self.head = Head(config.channels, task.num_classes)
        self.alphas = nn.ParameterList(nn.Parameter(ARCH_INIT_STD * torch.randn(i, len(config.ops))) for i in range(1, n + 1))
        self.betas = nn.Parameter(ARCH_INIT_STD * torch.randn(len(self.cells)))
        self._outgoing: dict[tuple[int, int], list[int]] = {}
        for k, (layer, a, _) in enumerate(self.cells):
            self._outgoing.setdefault((layer, a), []).append(k)

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters: the block logits (alphas, eq. 1) and the network-level logits (betas)."""
        return [*self.alphas, self.betas]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not an architecture parameter (op, stem, scaling and head weights)."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def block_weights(self) -> list[torch.Tensor]:
        """Eq. 1 weights: per block i, the softmax over all its (input j, op o) pairs jointly, shape ``(i, |O|)``.

        ``block_weights()[i - 1][j, o]`` is ``exp(v_ij^o) / sum_{j' < i, o'} exp(v_ij'^o')``; it is what
        the cell mixes its ops with and what the eq. 3 estimators (``rtbench.spaces.msnas.cost``) read.
        """
        return [torch.softmax(a.flatten(), 0).view_as(a) for a in self.alphas]

    def cell_weights(self) -> dict[Cell, torch.Tensor]:
        """Network-level weights, in log space: ``{(l, a, b): log p}`` for every legal cell.

        ``p`` is the softmax of the betas over the cells leaving tile ``(l, a)``, i.e. the probability
        of moving from scale a to scale b at layer l. Each value is a 0-dim tensor in the graph of
        ``betas`` (differentiable). A path's accumulated weight (seed 000 §2.1, the "proximal
        accumulated weight along the cells it covers") is ``sum(cell_weights()[c] for c in path_cells(path))``,
        the log-probability of the path under these transitions.
        """
        out: dict[Cell, torch.Tensor] = {}
        for ks in self._outgoing.values():
            logp = torch.log_softmax(self.betas[ks], 0)
            for k, v in zip(ks, logp):
                out[self.cells[k]] = v
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale_size(x.shape[-1], self.max_scale)
        scale_size(x.shape[-2], self.max_scale)
        weights = self.block_weights()
        beta = {cell: logp.exp() for cell, logp in self.cell_weights().items()}
        tiles = {0: self.stem(x)}
        for layer in range(self.config.layers):
            arriving: dict[int, torch.Tensor] = {}
            for a, feature in tiles.items():
                blocks = self.mixed[_tile_key(layer, a)](feature, weights)
                for k in self._outgoing[(layer, a)]:
                    cell = self.cells[k]
                    y = beta[cell] * self.scaling[_cell_key(cell)](blocks)
                    arriving[cell[2]] = y if cell[2] not in arriving else arriving[cell[2]] + y
            tiles = arriving
        return self.head(tiles[0])


def _tile_key(layer: int, s: int) -> str:
    return f"t{layer}_{s}"


def _cell_key(cell: Cell) -> str:
    return "c{}_{}_{}".format(*cell)


def derive_cells(supernet: MSNASSupernet, max_identity: int | None = None) -> dict[str, Any]:
    """The discrete cell structure of a searched supernet, as the genotype fields other than ``paths``.

    Per block, the (input, op) pairs are ranked by their eq. 1 weight (one softmax over all pairs,
    so pairs of different inputs compare directly) and the strongest are kept greedily, skipping a
    pair whose input is already kept, until ``edges_per_block`` distinct inputs (DARTS's top-2 rule;
    block 1 has only X_0, so keeps one pair). Add ``"paths"`` (e.g. from the RT-DNAS GA) to get a
    genotype: ``{**derive_cells(supernet), "paths": [...]}``.

    ``max_identity`` (None: no limit) caps the cell's ``identity`` edges, as P-DARTS (Chen et al.
    2019, §3.3) caps skip-connects at M = 2: while the cell holds more, its weakest identity edge
    takes the strongest other op of the same input. Parameter-free ops win a short or cost-penalised
    search (DARTS's skip-connect collapse; on ACDC quick every edge became identity, see
    ``rtbench.methods.rtdnas.options.MSNASOptions.max_identity``), and a cell of identities has no
    convolution left to segment with.
    """
    cfg = supernet.config
    cell: list[list[InputOp]] = []
    strength: list[tuple[float, int, int, int]] = []  # (weight, block, input, op index) of each kept identity edge
    with torch.no_grad():
        blocks = [w.detach().cpu() for w in supernet.block_weights()]
        for b, w in enumerate(blocks):
            kept: dict[int, str] = {}
            for flat in torch.argsort(w.flatten(), descending=True, stable=True).tolist():
                j, o = divmod(flat, len(cfg.ops))
                if j not in kept:
                    kept[j] = cfg.ops[o]
                if len(kept) == min(cfg.edges_per_block, w.shape[0]):
                    break
            strength += [(float(w[j, cfg.ops.index(op)]), b, j, cfg.ops.index(op)) for j, op in kept.items() if op == IDENTITY]
            cell.append(sorted(kept.items()))
    others = [i for i, op in enumerate(cfg.ops) if op != IDENTITY]
    if max_identity is not None and others:
        for _, b, j, _ in sorted(strength)[: max(0, len(strength) - max_identity)]:  # weakest first
            best = max(others, key=lambda o, w=blocks[b], j=j: float(w[j, o]))
            cell[b] = [(jj, cfg.ops[best] if jj == j else op) for jj, op in cell[b]]
    return {"layers": cfg.layers, "scales": cfg.scales, "channels": cfg.channels, "cell": cell_gene(cell)}
