"""The complexity term of HW-NAS's architecture loss: the supernet's expected FLOPs in units of a reference.

Seed 000 §3.1 re-runs the hardware-aware NAS of Zeng et al. (ICCAD 2020, arXiv 2008.07071) "with
accuracy and FLOPs as optimization objectives" in RT-DNAS's exploration space. Its abstract says
the framework "incorporates a [...] regularization term into the loss function" that is "fully
differentiable with respect to the architecture parameters". The equation itself was not in any
text we could retrieve, so the form below is our choice (see ``hwnas_objective``)::

    L = L_a + w * F(alpha) / F_ref

* ``L_a``: the supernet's segmentation cross-entropy on a search-val batch (as in RT-DNAS's eq. 2).
* ``F(alpha)``: the expected FLOPs of the derived network under the eq. 1 weights (below).
* ``F_ref``: ``F`` at *uniform* eq. 1 weights, the value the search starts from (architecture
  logits are initialised near zero). ``F / F_ref`` is dimensionless and 1 at the start. Every op of
  the ``msnas`` space costs FLOPs proportional to its tile's area, and every tile's area is the
  image's area over ``4^s``, so ``F / F_ref`` is the same at every image size (tested at 32 and
  64 px): ``w`` means the same thing at the smoke budget's 32 px, quick's 128 px and paper's 224 px.
  On the default grid ``F / F_ref`` runs from 0.12 (every pair ``identity``) to 1.73 (every pair
  ``conv`` or ``dil_conv``); ``sep_conv`` everywhere gives 0.42.
* ``w``: ``method.flops_weight`` (default 0.2, see ``method``).

Additive, not multiplicative: "a regularization term into the loss function" reads as a term
added to the task loss (as ProxylessNAS adds its expected latency), not FBNet's
``L_a * alpha * log(F)^beta``; and unlike RT-DNAS's eq. 2 the re-run has no bound, so there is no
penalty that switches on above one.

``F``: ``estimate="union"`` (default) is ``rtbench.spaces.msnas.cost.UnionLatency`` priced in FLOPs
(``space.op_flops`` as its cost): the expected FLOPs of the derived network of N_l uniform legal
paths, each block keeping its two pairs, exact for k-hot weights, the same estimate RT-DNAS's
default ``L_t`` uses in ms. ``estimate="one_path"`` is ``MSNASSpace.expected_flops`` (eq. 3 and 5
with cells summing their edges: one path, one pair per block). Neither depends on the
network-level weights (``k_c`` are path counts), so the FLOPs term shapes the cell structure and
the paths are left to the accuracy term, as in RT-DNAS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from rtbench.spaces.msnas import MSNASConfig, UnionLatency
from rtbench.tasks import Task

ESTIMATES = ("union", "one_path")
"""What ``F`` is: the N_l-path derived network (``union``) or eq. 3-5's one-path network (``one_path``)."""

Estimate = Callable[[Sequence[torch.Tensor]], torch.Tensor]
"""``estimate(block_weights) -> F``: a differentiable cost of the eq. 1 weights, a 0-dim tensor."""


def uniform_weights(config: MSNASConfig) -> list[torch.Tensor]:
    """Eq. 1 weights at zero logits: block i spreads its mass evenly over its ``i * |O|`` (input, op) pairs."""
    return [torch.full((i, len(config.ops)), 1.0 / (i * len(config.ops))) for i in range(1, config.blocks + 1)]


def flops_estimate(space: Any, config: MSNASConfig, task: Task, image_size: int, estimate: str, n_paths: int) -> Estimate:
    """``F``: expected FLOPs over the supernet of ``config`` (``estimate``: ``union`` of ``n_paths`` paths, or ``one_path``).

    ``space`` is the ``msnas`` space object (``ctx.space``): its ``op_flops`` prices every op.
    """
    if estimate == "union":
        return UnionLatency(config, task, image_size, space.op_flops, n_paths)
    if estimate == "one_path":
        return space.expected_flops(config, task, image_size)
    raise ValueError(f"unknown FLOPs estimate {estimate!r}; expected one of {ESTIMATES}")


class FlopsRatio:
    """``F(alpha) / F_ref``: the expected FLOPs of the eq. 1 weights in units of their value at uniform weights.

    Args:
        estimate: ``F`` (``flops_estimate``).
        config: the supernet's space options (the shape of the uniform weights).

    Attributes:
        reference: ``F_ref``, FLOPs.
    """

    def __init__(self, estimate: Estimate, config: MSNASConfig) -> None:
        self.estimate = estimate
        with torch.no_grad():
            self.reference = float(estimate(uniform_weights(config)))
        if not self.reference > 0:
            raise ValueError(f"the FLOPs estimate at uniform weights is {self.reference}; expected > 0")

    def __call__(self, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.estimate(weights) / self.reference


def hwnas_objective(l_a: torch.Tensor, flops_ratio: torch.Tensor, flops_weight: float) -> torch.Tensor:
    """The architecture loss ``L_a + w * F / F_ref`` (module docstring)."""
    return l_a + flops_weight * flops_ratio
