"""The ICA-inspired statistical layer of ICA-UNet (Wang et al., MICCAI 2020, arXiv 2007.09455).

ICA-UNet's input is a causal temporal window of n cine frames of one slice, frames t - n + 1 .. t
(seed 000, Table 2: ICA-UNet with n = 3 and n = 4). Its predecessors MSU-Net (MICCAI 2019) and
SCNN describe a snippet of correlated frames in *canonical form*: each frame is the snippet's mean
plus a mixture of independent components (ICA),

    x_i = mu + sum_k a_ik s_k,        i = 1..n, k = 1..m                       (canonical form)

with mu = (1/n) sum_i x_i the mean image, S = (s_1..s_m) the independent components of the
centred frames X - mu and A = (a_ik) the mixing matrix; the centred window has rank n - 1, so
m = n - 1. MSU-Net ran ICA on every snippet before inference (input clustering: it waits for the
whole snippet, the latency ICA-UNet's introduction sets out to remove). ICA-UNet is "inspired by a
new interpretation of ICA for learning" (its abstract).

What this layer computes (our reading; the stored copies of the paper we could reach stop after
its introduction, so the layer's details are our choices, stated here):

    mu = mean_i x_i,        S = W (X - mu),        output: [mu, s_1, .., s_{n-1}]

The unmixing matrix W ((n - 1) x n) is a learned parameter, trained end to end with the
segmentation loss instead of being estimated by FastICA on each window at inference time: one
1 x 1 linear map over the frame axis, so a query costs one pass and no iteration. W starts as the
orthonormal DCT-II basis of the zero-mean subspace (rows k = 1..n-1), the principal (whitening)
basis of a smooth stationary sequence, which is where FastICA's iterations start; the start is
deterministic, so two builds under one seed are identical. With n = 1 there is no component and the
layer passes the frame through (mu = x_t).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def dct_basis(n: int) -> torch.Tensor:
    """The orthonormal DCT-II basis of length ``n`` as an (n, n) tensor, row k the k-th cosine (row 0 constant)."""
    j = torch.arange(n, dtype=torch.float64)
    rows = [torch.cos(math.pi * (j + 0.5) * k / n) * math.sqrt((1.0 if k == 0 else 2.0) / n) for k in range(n)]
    return torch.stack(rows).float()


class ICALayer(nn.Module):
    """Window ``(B, n * C, H, W)`` (frames oldest first, C channels each) -> canonical-form terms ``(B, n, C, H, W)``.

    Term 0 is the mean image mu; terms 1..n-1 are the components ``S = W (X - mu)`` (see the module
    docstring). ``unmixing`` is W, (n - 1, n), learned.
    """

    def __init__(self, n: int, channels: int = 1) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"ICA layer needs n >= 1 frames, got {n}")
        self.n, self.channels = n, channels
        self.unmixing = nn.Parameter(dct_basis(n)[1:].clone())

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        b, _, h, w = window.shape
        frames = window.reshape(b, self.n, self.channels, h, w)
        mean = frames.mean(dim=1, keepdim=True)
        if self.n == 1:
            return mean
        components = torch.einsum("kn,bnchw->bkchw", self.unmixing, frames - mean)
        return torch.cat([mean, components], dim=1)
