"""The candidate operation set (seed 000 §2.1; seed 003 Table I), with analytic FLOPs.

Three families, all 3x3 kernels:

============  ==================  ======================  =================
family        convolutions        pooling                 other
============  ==================  ======================  =================
normal        conv, dil_conv,     -                       identity, zero
              sep_conv
down (s=2)    down_conv,          max_pool, avg_pool      -
              down_dil_conv,
              down_sep_conv
up (x2)       up_conv,            -                       -
              up_dil_conv,
              up_sep_conv
============  ==================  ======================  =================

Convolutions are ReLU -> conv -> BatchNorm (the DARTS ordering both papers build on). ``dil_conv``
has dilation 2; ``sep_conv`` is a depth-wise 3x3 followed by a point-wise 1x1; ``up_*`` are the
transposed (stride 2) versions. Pooling, identity and zero keep the channel count, so they need
``c_in == c_out``.

FLOPs follow ``torch.utils.flop_counter`` (2 x multiply-accumulates of convolutions; BatchNorm,
ReLU and pooling count 0), so analytic and counted figures agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from rtbench.errors import ConfigError


class Zero(nn.Module):
    """The 'no connection' op: zeros of the input's shape (normal family only)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class Add(nn.Module):
    """``a + b``: the binary merge both spaces' op graphs name ``add`` (msnas cell outputs, NAS-Unet node sums).

    Called with one input (a latency-table measurement) it adds the input to itself: the same
    kernel at the same shape.
    """

    def forward(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        return a + (a if b is None else b)


def _conv(c_in: int, c_out: int, stride: int, dilation: int) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
    )


def _sep(c_in: int, c_out: int, stride: int) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out),
    )


def _up(c_in: int, c_out: int, dilation: int) -> nn.Module:
    # H_out = (H-1)*2 - 2*pad + dil*(3-1) + out_pad + 1 = 2H with pad = dil, out_pad = 1
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=dilation, output_padding=1, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
    )


def _up_sep(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.ConvTranspose2d(c_in, c_in, 3, stride=2, padding=1, output_padding=1, groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out),
    )


def _same_channels(name: str, fn: Callable[[], nn.Module]) -> Callable[[int, int], nn.Module]:
    def build(c_in: int, c_out: int) -> nn.Module:
        if c_in != c_out:
            raise ConfigError(f"op '{name}' keeps the channel count; got c_in={c_in}, c_out={c_out}")
        return fn()

    return build


@dataclass(frozen=True)
class OpSpec:
    """One candidate operation.

    Attributes:
        name: the op's name in genotypes.
        family: ``normal`` (same size), ``down`` (H/2) or ``up`` (2H).
        build: ``build(c_in, c_out) -> nn.Module``.
        macs: ``macs(c_in, c_out, h, w)``, multiply-accumulates on a (c_in, h, w) input.
    """

    name: str
    family: str
    build: Callable[[int, int], nn.Module]
    macs: Callable[[int, int, int, int], int]

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        if self.family == "down":
            return (h + 1) // 2, (w + 1) // 2
        if self.family == "up":
            return 2 * h, 2 * w
        return h, w

    def flops(self, c_in: int, c_out: int, h: int, w: int) -> int:
        """FLOPs (2 x MACs) of this op on a (c_in, h, w) input, as torch's flop counter counts them.

        A transposed convolution is counted over its *input* pixels (each scatters a 3x3 x c_out
        kernel), which is how torch's counter treats it.
        """
        return 2 * self.macs(c_in, c_out, h, w)


def _dense(ci: int, co: int, h: int, w: int) -> int:
    return 9 * ci * co * h * w


def _down_dense(ci: int, co: int, h: int, w: int) -> int:
    return _dense(ci, co, (h + 1) // 2, (w + 1) // 2)


def _separable(ci: int, co: int, h: int, w: int) -> int:
    return (9 * ci + ci * co) * h * w


def _down_separable(ci: int, co: int, h: int, w: int) -> int:
    return _separable(ci, co, (h + 1) // 2, (w + 1) // 2)


def _up_separable(ci: int, co: int, h: int, w: int) -> int:
    return 9 * ci * h * w + ci * co * 4 * h * w  # depth-wise over input, point-wise over 2H x 2W


def _none(ci: int, co: int, h: int, w: int) -> int:
    return 0


OPS: dict[str, OpSpec] = {
    s.name: s
    for s in (
        OpSpec("conv", "normal", lambda ci, co: _conv(ci, co, 1, 1), _dense),
        OpSpec("dil_conv", "normal", lambda ci, co: _conv(ci, co, 1, 2), _dense),
        OpSpec("sep_conv", "normal", lambda ci, co: _sep(ci, co, 1), _separable),
        OpSpec("identity", "normal", _same_channels("identity", nn.Identity), _none),
        OpSpec("zero", "normal", _same_channels("zero", Zero), _none),
        OpSpec("down_conv", "down", lambda ci, co: _conv(ci, co, 2, 1), _down_dense),
        OpSpec("down_dil_conv", "down", lambda ci, co: _conv(ci, co, 2, 2), _down_dense),
        OpSpec("down_sep_conv", "down", lambda ci, co: _sep(ci, co, 2), _down_separable),
        OpSpec("max_pool", "down", _same_channels("max_pool", lambda: nn.MaxPool2d(3, 2, 1)), _none),
        OpSpec("avg_pool", "down", _same_channels("avg_pool", lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False)), _none),
        OpSpec("up_conv", "up", lambda ci, co: _up(ci, co, 1), _dense),
        OpSpec("up_dil_conv", "up", lambda ci, co: _up(ci, co, 2), _dense),
        OpSpec("up_sep_conv", "up", _up_sep, _up_separable),
    )
}

NORMAL_OPS: tuple[str, ...] = tuple(n for n, s in OPS.items() if s.family == "normal")
DOWN_OPS: tuple[str, ...] = tuple(n for n, s in OPS.items() if s.family == "down")
UP_OPS: tuple[str, ...] = tuple(n for n, s in OPS.items() if s.family == "up")


def get_op(name: str) -> OpSpec:
    try:
        return OPS[name]
    except KeyError:
        raise ConfigError(f"unknown operation '{name}'; valid operations: {', '.join(OPS)}") from None


def build_op(name: str, c_in: int, c_out: int) -> nn.Module:
    """Instantiate operation ``name`` mapping c_in to c_out channels."""
    return get_op(name).build(c_in, c_out)
