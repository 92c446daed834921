"""The fixed (not searched) ops of the NAS-Unet and QC networks, and the segmentation uncertainty map.

Seed 003 searches only the cell edges (Table I, ``rtbench.spaces.ops``); everything around the
cells is fixed. Each fixed op is an ``OpSpec`` like the searched ones, so op graphs, FLOPs and
latency tables treat both alike:

=====================  =========================================  ==================================
op                     module                                     used for
=====================  =========================================  ==================================
``conv3x3_bn``         conv 3x3 -> BatchNorm                      segmentation stem
``conv3x3_bn_s2``      the same with stride 2                     QC stem (ResNet's stem downsamples)
``relu_conv1x1_bn``    ReLU -> conv 1x1 -> BatchNorm              cell-input preprocessing, 'transform'
``relu_conv1x1_bn_s2`` the same with stride 2                     a cell input at twice the resolution;
                                                                  the Contracting cell's residual path
``add``                ``a + b``                                  node sums, cell outputs (chained)
``conv1x1_head``       conv 1x1 with bias                         segmentation logits
``dice_head``          global average pool -> linear -> sigmoid   QC predicted Dice in [0, 1]
``qc_input``           concat(image, softmax, uncertainty)        QC network input (003 §III-A)
=====================  =========================================  ==================================

FLOPs follow ``torch.utils.flop_counter`` as in ``rtbench.spaces.ops``: 2 x multiply-accumulates
of convolutions and matrix products (bias ignored); normalisation, activations, sums, pooling,
softmax and concatenation count 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rtbench.spaces.ops import Add, OpSpec, get_op


def uncertainty_map(logits: torch.Tensor) -> torch.Tensor:
    """The segmentation network's uncertainty map (003 §III-A): per-pixel normalised softmax entropy.

    ``u = -sum_c p_c log p_c / log K`` with ``p = softmax(logits)`` over the K classes; 0 where
    the network is certain, 1 where all classes are equally likely. It needs no parameters, so the
    searched segmentation network alone determines it.

    Args:
        logits: (B, K, H, W) segmentation logits, K >= 2.

    Returns:
        (B, 1, H, W) uncertainty in [0, 1].
    """
    logp = torch.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(dim=1, keepdim=True) / math.log(logits.shape[1])


def quality_control_input(image: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The QC network's input (003 §III-A): the image, the segmentation result and the uncertainty map.

    ``concat(image, softmax(logits), uncertainty_map(logits))`` over channels: (B, C_img + K + 1, H, W).
    The softmax (not a one-hot mask) keeps the QC loss differentiable w.r.t. the segmentation
    network during the joint search (003 eq. 3).
    """
    return torch.cat([image, torch.softmax(logits, dim=1), uncertainty_map(logits)], dim=1)


class QualityControlInput(nn.Module):
    """:func:`quality_control_input` as the ``qc_input`` op: ``forward(logits, image)``.

    Called with ``logits`` alone (a latency-table measurement of the op) it stands a zero image in.
    """

    def __init__(self, image_channels: int) -> None:
        super().__init__()
        self.image_channels = image_channels

    def forward(self, logits: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        if image is None:
            b, _, h, w = logits.shape
            image = logits.new_zeros(b, self.image_channels, h, w)
        return quality_control_input(image, logits)


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int, relu: bool) -> nn.Module:
    layers: list[nn.Module] = [nn.ReLU(inplace=False)] if relu else []
    layers += [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers)


def _dice_head(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, c_out), nn.Sigmoid())


def _half(n: int) -> int:
    return (n + 1) // 2


FIXED_OPS: dict[str, OpSpec] = {
    s.name: s
    for s in (
        OpSpec("conv3x3_bn", "normal", lambda ci, co: _conv_bn(ci, co, 3, 1, relu=False), lambda ci, co, h, w: 9 * ci * co * h * w),
        OpSpec(
            "conv3x3_bn_s2",
            "down",
            lambda ci, co: _conv_bn(ci, co, 3, 2, relu=False),
            lambda ci, co, h, w: 9 * ci * co * _half(h) * _half(w),
        ),
        OpSpec("relu_conv1x1_bn", "normal", lambda ci, co: _conv_bn(ci, co, 1, 1, relu=True), lambda ci, co, h, w: ci * co * h * w),
        OpSpec(
            "relu_conv1x1_bn_s2",
            "down",
            lambda ci, co: _conv_bn(ci, co, 1, 2, relu=True),
            lambda ci, co, h, w: ci * co * _half(h) * _half(w),
        ),
        OpSpec("add", "normal", lambda ci, co: Add(), lambda ci, co, h, w: 0),
        OpSpec("conv1x1_head", "normal", lambda ci, co: nn.Conv2d(ci, co, 1), lambda ci, co, h, w: ci * co * h * w),
        OpSpec("dice_head", "global", _dice_head, lambda ci, co, h, w: ci * co),
        OpSpec("qc_input", "normal", lambda ci, co: QualityControlInput(co - ci - 1), lambda ci, co, h, w: 0),
    )
}
"""Fixed ops by name. ``qc_input`` maps K logit channels to ``C_img + K + 1``; ``dice_head``'s
family ``global`` marks an output that is no feature map (nothing consumes it)."""


def op_spec(name: str) -> OpSpec:
    """The ``OpSpec`` of a fixed op or of a searched op (Table I); ConfigError for an unknown name."""
    return FIXED_OPS[name] if name in FIXED_OPS else get_op(name)
