"""FBNet-style differentiable latency: a latency table summed under Gumbel-softmax weights (003 eq. 4).

``latency(edge(i,j)) = sum_k GS(alpha_k^(i,j) | alpha^(i,j)) * latency(op_k^(i,j))``; a cell's
latency is the sum of its edges', the network's the sum of its cells' (003 §III-D, after FBNet).
The result is ``LAT(alpha)`` of the search loss ``L = L_CE + lambda_1 L_MSE + lambda_2 LAT(alpha)``
(003 eq. 3).
"""

from __future__ import annotations

import torch

from rtbench.spaces.cells.cost import ExpectedCost


def gumbel_softmax(alpha: torch.Tensor, tau: float = 1.0, hard: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """``GS(alpha_k | alpha) = softmax((alpha + g) / tau)_k`` with ``g_k ~ Gumbel(0, 1)`` i.i.d. (the GS of 003 eq. 4).

    Args:
        alpha: (..., K) architecture parameters (logits of the K candidates).
        tau: temperature; small values approach a one-hot sample.
        hard: straight-through: the forward value is the one-hot of the sample's argmax, the
            gradient that of the soft sample.
        generator: source of the Gumbel noise (on ``alpha``'s device); the global RNG if None.

    ``g = -log(E)``, ``E ~ Exp(1)``, so a seeded ``generator`` reproduces the sample.
    """
    if tau <= 0:
        raise ValueError(f"Gumbel-softmax temperature must be positive, got {tau}")
    exp = torch.empty_like(alpha).exponential_(generator=generator)
    noise = -exp.clamp_min(torch.finfo(exp.dtype).tiny).log()  # E = 0 would give g = inf
    soft = torch.softmax((alpha + noise) / tau, dim=-1)
    if not hard:
        return soft
    one_hot = torch.zeros_like(soft).scatter_(-1, soft.argmax(dim=-1, keepdim=True), 1.0)
    return one_hot - soft.detach() + soft


class ExpectedLatency(ExpectedCost):
    """``LAT(alpha)``: the network latency of 003 eq. 4 (a 0-d tensor, differentiable in alpha).

    ``ExpectedLatency(supernet, table.latency_ms)(tau=1.0)``: every searched edge weighs its
    candidates' latencies by :func:`gumbel_softmax` of its alphas; one sample per edge of a cell
    type, shared by every cell of that type (they form one architecture decision), drawn in order
    of first appearance. The fixed ops' latencies are added, so the figure is the whole network's
    and comparable with a latency bound. ``hard=True`` gives the latency of one sampled
    architecture with the straight-through gradient.
    """

    def __call__(self, tau: float = 1.0, hard: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.weighted(lambda alpha: gumbel_softmax(alpha, tau, hard, generator))
