"""The ICA-UNet network: ICA layer, statistical stem, UNet (Wang et al., MICCAI 2020; see ``ica``).

    window (B, n*C, H, W) --ICALayer--> n terms [mu, s_1..s_{n-1}], each (B, C, H, W)
        --stem: one shared 3x3 conv + PReLU per term--> n x (B, w, H, W)
        --fuse: 1x1 conv over the n terms' features, instance norm, PReLU--> (B, w, H, W)
        --UNet (MONAI, channels w, 2w, .., w 2^(depth-1))--> logits (B, K, H, W) of frame t

Statistical stem: every term of the canonical form goes through the same convolution, as SCNN and
MSU-Net propagate the mean and each component through shared layers (the convolution is linear,
so conv(x_t) = conv(mu) + sum_k a_tk conv(s_k) holds exactly before the nonlinearity); the PReLU
acts on each term separately, and the 1 x 1 fusion learns how the terms' features combine for the
current frame (the role of the mixing coefficients a_tk). The stem has no bias and no norm, so a
window without motion (every component zero, e.g. the repeated-frame fallback of
``rtbench.datasets.windows``) gives zero component features and the network reduces to its
single-frame path. The UNet body is MONAI's ``UNet`` (strided convolutions down, transposed ones
up, instance norm, PReLU), as the ``unet`` baseline; widths double per level from ``width`` (the
paper's widths were not in the text we could read: ``width=16`` matches the U-Net(16) baseline).
"""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from monai.networks.nets import UNet
from torch import nn

from rtbench.spaces.icaunet.ica import ICALayer


class ICAUNet(nn.Module):
    """ICA-UNet of window ``n``: ``(B, n * in_channels, H, W)`` -> logits ``(B, num_classes, H, W)``.

    Args:
        n: frames in the causal window, oldest first, the current (segmented) frame last.
        in_channels: channels of one frame (1 for cine MRI).
        num_classes: output channels, background included.
        width: channels of the stem and of the UNet's first level.
        depth: UNet levels (depth - 1 halvings of the image size).
    """

    def __init__(self, n: int, in_channels: int, num_classes: int, width: int, depth: int) -> None:
        super().__init__()
        self.n, self.width = n, width
        self.ica = ICALayer(n, in_channels)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.PReLU())
        self.fuse = Convolution(2, n * width, width, kernel_size=1, act="PRELU", norm="INSTANCE")
        channels = tuple(width * 2**i for i in range(depth))
        self.unet = UNet(spatial_dims=2, in_channels=width, out_channels=num_classes, channels=channels, strides=(2,) * (depth - 1))

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        terms = self.ica(window)
        b, n, c, h, w = terms.shape
        features = self.stem(terms.reshape(b * n, c, h, w)).reshape(b, n * self.width, h, w)
        return self.unet(self.fuse(features))
