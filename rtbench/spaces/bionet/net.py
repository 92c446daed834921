"""``bionet`` networks: the unrolled BiO-Net schedule, the static derived network and the weight-sharing supernet.

Schedule (BiO-Net, Xiang et al. 2020; BiX-Net, Wang et al. 2021 §2.1): the stem runs once; then
for every iteration ``t`` the encoder stage (levels fine to coarse), the bridge, the decoder stage
(levels coarse to fine); the head reads the last decoder block at level 0. Each block averages the
candidates of its gene (``config`` has the numbering), each resized bilinearly to the block's
resolution, and applies two conv-BN-ReLU. The two convolutions of the block at (side, level) are
shared by every iteration; each iteration has its own BatchNorms (both as in BiO-Net's and
BiX-Net's code). The bridge, BatchNorms included, is one module reused by every iteration (as
BiX-Net's code).

:func:`run_stages` is the one implementation of that schedule: the static network
(:class:`BiONet`, what the harness trains and times) runs it with each block's fixed gene, and
methods run it on :class:`BiONetSupernet` with their own merge (BiX-NAS Phase 1: Gumbel-softmax
mixtures; Phase 2: one candidate network at a time, after a shared head of stages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rtbench.spaces.bionet.config import BiONetConfig, BlockId
from rtbench.spaces.bionet.genotype import STEM, Bridge, Genes, live_nodes, parse_genes, source
from rtbench.spaces.bionet.ops import ConvPair, Head, Stem
from rtbench.tasks import Task

Merge = Callable[[BlockId, Callable[[int], torch.Tensor]], torch.Tensor]
"""``merge(block, get) -> input of block``; ``get(k)`` is candidate ``k`` at the block's resolution."""


@dataclass
class State:
    """Outputs so far: the stem's, and the latest encoder / decoder block output per level (None: not computed)."""

    stem: torch.Tensor
    encoder: list[torch.Tensor | None] = field(default_factory=list)
    decoder: list[torch.Tensor | None] = field(default_factory=list)

    def copy(self) -> State:
        """A state sharing the tensors but not the lists (a tail may run on it without changing this one)."""
        return State(self.stem, list(self.encoder), list(self.decoder))


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """``x`` resized bilinearly to ``size`` x ``size`` (unchanged if it already is)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def mean_merge(genes: Genes) -> Merge:
    """The derived networks' merge: the mean of the candidates in the block's gene."""

    def merge(block: BlockId, get: Callable[[int], torch.Tensor]) -> torch.Tensor:
        inputs = [get(k) for k in genes[block]]
        return inputs[0] if len(inputs) == 1 else torch.stack(inputs).mean(0)

    return merge


class BiONetWeights(nn.Module):
    """Stem, head, bridge, the shared convolutions and per-iteration BatchNorms of ``blocks``.

    Module names: ``convs.<side><level>`` (conv 1 and 2), ``norms.<side><t>_<level>`` (BN 1 and 2).
    """

    def __init__(self, config: BiONetConfig, task: Task, blocks: Iterable[BlockId], bridge: bool) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.stem = Stem(task.in_channels, config.stem_channels, c)
        self.convs = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        for b in sorted(blocks):
            key = f"{b.side}{b.level}"
            if key not in self.convs:
                self.convs[key] = nn.ModuleList([nn.Conv2d(c, c, 3, padding=1, bias=False) for _ in range(2)])
            self.norms[f"{b.side}{b.iteration}_{b.level}"] = nn.ModuleList([nn.BatchNorm2d(c) for _ in range(2)])
        self.bridge = ConvPair(c, c) if bridge else None
        self.head = Head(c, config.stem_channels, task.num_classes)

    def block(self, b: BlockId, x: torch.Tensor) -> torch.Tensor:
        """The two conv-BN-ReLU of block ``b`` on its merged input."""
        conv1, conv2 = self.convs[f"{b.side}{b.level}"]
        bn1, bn2 = self.norms[f"{b.side}{b.iteration}_{b.level}"]
        return F.relu(bn2(conv2(F.relu(bn1(conv1(x))))))

    def start(self, x: torch.Tensor) -> State:
        """The state after the stem, ``x`` of shape ``(B, in_channels, H, W)``."""
        depth = self.config.depth
        return State(self.stem(x), [None] * depth, [None] * depth)

    def finish(self, state: State) -> torch.Tensor:
        """Logits ``(B, classes, H, W)`` from the last decoder block at level 0."""
        out = state.decoder[0]
        if out is None:
            raise RuntimeError("the last decoder block at level 0 was not computed")
        return self.head(out)

    def run_stages(self, state: State, stages: Iterable[int], merge: Merge, live: set[BlockId] | None = None) -> State:
        """Run ``stages`` (in order) on ``state`` in place; blocks outside ``live`` are skipped (None: all run)."""
        config = self.config
        r0 = state.stem.shape[-1]
        for stage in stages:
            levels = range(config.depth) if stage % 2 == 0 else range(config.depth - 1, -1, -1)
            for level in levels:
                b = BlockId(stage, level)
                outputs = state.encoder if b.side == "encoder" else state.decoder
                if live is not None and b not in live:
                    outputs[level] = None
                    continue
                size = r0 // 2**level
                x = merge(b, lambda k, b=b, size=size: self._candidate(state, b, k, size))
                outputs[level] = self.block(b, x)
        return state

    def _candidate(self, state: State, b: BlockId, k: int, size: int) -> torch.Tensor:
        """Candidate ``k`` of ``b`` at ``size`` (see ``config`` for the numbering)."""
        src = source(self.config, b, k)
        if src == STEM:
            return state.stem
        if isinstance(src, Bridge):
            if self.bridge is None:
                raise RuntimeError("this network has no bridge")
            bottom = state.encoder[self.config.depth - 1]
            return resize(self.bridge(F.max_pool2d(_need(bottom, b, k), 2)), size)
        assert isinstance(src, BlockId)
        if src.side == b.side:  # the main input: the neighbouring block of this stage
            x = _need((state.encoder if b.side == "encoder" else state.decoder)[src.level], b, k)
            return F.max_pool2d(x, 2) if b.side == "encoder" else resize(x, size)
        other = state.decoder if b.side == "encoder" else state.encoder
        return resize(_need(other[src.level], b, k), size)


def _need(x: torch.Tensor | None, b: BlockId, k: int) -> torch.Tensor:
    if x is None:
        raise RuntimeError(f"candidate {k} of block {b} reads a block that was not computed")
    return x


class BiONet(BiONetWeights):
    """The static network of a genotype: ``(B, in_channels, H, W)`` -> logits ``(B, classes, H, W)``.

    Only live blocks (and bridges) are built and run (``genotype.live_nodes``).
    """

    def __init__(self, genotype: dict[str, Any], task: Task) -> None:
        config, genes = parse_genes(genotype)
        live, bridges = live_nodes(config, genes)
        super().__init__(config, task, live, bool(bridges))
        self.genes = genes
        self.live = live
        self._merge = mean_merge(genes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = self.run_stages(self.start(x), range(self.config.stages), self._merge, self.live)
        return self.finish(state)


class BiONetSupernet(BiONetWeights):
    """Every block and the bridge of ``config``: the weights BiX-NAS's phases share among candidate networks."""

    def __init__(self, config: BiONetConfig, task: Task) -> None:
        super().__init__(config, task, config.blocks(), bridge=True)

    def forward(self, x: torch.Tensor, merge: Merge, live: set[BlockId] | None = None) -> torch.Tensor:
        """Logits of the whole schedule under ``merge`` (``live``: blocks to run; None: all)."""
        return self.finish(self.run_stages(self.start(x), range(self.config.stages), merge, live))
