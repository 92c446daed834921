"""The RT-DNAS supernet search (seed 000 §2.2, §3.1): eq. 2 and its gradient, per-epoch checkpoints and resume."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from rtbench.budgets import get_budget
from rtbench.datasets.synthetic_cine import SyntheticCine
from rtbench.errors import RTBenchError
from rtbench.hardware.latency_model import LatencyModel
from rtbench.hardware.predict import CalibratedModel
from rtbench.hardware.profile import load_profile
from rtbench.methods import SearchContext
from rtbench.methods.rtdnas import RTDNAS
from rtbench.methods.rtdnas.search import EXP_CAP, PENALTY_SHARPNESS, SearchSettings, SupernetSearch, capped_exp, rtdnas_objective
from rtbench.spaces.base import OpInstance
from rtbench.spaces.msnas import MSNASConfig, MSNASSpace, MSNASSupernet
from rtbench.spaces.msnas.cost import ExpectedLatency
from rtbench.tasks import CINE
from rtbench.train.recipe import seed_everything

CFG = MSNASConfig(layers=4, scales=3, channels=4)
SIZE = 32
SPACE = MSNASSpace()
OP_MS = {"conv": 0.3, "dil_conv": 0.4, "sep_conv": 0.2, "identity": 0.01, "concat": 0.02, "add": 0.01}


def fake_latency(inst: OpInstance) -> float:
    """A deterministic stand-in for a latency table (ms)."""
    return OP_MS.get(inst.op, 0.05) + 1e-7 * SPACE.op_flops(inst)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster than several (and immune to other processes on the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> SearchContext:
    budget = get_budget("smoke")
    volumes = SyntheticCine().load(budget, 0).volumes
    return SearchContext(
        task=CINE,
        budget=budget,
        hardware=load_profile("local-cpu"),
        space=SPACE,
        volumes=volumes,
        seed=0,
        rng=np.random.default_rng(0),
        device=torch.device("cpu"),
        checkpoint_dir=tmp_path_factory.mktemp("unused"),
    )


def make_search(ctx: SearchContext, folder: Path, epochs: int, bound: float | None = 5.0, warmup: int = 0) -> SupernetSearch:
    seed_everything(ctx.seed)
    net = MSNASSupernet(CFG, CINE)
    train, val = ctx.loaders(val_fraction=0.5)
    settings = SearchSettings(epochs=epochs, steps_per_epoch=2, warmup_epochs=warmup, latency_bound_ms=bound)
    return SupernetSearch(net, ExpectedLatency(CFG, CINE, SIZE, fake_latency), train, val, settings, folder, ctx.seed)


# ----------------------------------------------------------------------------- eq. 2


def test_capped_exp_is_exp_up_to_the_cap_then_finite_and_increasing() -> None:
    x = torch.tensor([-30.0, 0.0, 5.0, EXP_CAP, EXP_CAP + 1e-3, 100.0, 1e6], requires_grad=True)
    y = capped_exp(x)
    assert torch.allclose(y[:4], torch.exp(x[:4].detach()))
    assert y[4].item() == pytest.approx(math.exp(EXP_CAP) * (1 + 1e-3), rel=1e-5)  # continuous at the cap
    assert torch.isfinite(y).all() and (y[1:] > y[:-1]).all()
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad > 0).all()


def test_objective_is_eq2_in_units_of_the_bound_and_cross_entropy_without_a_bound() -> None:
    l_a, l_t = torch.tensor(1.2), torch.tensor(47.0)
    assert float(rtdnas_objective(l_a, l_t, 50.0, 10.0)) == pytest.approx(1.2 * 47.0 / 50.0 + 10.0 * math.exp(-3.0))
    assert PENALTY_SHARPNESS == 50.0  # at the paper's 50 ms, the exponent is the printed one, L_t - L_ub in ms
    # the same network and bound in seconds, or twice as slow against twice the bound: the same loss
    assert float(rtdnas_objective(l_a, l_t / 1000, 0.05, 10.0)) == pytest.approx(float(rtdnas_objective(l_a, l_t, 50.0, 10.0)))
    assert float(rtdnas_objective(l_a, 2 * l_t, 100.0, 10.0, 5.0)) == pytest.approx(1.2 * 0.94 + 10.0 * math.exp(5.0 * -0.06))
    assert float(rtdnas_objective(l_a, l_t, None, 10.0)) == pytest.approx(1.2)
    with pytest.raises(ValueError, match="positive latency bound"):
        SearchSettings(epochs=1, steps_per_epoch=1, warmup_epochs=0, latency_bound_ms=0.0)


@pytest.mark.parametrize("over_ms", [1.0, 1000.0])  # just over the bound; far over it (the capped exponential)
def test_eq2_gradient_reaches_the_architecture_parameters(ctx: SearchContext, over_ms: float) -> None:
    seed_everything(0)
    net = MSNASSupernet(CFG, CINE)
    latency = ExpectedLatency(CFG, CINE, SIZE, fake_latency)
    batch = next(iter(ctx.loaders(val_fraction=0.5)[1]))
    l_a = torch.nn.functional.cross_entropy(net(batch["image"]), batch["label"][:, 0])
    l_t = latency(net.block_weights())
    loss = rtdnas_objective(l_a, l_t, l_t.item() - over_ms, lambda_=10.0)
    assert torch.isfinite(loss)
    loss.backward()
    for p in net.arch_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def arch_grads(net: MSNASSupernet, loss: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, net.arch_parameters()[:-1], retain_graph=True))  # the alphas: L_t reads only them


def test_eq2_penalty_bites_and_its_gradient_points_to_cheaper_cells(ctx: SearchContext) -> None:
    """With the estimate 10% over the bound the penalty is large (lambda * e^5), and its gradient makes the
    costliest op of every block less likely and the cheapest more likely: a step against it lowers L_t."""
    seed_everything(0)
    net = MSNASSupernet(CFG, CINE)
    latency = ExpectedLatency(CFG, CINE, SIZE, fake_latency)
    l_t = latency(net.block_weights())
    penalty = rtdnas_objective(torch.tensor(0.0), l_t, l_t.item() / 1.1, lambda_=10.0)
    assert penalty.item() == pytest.approx(10.0 * math.exp(PENALTY_SHARPNESS * 0.1), rel=1e-4)
    grads = arch_grads(net, penalty)
    costs = latency.op_cost[0]  # the ops' costs at scale 0; the ranking is the same at every scale
    for g in grads:
        per_op = g.sum(0)
        assert per_op[costs.argmax()] > 0 > per_op[costs.argmin()]
    with torch.no_grad():
        for a, g in zip(net.alphas, grads):
            a -= 1e-3 * g / max(float(x.abs().max()) for x in grads)
    assert latency(net.block_weights()).item() < l_t.item()


def test_rtdnas_and_msnas_take_architecture_steps_of_comparable_size(ctx: SearchContext) -> None:
    """Eq. 2's cross-entropy part of the architecture gradient is x = L_t / L_ub times MS-NAS's (x near 1 at
    the bound), where the printed form multiplied it by L_t in ms; and the whole gradient does not depend on
    the latency unit (ms or s), so neither does the latency pull ``L_a * dx``."""
    seed_everything(0)
    net = MSNASSupernet(CFG, CINE)
    latency = ExpectedLatency(CFG, CINE, SIZE, fake_latency)
    batch = next(iter(ctx.loaders(val_fraction=0.5)[1]))
    l_a = torch.nn.functional.cross_entropy(net(batch["image"]), batch["label"][:, 0])
    l_t = latency(net.block_weights())
    norm = lambda gs: float(torch.cat([g.flatten() for g in gs]).norm())  # noqa: E731
    plain = norm(arch_grads(net, l_a))
    for share in (0.6, 0.9, 1.1):
        bound = l_t.item() / share
        accuracy_part = norm(arch_grads(net, rtdnas_objective(l_a, l_t.detach(), bound, 10.0)))
        assert accuracy_part / plain == pytest.approx(share, rel=1e-4)
        in_ms = arch_grads(net, rtdnas_objective(l_a, l_t, bound, 10.0))
        in_s = arch_grads(net, rtdnas_objective(l_a, l_t / 1000.0, bound / 1000.0, 10.0))
        for a, b in zip(in_ms, in_s):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-9)


def test_a_binding_bound_lowers_the_expected_latency(ctx: SearchContext, tmp_path: Path) -> None:
    search = make_search(ctx, tmp_path / "bound", epochs=1, bound=0.1)
    before = search.l_t().item()
    history = search.run(lambda **m: None)
    free = make_search(ctx, tmp_path / "free", epochs=1, bound=None)
    free.run(lambda **m: None)
    assert history[0]["L_t_ms"] < before and history[0]["L_t_ms"] < free.l_t().item()
    assert all(math.isfinite(v) for v in history[0].values())


@pytest.mark.parametrize("clip", [5.0, 0.0])
def test_architecture_steps_are_clipped_so_a_far_bound_cannot_throw_the_logits(ctx: SearchContext, tmp_path: Path, clip: float) -> None:
    """A bound 100x below the network: eq. 2's gradient is ~e^50 per ms; unclipped, one SGD step threw the
    op logits to about 1e9 (issue 12's first ACDC runs). Clipped, each step moves them at most lr * clip."""
    search = make_search(ctx, tmp_path / str(clip), epochs=1, bound=0.01)
    search.settings = replace(search.settings, arch_grad_clip=clip)
    before = [a.detach().clone() for a in search.net.arch_parameters()]
    search.run(lambda **m: None)
    moved = max(float((a.detach() - b).abs().max()) for a, b in zip(search.net.arch_parameters(), before, strict=True))
    steps = search.settings.steps_per_epoch
    if clip:  # momentum 0.9 at most sums to 1 + 0.9 of the clipped steps over two steps
        assert 0 < moved <= 2 * steps * search.settings.lr * clip
    else:
        assert moved > 1e3, "without the clip the penalty's step is not bounded (the test would not see a broken clip)"


def test_auto_prices_the_largest_n_l_whose_cheapest_network_fits_the_bound(ctx: SearchContext) -> None:
    """``floor_ms`` is the least L_t over every one-hot op choice (brute force over all blocks' ops on a
    tiny grid), under the identity cap when one is given, and ``fitting_search_paths`` the largest N_l
    whose floor fits: fewer paths as the bound tightens, and fewer still under the cap."""
    import itertools

    from rtbench.methods.rtdnas.method import fitting_search_paths, floor_ms, identity_blocks

    model = LatencyModel(SPACE, CINE, SIZE, "stand-in", fake_latency)
    shapes = [w.shape for w in MSNASSupernet(CFG, CINE).block_weights()]
    union = SPACE.expected_latency(CFG, CINE, SIZE, fake_latency, 3)
    ident = CFG.ops.index("identity")
    brute: dict[int | None, float] = {None: math.inf, 0: math.inf, 1: math.inf}
    for ops in itertools.product(range(len(CFG.ops)), repeat=len(shapes)):  # each block its own op
        weights = [torch.zeros(shape, dtype=torch.float64) for shape in shapes]
        for w, op in zip(weights, ops, strict=True):
            w[0, op] = 1.0
        for cap in brute:
            if cap is None or ops.count(ident) <= cap:
                brute[cap] = min(brute[cap], float(union(weights)))
    for cap, want in brute.items():
        assert floor_ms(union, shapes, ident, cap) == pytest.approx(want)
    assert brute[None] < brute[1] < brute[0], "identity is the cheapest op, so the cap raises the floor"
    assert identity_blocks(CFG, 2) == 1 and identity_blocks(CFG, 0) == 0 and identity_blocks(CFG, 5) == len(shapes)
    options = {"layers": CFG.layers, "scales": CFG.scales, "channels": CFG.channels}
    floors = [floor_ms(SPACE.expected_latency(CFG, CINE, SIZE, fake_latency, n), shapes) for n in range(1, 5)]
    assert floors == sorted(floors) and floors[0] < floors[-1]
    for bound, want in ((floors[3] + 1e-6, 4), ((floors[1] + floors[2]) / 2, 2), (floors[0] / 2, 1)):
        n, floor = fitting_search_paths(ctx, model, CFG, options, shapes, 4, bound)
        assert n == want and (floor <= bound or want == 1)
    capped, _ = fitting_search_paths(ctx, model, CFG, options, shapes, 4, floors[3] + 1e-6, max_identity=2)
    assert capped < 4, "the all-identity floor of N_l = 4 is not reachable under the cap"


# ----------------------------------------------------------------------------- bounds in measured p90 ms


@pytest.mark.parametrize("calibrated", [False, True])
def test_bounds_are_in_calibrated_p90_ms_where_the_profile_has_a_calibration(ctx: SearchContext, tmp_path: Path, calibrated: bool) -> None:
    """A stand-in calibration predicting p90 = 2 x table sum: eq. 2's L_t is scaled by 2.000 and the decoders
    check 2 x the table sum against the bound; without one, the search says it uses raw table ms and how to fit one."""
    cal = CalibratedModel((0.0, 1.5, 0.0, 0.0), coef_p90=(0.0, 2.0, 0.0, 0.0)) if calibrated else None
    source = lambda space, options: LatencyModel(space, CINE, SIZE, "stand-in", fake_latency, cal)  # noqa: E731
    messages: list[str] = []
    run = replace(ctx, latency_source=source, checkpoint_dir=tmp_path, report=lambda **m: messages.append(m.get("message", "")))
    config = RTDNAS.Config(paths="2,3", layers=4, scales=3, channels=4, latency_bound_ms=9.0)
    cands = RTDNAS(config).search(run)
    factor = 2.0 if calibrated else 1.0
    for c in cands:
        assert c.predicted["latency_ms"] == pytest.approx(factor * c.predicted["table_sum_ms"])
        assert c.predicted["violation_ms"] == pytest.approx(max(0.0, c.predicted["latency_ms"] - 9.0))
    if calibrated:
        assert any("eq. 2's L_t = 2.000 x table ms" in m for m in messages)
        assert any("calibrated p90 ms" in m for m in messages if m.startswith("GA N_l="))
    else:
        hint = "bench latency-check hardware=local-cpu space=msnas budget=smoke"
        assert any("no p90 calibration" in m and hint in m for m in messages)


# ----------------------------------------------------------------------------- checkpoints and resume


def test_search_resumes_after_its_last_finished_epoch(ctx: SearchContext, tmp_path: Path) -> None:
    first: list[dict] = []
    one = make_search(ctx, tmp_path, epochs=1)
    one.run(lambda **m: first.append(m))
    assert [m["epoch"] for m in first if "epoch" in m] == [1]
    assert (tmp_path / "rtdnas_search.pt").is_file()

    second: list[dict] = []
    two = make_search(ctx, tmp_path, epochs=2)
    history = two.run(lambda **m: second.append(m))
    assert [m["epoch"] for m in second if "epoch" in m] == [2], "epoch 1 was redone"
    assert any("resuming after epoch 1/2" in m.get("message", "") for m in second)
    assert len(history) == 2 and history[0] == one.history[0]
    assert two.run(lambda **m: second.append(m)) == history  # a finished search runs no epoch


def test_interrupted_search_ends_where_an_uninterrupted_one_does(ctx: SearchContext, tmp_path: Path) -> None:
    class Interrupt(Exception):
        pass

    def stop_after_first_epoch(**m: float) -> None:
        if m.get("epoch") == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        make_search(ctx, tmp_path / "resumed", epochs=2, warmup=1).run(stop_after_first_epoch)
    resumed = make_search(ctx, tmp_path / "resumed", epochs=2, warmup=1)
    resumed.run(lambda **m: None)
    straight = make_search(ctx, tmp_path / "straight", epochs=2, warmup=1)
    straight.run(lambda **m: None)
    for (name, a), b in zip(resumed.net.state_dict().items(), straight.net.state_dict().values()):
        assert torch.equal(a, b), name
    assert [h["L_a"] for h in resumed.history] == [h["L_a"] for h in straight.history]


def test_a_checkpoint_of_other_settings_is_refused(ctx: SearchContext, tmp_path: Path) -> None:
    make_search(ctx, tmp_path, epochs=1, bound=5.0).run(lambda **m: None)
    with pytest.raises(RTBenchError, match="other settings"):
        make_search(ctx, tmp_path, epochs=2, bound=7.0).run(lambda **m: None)


def test_long_epochs_report_step_progress(ctx: SearchContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rtbench.methods.rtdnas.search.PROGRESS_EVERY_S", 0.0)
    seen: list[dict] = []
    make_search(ctx, tmp_path, epochs=2, warmup=1).run(lambda **m: seen.append(m))
    steps = [m["message"] for m in seen if "step" in m.get("message", "")]
    assert steps == [
        "search epoch 1/2 step 1/2 (warm-up, weights only): " + steps[0].split(": ", 1)[1],
        "search epoch 2/2 step 1/2 (weights and architecture): " + steps[1].split(": ", 1)[1],
    ]
    assert all("L_a " in s and "epoch ETA" in s for s in steps)
