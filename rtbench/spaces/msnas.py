"""The ``msnas`` space: MS-NAS's two-level multi-scale search space as RT-DNAS uses it (seed 000 §2.1, §3.1).

Network level: a grid of L layers x S scales (default 10 x 4, scales 1 to 1/8). A network is a
union of N_l end-to-end paths over the grid; each path passes one cell per layer, and a cell is
contracting, non-scaling or expanding (max-pool down, bilinear up, factor 2). Cell level: a cell
turns its input X_0 into N blocks X_1..X_N (default 3), block i summing (input, op) pairs over
X_0..X_{i-1}; the supernet mixes all pairs of a block under one softmax (eq. 1).

Modules (one job each):

* ``msnas_paths``: the grid, legal paths, path counts per tile and k_c (supplementary Fig. 3).
* ``msnas_config``: ``MSNASConfig`` (the space options) and ``CELL_OPS``.
* ``msnas_ops``: the fixed ops (stem, the three scaling ops, head, concat, add) and their FLOPs.
* ``msnas_cell``: ``MixedCell`` (eq. 1 with partial channels) and ``DerivedCell``.
* ``msnas_supernet``: ``MSNASSupernet`` (alphas, betas, ``cell_weights``) and ``derive_cells``.
* ``msnas_genotype``: the genotype format, validation and random sampling.
* ``msnas_net``: ``MSNASNet`` (a derived network, path segments shared) and its op graph.
* ``rtbench.hardware.estimate.rtdnas``: expected latency / FLOPs over the supernet (eq. 3-5).

Design choices the paper leaves open (each also documented where it is implemented):

* Paths start and end at scale 0 (full-resolution stem, full-resolution head): ``msnas_paths``.
* One cell structure (alpha) shared by every cell; op weights per tile; the cells leaving a tile
  share its blocks: ``msnas_supernet``.
* Width ``C * 2^s`` at scale s (default C = 8); a scaling op is resample + ReLU-conv1x1-BN to the
  target width, applied to the concat of the blocks (that concat + 1x1 is how blocks combine; the
  whole of it is ``S_cell``): ``msnas_ops``.
* Ops: conv, dil_conv, sep_conv, identity from ``rtbench.spaces.ops``; ``zero`` excluded:
  ``msnas_config.CELL_OPS``.
* Tile merge: network-level-weighted sum in the supernet, plain sum in derived networks.
* Derivation: top-2 (input, op) pairs per block by eq. 1 weight, distinct inputs: ``derive_cells``.
* Partial channels: K = 4 in the supernet only; derived networks use all channels.

Scale of the default space at 128 px (random cells, 2-core CPU, 2 threads, best of 25 forwards,
measured on a shared machine, so indicative only): one path 0.6-0.8 GFLOPs and about 17-25 ms;
two paths about 25 ms; five to eight paths 1.5-2.1 GFLOPs and about 65-90 ms. So the cine bound
(50 ms) admits the smaller N_l and rules out the larger ones, and the search has to trade.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from rtbench.spaces.base import OpInstance, OpNode, Space, register_space
from rtbench.spaces.msnas_config import CELL_OPS, MSNASConfig, scale_size
from rtbench.spaces.msnas_genotype import parse_paths, sample_genotype, validate_genotype
from rtbench.spaces.msnas_net import MSNASNet, derived_op_graph
from rtbench.spaces.msnas_ops import ADD, CONCAT, FIXED_OPS, HEAD, STEM, build_fixed_op, fixed_op_flops, scaling_op_name
from rtbench.spaces.msnas_paths import cell_probabilities, legal_cells, legal_paths, path_cells, path_counts
from rtbench.spaces.msnas_supernet import MSNASSupernet, derive_cells
from rtbench.tasks import Task

__all__ = [
    "CELL_OPS",
    "MSNASConfig",
    "MSNASNet",
    "MSNASSpace",
    "MSNASSupernet",
    "cell_probabilities",
    "derive_cells",
    "legal_cells",
    "legal_paths",
    "path_cells",
    "path_counts",
]


@register_space("msnas")
class MSNASSpace(Space):
    """Genotype (see ``msnas_genotype``): ``{"layers", "scales", "channels", "cell", "paths"}``.

    ``config`` of ``op_instances`` and ``sample_genotype``: ``MSNASConfig`` fields as a dict;
    ``sample_genotype`` also reads ``"paths"`` (N_l, default random in 1..8).
    """

    def validate(self, genotype: dict[str, Any]) -> None:
        validate_genotype(genotype)

    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        self._check(genotype, image_size)
        return MSNASNet(genotype, task)

    def op_graph(self, genotype: dict[str, Any], task: Task, image_size: int) -> list[OpNode]:
        self._check(genotype, image_size)
        return derived_op_graph(genotype, task, image_size)

    def op_instances(self, task: Task, image_size: int, config: dict[str, Any] | None = None) -> list[OpInstance]:
        """Stem and head; every ``config.ops`` op, ``concat`` and ``add`` at every reachable scale; the
        scaling op of every kind of legal cell (from-scale, to-scale). Sorted, no duplicates."""
        cfg = MSNASConfig.from_dict(config)
        cells = legal_cells(cfg.layers, cfg.scales)
        n = cfg.blocks
        insts = {
            OpInstance(STEM, task.in_channels, cfg.channels, image_size, image_size),
            OpInstance(HEAD, cfg.channels, task.num_classes, image_size, image_size),
        }
        for s in sorted({a for _, a, _ in cells}):
            c, h = cfg.scale_channels(s), scale_size(image_size, s)
            insts.update(OpInstance(op, c, c, h, h) for op in cfg.ops)
            insts.update({OpInstance(CONCAT, c, n * c, h, h), OpInstance(ADD, c, c, h, h)})
        for a, b in {(a, b) for _, a, b in cells}:
            h = scale_size(image_size, a)
            insts.add(OpInstance(scaling_op_name(a, b), n * cfg.scale_channels(a), cfg.scale_channels(b), h, h))
        return sorted(insts)

    def sample_genotype(
        self, rng: np.random.Generator, task: Task, image_size: int, config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        options = dict(config or {})
        n_paths = options.pop("paths", None)
        cfg = MSNASConfig.from_dict(options)
        scale_size(image_size, max(a for _, a, _ in legal_cells(cfg.layers, cfg.scales)))
        return sample_genotype(rng, cfg, None if n_paths is None else int(n_paths))

    def op_flops(self, inst: OpInstance) -> int:
        return fixed_op_flops(inst) if inst.op in FIXED_OPS else super().op_flops(inst)

    def build_op_instance(self, inst: OpInstance) -> nn.Module:
        return build_fixed_op(inst) if inst.op in FIXED_OPS else super().build_op_instance(inst)

    def _check(self, genotype: dict[str, Any], image_size: int) -> None:
        validate_genotype(genotype)
        scale_size(image_size, max(max(p) for p in parse_paths(genotype)))
