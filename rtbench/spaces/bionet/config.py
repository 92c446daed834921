"""``BiONetConfig``: the macro shape of a ``bionet`` network, and the one numbering of skip candidates.

BiX-Net (Wang et al., MICCAI 2021, §2.1) is BiO-Net (Xiang et al., MICCAI 2020) with multi-scale
bi-directional skips: ``T`` iterations of an encoder stage and a decoder stage of ``L`` levels each,
convolution weights shared across iterations. A block's input is the mean of the candidates its
gene selects, every candidate resized (bilinear) to the block's resolution.

Candidate numbering (the only one used anywhere in rtbench, search and build alike):

* ``0`` (:data:`MAIN`): the block's main (sequential) input: for an encoder block at level 0 the
  stem's output, at level ``l > 0`` the max-pooled output of the encoder block at level ``l - 1``;
  for a decoder block at level ``L - 1`` the bridge's output upsampled x2, at level ``l < L - 1``
  the output of the decoder block at level ``l + 1`` upsampled x2.
* ``1 + j`` (:func:`skip_id`): the skip from level ``j`` of the other side. For an encoder block of
  iteration ``t >= 1``: the *backward* skip from the decoder block at level ``j`` of iteration
  ``t - 1``. For a decoder block of iteration ``t``: the *forward* skip from the encoder block at
  level ``j`` of the same iteration.

Levels count from the finest: level ``l`` works at ``H / 2^(l + 1)`` (the stem halves the input;
each encoder level halves again; the bridge works at ``H / 2^(L + 1)``). Widths are one ``C`` at
every level, as in BiX-Net's code (48 = 16 x 3), which is what lets skips of any level be averaged
without a projection. The stem and head width is ``stem_channels`` (32 in BiX-Net's code).

Public-code note: BiX-NAS's two phases number the candidates differently (Phase 1 appends the
block's own input after the four skips, Phase 2 puts it first), so a Phase-1 choice of the first
skip is read by Phase 2 as the main input and a choice of the main input as the last skip. Here
both phases, the genotype and the network use the numbering above.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from rtbench.errors import ConfigError

MAIN = 0
"""Candidate id of a block's main (sequential) input."""

Side = Literal["encoder", "decoder"]
SIDES: tuple[Side, Side] = ("encoder", "decoder")


def skip_id(level: int) -> int:
    """Candidate id of the skip from ``level`` of the other side."""
    return 1 + level


@dataclass(frozen=True, order=True)
class BlockId:
    """One block of the unrolled network: ``side`` (``encoder``/``decoder``), iteration ``t``, ``level``.

    ``stage`` is its extraction stage: ``2t`` for an encoder block, ``2t + 1`` for a decoder block
    (BiX-NAS's stages, searched last to first by Phase 2).
    """

    stage: int
    level: int

    @property
    def side(self) -> Side:
        return SIDES[self.stage % 2]

    @property
    def iteration(self) -> int:
        return self.stage // 2

    def __str__(self) -> str:
        return f"{self.side}[{self.iteration}][{self.level}]"


@dataclass(frozen=True)
class BiONetConfig:
    """The macro shape shared by every network of one ``bionet`` search (all genes aside).

    Attributes:
        iterations: ``T``, the recurrence (BiX-Net: 3).
        depth: ``L``, levels per stage (BiX-Net: 4); at least 2, so that Phase 1's selection
            matrix has ``N - 2 >= 1`` columns (``N = L + 1`` candidates).
        channels: ``C``, the width of every block and of the bridge (BiX-Net: 48).
        stem_channels: width inside the stem and the head (BiX-Net: 32).
    """

    iterations: int = 3
    depth: int = 4
    channels: int = 48
    stem_channels: int = 32

    def __post_init__(self) -> None:
        for name, low in (("iterations", 1), ("depth", 2), ("channels", 1), ("stem_channels", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"bionet: '{name}'={value!r} is out of range; expected an integer >= {low}")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> BiONetConfig:
        """The config from a dict holding (some of) its fields; other keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names})

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def stages(self) -> int:
        """Extraction stages ``2T`` (encoder and decoder of every iteration)."""
        return 2 * self.iterations

    @property
    def candidates(self) -> int:
        """``N = L + 1``: a block's candidate inputs (main input and one skip per level)."""
        return self.depth + 1

    def blocks(self) -> list[BlockId]:
        """Every block in execution order: each stage in turn, encoders fine to coarse, decoders coarse to fine."""
        out = []
        for stage in range(self.stages):
            levels = range(self.depth) if stage % 2 == 0 else range(self.depth - 1, -1, -1)
            out.extend(BlockId(stage, level) for level in levels)
        return out

    def allowed(self, block: BlockId) -> tuple[int, ...]:
        """Candidate ids ``block`` may select: only the main input in the first encoder stage (no decoder yet)."""
        return (MAIN,) if block.stage == 0 else tuple(range(self.candidates))

    def divisor(self) -> int:
        """Image sizes must be multiples of this: ``2^(L + 1)`` (stem and ``L`` poolings)."""
        return 2 ** (self.depth + 1)

    def fits(self, image_size: int) -> bool:
        """Whether ``image_size`` is a multiple of :meth:`divisor` that leaves the bridge at least 2 x 2 pixels.

        (A 1 x 1 bridge would make its BatchNorms see a single value per channel on a one-slice
        batch, which training cannot normalise.)
        """
        return image_size % self.divisor() == 0 and image_size >= 2 * self.divisor()

    def check_image_size(self, image_size: int) -> None:
        """ConfigError unless :meth:`fits`."""
        if not self.fits(image_size):
            raise ConfigError(
                f"bionet: depth={self.depth} needs an image size that is a multiple of {self.divisor()} and at least "
                f"{2 * self.divisor()} (a bridge of at least 2x2 pixels), got {image_size}"
            )

    def level_size(self, image_size: int, level: int) -> int:
        """Height (= width) at ``level`` (``level = depth``: the bridge)."""
        return image_size // 2 ** (level + 1)
