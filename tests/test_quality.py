"""The two-output (segmentation + quality control) harness of seed 003 §IV-A (rtbench.train.quality, trials.run_train)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from rtbench.config import resolve
from rtbench.methods import Candidate
from rtbench.records import aggregate_folds
from rtbench.spaces import SPACES
from rtbench.tasks import get_task
from rtbench.train import quality
from rtbench.train.quality import frame_dice, quality_summary, start_at_constant

ECHO_TINY = ["task=echo", "budget=smoke", "dataset.patients=4", "dataset.frames=3"]


def _logits_of(mask: np.ndarray, k: int = 2) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.as_tensor(mask).long(), k).permute(0, 3, 1, 2).float()


def test_frame_dice_is_the_per_frame_foreground_dice_with_empty_frames_counting_as_one() -> None:
    ref = np.zeros((3, 4, 4), dtype=np.int64)
    ref[0, :2, :2] = 1  # 4 pixels
    ref[1, :2, :2] = 1
    pred = np.zeros_like(ref)
    pred[0, :2, :2] = 1  # perfect
    pred[1, :1, :2] = 1  # 2 of 4: Dice 2*2/(2+4)
    # frame 2: empty reference, empty prediction
    got = frame_dice(_logits_of(pred), torch.as_tensor(ref)[:, None])
    assert got.tolist() == pytest.approx([1.0, 4 / 6, 1.0])


def test_quality_summary_mae_baseline_and_auroc() -> None:
    rows = [
        {"qc_pred": 0.9, "qc_true": 0.95, "qc_baseline": 0.7},
        {"qc_pred": 0.8, "qc_true": 0.85, "qc_baseline": 0.7},
        {"qc_pred": 0.3, "qc_true": 0.2, "qc_baseline": 0.7},
    ]
    s = quality_summary(rows)
    assert s["qc_mae"] == pytest.approx((0.05 + 0.05 + 0.1) / 3)
    assert s["qc_mae_baseline"] == pytest.approx((0.25 + 0.15 + 0.5) / 3)
    assert s["qc_auroc"] == pytest.approx(1.0) and s["qc_failures"] == 1
    rows[2]["qc_pred"] = 0.99  # the failure now predicted as the best frame: ranked last
    assert quality_summary(rows)["qc_auroc"] == pytest.approx(0.0)
    assert math.isnan(quality_summary(rows[:2])["qc_auroc"])  # no failure: AUROC undefined


def test_aggregate_folds_reports_qc_keys_only_for_two_output_rows() -> None:
    row = {"phase": "ED", "dice_MYO": 0.8, "qc_pred": 0.7, "qc_true": 0.8, "qc_baseline": 0.5}
    out = aggregate_folds([{"per_volume": [row, dict(row, qc_pred=0.9)], "quality": {"qc_auroc": 0.75}}], ("MYO",))
    assert out["qc_mae"] == pytest.approx(0.1) and out["qc_mae_baseline"] == pytest.approx(0.3) and out["qc_auroc"] == 0.75
    assert "qc_mae" not in aggregate_folds([{"per_volume": [{"phase": "ED", "dice_MYO": 0.8}]}], ("MYO",))


@pytest.fixture(scope="module")
def echo_candidate() -> dict[str, Any]:
    spec = resolve(ECHO_TINY)
    space = SPACES.create("echonas")
    genotype = space.sample_genotype(np.random.default_rng(0), get_task("echo"), spec.budget.image_size)
    c = Candidate("echonas", genotype, "sampled")
    return {**c.to_dict(), "key": c.key}


def test_run_train_trains_seg_and_qc_on_disjoint_halves_and_scores_qc(echo_candidate: dict[str, Any], monkeypatch) -> None:
    from rtbench import trials
    from rtbench.train import recipe

    seen: dict[str, Any] = {}
    real_train, real_qc = recipe.train_model, quality.train_quality_control

    def spy_train(model, volumes, *a, **k):  # noqa: ANN001, ANN002, ANN003
        seen["seg_model"], seen["seg_patients"] = model, {v.patient for v in volumes}
        return real_train(model, volumes, *a, **k)

    def spy_qc(model, volumes, *a, **k):  # noqa: ANN001, ANN002, ANN003
        seen["qc_patients"] = {v.patient for v in volumes}
        seen["seg_before"] = {n: p.detach().clone() for n, p in model.seg.named_parameters()}
        out = real_qc(model, volumes, *a, **k)
        seen["seg_after"] = {n: p.detach().clone() for n, p in model.seg.named_parameters()}
        return out

    monkeypatch.setattr(recipe, "train_model", spy_train)
    monkeypatch.setattr(quality, "train_quality_control", spy_qc)
    spec = resolve(ECHO_TINY)
    payload = trials.run_train(spec.to_dict(), echo_candidate, 0, lambda **m: None)

    bundle, plan = trials.load_data(spec)
    fold = plan.folds[0]
    assert seen["seg_patients"] and seen["qc_patients"] and not seen["seg_patients"] & seen["qc_patients"]
    assert seen["seg_patients"] | seen["qc_patients"] == set(fold.train)  # D_seg_train + D_seg_eval = D_train
    assert not (seen["seg_patients"] | seen["qc_patients"]) & set(fold.test)
    assert type(seen["seg_model"]).__name__ != "EchoNet"  # the segmentation part alone takes the shared recipe
    for name, before in seen["seg_before"].items():  # frozen while QC trains
        assert torch.equal(before, seen["seg_after"][name]), name
    rows = payload["per_volume"]
    assert rows and all({"qc_pred", "qc_true", "qc_baseline"} <= set(r) for r in rows)
    assert all(0.0 <= r["qc_pred"] <= 1.0 for r in rows)
    assert payload["quality"]["qc_mae"] == pytest.approx(np.mean([abs(r["qc_pred"] - r["qc_true"]) for r in rows]))
    assert payload["train"]["quality"]["eval_patients"] == len(seen["qc_patients"])


def test_the_qc_target_is_the_true_dice_of_the_frozen_segmentation(echo_candidate: dict[str, Any], monkeypatch) -> None:
    from rtbench import trials

    spec = resolve(ECHO_TINY)
    bundle, plan = trials.load_data(spec)
    volumes = [v for v in bundle.volumes if v.patient in set(plan.folds[0].train)]
    task = get_task("echo")
    torch.manual_seed(0)
    model = SPACES.create("echonas").build(echo_candidate["genotype"], task, spec.budget.image_size)
    recorded: list[tuple[torch.Tensor, torch.Tensor]] = []
    real_seg = model.seg.forward
    seen_inputs: list[torch.Tensor] = []

    def seg_forward(x: torch.Tensor) -> torch.Tensor:
        seen_inputs.append(x.detach().clone())
        return real_seg(x)

    monkeypatch.setattr(model.seg, "forward", seg_forward)
    real_mse = torch.nn.functional.mse_loss
    monkeypatch.setattr(torch.nn.functional, "mse_loss", lambda p, t, **k: recorded.append((p.detach(), t.detach())) or real_mse(p, t, **k))
    labels: list[torch.Tensor] = []
    real_dice = quality.frame_dice
    monkeypatch.setattr(quality, "frame_dice", lambda logits, label: labels.append(label.clone()) or real_dice(logits, label))
    quality.train_quality_control(model, volumes, spec.budget, 0, torch.device("cpu"), task.in_channels)

    assert recorded, "QC was never trained"
    # the last len(recorded) seg calls / label batches are the training batches (the first ones scored eval_dice_mean)
    xs, ys = seen_inputs[-len(recorded) :], labels[-len(recorded) :]
    with torch.no_grad():
        for (_, target), x, y in zip(recorded, xs, ys, strict=True):
            truth = real_dice(real_seg(x), y)
            assert torch.allclose(target, truth), (target, truth)
            assert not target.requires_grad


@pytest.mark.parametrize("space", ["echonas", "unet-resnet18"])
def test_qc_training_starts_from_the_constant_predictor(space: str, echo_candidate: dict[str, Any]) -> None:
    task = get_task("echo")
    genotype = echo_candidate["genotype"] if space == "echonas" else {"width": 4}
    torch.manual_seed(0)
    net = SPACES.create(space).build(genotype, task, 32).eval()
    x = torch.randn(3, 3, 32, 32)
    start_at_constant(net.qc, 0.83)
    with torch.no_grad():
        out = net(x).dice.reshape(-1)
    assert torch.allclose(out, torch.full_like(out, 0.83), atol=1e-5), out
