"""The search-space interface (``Space``, ``OpInstance``, ``OpNode``) and the ``SPACES`` registry.

A space turns a genotype (a JSON-able dict) into a static nn.Module.

Spaces are separate from search methods (as in NASLib): a method proposes genotypes of a named
space, and the harness alone builds, trains and times them. ``build`` must be deterministic given
the genotype and ``torch.manual_seed``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from torch import nn

from rtbench.registry import Registry
from rtbench.tasks import Task


@dataclass(frozen=True, order=True)
class OpInstance:
    """One operation at one input shape: the unit a latency lookup table stores.

    ``op`` is a name from ``rtbench.spaces.ops.OPS`` or a space's own fixed operation (a stem, a
    scaling op, a head), which the space builds in ``build_op_instance``. ``h`` and ``w`` are the
    *input* height and width; batch size is 1.
    """

    op: str
    c_in: int
    c_out: int
    h: int
    w: int

    @property
    def key(self) -> str:
        return f"{self.op}|{self.c_in}|{self.c_out}|{self.h}x{self.w}"


@dataclass(frozen=True)
class OpNode:
    """One op of a derived network, as a node of its dataflow DAG.

    ``inputs`` are ids of the nodes whose outputs this op consumes (empty: the network input).
    A node whose op is a merge (sum of several inputs) is listed with its own ``OpInstance``
    (e.g. op ``"add"``), so the graph accounts for every kernel the network launches.
    """

    id: str
    inst: OpInstance
    inputs: tuple[str, ...] = ()


class Space(ABC):
    """A family of architectures addressed by genotypes."""

    name: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ()
    """Tasks whose networks this space builds (``()``: any). A method of a space with tasks picks the
    first when the command names no task or dataset (``bench submit method=echonas`` is on
    ``task=echo``), and any other task is refused naming the one to give."""

    @abstractmethod
    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        """A static network for ``genotype``: input (B, task.in_channels, H, W) -> logits
        (B, task.num_classes, H, W), with H = W = ``image_size``."""

    def validate(self, genotype: dict[str, Any]) -> None:
        """Raise ConfigError naming the bad gene if ``genotype`` is not of this space."""
        return None

    def frames(self, genotype: dict[str, Any]) -> int:
        """Frames n of the causal temporal window the network of ``genotype`` consumes: its input is
        ``(B, n * C, H, W)``, frames t-n+1..t of the cine with the current frame last. 1 (one frame)
        unless a space with temporal networks (``icaunet``) says otherwise; the harness windows the
        data, the training, the scoring and the latency measurement by it (``rtbench.datasets.windows``)."""
        return 1

    def op_instances(self, task: Task, image_size: int, config: dict[str, Any] | None = None) -> list[OpInstance]:
        """Every (op, shape) any architecture of this space (with space options ``config``) can
        contain at ``image_size``: what a latency lookup table for the space must measure."""
        raise NotImplementedError(f"space '{self.name}' does not list its op instances")

    def op_graph(self, genotype: dict[str, Any], task: Task, image_size: int) -> list[OpNode]:
        """The derived network of ``genotype`` as a DAG of op instances, in topological order.

        Latency predictors work on this graph alone: the sum model adds every node's table
        latency; the longest-path model takes the heaviest input-to-output chain.
        """
        raise NotImplementedError(f"space '{self.name}' does not describe its op graph")

    def sample_genotype(
        self, rng: np.random.Generator, task: Task, image_size: int, config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A uniformly random derived architecture of this space (random search, fidelity reports)."""
        raise NotImplementedError(f"space '{self.name}' cannot sample genotypes")

    def op_flops(self, inst: OpInstance) -> int:
        """FLOPs of one op instance (2 x MACs, as torch's flop counter). Spaces override for their own ops."""
        from rtbench.spaces.ops import get_op

        return get_op(inst.op).flops(inst.c_in, inst.c_out, inst.h, inst.w)

    def build_op_instance(self, inst: OpInstance) -> nn.Module:
        """A module computing ``inst`` alone (for timing). Spaces override this for their own ops."""
        from rtbench.spaces.ops import build_op

        return build_op(inst.op, inst.c_in, inst.c_out)


SPACES: Registry[type[Space]] = Registry("search space", "space", "rtbench.spaces", Space)
"""Search spaces by name; third-party spaces register in the ``rtbench.spaces`` entry-point group."""

register_space = SPACES.register
