"""The ``unet-resnet18`` space: seed 003 Table II's hand-designed baselines, a vanilla U-Net + a ResNet18 QC.

Genotype: ``{"width": f}`` (f >= 2; Table II reports f = 8 and 16, "U-net(8) means the vanilla U-net
with initial filter size 8"). ``build`` returns an :class:`~rtbench.spaces.cells.echonas.EchoNet`,
the two-output network of the echo task (003 Fig. 1): segmentation, then quality control (QC) on
``concat(image, softmax(logits), uncertainty)`` (:class:`~rtbench.spaces.cells.ops.QualityControlInput`).

Segmentation: MONAI's ``BasicUNet``, not MONAI's ``UNet``. ``BasicUNet`` *is* the classic U-Net
(Ronneberger et al. 2015): two 3x3 convolutions per level, 2x2 max-pool down, 2x2 transposed
convolution up, skip concatenation, a 1x1 head. MONAI's ``UNet`` with ``num_res_units=0`` (the cine
``unet`` baseline) has one strided convolution per encoder level and one transposed convolution per
decoder level: half the convolutions and no pooling, so it is a lighter network than the one
Table II names. Configuration (the seed gives only the initial filter size):

* features ``(f, 2f, 4f, 8f, 16f, f)``: five levels, channels doubling, four 2x downsamplings;
* BatchNorm + ReLU after every 3x3 convolution (the common modern reading of the 2015 network,
  which had no normalisation; ``bias=False`` since BatchNorm follows). MONAI's defaults, instance
  norm + LeakyReLU, are nnU-Net's choices, not the vanilla network's;
* ``upsample="deconv"``. One MONAI detail differs from 2015: the last up-step keeps its 2f
  channels (``halves=False``) instead of halving them to f, so the top decoder level convolves
  3f -> f channels instead of 2f -> f.

QC: MONAI's ``resnet18`` (He et al. 2016, BasicBlock x [2, 2, 2, 2], widths 64-512) in 2D, set up as
the ImageNet ResNet18 (torchvision is not a dependency): 7x7 stem with stride 2 (MONAI defaults to
stride 1, MedicalNet's choice, which would quadruple the cost of every later layer), 3x3 max-pool,
projection shortcuts without bias. Its input has ``qc_channels(task)`` = C_img + K + 1 channels;
its global average pool and ``fc`` (512 -> 1) followed by a sigmoid are the ``dice_head`` of the
``echonas`` space: predicted Dice (B, 1) in [0, 1]. The QC reads the full-resolution QC input, as
``echonas``'s QC does (:mod:`rtbench.spaces.cells.qcnet`).

Cost (``count_flops``, 2 FLOPs per multiply-accumulate), for an image size s divisible by 32,
P = s^2, C_img = 3 and K = 2 (the echo task)::

    U-Net MACs    = P * (190 f^2 + (9 C_img + K) f)        ( = P * (190 f^2 + 29 f) )
    ResNet18 MACs = P * (33792 + 784 (C_img + K + 1)) + 512   ( = 38496 P + 512 )
    FLOPs         = 2 * (U-Net MACs + ResNet18 MACs)

(:func:`flops_formula`; the test checks it against the counter). At 256 px that is 6670 M FLOPs
for f = 8 and 11482 M for f = 16, against Table II's 1045 M and 3635 M. Solving Table II's pair as
``a + x = 1045, 4a + x = 3635`` (U-Net cost a scaling as f^2, constant part x) gives a = 863 M,
x = 182 M. Our U-Net alone is 812 M / 3218 M *MACs* at 256 px, close to a and 4a: the paper's
column most likely counts multiply-accumulates (what thop and ptflops report as "FLOPs"), and its
constant part (182 M) cannot be a ResNet18 on a 256 px input (2523 M MACs here; ImageNet's 224 px
3-channel ResNet18 is 1814 M). It fits a ResNet18 on a ~64-70 px input (158 M MACs at 64 px), or
a QC left out of the count. Table II's latencies (47 ms, 82 ms; ratio 1.74) track our full-size
cost ratio (11482 / 6670 = 1.72) rather than its FLOPs ratio (3.48), which suggests the timed QC
was full size. docs/methods/unet-resnet18.md has the measured figures.
"""

from __future__ import annotations

from typing import Any

import torch
from monai.networks.nets import BasicUNet, resnet18
from torch import nn

from rtbench.errors import ConfigError
from rtbench.spaces.base import Space, register_space
from rtbench.spaces.cells.echonas import EchoNet
from rtbench.spaces.cells.qcnet import qc_channels
from rtbench.tasks import Task

GENES = ("width",)
MIN_IMAGE_SIZE = 16
"""Four 2x max-pools: a smaller image pools to nothing (MONAI pads odd sizes, so any s >= 16 works)."""


class DiceRegressor(nn.Module):
    """A ResNet18 (2D, ImageNet layout, one output) and a sigmoid: QC input (B, C, H, W) -> Dice (B, 1) in [0, 1]."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.resnet = resnet18(
            spatial_dims=2,
            n_input_channels=in_channels,
            conv1_t_size=7,
            conv1_t_stride=2,
            shortcut_type="B",
            bias_downsample=False,
            num_classes=1,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.resnet(x))


def vanilla_unet(width: int, in_channels: int, num_classes: int) -> BasicUNet:
    """MONAI ``BasicUNet`` as the classic U-Net of initial filter size ``width`` (module docstring)."""
    features = (width, 2 * width, 4 * width, 8 * width, 16 * width, width)
    return BasicUNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=num_classes,
        features=features,
        act=("relu", {"inplace": True}),
        norm="batch",
        bias=False,
        upsample="deconv",
    )


def flops_formula(width: int, task: Task, image_size: int) -> int:
    """FLOPs (2 x MACs) of the built network at batch 1, exact for ``image_size`` divisible by 32 (module docstring)."""
    p, c, k = image_size * image_size, task.in_channels, task.num_classes
    unet = p * (190 * width * width + (9 * c + k) * width)
    qc = p * (33792 + 784 * qc_channels(task)) + 512
    return 2 * (unet + qc)


@register_space("unet-resnet18")
class UNetResNet18Space(Space):
    """Vanilla U-Net(``width``) segmentation + ResNet18 QC regressor, as one :class:`EchoNet`."""

    tasks = ("echo",)

    def validate(self, genotype: dict[str, Any]) -> None:
        """ConfigError naming the bad gene: exactly ``width``, an integer >= 2."""
        if not isinstance(genotype, dict):
            raise ConfigError(f"unet-resnet18 genotype must be a dict {{'width': int}}, got {genotype!r}")
        unknown = sorted(set(genotype) - set(GENES))
        if unknown:
            raise ConfigError(f"unet-resnet18 genotype: unknown gene(s) {unknown}; valid genes: {', '.join(GENES)}")
        width = genotype.get("width")
        if isinstance(width, bool) or not isinstance(width, int) or width < 2:
            raise ConfigError(f"unet-resnet18 genotype: 'width'={width!r} must be an integer >= 2 (the U-Net's initial filter size)")

    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        """The baseline framework: ``EchoNet(seg=vanilla U-Net, qc=ResNet18 + sigmoid)``, segmentation built first."""
        self.validate(genotype)
        if image_size < MIN_IMAGE_SIZE:
            raise ConfigError(f"unet-resnet18 needs an image size >= {MIN_IMAGE_SIZE} (four 2x max-pools), got {image_size}")
        seg = vanilla_unet(int(genotype["width"]), task.in_channels, task.num_classes)
        qc = DiceRegressor(qc_channels(task))
        return EchoNet(seg, qc, task.in_channels)
