"""The evolutionary steps of BiX-NAS Phase 2 (Wang et al. 2021, §2.3): sampling one stage's skips, Pareto selection.

* Offspring: a generation searches one extraction stage. Each block of the stage draws a subset of
  the skips Phase 1 retained for it (its *retained set*, which holds the main input ``0``), as
  BiX-Net's code draws it: a size uniform in ``1..|R|``, then that many distinct candidates.
  In the last decoder stage every block keeps its main input (the code's rule: the output's
  decoding path stays whole) and draws ``0..|R| - 1`` further candidates. Draws are distinct;
  when the stage has no more than the asked number of distinct configurations, all of them are
  taken (sorted), without drawing.
* Selection: the Pareto front of ``(1 - Dice, MACs)`` (both minimised; a point is dropped only if
  another is no worse in both and better in one), then its ``k`` most accurate members (lowest
  ``1 - Dice``, then fewest MACs) survive to seed the next generation, as the code keeps the
  top of its front.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from rtbench.spaces.bionet import MAIN, BiONetConfig, BlockId

StageGenes = dict[BlockId, tuple[int, ...]]


def stage_blocks(config: BiONetConfig, stage: int) -> list[BlockId]:
    return [b for b in config.blocks() if b.stage == stage]


def gene_options(retained: Sequence[int], keep_main: bool) -> list[tuple[int, ...]]:
    """Every gene a block with ``retained`` may get, sorted (with ``keep_main``: those holding ``0``)."""
    ids = sorted(retained)
    out = []
    for r in range(1, len(ids) + 1):
        out.extend(c for c in itertools.combinations(ids, r) if not keep_main or MAIN in c)
    return sorted(out)


def _draw(rng: np.random.Generator, retained: Sequence[int], keep_main: bool) -> tuple[int, ...]:
    ids = sorted(retained)
    if keep_main:
        rest = [k for k in ids if k != MAIN]
        n = int(rng.integers(0, len(rest) + 1))
        return tuple(sorted([MAIN, *(int(k) for k in rng.choice(rest, n, replace=False))] if n else [MAIN]))
    n = int(rng.integers(1, len(ids) + 1))
    return tuple(sorted(int(k) for k in rng.choice(ids, n, replace=False)))


def sample_stage(rng: np.random.Generator, config: BiONetConfig, stage: int, retained: StageGenes, count: int) -> list[StageGenes]:
    """Up to ``count`` distinct skip configurations of ``stage`` drawn from ``retained`` (module docstring)."""
    blocks = stage_blocks(config, stage)
    keep_main = stage == config.stages - 1
    options = [gene_options(retained[b], keep_main) for b in blocks]
    if math.prod(len(o) for o in options) <= count:
        return [dict(zip(blocks, combo)) for combo in itertools.product(*options)]
    seen: set[tuple[tuple[int, ...], ...]] = set()
    out: list[StageGenes] = []
    for _ in range(100 * count):
        if len(out) == count:
            break
        combo = tuple(_draw(rng, retained[b], keep_main) for b in blocks)
        if combo not in seen:
            seen.add(combo)
            out.append(dict(zip(blocks, combo)))
    return out


def pareto_front(costs: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points of ``costs`` no other point dominates (both objectives minimised), in input order."""

    def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] <= b[0] and a[1] <= b[1] and (a[0] < b[0] or a[1] < b[1])

    return [i for i, c in enumerate(costs) if not any(dominates(o, c) for o in costs)]


def most_accurate(front: Sequence[int], costs: Sequence[tuple[float, float]], k: int) -> list[int]:
    """The ``k`` members of ``front`` of lowest ``1 - Dice`` (then fewest MACs, then index)."""
    return sorted(front, key=lambda i: (costs[i][0], costs[i][1], i))[:k]


def parse_survivors(text: str) -> tuple[int, ...]:
    """``"3,2"`` -> ``(3, 2)``; ValueError unless a comma list of integers >= 1."""
    values = tuple(int(v) for v in str(text).split(","))
    if not values or min(values) < 1:
        raise ValueError(text)
    return values


def survivors_at(values: tuple[int, ...], generation: int) -> int:
    """Survivors of ``generation`` (0-based): its entry of ``values``, the last one repeating."""
    return values[min(generation, len(values) - 1)]
