"""``BiONetSpace``: the ``bionet`` space's genotype -> network, op instances, op graph and FLOPs (see the package docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from rtbench.spaces.base import OpInstance, OpNode, Space, register_space
from rtbench.spaces.bionet.config import BiONetConfig
from rtbench.spaces.bionet.genotype import sample_genotype, validate_genotype
from rtbench.spaces.bionet.graph import op_graph, op_instances
from rtbench.spaces.bionet.net import BiONet, BiONetSupernet
from rtbench.spaces.bionet.ops import bionet_op_flops, build_bionet_op, is_bionet_op
from rtbench.tasks import Task


@register_space("bionet")
class BiONetSpace(Space):
    """Genotype: see ``genotype``. ``config`` of ``op_instances`` / ``sample_genotype``: ``BiONetConfig`` fields as a dict."""

    def validate(self, genotype: dict[str, Any]) -> None:
        validate_genotype(genotype)

    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        validate_genotype(genotype)
        BiONetConfig.from_dict(genotype).check_image_size(image_size)
        return BiONet(genotype, task)

    def supernet(self, config: BiONetConfig, task: Task) -> BiONetSupernet:
        """Every block and the bridge of ``config``, freshly initialised under the global torch seed."""
        return BiONetSupernet(config, task)

    def op_graph(self, genotype: dict[str, Any], task: Task, image_size: int) -> list[OpNode]:
        return op_graph(genotype, task, image_size)

    def op_instances(self, task: Task, image_size: int, config: dict[str, Any] | None = None) -> list[OpInstance]:
        return op_instances(task, image_size, BiONetConfig.from_dict(config))

    def sample_genotype(
        self, rng: np.random.Generator, task: Task, image_size: int, config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        cfg = BiONetConfig.from_dict(config)
        cfg.check_image_size(image_size)
        return sample_genotype(rng, cfg)

    def op_flops(self, inst: OpInstance) -> int:
        return bionet_op_flops(inst) if is_bionet_op(inst.op) else super().op_flops(inst)

    def build_op_instance(self, inst: OpInstance) -> nn.Module:
        return build_bionet_op(inst) if is_bionet_op(inst.op) else super().build_op_instance(inst)
