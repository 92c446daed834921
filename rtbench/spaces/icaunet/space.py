"""The ``icaunet`` space: ICA-UNet networks by window and width (Wang et al., MICCAI 2020).

Genotype: ``{"n": int >= 1, "width": int >= 1, "depth": int >= 2}``: ``n`` frames in the causal
window (seed 000 Table 2 reports n = 3 and n = 4), the stem and first UNet level's ``width``, and
the UNet's ``depth`` (levels). The network takes ``(B, n * task.in_channels, H, W)``, frames t-n+1
.. t oldest first, and returns the logits of frame t: :meth:`ICAUNetSpace.frames` declares the
window to the harness (``rtbench.trials.window_of``), which feeds causal windows to training,
scoring and timing (``rtbench.datasets.windows``).

Hand-designed: the space has no op table (``bench profile`` does not apply); ``sample_genotype``
draws n in 1..4 and width in {8, 16, 32} for random baselines, at the deepest depth (<= 5) the
image size allows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from rtbench.errors import ConfigError
from rtbench.spaces.base import Space, register_space
from rtbench.spaces.icaunet.net import ICAUNet
from rtbench.tasks import Task

GENES = {"n": 1, "width": 1, "depth": 2}
"""Every gene and its least valid value."""


@register_space("icaunet")
class ICAUNetSpace(Space):
    def validate(self, genotype: dict[str, Any]) -> None:
        for key, least in GENES.items():
            v = genotype.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or v < least:
                raise ConfigError(f"icaunet genotype: '{key}'={v!r} must be an integer >= {least}")
        extra = sorted(set(genotype) - set(GENES))
        if extra:
            raise ConfigError(f"icaunet genotype: unknown gene(s) {', '.join(extra)}; expected {', '.join(GENES)}")

    def frames(self, genotype: dict[str, Any]) -> int:
        """The causal window of the network: n frames, the current one last."""
        self.validate(genotype)
        return int(genotype["n"])

    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        self.validate(genotype)
        depth = int(genotype["depth"])
        if image_size % 2 ** (depth - 1):
            need = 2 ** (depth - 1)
            raise ConfigError(f"icaunet genotype: depth={depth} needs an image size divisible by {need}, got {image_size}")
        return ICAUNet(int(genotype["n"]), task.in_channels, task.num_classes, int(genotype["width"]), depth)

    def sample_genotype(
        self, rng: np.random.Generator, task: Task, image_size: int, config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        depth = max(d for d in range(2, 6) if image_size % 2 ** (d - 1) == 0) if image_size % 2 == 0 else 2
        return {"n": int(rng.integers(1, 5)), "width": int(rng.choice([8, 16, 32])), "depth": depth}
