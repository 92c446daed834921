"""Hand-designed U-Net baseline (MONAI's UNet): searches nothing, returns its one candidate.

U-Net(8) and U-Net(16) of seed 003 Table II are ``method=unet method.width=8`` and
``method.width=16``. Depth 5 (four 2x downsamplings), no residual units: the plain 2D U-Net.
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
