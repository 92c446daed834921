"""echonas (``method=echonas``): seed 003's joint segmentation + QC search on eq. 3, its data roles, resume, and a submission."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.utils import set_determinism

from rtbench.budgets import get_budget
from rtbench.config import resolve
from rtbench.datasets.synthetic_echo import SyntheticEcho
from rtbench.errors import ConfigError
from rtbench.hardware.latency_model import LatencyModel
from rtbench.hardware.profile import load_profile
from rtbench.methods import METHODS, SearchContext
from rtbench.methods.echonas import EchoNAS
from rtbench.methods.echonas import search as search_module
from rtbench.methods.echonas.objective import eq3, qc_target
from rtbench.methods.echonas.search import EchoSearch, SearchSettings
from rtbench.runner import submit
from rtbench.spaces import SPACES
from rtbench.spaces.cells.dice import frame_dice
from rtbench.spaces.cells.echonas import EchoNASSpace
from rtbench.spaces.cells.latency import ExpectedLatency
from rtbench.tasks import get_task

ECHO = get_task("echo")
SMOKE = get_budget("smoke")
SPACE: EchoNASSpace = SPACES.create("echonas")
SMALL = {"seg_depth": 2, "qc_stages": 2}  # a smaller supernet than the default (3 Down/Up cells, 4 QC stages): faster tests


def stand_in_ms(inst: Any) -> float:
    """A latency table without timing: a fixed cost per op plus one proportional to its FLOPs (1 ms per 10 MFLOPs)."""
    return 0.01 + 1e-7 * SPACE.op_flops(inst)


def stand_in(space: Any, options: Any) -> LatencyModel:
    return LatencyModel(space, ECHO, SMOKE.image_size, "stand-in", stand_in_ms)


def no_latency(space: Any, options: Any) -> Any:
    raise AssertionError("echonas asked for the latency model")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread for the whole module, its module-scoped searches included (two threads on a busy 2-core box spin for minutes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def volumes() -> list:
    return SyntheticEcho(SyntheticEcho.Config(patients=4, frames=4)).load(SMOKE, 0).volumes  # 2 + 2 patients, 8 frames a half


def make_ctx(volumes: list, folder: Path, seed: int = 0, source: Any = stand_in, **budget: Any) -> SearchContext:
    return SearchContext(
        task=ECHO,
        budget=replace(SMOKE, **budget),
        hardware=load_profile("local-cpu"),
        space=SPACE,
        volumes=volumes,
        seed=seed,
        rng=np.random.default_rng(seed),
        device=torch.device("cpu"),
        checkpoint_dir=folder,
        latency_source=source,
    )


def found(volumes: list, folder: Path, seed: int = 0, source: Any = stand_in, budget: dict | None = None, **options: Any) -> dict:
    method = EchoNAS(EchoNAS.Config(**{**SMALL, **options}))
    (cand,) = method.search(make_ctx(volumes, folder, seed, source, **(budget or {})))
    return cand.to_dict()


def make_search(volumes: list, folder: Path, epochs: int, seed: int = 0, **settings: Any) -> EchoSearch:
    """An ``EchoSearch`` as ``EchoNAS.search`` sets it up (stand-in table), one step per epoch."""
    set_determinism(seed=seed)
    net = SPACE.supernet(ECHO, SMOKE.image_size, EchoNAS.Config(**SMALL).space_config())
    seg_train, seg_eval = make_ctx(volumes, folder, seed).loaders(val_fraction=0.5)
    s = SearchSettings(epochs=epochs, steps_per_epoch=1, latency_table="stand-in", **settings)
    return EchoSearch(net, ExpectedLatency(net, stand_in_ms), seg_train, seg_eval, s, folder, seed)


def alphas(search: EchoSearch) -> list[torch.Tensor]:
    return [a.detach().clone() for a in search.net.arch_parameters()]


# ----------------------------------------------------------------------------- eq. 3 and the QC target


def test_defaults_are_the_papers_settings() -> None:
    cfg = EchoNAS.Config()
    assert (cfg.mse_weight, cfg.latency_weight) == (1.0, 0.001)  # lambda_1, lambda_2 of eq. 3
    assert cfg.space_config() == {"seg": {"filters": 4, "depth": 3, "nodes": 3}, "qc": {"filters": 8, "stages": 4, "nodes": 3}}
    assert SearchSettings(epochs=80, steps_per_epoch=0).warmup_epochs == 40  # the first half weights only


def test_the_search_loss_is_ce_plus_weighted_mse_plus_weighted_latency(volumes: list, tmp_path: Path) -> None:
    search = make_search(volumes, tmp_path, 1, mse_weight=2.0, latency_weight=0.5)
    batch = next(iter(search.seg_eval))
    gen_state = search.gumbel.get_state()
    terms = search.loss(batch, tau=3.0)
    x, y = batch["image"], batch["label"]
    logits = search.net.seg(x)  # train mode, batch statistics: the same output again
    ce = F.cross_entropy(logits, y[:, 0])
    mse = ((search.net(x).dice.reshape(-1) - frame_dice(logits, y)) ** 2).mean()
    lat = ExpectedLatency(search.net, stand_in_ms)(tau=3.0, generator=torch.Generator().set_state(gen_state))
    assert terms.ce.item() == pytest.approx(ce.item(), rel=1e-5)
    assert terms.mse.item() == pytest.approx(mse.item(), rel=1e-5)
    assert terms.lat_ms.item() == pytest.approx(lat.item(), rel=1e-5) and lat.item() > 1.0
    assert terms.total.item() == pytest.approx(ce.item() + 2.0 * mse.item() + 0.5 * lat.item(), rel=1e-5)
    # without a table the term is 0, and only lambda_2 = 0 may go without one
    assert eq3(terms.ce, terms.mse, None, 1.0, 0.0).lat_ms.item() == 0.0
    with pytest.raises(ValueError, match="needs LAT"):
        eq3(terms.ce, terms.mse, None, 1.0, 0.001)


def test_the_qc_target_is_the_detached_true_dice_and_the_qc_step_leaves_the_segmentation_alone(
    volumes: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    search = make_search(volumes, tmp_path, 1)
    recorded: list[torch.Tensor] = []
    real = search_module.qc_mse
    monkeypatch.setattr(search_module, "qc_mse", lambda pred, target: recorded.append(target) or real(pred, target))
    batch = next(iter(search.seg_eval))
    seg_before = [p.detach().clone() for p in search.net.seg.weight_parameters()]
    qc_before = [p.detach().clone() for p in search.net.qc.weight_parameters()]
    search.qc_step(batch)
    with torch.no_grad():  # the segmentation's weights and alphas as the QC step saw them
        truth = frame_dice(search.net.seg(batch["image"]), batch["label"])
    search.arch_step(batch, tau=5.0)
    assert len(recorded) == 2 and not any(t.requires_grad for t in recorded)
    assert torch.equal(recorded[0], truth)  # the true Dice of the current segmentation's prediction
    assert all(torch.equal(a, b) for a, b in zip(seg_before, search.net.seg.weight_parameters(), strict=True))
    assert all(p.grad is None for p in search.net.seg.weight_parameters())  # frozen: no gradient reached it
    assert any(not torch.equal(a, b) for a, b in zip(qc_before, search.net.qc.weight_parameters()))
    logits = search.net.seg(batch["image"])
    assert not qc_target(logits, batch["label"]).requires_grad and logits.requires_grad


# ----------------------------------------------------------------------------- the schedule and the data roles


def test_alphas_wait_for_the_second_half_and_the_qc_only_sees_d_seg_eval(
    volumes: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    search = make_search(volumes, tmp_path, 2)
    eval_frames = {round(float(x.sum()), 3) for b in search.seg_eval for x in b["image"]}  # unaugmented: the same every epoch
    seen: dict[str, list[float]] = {"qc": [], "arch": []}
    for name in ("qc_step", "arch_step"):
        real = getattr(search, name)

        def spy(batch: dict, *a: Any, _real: Any = real, _name: str = name) -> Any:
            seen[_name[: -len("_step")]] += [round(float(x.sum()), 3) for x in batch["image"]]
            return _real(batch, *a)

        monkeypatch.setattr(search, name, spy)
    start, weights = alphas(search), [p.detach().clone() for p in search.net.weight_parameters()]
    first = search.run_epoch()
    search.epoch = 1
    assert first["arch"] == 0.0 and all(torch.equal(a, b) for a, b in zip(start, alphas(search)))
    assert any(not torch.equal(a, b) for a, b in zip(weights, search.net.weight_parameters()))
    second = search.run_epoch()
    assert second["arch"] == 1.0 and any(not torch.equal(a, b) for a, b in zip(start, alphas(search)))
    assert seen["qc"] and seen["arch"] and set(seen["qc"]) | set(seen["arch"]) <= eval_frames


# ----------------------------------------------------------------------------- the method: latency term, determinism, resume


def test_latency_weight_zero_runs_without_a_table_and_is_the_w_o_row(volumes: list, tmp_path: Path) -> None:
    cand = found(volumes, tmp_path / "a", source=no_latency, latency_weight=0.0)
    assert cand["label"] == "echonas (w/o hardware-aware)" and cand["space"] == "echonas"
    assert cand["predicted"]["flops"] > 0 and "latency_ms" not in cand["predicted"]
    SPACE.validate(cand["genotype"])
    assert cand["genotype"]["seg"]["filters"] == 4 and cand["genotype"]["qc"]["filters"] == 8
    with pytest.raises(AssertionError, match="asked for the latency model"):  # the default does ask
        found(volumes, tmp_path / "b", source=no_latency)


@pytest.fixture(scope="module")
def weighted(volumes: list, tmp_path_factory: pytest.TempPathFactory) -> dict[float, dict]:
    """Two searches, seed 0, alike but for lambda_2 (alphas stepping fast enough to show it in 4 steps)."""
    budget = {"batch_size": 4, "search_batches": 2, "search_epochs": 2}  # 2 weight-only steps, then 2 architecture steps
    return {w: found(volumes, tmp_path_factory.mktemp(f"w{w}"), budget=budget, latency_weight=w, arch_lr=0.05) for w in (0.0, 10.0)}


def test_a_higher_latency_weight_derives_a_framework_with_lower_table_latency(weighted: dict[float, dict]) -> None:
    table = stand_in(SPACE, None)
    free, aware = (table.table_sum_ms(weighted[w]["genotype"]) for w in (0.0, 10.0))
    assert weighted[10.0]["label"] == "echonas (hardware-aware)"
    assert weighted[10.0]["predicted"]["latency_ms"] == pytest.approx(aware)
    assert aware < 0.8 * free, (aware, free)


def test_the_search_is_a_function_of_the_seed(volumes: list, tmp_path: Path, weighted: dict[float, dict]) -> None:
    budget = {"batch_size": 4, "search_batches": 2, "search_epochs": 2}
    again = found(volumes, tmp_path / "again", budget=budget, latency_weight=10.0, arch_lr=0.05)
    assert again == weighted[10.0]  # genotype and predictions (LAT_ms of the searched alphas) alike
    other = found(volumes, tmp_path / "other", seed=1, budget=budget, latency_weight=10.0, arch_lr=0.05)
    assert other["predicted"]["LAT_ms"] != again["predicted"]["LAT_ms"]


class Interrupted(Exception):
    pass


def test_an_interrupted_search_resumes_and_ends_where_an_uninterrupted_one_does(volumes: list, tmp_path: Path) -> None:
    # 3 epochs, cut after the 2nd: the first architecture epoch has drawn Gumbel noise and stepped Adam
    straight = make_search(volumes, tmp_path / "straight", 3)
    straight.run(lambda **m: None)

    def stop_after_second(**m: Any) -> None:
        if m.get("epoch") == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        make_search(volumes, tmp_path / "cut", 3).run(stop_after_second)
    messages: list[str] = []
    resumed = make_search(volumes, tmp_path / "cut", 3)
    history = resumed.run(lambda **m: messages.append(m.get("message", "")))
    assert any("resuming after epoch 2/3" in m for m in messages)
    assert [h["arch"] for h in history] == [0.0, 1.0, 1.0]
    for (name, a), b in zip(straight.net.state_dict().items(), resumed.net.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    with pytest.raises(Exception, match="other settings"):  # a checkpoint never resumes under other settings
        make_search(volumes, tmp_path / "cut", 3, latency_weight=0.5).run(lambda **m: None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"latency_weight": -1.0}, "method.latency_weight=-1.0"),
        ({"mse_weight": float("nan")}, "method.mse_weight=nan"),
        ({"seg_filters": 0}, "method.seg_filters=0"),
        ({"arch_lr": 0.0}, "method.arch_lr=0.0"),
    ],
)
def test_bad_options_are_refused_naming_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        EchoNAS.Config(**options)


# ----------------------------------------------------------------------------- end to end


def test_smoke_submission_searches_trains_scores_and_times_the_echonas_framework(ray_session: Any, tmp_path: Path) -> None:
    spec = resolve(["task=echo", "method=echonas", "budget=smoke", "dataset.patients=4", "dataset.frames=3", f"runs.dir={tmp_path}"])
    assert METHODS.get("echonas") is EchoNAS and spec.dataset == "synthetic-echo"
    res = submit(spec, echo=lambda s: None)
    rec = json.loads((res.run_dir / "record.json").read_text())
    assert rec["status"] == "complete", rec["failures"]
    (cand,) = rec["candidates"]
    assert cand["label"] == "echonas (hardware-aware)" and cand["complete"]
    assert cand["predicted"]["latency_ms"] > 0 and cand["predicted"]["flops"] == cand["measurement"]["flops"]
    metrics = cand["metrics"]
    assert 0.0 <= metrics["dice_mean"] <= 1.0 and 0.0 <= metrics["qc_mae"] <= 1.0
    assert cand["measurement"]["latency"]["p90_ms"] > 0
