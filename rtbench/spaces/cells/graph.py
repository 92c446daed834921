"""Networks as op graphs: a shape-tracking graph builder and the module that runs a graph.

A cell space writes its network once, as calls on a :class:`GraphBuilder`; the same description
then gives

* the derived network's op graph (``Space.op_graph``, every searched edge resolved by a genotype),
* the derived network itself (:class:`GraphNet` over that graph, so the graph that latency
  predictors and FLOP counts read is by construction the network that runs), and
* the supernet (every searched edge a :class:`MixedNode`, mixed by softmax(alpha), 003 eq. 1-2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rtbench.spaces.base import OpInstance, OpNode
from rtbench.spaces.cells.ops import op_spec

BuildOp = Callable[[OpInstance], nn.Module]
"""``build(inst) -> nn.Module`` computing one op instance (``Space.build_op_instance``)."""


@dataclass(frozen=True)
class MixedNode:
    """A searched edge of a supernet: its K candidate ops on one input, mixed by ``softmax(alpha)``.

    ``cell`` (a cell type, e.g. ``"down"``) and ``row`` (the edge's index in that cell type) name
    the architecture parameter ``alpha`` of the edge: cells of one type share their alphas
    (one Down-cell genotype for every Down cell, 003 Fig. 4), so several MixedNodes read one alpha.
    """

    id: str
    cell: str
    row: int
    candidates: tuple[OpInstance, ...]
    inputs: tuple[str, ...]


GraphNode = OpNode | MixedNode


class MixedEdge(nn.Module):
    """One supernet edge (i, j): ``sum_k p_k * op_k(x_i)`` (003 eq. 1, the inner sum over K candidates)."""

    def __init__(self, ops: Sequence[nn.Module]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``x``: the edge's input node; ``weights``: (K,) probabilities ``p_alpha^(i,j)`` (003 eq. 2)."""
        if len(weights) != len(self.ops):
            raise ValueError(f"mixed edge of {len(self.ops)} candidates got {len(weights)} weights")
        out = weights[0] * self.ops[0](x)
        for k in range(1, len(self.ops)):
            out = out + weights[k] * self.ops[k](x)
        return out


class GraphBuilder:
    """Writes a network as graph nodes in topological order, tracking every node's output shape.

    Args:
        shape: (C, H, W) of the network input.
        genotype: a genotype mapping each cell type to one op name per edge: :meth:`edge` then adds
            that op (a derived network). ``None``: :meth:`edge` adds a :class:`MixedNode` over all
            candidates (a supernet).
    """

    def __init__(self, shape: tuple[int, int, int], genotype: Mapping[str, Any] | None) -> None:
        self.nodes: list[GraphNode] = []
        self._input = shape
        self._genotype = genotype
        self._shapes: dict[str, tuple[int, int, int]] = {}

    def shape(self, inputs: tuple[str, ...]) -> tuple[int, int, int]:
        """(C, H, W) of the first of ``inputs`` (of the network input if there are none)."""
        return self._shapes[inputs[0]] if inputs else self._input

    def op(self, id: str, op: str, inputs: tuple[str, ...], c_out: int) -> str:
        """Add fixed or chosen op ``op`` reading ``inputs`` (empty: the network input); returns ``id``."""
        c, h, w = self.shape(inputs)
        inst = OpInstance(op, c, c_out, h, w)
        self._append(OpNode(id, inst, inputs), (c_out, *op_spec(op).out_hw(h, w)))
        return id

    def sum(self, id: str, terms: Sequence[str]) -> str | None:
        """The sum of ``terms`` as a chain of binary ``add`` nodes, the last one named ``id``.

        One term is returned as is; no terms give ``None`` (a node every edge of which was pruned).
        """
        if not terms:
            return None
        acc = terms[0]
        for k, term in enumerate(terms[1:], start=1):
            acc = self.op(id if k == len(terms) - 1 else f"{id}/add{k}", "add", (acc, term), self.shape((acc,))[0])
        return acc

    def edge(self, id: str, src: str | None, cell: str, row: int, candidates: Sequence[str]) -> str | None:
        """Searched edge ``row`` of cell type ``cell`` on node ``src`` (channels kept).

        Derived network: the genotype's op, or ``None`` when the op is ``zero`` or ``src`` is a
        pruned node (``None``): the edge is pruned. Supernet: a :class:`MixedNode` over ``candidates``.
        """
        if src is None:
            return None
        c, h, w = self._shapes[src]
        if self._genotype is not None:
            op = self._genotype[cell][row]
            return None if op == "zero" else self.op(id, op, (src,), c)
        insts = tuple(OpInstance(name, c, c, h, w) for name in candidates)
        self._append(MixedNode(id, cell, row, insts, (src,)), (c, *op_spec(candidates[0]).out_hw(h, w)))
        return id

    def _append(self, node: GraphNode, out_shape: tuple[int, int, int]) -> None:
        if node.id in self._shapes:
            raise ValueError(f"duplicate graph node id '{node.id}'")
        self.nodes.append(node)
        self._shapes[node.id] = out_shape

    def op_graph(self) -> list[OpNode]:
        """The nodes as ``OpNode``s (a derived network); TypeError if the graph is a supernet's."""
        out = []
        for node in self.nodes:
            if not isinstance(node, OpNode):
                raise TypeError(f"node '{node.id}' is a mixed supernet edge, not an op of a derived network")
            out.append(node)
        return out


class GraphNet(nn.Module):
    """A static network that runs an op graph: each node's module on its inputs' outputs, in order.

    Input: the tensor nodes without inputs read (``(B, C, H, W)``). Output: the last node's output.
    Modules are built in graph order, so construction is deterministic under ``torch.manual_seed``;
    a node's output is dropped after its last reader runs, as a hand-written forward would.

    Args:
        graph: nodes in topological order (``OpNode``s; ``MixedNode``s for a supernet).
        build: the module of one op instance (``Space.build_op_instance``).
    """

    def __init__(self, graph: Sequence[GraphNode], build: BuildOp) -> None:
        super().__init__()
        self.graph = tuple(graph)
        last_use = {i: k for k, n in enumerate(self.graph) for i in n.inputs}
        self._release = tuple(tuple(i for i in dict.fromkeys(n.inputs) if last_use[i] == k) for k, n in enumerate(self.graph))
        self.ops = nn.ModuleDict(
            {n.id: MixedEdge([build(c) for c in n.candidates]) if isinstance(n, MixedNode) else build(n.inst) for n in self.graph}
        )

    def forward(self, x: torch.Tensor, weights: Mapping[str, Sequence[torch.Tensor]] | None = None) -> torch.Tensor:
        """Run the graph on ``x``. ``weights[cell][row]``: the (K,) probabilities of each mixed edge (supernets only)."""
        out: dict[str, torch.Tensor] = {}
        for n, release in zip(self.graph, self._release, strict=True):
            args = [out[i] for i in n.inputs] if n.inputs else [x]
            if isinstance(n, MixedNode):
                if weights is None:
                    raise ValueError(f"graph has mixed edge '{n.id}' but no architecture weights were given")
                out[n.id] = self.ops[n.id](args[0], weights[n.cell][n.row])
            else:
                out[n.id] = self.ops[n.id](*args)
            for i in release:  # drop outputs no later node reads, so their memory is reused
                del out[i]
        return out[self.graph[-1].id]
