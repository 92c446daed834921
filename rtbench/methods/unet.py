"""Hand-designed cine U-Net baseline (MONAI's ``UNet``): searches nothing, returns its one candidate.

What it is: MONAI ``UNet`` with ``num_res_units=0`` (default), depth 5 and channels
``width * 2^i`` (:mod:`rtbench.spaces.unet`): one 3x3 convolution per encoder level, of stride 2
but at the bottom (the first already halves the image), one stride-2 3x3 transposed convolution
per decoder level on the concatenated skip, instance norm + PReLU; 9 convolutions, none at full
resolution but the last transposed one. A light, fast U-Net: U-Net(16) is 0.143 GFLOPs at 128 px
on one channel (``count_flops``).

What it is not: the classic U-Net (Ronneberger et al. 2015: two 3x3 convolutions per level,
max-pool down, the first level at full resolution), which costs about 11x as much at the same
width (1.60 GFLOPs for width 16 at 128 px); nor a residual U-Net (``method.res_units`` >= 1 gives
MONAI's residual units); nor seed 003 Table II's "vanilla U-net(8/16)", which is the classic one:
Table II's baselines are ``method=unet-resnet18`` (:mod:`rtbench.methods.unetresnet`, MONAI
``BasicUNet`` + a ResNet18 quality-control network). ``method=unet method.width=16`` is the cine
board's U-Net(16) reference row.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtbench.errors import ConfigError
from rtbench.methods.base import Candidate, Method, register
from rtbench.methods.context import SearchContext


@register("unet")
class UNetBaseline(Method):
    space = "unet"
    description = "hand-designed 2D U-Net (MONAI UNet), initial width method.width"

    @dataclass
    class Config:
        """``width``: channels of the first level (>= 1); ``depth``: levels (>= 2, so >= one 2x downsampling);
        ``res_units``: MONAI residual units per level (>= 0; 0 is the plain U-Net)."""

        width: int = 16
        depth: int = 5
        res_units: int = 0

        def __post_init__(self) -> None:
            for name, low in (("width", 1), ("depth", 2), ("res_units", 0)):
                value = getattr(self, name)
                if value < low:
                    raise ConfigError(f"method.{name}={value} is out of range; expected >= {low}")

    def search(self, ctx: SearchContext) -> list[Candidate]:
        c = self.config
        genotype = {"width": c.width, "depth": c.depth, "res_units": c.res_units}
        return [Candidate(space=self.space, genotype=genotype, label=f"U-Net({c.width})")]
