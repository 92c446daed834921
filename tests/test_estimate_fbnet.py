"""Differentiable estimators over architecture parameters: FBNet latency (003 eq. 4) and expected FLOPs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rtbench.spaces import SPACES
from rtbench.spaces.base import OpInstance
from rtbench.spaces.cells.cost import ExpectedFlops
from rtbench.spaces.cells.echonas import EchoNASSpace
from rtbench.spaces.cells.latency import ExpectedLatency, gumbel_softmax
from rtbench.tasks import ECHO

SIZE = 32
CONFIG = {"depth": 2}


@pytest.fixture(scope="module")
def space():
    return SPACES.create("nasunet")


def fake_latency(inst: OpInstance) -> float:
    """A stand-in latency table: every op costs something, convolutions more (ms)."""
    return 0.01 + 1e-6 * SPACES.create("nasunet").op_flops(inst)


def set_one_hot(supernet, genotype) -> None:
    """Alphas whose softmax is exactly the one-hot of ``genotype`` (exp(-1e4) underflows to 0)."""
    with torch.no_grad():
        for cell, edges in supernet.edges.items():
            for alpha, edge, op in zip(supernet.cell_alphas(cell), edges, genotype[cell], strict=True):
                alpha.fill_(-1e4)
                alpha[edge.candidates.index(op)] = 0.0


def counted_flops(net: torch.nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net.eval()(x)
    return int(counter.get_total_flops())


@pytest.mark.parametrize(
    "estimate",
    [
        lambda s: ExpectedFlops(s, SPACES.create("nasunet").op_flops)(),
        lambda s: ExpectedLatency(s, fake_latency)(),
        lambda s: ExpectedLatency(s, fake_latency)(tau=0.5, hard=True),
    ],
    ids=["flops", "latency-soft", "latency-hard"],
)
def test_gradients_are_finite_and_non_zero(space, estimate):
    supernet = space.supernet(ECHO, SIZE, CONFIG)
    value = estimate(supernet)
    assert value.ndim == 0 and bool(torch.isfinite(value)) and value.item() > 0
    value.backward()
    for alpha in supernet.arch_parameters():
        assert alpha.grad is not None and bool(torch.isfinite(alpha.grad).all())
        assert float(alpha.grad.abs().sum()) > 0
    assert all(p.grad is None for p in supernet.weight_parameters())


@pytest.mark.parametrize("seed", range(3))
def test_expected_flops_of_one_hot_alphas_is_the_derived_networks(space, seed):
    supernet = space.supernet(ECHO, SIZE, CONFIG)
    genotype = space.sample_genotype(np.random.default_rng(seed), ECHO, SIZE, CONFIG)
    set_one_hot(supernet, genotype)
    assert supernet.derive() == genotype
    exact = counted_flops(space.build(genotype, ECHO, SIZE), torch.zeros(1, 3, SIZE, SIZE))
    assert exact == sum(space.op_flops(n.inst) for n in space.op_graph(genotype, ECHO, SIZE))
    assert ExpectedFlops(supernet, space.op_flops)().item() == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("emptied", [False, True], ids=["connected", "empty-node"])
def test_expected_flops_of_the_joint_supernet(emptied):
    """Exact for one-hot alphas; an upper bound when a QC Non-scaling node loses every input edge
    (the derived network then prunes the edges leaving it too, which eq. 4 still prices)."""
    echo = EchoNASSpace()
    config = {"seg": CONFIG, "qc": {"stages": 2}}
    supernet = echo.supernet(ECHO, SIZE, config)
    genotype = echo.sample_genotype(np.random.default_rng(4), ECHO, SIZE, config)
    genotype["qc"]["non_scaling"] = ["zero", "conv", "sep_conv", "identity", "conv", "zero"] if emptied else ["conv"] * 6
    set_one_hot(supernet.seg, genotype["seg"])
    set_one_hot(supernet.qc, genotype["qc"])
    exact = counted_flops(echo.build(genotype, ECHO, SIZE), torch.zeros(1, 3, SIZE, SIZE))
    estimate = ExpectedFlops(supernet, echo.op_flops)().item()
    if emptied:
        assert estimate > exact
    else:
        assert estimate == pytest.approx(exact, rel=1e-6)


def test_hard_latency_of_a_certain_choice_is_the_sum_model(space):
    """Alphas that leave no doubt: the sampled architecture is the genotype, priced like predict.sum_latency."""
    supernet = space.supernet(ECHO, SIZE, CONFIG)
    genotype = space.sample_genotype(np.random.default_rng(5), ECHO, SIZE, CONFIG)
    genotype = {k: [("identity" if op == "zero" else op) for op in v] if isinstance(v, list) else v for k, v in genotype.items()}
    set_one_hot(supernet, genotype)
    value = ExpectedLatency(supernet, fake_latency)(hard=True, generator=torch.Generator().manual_seed(0))
    table_sum = sum(fake_latency(n.inst) for n in space.op_graph(genotype, ECHO, SIZE))
    assert value.item() == pytest.approx(table_sum, rel=1e-6)


def test_gumbel_estimate_is_reproducible_with_a_seeded_generator(space):
    latency = ExpectedLatency(space.supernet(ECHO, SIZE, CONFIG), fake_latency)

    def estimate(seed: int, hard: bool = False) -> float:
        return latency(hard=hard, generator=torch.Generator().manual_seed(seed)).item()

    assert estimate(0) == estimate(0)
    assert estimate(0, hard=True) == estimate(0, hard=True)
    assert estimate(0) != estimate(1)


def test_one_gumbel_sample_per_shared_alpha(space):
    """A hard sample picks one op per edge of a cell type for every cell: the latency of one architecture."""
    supernet = space.supernet(ECHO, SIZE, CONFIG)
    latency = ExpectedLatency(supernet, fake_latency)
    hard = latency(hard=True, generator=torch.Generator().manual_seed(3))
    # replay the draws: one per distinct alpha, in order of first appearance among the searched edges
    replay, seen = torch.Generator().manual_seed(3), set()
    choice = {}
    for edge in supernet.searched_edges():
        if id(edge.alpha) not in seen:
            seen.add(id(edge.alpha))
            choice[id(edge.alpha)] = int(gumbel_softmax(edge.alpha, hard=True, generator=replay).argmax())
    sampled = dict(supernet.genes)
    for cell, edges in supernet.edges.items():
        sampled[cell] = [e.candidates[choice[id(a)]] for e, a in zip(edges, supernet.cell_alphas(cell), strict=True)]
    set_one_hot(supernet, sampled)
    assert hard.item() == pytest.approx(latency(hard=True).item(), rel=1e-6)  # the same alphas, now certain


def test_gumbel_softmax_rules():
    alpha = torch.tensor([0.3, -1.0, 2.0], requires_grad=True)
    soft = gumbel_softmax(alpha, tau=0.7, generator=torch.Generator().manual_seed(0))
    assert soft.sum().item() == pytest.approx(1.0) and bool((soft > 0).all())
    hard = gumbel_softmax(alpha, tau=0.7, hard=True, generator=torch.Generator().manual_seed(0))
    assert sorted(hard.tolist()) == [0.0, 0.0, 1.0]
    assert int(hard.argmax()) == int(soft.argmax())
    with pytest.raises(ValueError, match="temperature"):
        gumbel_softmax(alpha, tau=0.0)
