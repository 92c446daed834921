"""Architecture pictures of a candidate, as inline SVG (no files, no scripts): what the method found.

* ``msnas`` genotypes (RT-DNAS, MS-NAS, HW-NAS, random): the derived network's paths drawn over the
  layer x scale grid, as in seed 000's supplementary Fig. 1 (column ``l`` is the tile after ``l``
  layers, row ``s`` is resolution 1/2^s; a path is the scales ``(s_0, ..., s_L)`` it passes, see
  ``rtbench.spaces.msnas.paths``), and the shared cell as a small graph (block ``X_j`` sums its
  (input, op) pairs, ``rtbench.spaces.msnas.genotype``).
* Cell-based genotypes (``nasunet``, ``qcnet``, and ``echonas``'s ``seg`` and ``qc`` parts, seed 003
  §III-B/C): each cell type's chosen ops on the edges of its DAG (``CellType.edges``, 003 eq. 1),
  ``zero`` edges left out, and the fixed edges from the intermediate nodes to the cell output dashed.

The picture is chosen by the genotype's shape; other spaces get none (``picture`` returns ``""``); the run page shows their genotype.
"""

from __future__ import annotations

from html import escape
from typing import Any

from rtbench.spaces.cells.cell import CONTRACTING, DOWN, NON_SCALING, UP, CellType

CELL_TYPES: dict[str, CellType] = {c.name: c for c in (DOWN, UP, CONTRACTING, NON_SCALING)}
PATH_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
Edge = tuple[int, int, str, bool]  # (from node, to node, label, dashed)


def _svg(width: float, height: float, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="arch" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(title)}">'
        f'<text x="4" y="13" font-size="11" font-weight="bold">{escape(title)}</text>' + "".join(body) + "</svg>"
    )


def paths_svg(genotype: dict[str, Any]) -> str:
    """The msnas genotype's paths over its layer x scale grid (supplementary Fig. 1 of seed 000)."""
    layers, scales, paths = int(genotype["layers"]), int(genotype["scales"]), genotype["paths"]
    dx, dy, x0, y0 = 34, 28, 58, 34
    pos = lambda layer, s: (x0 + layer * dx, y0 + s * dy)
    body = []
    for s in range(scales):
        body.append(f'<text x="4" y="{y0 + s * dy + 4}" font-size="10">1/{2**s}</text>')
        body += [f'<circle cx="{pos(k, s)[0]}" cy="{pos(k, s)[1]}" r="2.5" fill="#ccc"/>' for k in range(layers + 1)]
    body += [f'<text x="{pos(k, 0)[0] - 3}" y="{y0 + scales * dy}" font-size="9">{k}</text>' for k in range(layers + 1)]
    for i, path in enumerate(paths):
        colour = PATH_COLOURS[i % len(PATH_COLOURS)]
        off = (i - (len(paths) - 1) / 2) * 1.6  # side by side where paths share a cell
        pts = " ".join(f"{pos(k, s)[0]:.1f},{pos(k, s)[1] + off:.1f}" for k, s in enumerate(path))
        body.append(
            f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.6" opacity="0.85">'
            f"<title>path {i + 1}: {path}</title></polyline>"
        )
    title = f"network: {len(paths)} path(s) over {layers} layers x {scales} scales (row: resolution, column: layer)"
    return _svg(max(x0 + layers * dx + 20, 6.5 * len(title)), y0 + scales * dy + 8, body, title)


def dag_svg(nodes: list[str], edges: list[Edge], title: str) -> str:
    """A small DAG: ``nodes`` left to right on one line, each edge an arc above it labelled with its op."""
    dx = 92
    depth = max([abs(b - a) for a, b, _, _ in edges] or [1])
    y = 26 + 18 * depth
    x = lambda i: 30 + i * dx
    body = []
    for a, b, label, dashed in edges:
        lift = 16 * abs(b - a)
        mid = (x(a) + x(b)) / 2
        dash = ' stroke-dasharray="3,3"' if dashed else ""
        body.append(f'<path d="M{x(a)},{y - 8} Q{mid},{y - 8 - 2 * lift} {x(b)},{y - 8}" fill="none" stroke="#555"{dash}/>')
        if label:
            body.append(f'<text x="{mid}" y="{y - 10 - lift}" font-size="9" text-anchor="middle" fill="#b22">{escape(label)}</text>')
    for i, name in enumerate(nodes):
        body.append(f'<circle cx="{x(i)}" cy="{y}" r="8" fill="#eef" stroke="#336"/>')
        body.append(f'<text x="{x(i)}" y="{y + 22}" font-size="10" text-anchor="middle">{escape(name)}</text>')
    return _svg(max(x(len(nodes) - 1) + 40, 8 * len(title)), y + 30, body, title)


def msnas_cell_svg(cell: list[list[Any]]) -> str:
    """The msnas cell: block ``X_j`` = sum of ``op(X_i)`` over its (i, op) pairs; ``X_0`` is the cell input."""
    nodes = ["X0 (in)", *(f"X{j}" for j in range(1, len(cell) + 1))]
    edges = [(int(i), j, str(op), False) for j, block in enumerate(cell, start=1) for i, op in block]
    return dag_svg(nodes, edges, "cell (shared by every cell of the network)")


def cell_type_svg(cell: CellType, ops: list[str], nodes: int, prefix: str = "") -> str:
    """One cell type's chosen ops on its DAG (003 eq. 1); ``zero`` edges are left out, the fixed edges to the output dashed."""
    names = [*(f"in{k}" for k in range(cell.inputs)), *(f"n{j}" for j in range(nodes)), "out"]
    edges: list[Edge] = [(e.src, cell.inputs + e.dst, op, False) for e, op in zip(cell.edges(nodes), ops) if op != "zero"]
    edges += [(cell.inputs + j, len(names) - 1, "", True) for j in range(nodes)]
    return dag_svg(names, edges, f"{prefix}{cell.name} cell")


def picture(genotype: Any) -> str:
    """Inline SVG of a candidate's architecture, or ``""`` for a space without a picture (see the module docstring)."""
    if not isinstance(genotype, dict):
        return ""
    if {"layers", "scales", "paths", "cell"} <= set(genotype):
        return paths_svg(genotype) + msnas_cell_svg(genotype["cell"])
    parts = [(f"{k}: ", genotype[k]) for k in ("seg", "qc") if isinstance(genotype.get(k), dict)] or [("", genotype)]
    svgs = [
        cell_type_svg(CELL_TYPES[name], list(part[name]), int(part["nodes"]), prefix)
        for prefix, part in parts
        for name in CELL_TYPES
        if name in part and "nodes" in part
    ]
    return "".join(svgs)
