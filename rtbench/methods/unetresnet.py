"""Seed 003 Table II's hand-designed baselines: a vanilla U-Net + a ResNet18 quality-control regressor.

``method=unet-resnet18 method.width=8`` is Table II's "U-net(8)+Resnet18" (Dice 0.797, MAE 0.050,
47 ms, 1045 M FLOPs on their data and 4-core i7) and ``method.width=16`` its "U-net(16)+Resnet18"
(0.839, 0.049, 82 ms, 3635 M). Searches nothing: returns its one fixed candidate of the
``unet-resnet18`` space (:mod:`rtbench.spaces.unetresnet`), an ``EchoNet`` that the harness trains
and scores as a two-output network on the echo task (segmentation on D_seg_train, then the QC on
D_seg_eval against the frozen segmentation's true Dice, 003 §IV-A) and times end to end.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtbench.errors import ConfigError
from rtbench.methods.base import Candidate, Method, register
from rtbench.methods.context import SearchContext


@register("unet-resnet18")
class UNetResNet18Baseline(Method):
    space = "unet-resnet18"
    description = "hand-designed echo baseline (seed 003 Table II): vanilla U-Net(method.width) + ResNet18 Dice regressor"

    @dataclass
    class Config:
        """``width``: the U-Net's initial filter size (>= 2; Table II: 8 and 16)."""

        width: int = 16

        def __post_init__(self) -> None:
            if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 2:
                raise ConfigError(f"method.width={self.width!r} is out of range; expected an integer >= 2")

    def search(self, ctx: SearchContext) -> list[Candidate]:
        """The one fixed candidate, whatever the context and seed."""
        width = self.config.width
        return [Candidate(space=self.space, genotype={"width": width}, label=f"U-Net({width})+ResNet18")]
