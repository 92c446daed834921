"""The hand-designed U-Net space of the cine baseline: MONAI's ``UNet`` with a chosen initial width.

Genotype: ``{"width": int, "depth": int, "res_units": int}``. Channels double at each of ``depth``
levels from ``width``. With ``res_units=0`` (the ``unet`` method's default) each encoder level is
one 3x3 convolution of stride 2 (strided-convolution downsampling, no pooling; the first level
already at half resolution; the bottom level's is stride 1) and each decoder level one 3x3
transposed convolution of stride 2 on the concatenated skip, each followed by instance norm,
dropout 0 and PReLU except the last (logits).
``res_units`` >= 1 turns every level into MONAI residual units. This is not the classic
two-convolutions-per-level U-Net; that one is the ``unet-resnet18`` space's segmentation network
(:mod:`rtbench.spaces.unetresnet`, MONAI ``BasicUNet``).
"""

from __future__ import annotations

from typing import Any

from monai.networks.nets import UNet
from torch import nn

from rtbench.errors import ConfigError
from rtbench.spaces.base import Space, register_space
from rtbench.tasks import Task


@register_space("unet")
class UNetSpace(Space):
    def validate(self, genotype: dict[str, Any]) -> None:
        for key in ("width", "depth"):
            v = genotype.get(key)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"unet genotype: '{key}'={v!r} must be a positive integer")

    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        self.validate(genotype)
        width, depth = int(genotype["width"]), int(genotype["depth"])
        if image_size % (2 ** (depth - 1)):
            need = 2 ** (depth - 1)
            raise ConfigError(f"unet genotype: depth={depth} needs an image size divisible by {need}, got {image_size}")
        channels = tuple(width * 2**i for i in range(depth))
        return UNet(
            spatial_dims=2,
            in_channels=task.in_channels,
            out_channels=task.num_classes,
            channels=channels,
            strides=(2,) * (depth - 1),
            num_res_units=int(genotype.get("res_units", 0)),
        )
