"""RT-DNAS expected latency / FLOPs over the msnas supernet (seed 000 eq. 3-5)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from rtbench.hardware.latency_model import LatencyModel
from rtbench.spaces.base import OpInstance, OpNode
from rtbench.spaces.msnas import MSNASConfig, MSNASSpace, MSNASSupernet, legal_paths
from rtbench.spaces.msnas.cost import ExpectedFlops, ExpectedLatency, UnionLatency, union_probability
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


# ----------------------------------------------------------------------------- L_t of the N_l-path network


def k_hot(cell: list[list[list]], config: MSNASConfig) -> list[torch.Tensor]:
    """Eq. 1 weights spreading block i's mass evenly over the pairs a derived cell keeps (a fixed derived cell)."""
    out = []
    for i, block in enumerate(cell, start=1):
        w = torch.zeros(i, len(config.ops), dtype=torch.float64)
        for j, op in block:
            w[j, config.ops.index(op)] = 1.0 / len(block)
        out.append(w)
    return out


DERIVED_CELLS = [
    [[[0, "conv"]], [[0, "sep_conv"], [1, "identity"]], [[0, "dil_conv"], [2, "conv"]]],
    [[[0, "identity"]], [[0, "identity"], [1, "conv"]], [[1, "sep_conv"], [2, "sep_conv"]]],
]


@pytest.mark.parametrize("cell", DERIVED_CELLS)
@pytest.mark.parametrize("n_paths", [1, 2, 3, 5, 9])
def test_union_estimate_is_the_mean_table_sum_over_all_n_path_networks(cell: list, n_paths: int) -> None:
    """Brute force on a 4 x 3 grid (9 legal paths): for a fixed derived cell, L_t equals the mean of
    ``LatencyModel.table_sum_ms`` over ALL C(9, N_l) networks of N_l distinct legal paths."""
    model = LatencyModel(SPACE, CINE, SIZE, "stand-in", fake_latency)
    paths = legal_paths(4, 3)
    sums = [
        model.table_sum_ms({"layers": 4, "scales": 3, "channels": 4, "cell": cell, "paths": [list(p) for p in chosen]})
        for chosen in itertools.combinations(paths, n_paths)
    ]
    assert len(sums) == math.comb(9, n_paths)
    estimate = UnionLatency(CONFIG, CINE, SIZE, fake_latency, n_paths)(k_hot(cell, CONFIG))
    assert float(estimate) == pytest.approx(np.mean(sums), rel=1e-9)


def test_union_estimate_with_one_pair_per_block_and_flops() -> None:
    """With ``edges_per_block=1`` one-hot weights are a derived cell; priced in FLOPs the estimate is the mean
    FLOPs of the N_l-path networks (FLOPs add up, so the sum model is exact for them)."""
    config = MSNASConfig(layers=4, scales=3, channels=4, edges_per_block=1)
    choice = [(0, "conv"), (1, "sep_conv"), (0, "dil_conv")]
    cell = [[[j, op]] for j, op in choice]
    for n_paths in (1, 4):
        flops = [
            sum(
                SPACE.op_flops(v.inst)
                for v in SPACE.op_graph({"layers": 4, "scales": 3, "channels": 4, "cell": cell, "paths": [list(p) for p in c]}, CINE, SIZE)
            )
            for c in itertools.combinations(legal_paths(4, 3), n_paths)
        ]
        estimate = UnionLatency(config, CINE, SIZE, SPACE.op_flops, n_paths)(one_hot(choice))
        assert float(estimate) == pytest.approx(np.mean(flops), rel=1e-6)


def test_union_estimate_grows_with_n_paths_and_has_finite_gradients() -> None:
    torch.manual_seed(0)
    net = MSNASSupernet(CONFIG, CINE)
    values = []
    for n_paths in range(1, 10):
        net.zero_grad()
        value = UnionLatency(CONFIG, CINE, SIZE, fake_latency, n_paths)(net.block_weights())
        value.backward()
        for alpha in net.alphas:
            assert torch.isfinite(alpha.grad).all() and alpha.grad.abs().sum() > 0
        values.append(value.item())
    assert values == sorted(values) and values[0] < values[-1]
    # N_l = 1 prices the same one-path networks as eq. 5, but with summed cells and two pairs per block: more
    assert values[0] > ExpectedLatency(CONFIG, CINE, SIZE, fake_latency)(net.block_weights()).item()
    with pytest.raises(ValueError, match="N_l=10 must be in 1..9"):
        UnionLatency(CONFIG, CINE, SIZE, fake_latency, 10)


def test_union_probability() -> None:
    assert union_probability(9, 9, 1) == 1.0 and union_probability(9, 0, 3) == 0.0
    assert union_probability(9, 3, 1) == pytest.approx(3 / 9)
    assert union_probability(9, 3, 2) == pytest.approx(1 - (6 * 5) / (9 * 8))  # neither draw among the 3
    assert union_probability(2135, 1, 7) == pytest.approx(7 / 2135)  # the default grid's 2135 legal paths


def test_eq5_is_not_the_expected_one_path_cost_for_soft_weights() -> None:
    """The module docstring's figure: uniform eq. 1 weights on the 4 x 3 grid give 2.212 ms by eq. 5, while the
    true expectation over the 384 equally likely one-pair cells (longest path, op graph) is 2.570 ms."""
    weights = [torch.full((i, len(CONFIG.ops)), 1.0 / (i * len(CONFIG.ops))) for i in range(1, CONFIG.blocks + 1)]
    assert float(ExpectedLatency(CONFIG, CINE, SIZE, fake_latency)(weights)) == pytest.approx(2.2121, abs=1e-4)
    pairs = [[(j, op) for j in range(i) for op in CONFIG.ops] for i in range(1, CONFIG.blocks + 1)]
    cells = [[[[j, op]] for j, op in choice] for choice in itertools.product(*pairs)]
    truth = np.mean(
        [
            longest_path(
                SPACE.op_graph({"layers": 4, "scales": 3, "channels": 4, "cell": cell, "paths": [list(p)]}, CINE, SIZE), fake_latency
            )
            for cell in cells
            for p in legal_paths(4, 3)
        ]
    )
    assert len(cells) == 384 and truth == pytest.approx(2.5701, abs=1e-4)
