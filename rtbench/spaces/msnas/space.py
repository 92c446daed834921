"""``MSNASSpace``: the ``msnas`` space's genotype -> network, op instances, op graph and FLOPs (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from rtbench.spaces.base import OpInstance, OpNode, Space, register_space
from rtbench.spaces.msnas.config import MSNASConfig, scale_size
from rtbench.spaces.msnas.cost import ExpectedFlops, ExpectedLatency, UnionLatency
from rtbench.spaces.msnas.genotype import parse_paths, sample_genotype, validate_genotype
from rtbench.spaces.msnas.net import MSNASNet, derived_op_graph
from rtbench.spaces.msnas.ops import ADD, CONCAT, FIXED_OPS, HEAD, STEM, build_fixed_op, fixed_op_flops, scaling_op_name
from rtbench.spaces.msnas.paths import legal_cells
from rtbench.spaces.msnas.supernet import MSNASSupernet
from rtbench.tasks import Task


@register_space("msnas")
class MSNASSpace(Space):
    """Genotype (see ``genotype``): ``{"layers", "scales", "channels", "cell", "paths"}``.

    ``config`` of ``op_instances`` and ``sample_genotype``: ``MSNASConfig`` fields as a dict;
    ``sample_genotype`` also reads ``"paths"`` (N_l, default random in 1..8).
    """

    def validate(self, genotype: dict[str, Any]) -> None:
        validate_genotype(genotype)

    def supernet(self, config: MSNASConfig, task: Task) -> MSNASSupernet:
        """The supernet of the grid ``config`` (§2.1, eq. 1), freshly initialised under the global torch seed."""
        return MSNASSupernet(config, task)

    def expected_latency(
        self, config: MSNASConfig, task: Task, image_size: int, op_ms: Callable[[OpInstance], float], n_paths: int | None = None
    ) -> ExpectedLatency | UnionLatency:
        """``L_t`` over the supernet of ``config``, pricing each op with ``op_ms`` (a latency model's op p50, ms):
        eq. 3-5 as printed (one path, longest-path cells) with ``n_paths=None``, else the expected table sum
        of the derived network of ``n_paths`` paths (``UnionLatency``)."""
        if n_paths is None:
            return ExpectedLatency(config, task, image_size, op_ms)
        return UnionLatency(config, task, image_size, op_ms, n_paths)

    def expected_flops(self, config: MSNASConfig, task: Task, image_size: int) -> ExpectedFlops:
        """Expected FLOPs over the supernet of ``config`` (eq. 3 and 5, cells summing their edges)."""
        return ExpectedFlops(config, task, image_size, self.op_flops)

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
