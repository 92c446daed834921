"""The ``bionet`` genotype: the chosen skip set of every block of every iteration, its checks and its live blocks.

Genotype (JSON)::

    {"iterations": T, "depth": L, "channels": C, "stem_channels": S,
     "encoder": [[gene of level 0, ..., gene of level L-1] for iteration 0..T-1],
     "decoder": [[gene of level 0, ..., gene of level L-1] for iteration 0..T-1]}

A gene is the sorted list of candidate ids the block averages (``config`` has the numbering:
``0`` the main input, ``1 + j`` the skip from level ``j``). Every gene is non-empty, and the
first encoder stage has no skips yet (``[0]``).

A block whose output no later block (nor the head) uses is *dead*: BiX-NAS's Phase 2 makes blocks
dead by dropping main inputs (its code finds them by a breadth-first search from the output and
skips them). A derived network computes only live blocks (:func:`live_nodes`); a dead block's gene
changes nothing, so :func:`canonical` sets it to ``[0]`` to give one genotype per network.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rtbench.errors import ConfigError
from rtbench.spaces.bionet.config import MAIN, SIDES, BiONetConfig, BlockId, skip_id

Genes = dict[BlockId, tuple[int, ...]]
"""A skip set per block."""


@dataclass(frozen=True, order=True)
class Bridge:
    """The bridge (bottleneck convs) of iteration ``iteration``, between its encoder and decoder stages."""

    iteration: int


STEM = "stem"
Source = BlockId | Bridge | str
"""What a candidate reads: a block's output, a bridge's output, or the stem's (``STEM``)."""


def source(config: BiONetConfig, block: BlockId, candidate: int) -> Source:
    """The node whose output is ``candidate`` of ``block`` (before resizing); see ``config`` for the numbering."""
    last = config.depth - 1
    if candidate == MAIN:
        if block.side == "encoder":
            return STEM if block.level == 0 else BlockId(block.stage, block.level - 1)
        return Bridge(block.iteration) if block.level == last else BlockId(block.stage, block.level + 1)
    return BlockId(block.stage - 1, candidate - 1)


def parse_genes(genotype: dict[str, Any]) -> tuple[BiONetConfig, Genes]:
    """The config and the genes of ``genotype``; ConfigError naming the first bad key or gene."""
    if not isinstance(genotype, dict):
        raise ConfigError(f"bionet genotype must be a dict, got {type(genotype).__name__}")
    config = BiONetConfig.from_dict(genotype)
    genes: Genes = {}
    for side in SIDES:
        rows = genotype.get(side)
        if not isinstance(rows, list) or len(rows) != config.iterations:
            raise ConfigError(f"bionet genotype: '{side}' must be a list of {config.iterations} iterations, got {rows!r}")
        for t, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != config.depth:
                raise ConfigError(f"bionet genotype: {side}[{t}] must list {config.depth} genes (one per level), got {row!r}")
            for level, gene in enumerate(row):
                block = BlockId(2 * t + SIDES.index(side), level)
                genes[block] = _check_gene(config, block, gene)
    return config, genes


def _check_gene(config: BiONetConfig, block: BlockId, gene: Any) -> tuple[int, ...]:
    allowed = config.allowed(block)
    where = f"bionet genotype: gene {block}={gene!r}"
    if not isinstance(gene, list) or not gene or not all(isinstance(k, int) and not isinstance(k, bool) for k in gene):
        raise ConfigError(f"{where} must be a non-empty list of candidate ids")
    if sorted(set(gene)) != gene:
        raise ConfigError(f"{where} must be sorted without repeats")
    bad = [k for k in gene if k not in allowed]
    if bad:
        what = (
            "only 0 (the main input): the first encoder stage has no skips"
            if block.stage == 0
            else (f"ids 0..{config.depth} (0: main input, 1+j: skip from level j)")
        )
        raise ConfigError(f"{where} has candidate {bad[0]}; expected {what}")
    return tuple(gene)


def to_genotype(config: BiONetConfig, genes: Genes) -> dict[str, Any]:
    """The JSON genotype of ``genes`` (every block of ``config`` must have one)."""
    out: dict[str, Any] = config.to_dict()
    for s, side in enumerate(SIDES):
        out[side] = [[list(genes[BlockId(2 * t + s, level)]) for level in range(config.depth)] for t in range(config.iterations)]
    return out


def validate_genotype(genotype: dict[str, Any]) -> None:
    parse_genes(genotype)


def live_nodes(config: BiONetConfig, genes: Genes) -> tuple[set[BlockId], set[Bridge]]:
    """The blocks and bridges whose outputs reach the head (the last decoder block at level 0)."""
    blocks: set[BlockId] = set()
    bridges: set[Bridge] = set()
    stack: list[Source] = [BlockId(config.stages - 1, 0)]
    while stack:
        node = stack.pop()
        if isinstance(node, BlockId) and node not in blocks:
            blocks.add(node)
            stack.extend(source(config, node, k) for k in genes[node])
        elif isinstance(node, Bridge) and node not in bridges:
            bridges.add(node)
            stack.append(BlockId(2 * node.iteration, config.depth - 1))
    return blocks, bridges


def canonical(genotype: dict[str, Any]) -> dict[str, Any]:
    """``genotype`` with every dead block's gene set to ``[0]``: equal networks, equal genotypes."""
    config, genes = parse_genes(genotype)
    live, _ = live_nodes(config, genes)
    return to_genotype(config, {b: g if b in live else (MAIN,) for b, g in genes.items()})


def full_genes(config: BiONetConfig) -> Genes:
    """Every block averaging every candidate it may read: the multi-scale supernet's topology."""
    return {b: config.allowed(b) for b in config.blocks()}


def bionet_genes(config: BiONetConfig) -> Genes:
    """BiO-Net's topology: each block reads its main input and the same-level skip (averaged, not concatenated)."""
    return {b: (MAIN,) if b.stage == 0 else (MAIN, skip_id(b.level)) for b in config.blocks()}


def random_gene(rng: np.random.Generator, allowed: Iterable[int]) -> tuple[int, ...]:
    """A uniformly random non-empty subset of ``allowed``, sorted."""
    ids = sorted(allowed)
    while True:
        mask = rng.random(len(ids)) < 0.5
        if mask.any():
            return tuple(k for k, m in zip(ids, mask) if m)


def sample_genotype(rng: np.random.Generator, config: BiONetConfig) -> dict[str, Any]:
    """A genotype whose every gene is uniform over the non-empty subsets its block allows."""
    return to_genotype(config, {b: random_gene(rng, config.allowed(b)) for b in config.blocks()})
