"""The ``echonas`` space: segmentation and quality control searched and run together (seed 003, Fig. 1).

The segmentation network (``nasunet``) maps the image to mask logits; the QC network (``qcnet``)
reads ``concat(image, softmax(logits), uncertainty_map(logits))`` and predicts the Dice of that
segmentation (003 §III-A). Genotype: ``{"seg": <nasunet genotype>, "qc": <qcnet genotype>}``.

Timing. The echo task's latency bound (50 ms) covers segmentation *and* quality control
together, so the harness times ``module(x)`` of the ``echonas`` network end to end: the host
frame in, both networks' forward passes, and both outputs back on the host (the uint8 mask from
``EchoOutput.logits`` and the predicted Dice ``EchoOutput.dice``). The op graph accounts for the
same work: the segmentation graph (ids ``seg/...``), the ``qc_input`` op, then the QC graph
(``qc/...``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from rtbench.errors import ConfigError
from rtbench.spaces.base import OpInstance, OpNode, Space, register_space
from rtbench.spaces.cells.nasunet import NasUnetSpace
from rtbench.spaces.cells.ops import QualityControlInput, op_spec
from rtbench.spaces.cells.qcnet import QCNetSpace, qc_channels
from rtbench.spaces.cells.supernet import SearchedEdge, Supernet
from rtbench.tasks import Task

PARTS = ("seg", "qc")


class EchoOutput(NamedTuple):
    """What the echo framework returns: mask logits (B, K, H, W) and predicted Dice (B, 1) in [0, 1]."""

    logits: torch.Tensor
    dice: torch.Tensor


class EchoNet(nn.Module):
    """Segmentation network, then QC network on its output: input (B, C_img, H, W) -> :class:`EchoOutput`."""

    def __init__(self, seg: nn.Module, qc: nn.Module, image_channels: int) -> None:
        super().__init__()
        self.seg = seg
        self.qc_input = QualityControlInput(image_channels)
        self.qc = qc

    def forward(self, x: torch.Tensor) -> EchoOutput:
        logits = self.seg(x)
        return EchoOutput(logits, self.qc(self.qc_input(logits, x)))


class EchoSupernet(EchoNet):
    """The joint supernet (003 Fig. 1): the segmentation supernet feeding the QC supernet.

    ``seg`` and ``qc`` are :class:`Supernet`s with their own ``arch_parameters()`` and
    ``weight_parameters()`` (003 §IV-A freezes the segmentation network while the QC network
    trains on D_seg_eval); the methods here cover both.
    """

    seg: Supernet
    qc: Supernet

    def __init__(self, seg: Supernet, qc: Supernet, image_channels: int, qc_input: OpInstance) -> None:
        super().__init__(seg, qc, image_channels)
        self.qc_input_inst = qc_input

    def arch_parameters(self) -> list[nn.Parameter]:
        """Alphas of both supernets (segmentation first)."""
        return self.seg.arch_parameters() + self.qc.arch_parameters()

    def weight_parameters(self) -> list[nn.Parameter]:
        """Weights of both supernets (segmentation first)."""
        return self.seg.weight_parameters() + self.qc.weight_parameters()

    def searched_edges(self) -> list[SearchedEdge]:
        """Every searched edge of both networks: the whole framework's latency terms (003 eq. 3-4)."""
        return self.seg.searched_edges() + self.qc.searched_edges()

    def fixed_ops(self) -> list[OpInstance]:
        """Fixed ops of both networks and the ``qc_input`` op between them."""
        return [*self.seg.fixed_ops(), self.qc_input_inst, *self.qc.fixed_ops()]

    def derive(self) -> dict[str, Any]:
        """The derived ``echonas`` genotype: each network's top-1 op per edge (see ``Supernet.derive``)."""
        return {"seg": self.seg.derive(), "qc": self.qc.derive()}


def _prefixed(graph: Sequence[OpNode], prefix: str, root_inputs: tuple[str, ...]) -> list[OpNode]:
    """``graph`` with ids prefixed and its network-input nodes reading ``root_inputs`` instead."""
    return [replace(n, id=f"{prefix}/{n.id}", inputs=tuple(f"{prefix}/{i}" for i in n.inputs) if n.inputs else root_inputs) for n in graph]


@register_space("echonas")
class EchoNASSpace(Space):
    """``nasunet`` segmentation + ``qcnet`` quality control: input (B, C_img, H, W) -> :class:`EchoOutput`."""

    tasks = ("echo",)

    def __init__(self) -> None:
        self.seg = NasUnetSpace()
        self.qc = QCNetSpace()

    def _parts(self, mapping: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
        mapping = dict(mapping or {})
        unknown = sorted(set(mapping) - set(PARTS))
        if unknown:
            raise ConfigError(f"echonas {what}: unknown keys {unknown}; valid keys: {', '.join(PARTS)}")
        return mapping

    def validate(self, genotype: dict[str, Any]) -> None:
        """ConfigError naming the bad gene of the ``seg`` or ``qc`` part (or a missing part)."""
        parts = self._parts(genotype, "genotype")
        if set(parts) != set(PARTS):
            raise ConfigError(f"echonas genotype needs keys {', '.join(PARTS)}, got {sorted(parts)}")
        self.seg.validate(genotype["seg"])
        self.qc.validate(genotype["qc"])

    def qc_input_inst(self, task: Task, image_size: int) -> OpInstance:
        """The ``qc_input`` op: K logit channels -> C_img + K + 1 channels at full resolution."""
        return OpInstance("qc_input", task.num_classes, qc_channels(task), image_size, image_size)

    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        """The derived framework, an :class:`EchoNet` (segmentation network built first)."""
        self.validate(genotype)
        seg = self.seg.build(genotype["seg"], task, image_size)
        qc = self.qc.build(genotype["qc"], task, image_size)
        return EchoNet(seg, qc, task.in_channels)

    def op_graph(self, genotype: dict[str, Any], task: Task, image_size: int) -> list[OpNode]:
        """Segmentation graph (``seg/...``), the ``qc_input`` node, then the QC graph (``qc/...``)."""
        self.validate(genotype)
        seg = _prefixed(self.seg.op_graph(genotype["seg"], task, image_size), "seg", ())
        join = OpNode("qc_input", self.qc_input_inst(task, image_size), (seg[-1].id,))
        return [*seg, join, *_prefixed(self.qc.op_graph(genotype["qc"], task, image_size), "qc", (join.id,))]

    def supernet(self, task: Task, image_size: int, config: Mapping[str, Any] | None = None) -> EchoSupernet:
        """The joint supernet; ``config = {"seg": {...}, "qc": {...}}`` sets each part's macro genes."""
        parts = self._parts(config, "config")
        seg = self.seg.supernet(task, image_size, parts.get("seg"))
        qc = self.qc.supernet(task, image_size, parts.get("qc"))
        return EchoSupernet(seg, qc, task.in_channels, self.qc_input_inst(task, image_size))

    def op_instances(self, task: Task, image_size: int, config: dict[str, Any] | None = None) -> list[OpInstance]:
        """Op instances of both spaces (``config = {"seg": {...}, "qc": {...}}``) and the ``qc_input`` op."""
        parts = self._parts(config, "config")
        insts = {
            *self.seg.op_instances(task, image_size, parts.get("seg")),
            *self.qc.op_instances(task, image_size, parts.get("qc")),
            self.qc_input_inst(task, image_size),
        }
        return sorted(insts)

    def sample_genotype(
        self, rng: np.random.Generator, task: Task, image_size: int, config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A uniformly random ``seg`` genotype, then a uniformly random ``qc`` genotype."""
        parts = self._parts(config, "config")
        return {
            "seg": self.seg.sample_genotype(rng, task, image_size, parts.get("seg")),
            "qc": self.qc.sample_genotype(rng, task, image_size, parts.get("qc")),
        }

    def op_flops(self, inst: OpInstance) -> int:
        """FLOPs of a fixed or searched op instance (2 x MACs, as torch's flop counter counts them)."""
        return op_spec(inst.op).flops(inst.c_in, inst.c_out, inst.h, inst.w)

    def build_op_instance(self, inst: OpInstance) -> nn.Module:
        """The module of a fixed or searched op instance."""
        return op_spec(inst.op).build(inst.c_in, inst.c_out)
