"""Derived networks of the ``msnas`` space: a static nn.Module per genotype, and its op graph.

A derived network is the union of its N_l paths (seed 000 §2.3). Overlapping path segments are
computed once: every tile on any path holds one feature map, every cell on any path is built once
(``union_cells``), and the cells leaving one tile share that tile's blocks (one ``DerivedCell``
per source tile, then one ``ScalingOp`` per cell). A tile that several cells arrive at sums them
(plain sum, in arrival order: the supernet's network-level weights are not kept).

Execution order, shared by ``MSNASNet.forward`` and ``derived_op_graph``: stem; then layer by
layer, source tiles by increasing scale, each tile's blocks and concat, then its cells by
increasing target scale, each followed by the ``add`` that merges it into its target tile if a
cell already arrived there; finally the head on the output tile.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rtbench.spaces.base import OpInstance, OpNode
from rtbench.spaces.msnas.cell import DerivedCell
from rtbench.spaces.msnas.config import scale_channels, scale_size
from rtbench.spaces.msnas.genotype import parse_cell, parse_paths
from rtbench.spaces.msnas.ops import ADD, CONCAT, HEAD, STEM, Head, ScalingOp, Stem, scaling_op_name
from rtbench.spaces.msnas.paths import union_cells
from rtbench.tasks import Task

Schedule = list[list[tuple[int, list[int]]]]
"""Per layer l: ``(source scale a, [target scales b])`` for every source tile of the union, sorted."""


def schedule(genotype: dict[str, Any]) -> Schedule:
    """The union of a (validated) genotype's paths, grouped by layer and source tile (execution order)."""
    out: Schedule = [[] for _ in range(genotype["layers"])]
    for layer, a, b in union_cells(parse_paths(genotype)):
        if not out[layer] or out[layer][-1][0] != a:
            out[layer].append((a, []))
        out[layer][-1][1].append(b)
    return out


class MSNASNet(nn.Module):
    """A derived msnas network: ``(B, task.in_channels, H, W)`` -> logits ``(B, task.num_classes, H, W)``.

    Static: the structure is fixed at construction (no architecture weights, no data-dependent
    choice). Modules: ``stem``; ``cells["t{l}_{a}"]``, the ``DerivedCell`` of each source tile;
    ``scaling["c{l}_{a}_{b}"]``, the ``ScalingOp`` of each cell of the path union; ``head``.
    Build it through ``MSNASSpace.build`` (which validates the genotype and image size).
    """

    def __init__(self, genotype: dict[str, Any], task: Task) -> None:
        super().__init__()
        cell = parse_cell(genotype)
        c, n = genotype["channels"], len(cell)
        self.schedule = schedule(genotype)
        self.stem = Stem(task.in_channels, c)
        self.cells = nn.ModuleDict()
        self.scaling = nn.ModuleDict()
        for layer, sources in enumerate(self.schedule):
            for a, targets in sources:
                self.cells[f"t{layer}_{a}"] = DerivedCell(cell, scale_channels(c, a))
                for b in targets:
                    self.scaling[f"c{layer}_{a}_{b}"] = ScalingOp(scaling_op_name(a, b), n * scale_channels(c, a), scale_channels(c, b))
        self.head = Head(c, task.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tiles = {0: self.stem(x)}
        for layer, sources in enumerate(self.schedule):
            arriving: dict[int, torch.Tensor] = {}
            for a, targets in sources:
                self._tile(layer, a, targets, tiles.pop(a), arriving)
            tiles = arriving
        return self.head(tiles[0])

    def _tile(self, layer: int, a: int, targets: list[int], x: torch.Tensor, arriving: dict[int, torch.Tensor]) -> None:
        """Tile (layer, a): its cell's blocks, then each scaling op, summed into ``arriving``.

        Every feature map is released as soon as nothing downstream needs it (the tile's input
        after its blocks, the blocks after its last scaling op), as a hand-written straight-line
        forward would: kept alive until the end of the layer, they made the derived network 12%
        slower than the same graph by hand at 128 px on CPU (fresh allocations instead of reused,
        cache-warm ones; ``benchmarks/supernet_overhead.py``).
        """
        blocks = self.cells[f"t{layer}_{a}"](x)
        del x
        for b in targets:
            y = self.scaling[f"c{layer}_{a}_{b}"](blocks)
            arriving[b] = y if b not in arriving else arriving[b] + y


def derived_op_graph(genotype: dict[str, Any], task: Task, image_size: int) -> list[OpNode]:
    """The derived network of a (validated) genotype as op nodes in execution (topological) order.

    Node ids: ``stem``; ``t{l}_{a}/b{i}e{k}`` (edge k of block i of tile (l, a)), ``t{l}_{a}/b{i}e{k}add``
    (the ``add`` of edge k > 0 into its block's sum), ``t{l}_{a}/cat`` (the blocks' concat);
    ``c{l}_{a}_{b}`` (a cell's scaling op), ``c{l}_{a}_{b}/merge`` (the ``add`` into its target tile);
    ``head``. Every op the network runs is a node, so FLOPs of the nodes add up to the network's.
    """
    cell = parse_cell(genotype)
    c, n = genotype["channels"], len(cell)
    graph = [OpNode("stem", OpInstance(STEM, task.in_channels, c, image_size, image_size))]
    tiles = {0: "stem"}
    for layer, sources in enumerate(schedule(genotype)):
        arriving: dict[int, str] = {}
        for a, targets in sources:
            ca, ha = scale_channels(c, a), scale_size(image_size, a)
            prefix = f"t{layer}_{a}"
            states = [tiles[a]]
            for i, block in enumerate(cell, start=1):
                out = ""
                for k, (j, op) in enumerate(block):
                    edge = f"{prefix}/b{i}e{k}"
                    graph.append(OpNode(edge, OpInstance(op, ca, ca, ha, ha), (states[j],)))
                    if out:
                        graph.append(OpNode(f"{edge}add", OpInstance(ADD, ca, ca, ha, ha), (out, edge)))
                        out = f"{edge}add"
                    else:
                        out = edge
                states.append(out)
            graph.append(OpNode(f"{prefix}/cat", OpInstance(CONCAT, ca, n * ca, ha, ha), tuple(states[1:])))
            for b in targets:
                cb, hb = scale_channels(c, b), scale_size(image_size, b)
                node = f"c{layer}_{a}_{b}"
                graph.append(OpNode(node, OpInstance(scaling_op_name(a, b), n * ca, cb, ha, ha), (f"{prefix}/cat",)))
                if b in arriving:
                    graph.append(OpNode(f"{node}/merge", OpInstance(ADD, cb, cb, hb, hb), (arriving[b], node)))
                    node = f"{node}/merge"
                arriving[b] = node
        tiles = arriving
    graph.append(OpNode("head", OpInstance(HEAD, c, task.num_classes, image_size, image_size), (tiles[0],)))
    return graph
