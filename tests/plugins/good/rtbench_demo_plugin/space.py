"""``demo-stack``: a plug-in's own search space: a stem, a stack of searched same-size 3x3 ops, a 1x1 head.

Genotype ``{"width": C, "ops": ["conv", "sep_conv", ...]}`` (1 to 4 ops from the normal family).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from rtbench.errors import ConfigError
from rtbench.spaces import OpInstance, OpNode, Space
from rtbench.spaces.ops import build_op
from rtbench.tasks import Task

OPS = ("conv", "dil_conv", "sep_conv")
WIDTHS = (4, 8)


class StackSpace(Space):
    """No decorator: the plug-in's entry point registers it as ``demo-stack``."""

    def validate(self, genotype: dict[str, Any]) -> None:
        ops = genotype.get("ops")
        if genotype.get("width") not in WIDTHS or not isinstance(ops, list) or not 1 <= len(ops) <= 4 or set(ops) - set(OPS):
            raise ConfigError(f"demo-stack genotype {genotype!r}: expected width in {WIDTHS} and 1-4 ops of {OPS}")

    def op_graph(self, genotype: dict[str, Any], task: Task, image_size: int) -> list[OpNode]:
        self.validate(genotype)
        c, s = genotype["width"], image_size
        nodes = [OpNode("stem", OpInstance("demo_stem", task.in_channels, c, s, s))]
        for i, op in enumerate(genotype["ops"]):
            nodes.append(OpNode(f"op{i}", OpInstance(op, c, c, s, s), (nodes[-1].id,)))
        nodes.append(OpNode("head", OpInstance("demo_head", c, task.num_classes, s, s), (nodes[-1].id,)))
        return nodes

    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        return nn.Sequential(*(self.build_op_instance(n.inst) for n in self.op_graph(genotype, task, image_size)))

    def build_op_instance(self, inst: OpInstance) -> nn.Module:
        if inst.op == "demo_stem":
            return nn.Conv2d(inst.c_in, inst.c_out, 3, padding=1)
        if inst.op == "demo_head":
            return nn.Conv2d(inst.c_in, inst.c_out, 1)
        return build_op(inst.op, inst.c_in, inst.c_out)

    def op_flops(self, inst: OpInstance) -> int:
        if inst.op in ("demo_stem", "demo_head"):
            k = 9 if inst.op == "demo_stem" else 1
            return 2 * k * inst.c_in * inst.c_out * inst.h * inst.w
        return super().op_flops(inst)

    def op_instances(self, task: Task, image_size: int, config: dict[str, Any] | None = None) -> list[OpInstance]:
        s = image_size
        out = {OpInstance(op, c, c, s, s) for op in OPS for c in WIDTHS}
        out |= {OpInstance("demo_stem", task.in_channels, c, s, s) for c in WIDTHS}
        out |= {OpInstance("demo_head", c, task.num_classes, s, s) for c in WIDTHS}
        return sorted(out)

    def sample_genotype(self, rng: np.random.Generator, task: Task, image_size: int, config: dict | None = None) -> dict[str, Any]:
        n = int(rng.integers(1, 5))
        return {"width": int(rng.choice(WIDTHS)), "ops": [str(rng.choice(OPS)) for _ in range(n)]}
