"""The searched cell of seed 003 (§III-B, Fig. 2(b); §III-C, Fig. 3(b)) as a DAG of edges and nodes.

A cell has ``inputs`` input nodes (2 in the segmentation network: the outputs of the previous two
cells; 1 in the QC network: the previous cell's output) and ``m`` intermediate nodes. Intermediate
node ``x_j`` sums one searched edge from every input node and from every earlier intermediate node
(003 eq. 1): ``x_j = sum_{i<j} sum_k p_k^(i,j) op_k^(i,j)(x_i)``. The cell output is the sum of
the intermediate nodes (plus the residual path in QC cells, Fig. 3(b)).

Edge count. With ``n`` cell inputs there are ``n*m`` edges from the inputs and ``m(m-1)/2`` edges
among intermediate nodes, so a NAS-Unet cell (n = 2) has ``2m + m(m-1)/2`` searched edges: 9 for
m = 3, as in DARTS (2 inputs, 4 nodes, 14 edges). 003 §III-B states ``2m + m(m+1)/2`` (12 for
m = 3): that count adds the ``m`` fixed identity edges from the intermediate nodes to the cell
output drawn in Fig. 2(b) (``m(m-1)/2 + m = m(m+1)/2``), which carry no choice. A QC cell (n = 1)
has ``m + m(m-1)/2 = m(m+1)/2`` searched edges (6 for m = 3).

Op families (Table I): edges leaving a cell input take the cell type's scaling family (down ops
in Down and Contracting cells, up ops in Up cells, normal ops in Non-scaling cells); edges between
intermediate nodes take the normal family. Only the normal family has ``zero``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rtbench.spaces.cells.graph import GraphBuilder
from rtbench.spaces.ops import DOWN_OPS, NORMAL_OPS, UP_OPS


@dataclass(frozen=True)
class Edge:
    """Searched edge (i, j): from node ``src`` (``0..inputs-1``: cell inputs; ``inputs + i``:
    intermediate node i) to intermediate node ``dst``, choosing among ``candidates``."""

    src: int
    dst: int
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class CellType:
    """One kind of cell; every cell of a kind shares one genotype (one op per edge).

    Attributes:
        name: the cell type's gene name (``down``, ``up``, ``contracting``, ``non_scaling``).
        input_ops: candidate ops of edges leaving a cell input (Table I family).
        inputs: number of cell inputs (2: previous two cells, §III-B; 1: previous cell, §III-C).
    """

    name: str
    input_ops: tuple[str, ...]
    inputs: int

    def edges(self, nodes: int) -> list[Edge]:
        """The searched edges of a cell with ``nodes`` intermediate nodes, ordered by ``dst`` then ``src``.

        Their count is ``inputs * nodes + nodes * (nodes - 1) / 2`` (see the module docstring).
        """
        return [
            Edge(src, dst, self.input_ops if src < self.inputs else NORMAL_OPS) for dst in range(nodes) for src in range(self.inputs + dst)
        ]


DOWN = CellType("down", DOWN_OPS, 2)
UP = CellType("up", UP_OPS, 2)
CONTRACTING = CellType("contracting", DOWN_OPS, 1)
NON_SCALING = CellType("non_scaling", NORMAL_OPS, 1)


def _node_name(cell: CellType, index: int) -> str:
    return f"in{index}" if index < cell.inputs else f"n{index - cell.inputs}"


def emit_cell(b: GraphBuilder, id: str, cell: CellType, inputs: Sequence[str], nodes: int, residual: str | None = None) -> str:
    """Write one cell into ``b``; returns the id of its output.

    Node ``x_j`` is the sum of its incoming edges (003 eq. 1); the output is the sum of the
    intermediate nodes and ``residual`` if given (QC cells, Fig. 3(b)). ``inputs`` must already
    have the cell's channel count and resolution. Edge ids read ``<id>/<src>-n<j>``.

    ValueError if every node is pruned and there is no residual (impossible in the spaces here:
    edges leaving a NAS-Unet cell input have no ``zero`` op, and QC cells have the residual).
    """
    if len(inputs) != cell.inputs:
        raise ValueError(f"a {cell.name} cell takes {cell.inputs} inputs, got {len(inputs)}")
    states: list[str | None] = list(inputs)
    edges = cell.edges(nodes)
    for j in range(nodes):
        terms = [
            b.edge(f"{id}/{_node_name(cell, e.src)}-n{j}", states[e.src], cell.name, row, e.candidates)
            for row, e in enumerate(edges)
            if e.dst == j
        ]
        states.append(b.sum(f"{id}/n{j}", [t for t in terms if t is not None]))
    out_terms = [s for s in states[cell.inputs :] if s is not None] + ([residual] if residual is not None else [])
    out = b.sum(f"{id}/out", out_terms)
    if out is None:
        raise ValueError(f"cell '{id}': every edge is pruned and there is no residual path")
    return out
