"""Options of the ``msnas`` space: grid size, cell size, width, partial channels, candidate ops.

Defaults follow seed 000 §3.1 where it gives a number (10 layers, 3 blocks per cell, factor-2
scaling, 1/4 of the channels through the ops) and are our choice where it does not (the number of
scales, ``MSNASConfig.scales``; the base width, chosen for the quick budget, 128 px on a 2-core
CPU, ``MSNASConfig.channels``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from rtbench.errors import ConfigError

IDENTITY = "identity"
"""The parameter-free cell op (``derive_cells`` can cap how many edges of a cell take it)."""
CELL_OPS: tuple[str, ...] = ("conv", "dil_conv", "sep_conv", IDENTITY)
"""The normal family of ``rtbench.spaces.ops`` without ``zero``.

``zero`` is left out on purpose. Under the joint relaxation of eq. 1 the choice of *input* is
already part of each block's softmax, so zero's role in DARTS (marking an edge as absent) is
redundant; derivation never keeps it anyway; and with a table latency of 0 it would let the
eq. 3 expectation fall below the latency of any derivable cell, so a latency-penalised search could
lower L_t by pushing weight onto an op that is then thrown away.
"""


@dataclass(frozen=True)
class MSNASConfig:
    """Space options (``config`` of ``MSNASSpace.op_instances``/``sample_genotype``; the supernet's shape).

    Attributes:
        layers: L, the number of layers (cells along a path). Seed 000 §3.1: 10.
        scales: S, the number of scales 1, 1/2, ..., 1/2^(S-1). Seed 000 does not give it (§3.1 names
            the 10 layers, 3 cells per module and 3 blocks per cell, and factor-2 max-pooling and
            upsampling, but no number of scales); 4 (1 to 1/8) is our choice, as many resolutions as
            Auto-DeepLab's network-level grid.
        blocks: N, the blocks (new tensors X_1..X_N) of a cell. Seed 000 §3.1: 3.
        channels: C, the width at scale 0; scale ``s`` has ``C * 2^s`` channels (the usual doubling
            per halving, so every scale costs about the same FLOPs per op). 8 puts the derived
            networks of the quick budget (128 px, 2-core CPU) on both sides of the 50 ms cine bound:
            one or two paths take about 17-25 ms, five to eight paths about 65-90 ms, so the bound
            matters (with 4, eight paths took 32-43 ms).
        partial_k: K of partial channel connections (PC-DARTS, seed 000 §3.1): only ``1/K`` of a
            tensor's channels go through the candidate ops in the supernet. Seed 000: 4. Derived
            networks always use all channels. Must divide C.
        ops: the candidate ops of a block edge, a subset of ``CELL_OPS``.
        edges_per_block: how many (input, op) pairs a derived block keeps, from distinct inputs
            (DARTS keeps 2); block i keeps ``min(edges_per_block, i)`` since it has only i inputs.
    """

    layers: int = 10
    scales: int = 4
    blocks: int = 3
    channels: int = 8
    partial_k: int = 4
    ops: tuple[str, ...] = CELL_OPS
    edges_per_block: int = 2

    def __post_init__(self) -> None:
        for name in ("layers", "scales", "blocks", "channels", "partial_k", "edges_per_block"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"msnas config: {name}={value!r} must be a positive integer")
        if self.channels % self.partial_k:
            raise ConfigError(f"msnas config: partial_k={self.partial_k} must divide channels={self.channels}")
        bad = [o for o in self.ops if o not in CELL_OPS]
        if bad or not self.ops or len(set(self.ops)) != len(self.ops):
            raise ConfigError(f"msnas config: ops={list(self.ops)} must be distinct names from {', '.join(CELL_OPS)}")

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None) -> MSNASConfig:
        """A config from a dict of field overrides (``None``: the defaults); ConfigError on an unknown key."""
        options = dict(options or {})
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - valid)
        if unknown:
            raise ConfigError(f"msnas config: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(valid))}")
        if "ops" in options:
            options["ops"] = tuple(options["ops"])
        return cls(**options)

    def scale_channels(self, scale: int) -> int:
        """Channels of a tile at ``scale``: ``C * 2^scale``."""
        return scale_channels(self.channels, scale)


def scale_channels(channels: int, scale: int) -> int:
    """Channels of a tile at ``scale`` for base width ``channels``: ``C * 2^scale``."""
    return channels * 2**scale


def scale_size(image_size: int, scale: int) -> int:
    """Height (= width) of a tile at ``scale``; ConfigError if ``image_size`` does not halve evenly that often."""
    if image_size % 2**scale:
        raise ConfigError(f"msnas: image size {image_size} must be divisible by 2^{scale} = {2**scale} to reach scale {scale}")
    return image_size // 2**scale
