"""Genotypes of the ``msnas`` space: format, validation and random sampling.

A genotype is a JSON-able dict (it round-trips through ``json.dumps``/``json.loads`` unchanged)::

    {
      "layers": 10,            # L
      "scales": 4,             # S (paths may use scales 0..S-1)
      "channels": 8,           # C, width at scale 0 (scale s has C * 2^s)
      "cell": [                # the discrete cell structure, one list per block X_1..X_N
        [[0, "sep_conv"]],                        # X_1 = sep_conv(X_0)
        [[0, "conv"], [1, "identity"]],           # X_2 = conv(X_0) + X_1
        [[1, "dil_conv"], [2, "sep_conv"]],       # X_3 = dil_conv(X_1) + sep_conv(X_2)
      ],
      "paths": [[0, 1, 2, 2, 2, 2, 2, 2, 1, 0, 0], ...],  # N_l distinct legal paths (genes), L + 1 scales each
    }

One cell structure serves every cell of the network (as in MS-NAS and Auto-DeepLab): cell types
differ only in their scaling op (seed 000 §2.1). Each block lists its (input index, op) pairs with
distinct inputs, input index < block index (1-based; 0 is the cell input X_0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rtbench.errors import ConfigError
from rtbench.spaces.msnas.cell import InputOp
from rtbench.spaces.msnas.config import CELL_OPS, MSNASConfig
from rtbench.spaces.msnas.paths import Path, legal_paths

GENOTYPE_KEYS = ("layers", "scales", "channels", "cell", "paths")


def _bad(msg: str) -> ConfigError:
    return ConfigError(f"msnas genotype: {msg}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_genotype(genotype: dict[str, Any]) -> None:
    """Raise ConfigError naming the bad gene if ``genotype`` is not a valid msnas genotype (see the module docstring)."""
    if not isinstance(genotype, dict):
        raise _bad(f"expected a dict with keys {', '.join(GENOTYPE_KEYS)}, got {type(genotype).__name__}")
    missing = [k for k in GENOTYPE_KEYS if k not in genotype]
    unknown = sorted(set(genotype) - set(GENOTYPE_KEYS))
    if missing or unknown:
        raise _bad(f"missing key(s) {missing}, unknown key(s) {unknown}; expected exactly {', '.join(GENOTYPE_KEYS)}")
    for key in ("layers", "scales", "channels"):
        if not _is_int(genotype[key]) or genotype[key] < 1:
            raise _bad(f"'{key}'={genotype[key]!r} must be a positive integer")
    _validate_cell(genotype["cell"])
    _validate_paths(genotype["paths"], genotype["layers"], genotype["scales"])


def _validate_cell(cell: Any) -> None:
    if not isinstance(cell, list) or not cell:
        raise _bad(f"'cell'={cell!r} must be a non-empty list of blocks")
    for i, block in enumerate(cell, start=1):
        where = f"cell[{i - 1}] (block X_{i})"
        if not isinstance(block, list) or not block:
            raise _bad(f"{where}={block!r} must be a non-empty list of [input, op] pairs")
        seen: set[int] = set()
        for edge in block:
            if not (isinstance(edge, list) and len(edge) == 2 and _is_int(edge[0]) and isinstance(edge[1], str)):
                raise _bad(f"{where}: edge {edge!r} must be [input index, op name]")
            j, op = edge
            if not 0 <= j < i:
                raise _bad(f"{where}: input {j} must be an earlier tensor, 0..{i - 1}")
            if j in seen:
                raise _bad(f"{where}: input {j} appears twice; a block takes distinct inputs")
            if op not in CELL_OPS:
                raise _bad(f"{where}: op '{op}' is not a cell op; valid: {', '.join(CELL_OPS)}")
            seen.add(j)


def _validate_paths(paths: Any, layers: int, scales: int) -> None:
    if not isinstance(paths, list) or not paths:
        raise _bad(f"'paths'={paths!r} must be a non-empty list of paths")
    seen: dict[tuple[int, ...], int] = {}
    for k, path in enumerate(paths):
        if not isinstance(path, list) or len(path) != layers + 1 or not all(_is_int(s) for s in path):
            raise _bad(f"paths[{k}]={path!r} must be a list of {layers + 1} scale indices (layers + 1)")
        if path[0] != 0 or path[-1] != 0:
            raise _bad(f"paths[{k}]={path} must start at the stem tile and end at the output tile (scale 0 at both ends)")
        for i, s in enumerate(path):
            if not 0 <= s < scales:
                raise _bad(f"paths[{k}][{i}]={s} is outside the grid's scales 0..{scales - 1}")
            if i and abs(s - path[i - 1]) > 1:
                raise _bad(f"paths[{k}] jumps from scale {path[i - 1]} to {s} at layer {i - 1}; a cell moves one scale at most")
        if tuple(path) in seen:
            raise _bad(f"paths[{k}] repeats paths[{seen[tuple(path)]}]; genes of one genotype are distinct")
        seen[tuple(path)] = k


def parse_cell(genotype: dict[str, Any]) -> list[list[InputOp]]:
    """The cell structure of a (validated) genotype as ``InputOp`` tuples per block."""
    return [[(int(j), str(op)) for j, op in block] for block in genotype["cell"]]


def parse_paths(genotype: dict[str, Any]) -> list[Path]:
    """The paths (genes) of a (validated) genotype as tuples."""
    return [tuple(int(s) for s in p) for p in genotype["paths"]]


def cell_gene(cell: list[list[InputOp]]) -> list[list[list[Any]]]:
    """The JSON form of a cell structure: ``[[[j, op], ...], ...]``."""
    return [[[int(j), str(op)] for j, op in block] for block in cell]


def sample_genotype(rng: np.random.Generator, config: MSNASConfig, n_paths: int | None = None) -> dict[str, Any]:
    """A random genotype: a random cell and ``n_paths`` distinct random legal paths.

    Block i (1-based) keeps ``min(edges_per_block, i)`` distinct inputs drawn uniformly from
    X_0..X_{i-1}, each with an op drawn uniformly from ``config.ops``. ``n_paths`` (N_l) defaults
    to a uniform draw from 1..8 (seed 000 reports N_l = 3..8); paths are drawn uniformly without
    replacement among all legal paths (all of them if fewer exist) and listed in sorted order.
    """
    cell: list[list[InputOp]] = []
    for i in range(1, config.blocks + 1):
        inputs = sorted(int(j) for j in rng.choice(i, size=min(config.edges_per_block, i), replace=False))
        cell.append([(j, str(config.ops[int(rng.integers(len(config.ops)))])) for j in inputs])
    pool = legal_paths(config.layers, config.scales)
    n = int(rng.integers(1, 9)) if n_paths is None else n_paths
    if n < 1:
        raise ConfigError(f"msnas: number of paths N_l={n} must be >= 1")
    chosen = sorted(pool[int(k)] for k in rng.choice(len(pool), size=min(n, len(pool)), replace=False))
    return {
        "layers": config.layers,
        "scales": config.scales,
        "channels": config.channels,
        "cell": cell_gene(cell),
        "paths": [list(p) for p in chosen],
    }
