"""RT-DNAS expected latency / FLOPs over the msnas supernet (seed 000 eq. 3-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtbench.spaces.base import OpInstance, OpNode
from rtbench.spaces.msnas import MSNASConfig, MSNASSpace, MSNASSupernet, legal_paths
from rtbench.spaces.msnas.cost import ExpectedFlops, ExpectedLatency
from rtbench.tasks import CINE

SPACE = MSNASSpace()
CONFIG = MSNASConfig(layers=4, scales=3, channels=4)
SIZE = 32
OP_MS = {"conv": 0.3, "dil_conv": 0.4, "sep_conv": 0.2, "identity": 0.01, "concat": 0.02, "add": 0.01}


def fake_latency(inst: OpInstance) -> float:
    """A deterministic stand-in for a latency table: a per-op constant plus a FLOPs term (ms)."""
    return OP_MS.get(inst.op, 0.05) + 1e-7 * SPACE.op_flops(inst)


def longest_path(graph: list[OpNode], cost) -> float:  # noqa: ANN001
    finish: dict[str, float] = {}
    for node in graph:
        finish[node.id] = cost(node.inst) + max((finish[u] for u in node.inputs), default=0.0)
    return max(finish.values())


def one_hot(choice: list[tuple[int, str]]) -> list[torch.Tensor]:
    """Eq. 1 weights putting all of block i's mass on the pair ``choice[i - 1]``."""
    out = []
    for i, (j, op) in enumerate(choice, start=1):
        w = torch.zeros(i, len(CONFIG.ops))
        w[j, CONFIG.ops.index(op)] = 1.0
        out.append(w)
    return out


def test_gradients_are_finite_and_non_zero() -> None:
    torch.manual_seed(0)
    net = MSNASSupernet(CONFIG, CINE)
    for estimator in (ExpectedLatency(CONFIG, CINE, SIZE, fake_latency), ExpectedFlops(CONFIG, CINE, SIZE, SPACE.op_flops)):
        net.zero_grad()
        value = estimator(net.block_weights())
        assert value.dim() == 0 and torch.isfinite(value) and value > 0
        value.backward()
        for alpha in net.alphas:
            assert torch.isfinite(alpha.grad).all() and alpha.grad.abs().sum() > 0
        assert net.betas.grad is None  # k_c comes from path counts only (supp. Fig. 3)


@pytest.mark.parametrize(
    "choice",
    [
        [(0, "conv"), (1, "sep_conv"), (2, "dil_conv")],
        [(0, "identity"), (0, "conv"), (1, "sep_conv")],
        [(0, "sep_conv"), (1, "identity"), (0, "identity")],  # X_3 is short: the path ends at X_2
    ],
)
def test_one_hot_weights_give_the_exact_mean_over_one_path_networks(choice: list[tuple[int, str]]) -> None:
    """With one-hot alpha, eq. 5 = the mean over all legal paths of that one-path network's exact cost.

    Exact: the longest path (latency) or the sum (FLOPs) over the space's op graph of the derived
    network, whose blocks keep exactly the chosen pair.
    """
    cell = [[[j, op]] for j, op in choice]
    graphs = [
        SPACE.op_graph({"layers": 4, "scales": 3, "channels": 4, "cell": cell, "paths": [list(p)]}, CINE, SIZE) for p in legal_paths(4, 3)
    ]
    latency = ExpectedLatency(CONFIG, CINE, SIZE, fake_latency)(one_hot(choice))
    assert float(latency) == pytest.approx(np.mean([longest_path(g, fake_latency) for g in graphs]), rel=1e-5)
    flops = ExpectedFlops(CONFIG, CINE, SIZE, SPACE.op_flops)(one_hot(choice))
    assert float(flops) == pytest.approx(np.mean([sum(SPACE.op_flops(n.inst) for n in g) for g in graphs]), rel=1e-5)


def test_making_a_slow_op_more_likely_raises_the_estimate() -> None:
    estimator = ExpectedLatency(CONFIG, CINE, SIZE, fake_latency)
    flops = ExpectedFlops(CONFIG, CINE, SIZE, SPACE.op_flops)
    slow = CONFIG.ops.index("dil_conv")
    lat, fl = [], []
    for boost in (0.0, 0.5, 1.0, 2.0):
        alphas = [torch.zeros(i, len(CONFIG.ops)) for i in range(1, CONFIG.blocks + 1)]
        alphas[0][0, slow] = boost
        weights = [torch.softmax(a.flatten(), 0).view_as(a) for a in alphas]
        lat.append(float(estimator(weights)))
        fl.append(float(flops(weights)))
    assert lat == sorted(lat) and lat[0] < lat[-1]
    assert fl == sorted(fl) and fl[0] < fl[-1]


def test_estimators_only_ask_for_listed_op_instances() -> None:
    asked: set[OpInstance] = set()

    def cost(inst: OpInstance) -> float:
        asked.add(inst)
        return 1.0

    ExpectedLatency(CONFIG, CINE, SIZE, cost)
    assert asked <= set(SPACE.op_instances(CINE, SIZE, {"layers": 4, "scales": 3, "channels": 4}))


def test_wrong_number_of_blocks_is_an_error() -> None:
    with pytest.raises(ValueError, match="3 blocks"):
        ExpectedLatency(CONFIG, CINE, SIZE, fake_latency)([torch.ones(1, 4)])
