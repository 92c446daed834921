"""The network level of the MS-NAS grid: tiles, cells, paths and k_c (seed 000 §2.1, §2.3, supplementary Fig. 3).

Geometry. The grid has L layers and S scales (scale ``s`` is resolution 1/2^s). Its tiles form
L + 1 columns: tile ``(l, s)`` is the feature map after ``l`` layers at scale ``s``; column 0 holds
only the stem tile ``(0, 0)`` and column L only the output tile ``(L, 0)``. A *cell* of layer ``l``
(0 <= l < L) connects tile ``(l, a)`` to tile ``(l + 1, b)`` with ``|a - b| <= 1``: contracting
(``b = a + 1``), non-scaling (``b = a``) or expanding (``b = a - 1``). A cell is keyed ``(l, a, b)``.

Paths. A *path* (a *gene* of the RT-DNAS genetic algorithm, §2.3) is the tuple of the L + 1 scales
``(s_0, ..., s_L)`` of the tiles it passes, one per column, with ``s_0 = s_L = 0`` and
``|s_{l+1} - s_l| <= 1``; it uses the cells ``(l, s_l, s_{l+1})``. Both ends sit at scale 0
because (1) the stem works at full resolution: a 128-pixel cine frame has a thin myocardium that
the stride-4 stem of Auto-DeepLab would blur before any searched cell sees it; (2) the head needs a
full-resolution mask, and ending at scale 0 puts all resolution recovery inside searched cells
(expanding cells), so it is part of the search and of the latency estimate rather than a fixed
upsampling tail outside the grid. A path therefore climbs at most ``min(S - 1, L // 2)`` scales.

Only tiles and cells that lie on some legal path exist in the supernet: a tile that cannot get
back to the output tile in the layers left would be dead computation.
"""

from __future__ import annotations

from collections.abc import Iterable

from rtbench.errors import ConfigError

Tile = tuple[int, int]
Cell = tuple[int, int, int]
Path = tuple[int, ...]


def _check_grid(layers: int, scales: int) -> None:
    if layers < 1 or scales < 1:
        raise ConfigError(f"msnas grid needs layers >= 1 and scales >= 1, got layers={layers}, scales={scales}")


def path_counts(layers: int, scales: int) -> tuple[list[list[int]], list[list[int]]]:
    """Path counts per tile (supplementary Fig. 3): ``(arriving, leaving)``, each indexed ``[l][s]``.

    ``arriving[l][s]`` is the number of legal partial paths from the stem tile to tile ``(l, s)``;
    ``leaving[l][s]`` the number from ``(l, s)`` to the output tile. Both follow the recurrence
    ``n(l, s) = sum_{|s' - s| <= 1} n(l -+ 1, s')``; the number of legal paths is
    ``arriving[L][0] = leaving[0][0]``, and ``arriving[l][s] * leaving[l][s]`` of them pass tile ``(l, s)``.
    """
    _check_grid(layers, scales)

    def sweep() -> list[list[int]]:
        n = [[0] * scales for _ in range(layers + 1)]
        n[0][0] = 1
        for layer in range(1, layers + 1):
            for s in range(scales):
                n[layer][s] = sum(n[layer - 1][t] for t in (s - 1, s, s + 1) if 0 <= t < scales)
        return n

    arriving = sweep()  # the grid is symmetric in l <-> L - l, so leaving is arriving read backwards
    leaving = [list(arriving[layers - layer]) for layer in range(layers + 1)]
    return arriving, leaving


def legal_tiles(layers: int, scales: int) -> list[Tile]:
    """Tiles on at least one legal path, sorted by (layer column, scale)."""
    arriving, leaving = path_counts(layers, scales)
    return [(i, s) for i in range(layers + 1) for s in range(scales) if arriving[i][s] and leaving[i][s]]


def legal_cells(layers: int, scales: int) -> list[Cell]:
    """Cells ``(l, a, b)`` on at least one legal path, sorted: the cells the supernet instantiates."""
    return sorted(cell_probabilities(layers, scales))


def cell_probabilities(layers: int, scales: int) -> dict[Cell, float]:
    """``k_c^l`` of eq. 5: the share of legal paths that pass cell ``c = (l, a, b)`` (supplementary Fig. 3).

    ``k_(l,a,b) = arriving[l][a] * leaving[l + 1][b] / #paths``: path counts only, no trainable
    coefficient (as the supplementary caption says). Every path passes exactly one cell per layer,
    so the ``k_c`` of each layer sum to 1; ``sum_c k_c * x_c`` is the mean over all legal paths of
    the sum of ``x_c`` along the path.

    Supplementary Fig. 3 reads as *arriving* counts only: "the total number of paths arriving at
    each tile can be explicitly calculated so the probability of its occurrence is derived by the
    path number ratio in that layer", i.e. ``arriving[l][s] / sum_s' arriving[l][s']``. We multiply
    by the paths *leaving* too, because a derived network is a union of legal end-to-end paths,
    which must get back to the output tile: under the uniform distribution over those paths, a
    tile or cell is passed with probability arriving x leaving / #paths. Arriving counts alone give
    the distribution of uniform *partial* paths from the stem, which ignores the way back. On the
    default 10 x 4 grid the tile shares at layer 5 are 0.236 / 0.337 / 0.281 / 0.146 (scales 0-3)
    by arriving counts against 0.207 / 0.422 / 0.293 / 0.079 here; at layer 8 arriving counts give
    scale 3 a share of 0.180, though no legal path passes it (two layers cannot descend three scales).
    """
    arriving, leaving = path_counts(layers, scales)
    total = arriving[layers][0]
    out: dict[Cell, float] = {}
    for layer in range(layers):
        for a in range(scales):
            for b in (a - 1, a, a + 1):
                if 0 <= b < scales and arriving[layer][a] * leaving[layer + 1][b]:
                    out[(layer, a, b)] = arriving[layer][a] * leaving[layer + 1][b] / total
    return out


def legal_paths(layers: int, scales: int) -> list[Path]:
    """Every legal end-to-end path over an L x S grid, in lexicographic order (see the module docstring)."""
    _, leaving = path_counts(layers, scales)
    out: list[Path] = []

    def extend(prefix: list[int]) -> None:
        layer, s = len(prefix) - 1, prefix[-1]
        if layer == layers:
            out.append(tuple(prefix))
            return
        for t in (s - 1, s, s + 1):
            if 0 <= t < scales and leaving[layer + 1][t]:
                extend([*prefix, t])

    extend([0])
    return out


def path_cells(path: Iterable[int]) -> list[Cell]:
    """The L cells ``(l, s_l, s_{l+1})`` a path passes, layer by layer."""
    p = list(path)
    return [(i, p[i], p[i + 1]) for i in range(len(p) - 1)]


def union_cells(paths: Iterable[Iterable[int]]) -> list[Cell]:
    """The cells used by any of ``paths``, each once, sorted by (layer, from-scale, to-scale).

    This is how a derived network shares overlapping path segments: a cell (and the tile it leaves)
    that several paths pass is built and computed once.
    """
    return sorted({c for p in paths for c in path_cells(p)})
