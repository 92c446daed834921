"""``CellSpace``: a search space of networks stacked from searched cells (003 §III-B, §III-C).

A genotype holds the macro genes (integers such as ``filters``, ``nodes``) and, per cell type,
one op name per searched edge in ``CellType.edges`` order::

    {"filters": 4, "depth": 3, "nodes": 3,
     "down": ["down_conv", "max_pool", ..., "identity"],     # 9 edges for nodes = 3
     "up":   ["up_sep_conv", ..., "zero"]}

A subclass lists its cell types and macro genes and writes its network once on a
``GraphBuilder`` (:meth:`CellSpace.emit`); derived networks, op graphs, op instances and the
supernet all come from that one description.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from torch import nn

from rtbench.errors import ConfigError
from rtbench.spaces.base import OpInstance, OpNode, Space
from rtbench.spaces.cells.cell import CellType
from rtbench.spaces.cells.graph import GraphBuilder, GraphNet, MixedNode
from rtbench.spaces.cells.ops import op_spec
from rtbench.spaces.cells.supernet import Supernet
from rtbench.tasks import Task


class CellSpace(Space):
    """Networks of stacked cells; one genotype (op per edge) per cell type, shared by all its cells.

    Subclasses set ``cells`` and ``defaults`` (macro genes with their default values, among them
    ``nodes``, the number of intermediate nodes per cell) and implement :meth:`input_shape`
    and :meth:`emit`.
    """

    cells: ClassVar[tuple[CellType, ...]] = ()
    defaults: ClassVar[dict[str, int]] = {}

    @abstractmethod
    def input_shape(self, task: Task, image_size: int) -> tuple[int, int, int]:
        """(C, H, W) of the network input."""

    @abstractmethod
    def emit(self, b: GraphBuilder, genes: Mapping[str, int], task: Task) -> None:
        """Write the network with macro genes ``genes`` on ``b`` (ConfigError if they do not fit the image)."""

    def genes(self, config: Mapping[str, Any] | None = None) -> dict[str, int]:
        """The macro genes: ``defaults`` overridden by ``config``; ConfigError naming a bad key or value."""
        genes = dict(self.defaults)
        for key, value in (config or {}).items():
            if key not in genes:
                raise ConfigError(f"{self.name} config: unknown key '{key}'; valid keys: {', '.join(self.defaults)}")
            genes[key] = value
        for key, value in genes.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{self.name}: '{key}'={value!r} must be a positive integer")
        return genes

    def validate(self, genotype: dict[str, Any]) -> None:
        """ConfigError naming the bad gene: a missing or unknown key, a bad macro gene, a wrong edge
        count, or an op outside its edge's family (Table I)."""
        if not isinstance(genotype, dict):
            raise ConfigError(f"{self.name} genotype must be a dict, got {type(genotype).__name__}")
        names = [c.name for c in self.cells]
        unknown = sorted(set(genotype) - set(self.defaults) - set(names))
        missing = [k for k in (*self.defaults, *names) if k not in genotype]
        if unknown or missing:
            raise ConfigError(f"{self.name} genotype: unknown keys {unknown}, missing keys {missing}")
        nodes = self.genes({k: genotype[k] for k in self.defaults})["nodes"]
        for cell in self.cells:
            edges, ops = cell.edges(nodes), genotype[cell.name]
            if not isinstance(ops, list) or len(ops) != len(edges):
                raise ConfigError(f"{self.name} genotype: '{cell.name}' must list {len(edges)} ops (one per edge), got {ops!r}")
            for row, (edge, op) in enumerate(zip(edges, ops, strict=True)):
                if op not in edge.candidates:
                    raise ConfigError(
                        f"{self.name} genotype: {cell.name}[{row}]={op!r} is not a candidate of that edge; "
                        f"valid: {', '.join(edge.candidates)}"
                    )

    def _written(self, task: Task, image_size: int, genes: Mapping[str, int], genotype: dict[str, Any] | None) -> GraphBuilder:
        """The network written on a builder: derived from ``genotype``, or the supernet if it is None."""
        b = GraphBuilder(self.input_shape(task, image_size), genotype)
        self.emit(b, genes, task)
        return b

    def op_graph(self, genotype: dict[str, Any], task: Task, image_size: int) -> list[OpNode]:
        """The derived network of ``genotype``: fixed ops, the chosen op of every unpruned edge, and the sums."""
        self.validate(genotype)
        return self._written(task, image_size, self.genes({k: genotype[k] for k in self.defaults}), genotype).op_graph()

    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        """The derived network, a :class:`GraphNet` running exactly :meth:`op_graph`."""
        return GraphNet(self.op_graph(genotype, task, image_size), self.build_op_instance)

    def supernet(self, task: Task, image_size: int, config: Mapping[str, Any] | None = None) -> Supernet:
        """The supernet with macro genes ``config`` (defaults otherwise): every edge mixes all candidates."""
        genes = self.genes(config)
        return Supernet(self._written(task, image_size, genes, None).nodes, self.build_op_instance, genes, self.cells)

    def op_instances(self, task: Task, image_size: int, config: dict[str, Any] | None = None) -> list[OpInstance]:
        """Every fixed op and every candidate of every edge of the supernet with macro genes ``config``."""
        insts: set[OpInstance] = set()
        for n in self._written(task, image_size, self.genes(config), None).nodes:
            insts.update(n.candidates if isinstance(n, MixedNode) else (n.inst,))
        return sorted(insts)

    def sample_genotype(
        self, rng: np.random.Generator, task: Task, image_size: int, config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A uniformly random genotype with macro genes ``config``: each edge's op drawn uniformly from its candidates."""
        genes = self.genes(config)
        genotype: dict[str, Any] = dict(genes)
        for cell in self.cells:
            genotype[cell.name] = [e.candidates[int(rng.integers(len(e.candidates)))] for e in cell.edges(genes["nodes"])]
        return genotype

    def op_flops(self, inst: OpInstance) -> int:
        """FLOPs of a fixed or searched op instance (2 x MACs, as torch's flop counter counts them)."""
        return op_spec(inst.op).flops(inst.c_in, inst.c_out, inst.h, inst.w)

    def build_op_instance(self, inst: OpInstance) -> nn.Module:
        """The module of a fixed or searched op instance."""
        return op_spec(inst.op).build(inst.c_in, inst.c_out)
