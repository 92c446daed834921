"""The fixed (not searched) operations of the ``msnas`` space: stem, scaling ops, head, and merges.

=================  =================================================  ==============================
op name            computes (input (c_in, h, w))                      FLOPs (2 x MACs, torch counter)
=================  =================================================  ==============================
``msnas_stem``     conv 3x3 (c_in -> c_out) -> BN                    2 * 9 * c_in * c_out * h * w
``msnas_contract`` max-pool 2x2/2 -> ReLU -> conv 1x1 -> BN           2 * c_in * c_out * h/2 * w/2
``msnas_keep``     ReLU -> conv 1x1 -> BN                             2 * c_in * c_out * h * w
``msnas_expand``   ReLU -> conv 1x1 -> BN -> bilinear x2              2 * c_in * c_out * h * w
``msnas_head``     ReLU -> conv 1x1 with bias (c_out = classes)       2 * c_in * c_out * h * w
``concat``         channel concat of c_out / c_in tensors of c_in     0
``add``            sum of two tensors (c_in = c_out)                  0
=================  =================================================  ==============================

The three *scaling ops* are the only difference between cell types (seed 000 §2.1): a cell
concatenates its blocks X_1..X_N (N * C_a channels at scale a) and its scaling op resamples by a
factor 2 (max-pooling down, bilinear up, seed 000 §3.1) and maps the channels to the target scale's
``C_b`` with a 1x1 convolution. The 1x1 conv therefore also does the job of DARTS's
concat-then-preprocess: it is where the blocks are combined. Expanding cells convolve *before*
upsampling (4x fewer MACs than after, same function class). The whole scaling op plus the concat
is the constant ``S_cell`` of eq. 4.

``add`` and ``concat`` are timed from one input: ``x + x`` and ``cat([x] * n)``; they stand in for
the same kernels on distinct tensors of the same shape.
"""

from __future__ import annotations

import torch
from torch import nn

from rtbench.spaces.base import OpInstance
from rtbench.spaces.ops import Add

STEM = "msnas_stem"
HEAD = "msnas_head"
CONCAT = "concat"
ADD = "add"
SCALING_OPS: dict[int, str] = {1: "msnas_contract", 0: "msnas_keep", -1: "msnas_expand"}
"""Scaling op per cell type, keyed by the scale step ``b - a`` (contracting, non-scaling, expanding)."""

FIXED_OPS: tuple[str, ...] = (STEM, *SCALING_OPS.values(), HEAD, CONCAT, ADD)


def scaling_op_name(a: int, b: int) -> str:
    """The scaling op of a cell from scale ``a`` to scale ``b`` (``|a - b| <= 1``)."""
    return SCALING_OPS[b - a]


class ScalingOp(nn.Sequential):
    """The scaling op of a cell (see the module docstring): ``(B, c_in, h, w)`` -> ``(B, c_out, h', w')``."""

    def __init__(self, op: str, c_in: int, c_out: int) -> None:
        conv = [nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        if op == SCALING_OPS[1]:
            super().__init__(nn.MaxPool2d(2, 2), *conv)
        elif op == SCALING_OPS[-1]:
            super().__init__(*conv, nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
        elif op == SCALING_OPS[0]:
            super().__init__(*conv)
        else:
            raise ValueError(f"'{op}' is not a scaling op; expected one of {', '.join(SCALING_OPS.values())}")


class Stem(nn.Sequential):
    """Full-resolution stem: conv 3x3 (task input channels -> C) -> BN. ``(B, c_in, H, W)`` -> ``(B, C, H, W)``."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))


class Head(nn.Sequential):
    """Classifier at the output tile: ReLU -> conv 1x1 (C -> classes, with bias). Logits at full resolution."""

    def __init__(self, c_in: int, num_classes: int) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, num_classes, 1))


class _Concat(nn.Module):
    """Timing stand-in for ``concat`` of ``n`` tensors: ``cat([x] * n, dim=1)``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x] * self.n, dim=1)


def build_fixed_op(inst: OpInstance) -> nn.Module:
    """A module computing the fixed op ``inst`` alone on a ``(B, inst.c_in, inst.h, inst.w)`` input."""
    if inst.op == STEM:
        return Stem(inst.c_in, inst.c_out)
    if inst.op == HEAD:
        return Head(inst.c_in, inst.c_out)
    if inst.op == CONCAT:
        return _Concat(inst.c_out // inst.c_in)
    if inst.op == ADD:
        return Add()
    return ScalingOp(inst.op, inst.c_in, inst.c_out)


def fixed_op_flops(inst: OpInstance) -> int:
    """FLOPs of the fixed op ``inst`` (the table in the module docstring)."""
    pixels = inst.h * inst.w
    if inst.op == STEM:
        return 2 * 9 * inst.c_in * inst.c_out * pixels
    if inst.op == SCALING_OPS[1]:
        return 2 * inst.c_in * inst.c_out * (inst.h // 2) * (inst.w // 2)
    if inst.op in (SCALING_OPS[0], SCALING_OPS[-1], HEAD):
        return 2 * inst.c_in * inst.c_out * pixels
    return 0
