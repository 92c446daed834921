"""HW-NAS (``method=hwnas``): the FLOPs-regularised supernet search, its decoding, resume, options, and a submission."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rtbench.budgets import get_budget
from rtbench.cli import main
from rtbench.config import resolve
from rtbench.datasets.synthetic_cine import SyntheticCine
from rtbench.errors import ConfigError, RTBenchError
from rtbench.hardware.profile import load_profile
from rtbench.methods import METHODS, SearchContext
from rtbench.methods.hwnas import HWNAS
from rtbench.methods.hwnas.objective import FlopsRatio, flops_estimate, hwnas_objective, uniform_weights
from rtbench.methods.hwnas.search import FlopsSearch
from rtbench.methods.rtdnas.dijkstra import best_weight_paths, cell_log_weights
from rtbench.methods.rtdnas.search import SearchSettings, SupernetSearch
from rtbench.runner import submit
from rtbench.spaces.msnas import MSNASConfig, MSNASSpace, MSNASSupernet
from rtbench.tasks import CINE
from rtbench.train.recipe import seed_everything

SMALL = {"paths": "2,3", "layers": 4, "scales": 3, "channels": 4}
CFG = MSNASConfig(layers=4, scales=3, channels=4)
SPACE = MSNASSpace()


def no_latency(space: Any, options: Any) -> Any:
    raise AssertionError("hwnas asked for the latency model")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def volumes() -> list:
    return SyntheticCine().load(get_budget("smoke"), 0).volumes


def make_ctx(volumes: list, folder: Path, seed: int = 0, **budget: Any) -> SearchContext:
    return SearchContext(
        task=CINE,
        budget=replace(get_budget("smoke"), **budget),
        hardware=load_profile("local-cpu"),
        space=SPACE,
        volumes=volumes,
        seed=seed,
        rng=np.random.default_rng(seed),
        device=torch.device("cpu"),
        checkpoint_dir=folder,
        latency_source=no_latency,
    )


def found(volumes: list, folder: Path, seed: int = 0, budget: dict | None = None, **options: Any) -> list[dict[str, Any]]:
    method = HWNAS(HWNAS.Config(**{**SMALL, **options}))
    return [c.to_dict() for c in method.search(make_ctx(volumes, folder, seed, **(budget or {})))]


# ----------------------------------------------------------------------------- the search and its candidates


def test_search_returns_one_buildable_candidate_per_n_l_without_the_latency_model(volumes: list, tmp_path: Path) -> None:
    cands = found(volumes, tmp_path)  # the context's latency source raises: the search never asks for it
    assert [c["label"] for c in cands] == ["HW-NAS N_l=2", "HW-NAS N_l=3"]
    ctx = make_ctx(volumes, tmp_path)
    for c, n in zip(cands, (2, 3)):
        assert c["space"] == "msnas"
        SPACE.validate(c["genotype"])
        assert len(c["genotype"]["paths"]) == n
        net = SPACE.build(c["genotype"], CINE, 32)
        assert net(torch.zeros(2, 1, 32, 32)).shape == (2, CINE.num_classes, 32, 32)
        assert c["predicted"]["flops"] == ctx.flops(c["genotype"]) > 0
        assert c["predicted"]["log_weight"] < 0
    assert [c["predicted"].get("entry") for c in cands] == [None, 1.0], "the largest N_l is the entry"
    assert (tmp_path / "hwnas_search.pt").is_file()


def test_decoding_is_the_n_l_highest_weight_paths_of_the_searched_supernet(volumes: list, tmp_path: Path) -> None:
    ctx = make_ctx(volumes, tmp_path)
    (cand,) = found(volumes, tmp_path, paths="3")
    state = torch.load(tmp_path / "hwnas_search.pt", weights_only=True)
    net = MSNASSupernet(CFG, CINE)
    net.load_state_dict(state["supernet"])
    genes = best_weight_paths(cell_log_weights(net), CFG.layers, CFG.scales, 3)
    assert cand["genotype"]["paths"] == [list(g.path) for g in genes]
    assert cand["predicted"]["log_weight"] == pytest.approx(sum(g.log_weight for g in genes))
    assert ctx.flops(cand["genotype"]) == cand["predicted"]["flops"]


def test_same_seed_same_candidates_other_seed_other_search(volumes: list, tmp_path: Path) -> None:
    a = found(volumes, tmp_path / "a", seed=0)
    b = found(volumes, tmp_path / "b", seed=0)
    c = found(volumes, tmp_path / "c", seed=1)
    assert a == b
    assert [x["predicted"]["log_weight"] for x in a] != [x["predicted"]["log_weight"] for x in c]


# ----------------------------------------------------------------------------- the FLOPs term


@pytest.mark.parametrize("estimate", ["union", "one_path"])
def test_flops_ratio_is_one_at_uniform_weights_and_the_same_at_every_image_size(estimate: str) -> None:
    torch.manual_seed(0)
    weights = [torch.softmax(torch.randn(i * 4), 0).view(i, 4) for i in range(1, 4)]
    ratios = []
    for size in (32, 64):
        term = FlopsRatio(flops_estimate(SPACE, CFG, CINE, size, estimate, 3), CFG)
        assert float(term(uniform_weights(CFG))) == pytest.approx(1.0)
        ratios.append(float(term(weights)))
    assert ratios[0] == pytest.approx(ratios[1], rel=1e-5)
    assert ratios[0] != pytest.approx(1.0)


def make_search(volumes: list, folder: Path, weight: float, epochs: int = 2) -> FlopsSearch:
    seed_everything(0)
    net = MSNASSupernet(CFG, CINE)
    train, val = make_ctx(volumes, folder).loaders(val_fraction=0.5)
    settings = SearchSettings(
        epochs=epochs, steps_per_epoch=2, warmup_epochs=0, latency_bound_ms=None, lambda_=0.0, latency_estimate=f"w={weight}"
    )
    term = FlopsRatio(flops_estimate(SPACE, CFG, CINE, 32, "union", 3), CFG)
    return FlopsSearch(net, term, train, val, settings, folder, 0, weight)


def test_the_flops_term_lowers_the_expected_flops_and_weight_zero_is_the_ms_nas_search(volumes: list, tmp_path: Path) -> None:
    runs = {w: make_search(volumes, tmp_path / str(w), w) for w in (0.0, 50.0)}
    history = {w: s.run(lambda **m: None) for w, s in runs.items()}
    assert history[50.0][-1]["flops_ratio"] < history[0.0][-1]["flops_ratio"] - 0.01
    last = history[50.0][-1]
    assert last["loss"] == pytest.approx(float(hwnas_objective(torch.tensor(last["L_a"]), torch.tensor(last["flops_ratio"]), 50.0)))
    # w = 0: exactly RT-DNAS's loop without a bound (MS-NAS), step for step
    seed_everything(0)
    plain = SupernetSearch(
        MSNASSupernet(CFG, CINE), runs[0.0].latency, runs[0.0].train, runs[0.0].val, runs[0.0].settings, tmp_path / "plain", 0
    )
    plain.run(lambda **m: None)
    for (name, a), b in zip(runs[0.0].net.state_dict().items(), plain.net.state_dict().values()):
        assert torch.equal(a, b), name


def test_an_architecture_step_follows_the_gradient_of_the_objective(volumes: list, tmp_path: Path) -> None:
    search = make_search(volumes, tmp_path, 3.0, epochs=1)
    net = search.net
    batch = next(iter(search.val))
    l_a = torch.nn.functional.cross_entropy(net(batch["image"]), batch["label"][:, 0])
    want = torch.autograd.grad(hwnas_objective(l_a, search.l_t(), 3.0), list(net.alphas), retain_graph=True)
    search.a_opt.zero_grad()
    l_a.backward()
    search._add_flops_gradient(search.a_opt, (), {})  # what the pre-hook adds before a_opt.step()
    for got, expected in zip((a.grad for a in net.alphas), want):
        assert torch.allclose(got, expected, atol=1e-7)


# ----------------------------------------------------------------------------- resume


def test_interrupted_search_resumes_and_ends_where_an_uninterrupted_one_does(volumes: list, tmp_path: Path) -> None:
    class Interrupt(Exception):
        pass

    def stop_after_first_epoch(**m: Any) -> None:
        if m.get("epoch") == 1:
            raise Interrupt

    two = {"search_epochs": 2}
    ctx = replace(make_ctx(volumes, tmp_path / "resumed", **two), report=stop_after_first_epoch)
    with pytest.raises(Interrupt):
        HWNAS(HWNAS.Config(**SMALL)).search(ctx)
    messages: list[str] = []
    ctx = replace(ctx, report=lambda **m: messages.append(m.get("message", "")))
    resumed = [c.to_dict() for c in HWNAS(HWNAS.Config(**SMALL)).search(ctx)]
    assert any("resuming after epoch 1/2" in m for m in messages)
    assert resumed == found(volumes, tmp_path / "straight", budget=two)
    with pytest.raises(RTBenchError, match="other settings"):
        found(volumes, tmp_path / "resumed", budget=two, flops_weight=0.5)


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"paths": "auto"}, "method.paths='auto'"),
        ({"paths": "6,auto"}, "method.paths='6,auto'"),
        ({"paths": "0"}, "method.paths='0'"),
        ({"paths": "a,b"}, "method.paths='a,b'"),
        ({"paths": "99", "layers": 4, "scales": 3}, "method.paths=99"),
        ({"flops_weight": -0.1}, "method.flops_weight=-0.1"),
        ({"flops_weight": float("nan")}, "method.flops_weight=nan"),
        ({"estimate": "latency"}, "method.estimate='latency'"),
        ({"channels": 6}, "method.channels=6"),
        ({"layers": 0}, "method.layers=0"),
    ],
)
def test_bad_options_are_refused_naming_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        HWNAS.Config(**options)


def test_defaults_and_listing(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = HWNAS.Config()
    assert (cfg.paths, cfg.flops_weight, cfg.estimate, cfg.layers, cfg.scales, cfg.channels) == ("6,7,8", 0.2, "union", 10, 4, 8)
    assert METHODS.get("hwnas") is HWNAS and HWNAS.space == "msnas"
    assert main(["methods"]) == 0
    assert "hwnas" in capsys.readouterr().out


# ----------------------------------------------------------------------------- end to end


def test_smoke_submission_trains_and_times_the_hwnas_candidates(ray_session: Any, tmp_path: Path) -> None:
    spec = resolve(
        ["budget=smoke", "dataset=synthetic-cine", "hardware=local-cpu", f"runs.dir={tmp_path}", "method=hwnas"]
        + [f"method.{k}={v}" for k, v in {**SMALL, "paths": "2"}.items()]
    )
    res = submit(spec, echo=lambda s: None)
    rec = json.loads((res.run_dir / "record.json").read_text())
    assert rec["status"] == "complete", rec["failures"]
    (cand,) = rec["candidates"]
    assert cand["label"] == "HW-NAS N_l=2" and cand["complete"]
    assert cand["predicted"]["flops"] > 0 and "log_weight" in cand["predicted"]
    assert 0.0 <= cand["metrics"]["dice_mean"] <= 1.0
    assert cand["measurement"]["latency"]["p90_ms"] > 0 and cand["measurement"]["flops"] > 0
