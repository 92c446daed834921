"""The operations of a ``bionet`` network, as modules, op instances and FLOPs.

====================  ==========================================================  ==================================
op name               computes (input (c_in, h, w))                               FLOPs (2 x MACs, torch counter)
====================  ==========================================================  ==================================
``bionet_convs``      (conv 3x3 -> BN -> ReLU) x 2, c_in -> c_out -> c_out: a     2 * 9 * (c_in + c_out) * c_out * h * w
                      block (BiX-Net's two "operators") or the bridge
``bionet_stem{S}``    (conv 3x3 -> BN -> ReLU) x 3, c_in -> S -> S -> c_out,      2 * 9 * (c_in * S + S * S + S * c_out)
                      then max-pool 2x2/2 (BiX-Net's pre-transform block)         * h * w
``bionet_head{S}``    bilinear x2, (conv 3x3 -> BN -> ReLU) x 2, c_in -> S -> S,  2 * (9 * (c_in * S + S * S)
                      then conv 1x1 with bias S -> c_out = classes (logits)       + S * c_out) * 4 * h * w
``maxpool2``          max-pool 2x2/2 (the encoder's main path and the bridge's)   0
``bilinear_up{f}``    bilinear resize x f (f a power of 2)                        0
``bilinear_down{f}``  bilinear resize / f                                         0
``mean{m}``           mean of m tensors of one shape (a block's merge)            0
====================  ==========================================================  ==================================

Convolutions have no bias before a BatchNorm (as BiX-Net's code). ``mean{m}`` is timed on one
input averaged with m - 1 copies of itself: the same kernel on tensors of the same shape.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from rtbench.spaces.base import OpInstance

CONVS = "bionet_convs"
MAXPOOL = "maxpool2"
_STEM = "bionet_stem"
_HEAD = "bionet_head"
_PATTERN = re.compile(r"^(bionet_stem|bionet_head|bilinear_up|bilinear_down|mean)(\d+)$")


def stem_op(stem_channels: int) -> str:
    return f"{_STEM}{stem_channels}"


def head_op(stem_channels: int) -> str:
    return f"{_HEAD}{stem_channels}"


def mean_op(m: int) -> str:
    return f"mean{m}"


def resize_op(from_level: int, to_level: int) -> str:
    """The resize from ``from_level`` to ``to_level`` (levels count from the finest; ``from != to``)."""
    steps = from_level - to_level
    return f"bilinear_up{2**steps}" if steps > 0 else f"bilinear_down{2**-steps}"


def is_bionet_op(op: str) -> bool:
    return op in (CONVS, MAXPOOL) or _PATTERN.match(op) is not None


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class Stem(nn.Sequential):
    """``(B, c_in, H, W)`` -> ``(B, c_out, H/2, W/2)``: three conv-BN-ReLU (widths S, S, c_out) and a 2x2 max-pool."""

    def __init__(self, c_in: int, stem_channels: int, c_out: int) -> None:
        s = stem_channels
        super().__init__(*conv_bn_relu(c_in, s), *conv_bn_relu(s, s), *conv_bn_relu(s, c_out), nn.MaxPool2d(2, 2))


class Head(nn.Sequential):
    """``(B, c_in, h, w)`` -> logits ``(B, classes, 2h, 2w)``: bilinear x2, two conv-BN-ReLU of width S, conv 1x1."""

    def __init__(self, c_in: int, stem_channels: int, num_classes: int) -> None:
        s = stem_channels
        super().__init__(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            *conv_bn_relu(c_in, s),
            *conv_bn_relu(s, s),
            nn.Conv2d(s, num_classes, 1),
        )


class ConvPair(nn.Sequential):
    """``bionet_convs`` alone (for timing): two conv-BN-ReLU. In a network the convs are shared across iterations."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(*conv_bn_relu(c_in, c_out), *conv_bn_relu(c_out, c_out))


class Resize(nn.Module):
    """Bilinear resize by ``factor`` (> 1 up, < 1 down; align_corners=False)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (round(x.shape[-2] * self.factor), round(x.shape[-1] * self.factor))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Mean(nn.Module):
    """Mean of ``m`` tensors; called with one tensor it averages it with ``m - 1`` copies (timing stand-in)."""

    def __init__(self, m: int) -> None:
        super().__init__()
        self.m = m

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        items = list(xs) if len(xs) > 1 else [xs[0]] * self.m
        return torch.stack(items).mean(0)


def build_bionet_op(inst: OpInstance) -> nn.Module:
    """A module computing ``inst`` alone on a ``(B, inst.c_in, inst.h, inst.w)`` input."""
    if inst.op == CONVS:
        return ConvPair(inst.c_in, inst.c_out)
    if inst.op == MAXPOOL:
        return nn.MaxPool2d(2, 2)
    match = _PATTERN.match(inst.op)
    if match is None:
        raise ValueError(f"'{inst.op}' is not a bionet op")
    kind, n = match.group(1), int(match.group(2))
    if kind == _STEM:
        return Stem(inst.c_in, n, inst.c_out)
    if kind == _HEAD:
        return Head(inst.c_in, n, inst.c_out)
    if kind == "bilinear_up":
        return Resize(float(n))
    if kind == "bilinear_down":
        return Resize(1.0 / n)
    return Mean(n)


def bionet_op_flops(inst: OpInstance) -> int:
    """FLOPs of ``inst`` (the table in the module docstring)."""
    pixels = inst.h * inst.w
    if inst.op == CONVS:
        return 2 * 9 * (inst.c_in + inst.c_out) * inst.c_out * pixels
    match = _PATTERN.match(inst.op)
    if match is None:
        return 0
    kind, s = match.group(1), int(match.group(2))
    if kind == _STEM:
        return 2 * 9 * (inst.c_in * s + s * s + s * inst.c_out) * pixels
    if kind == _HEAD:
        return 2 * (9 * (inst.c_in * s + s * s) + s * inst.c_out) * 4 * pixels
    return 0
