"""ICA-UNet (method and space ``icaunet``) and the harness's causal temporal windows (issue 13, items 3 and 7)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rtbench.budgets import get_budget
from rtbench.config import resolve
from rtbench.datasets.base import CineSequence, Volume
from rtbench.datasets.synthetic_cine import SyntheticCine
from rtbench.datasets.windows import (
    FALLBACK,
    FrameRing,
    StreamWindows,
    causal_window,
    fallback_marker,
    temporal_record,
    window_counts,
)
from rtbench.errors import ConfigError
from rtbench.hardware.measure import measure_all, measure_latency, measure_throughput
from rtbench.hardware.profile import load_profile
from rtbench.methods import METHODS, SearchContext
from rtbench.runner import submit
from rtbench.spaces import SPACES
from rtbench.spaces.icaunet.ica import ICALayer, dct_basis
from rtbench.tasks import CINE
from rtbench.train.data import SliceDataset
from rtbench.train.metrics import evaluate, predict_probabilities
from rtbench.trials import window_of

SMOKE = get_budget("smoke")
SPACE = SPACES.create("icaunet")
SMALL = {"n": 3, "width": 4, "depth": 3}


def synthetic(frames: int = 4, patients: int = 2) -> list[Volume]:
    return SyntheticCine(SyntheticCine.Config(frames=frames, slices=2, patients=patients)).load(SMOKE, 0).volumes


def search(seed: int, tmp_path: Path, **config: int) -> list[dict]:
    cls = METHODS.get("icaunet")
    ctx = SearchContext(
        task=CINE,
        budget=SMOKE,
        hardware=load_profile("local-cpu"),
        space=SPACE,
        volumes=synthetic(),
        seed=seed,
        rng=np.random.default_rng(seed),
        device=torch.device("cpu"),
        checkpoint_dir=tmp_path,
    )
    return [c.to_dict() for c in cls(cls.Config(**config)).search(ctx)]


# ----------------------------------------------------------------------------- the method and its space


def test_search_returns_the_fixed_candidate_which_builds_and_segments_frame_t(tmp_path: Path) -> None:
    (cand,) = search(0, tmp_path)
    assert cand["label"] == "ICA-UNet (n=3)" and cand["space"] == "icaunet"
    assert cand["genotype"] == {"n": 3, "width": 16, "depth": 5}
    SPACE.validate(cand["genotype"])
    assert window_of(SPACE, cand["genotype"]) == 3
    net = SPACE.build(cand["genotype"], CINE, SMOKE.image_size)
    out = net(torch.randn(2, 3, SMOKE.image_size, SMOKE.image_size))
    assert out.shape == (2, CINE.num_classes, SMOKE.image_size, SMOKE.image_size)
    (n4,) = search(0, tmp_path, n=4, width=8, depth=3)
    assert n4["label"] == "ICA-UNet (n=4, width 8, depth 3)"
    assert SPACE.build(n4["genotype"], CINE, 32)(torch.randn(1, 4, 32, 32)).shape == (1, 4, 32, 32)


def test_search_and_build_are_deterministic(tmp_path: Path) -> None:
    assert search(0, tmp_path) == search(0, tmp_path)
    assert search(1, tmp_path) == search(0, tmp_path)  # hand-designed: one network whatever the seed
    torch.manual_seed(0)
    a = SPACE.build(SMALL, CINE, 32).state_dict()
    torch.manual_seed(0)
    b = SPACE.build(SMALL, CINE, 32).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("option", "value", "words"), [("n", 0, "method.n=0"), ("width", 0, "method.width=0"), ("depth", 1, "method.depth=1")]
)
def test_bad_options_are_refused_with_the_key(option: str, value: int, words: str) -> None:
    cls = METHODS.get("icaunet")
    with pytest.raises(ConfigError, match=words):
        cls.Config(**{option: value})
    with pytest.raises(ConfigError, match=words):
        resolve(["method=icaunet", f"method.{option}={value}", "budget=smoke"])


@pytest.mark.parametrize(
    ("genotype", "words"),
    [({"n": 0, "width": 4, "depth": 3}, "'n'=0"), ({"n": 2, "width": 4}, "'depth'=None"), ({**SMALL, "k": 1}, "unknown gene")],
)
def test_space_refuses_bad_genotypes(genotype: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        SPACE.validate(genotype)
    with pytest.raises(ConfigError, match="divisible by 16"):
        SPACE.build({"n": 2, "width": 4, "depth": 5}, CINE, 24)


def test_ica_layer_mean_and_components() -> None:
    basis = dct_basis(4)
    assert torch.allclose(basis @ basis.T, torch.eye(4), atol=1e-6)
    assert torch.allclose(basis[1:].sum(dim=1), torch.zeros(3), atol=1e-6)  # components live in the zero-mean subspace
    layer = ICALayer(3)
    frame = torch.randn(2, 1, 8, 8)
    still = layer(frame.repeat(1, 3, 1, 1))  # no motion: the mean is the frame, every component zero
    assert still.shape == (2, 3, 1, 8, 8)
    assert torch.allclose(still[:, 0], frame) and torch.count_nonzero(still[:, 1:]) == 0
    moving = layer(torch.randn(2, 3, 8, 8))
    assert moving[:, 1:].abs().sum() > 0
    assert torch.equal(ICALayer(1)(frame)[:, 0], frame)


# ----------------------------------------------------------------------------- causal windows


def test_synthetic_windows_are_causal_and_cyclic() -> None:
    vols = [v for v in synthetic(frames=4, patients=1)]
    assert [v.cine.index for v in vols] == [0, 1, 2, 3] and all(v.cine.cyclic for v in vols)
    frames, kind = causal_window(vols[1], 3)
    assert kind == "cine" and frames[-1] is vols[1].image
    assert frames[0] is vols[3].image and frames[1] is vols[0].image  # before frame 0 comes the end of the cycle
    frames, _ = causal_window(vols[3], 3)
    assert [f is v.image for f, v in zip(frames, vols[1:])] == [True, True, True]  # t-2, t-1, t: never a later frame


def test_padded_and_fallback_windows() -> None:
    vols = synthetic(frames=3, patients=1)
    open_cine = [dataclasses.replace(v, cine=CineSequence(v.cine.frames, v.cine.index, cyclic=False)) for v in vols]
    frames, kind = causal_window(open_cine[1], 3)
    assert kind == "padded" and frames[0] is vols[0].image and frames[1] is vols[0].image
    assert causal_window(open_cine[2], 3)[1] == "cine"
    bare = [dataclasses.replace(v, cine=None) for v in vols]  # ACDC-like: labelled frames only
    frames, kind = causal_window(bare[2], 4)
    assert kind == "repeated" and all(f is bare[2].image for f in frames)
    assert window_counts(bare, 4) == {"cine": 0, "padded": 0, "repeated": 3}
    assert fallback_marker(bare, 3) == " [fallback: frame repeated]"
    assert fallback_marker(bare[:1] + vols[1:], 3) == " [fallback: frame repeated in 1/3]"
    assert fallback_marker(vols, 3) == "" and fallback_marker(bare, 1) == ""
    rec = temporal_record(3, vols, bare)
    assert rec["temporal_fallback"] and rec["fallback"] == FALLBACK and rec["train_windows"]["cine"] == 3
    assert not temporal_record(3, vols, vols)["temporal_fallback"]


def test_training_items_and_scoring_use_the_window() -> None:
    vols = synthetic(frames=3, patients=1)
    item = SliceDataset(vols, frames=3)[1]  # slice 1 of frame 0: window (frame 1, frame 2, frame 0)
    assert item["image"].shape == (3, SMOKE.image_size, SMOKE.image_size)
    expected = np.stack([vols[1].image[1], vols[2].image[1], vols[0].image[1]])
    assert np.array_equal(item["image"].numpy(), expected)
    single = SliceDataset(vols)[1]  # a single-frame network is fed exactly as before
    assert np.array_equal(single["image"].numpy(), vols[0].image[1:2])
    net = SPACE.build(SMALL, CINE, SMOKE.image_size)
    probs = predict_probabilities(net, vols[0], torch.device("cpu"), frames=3)
    assert probs.shape == (CINE.num_classes, *vols[0].image.shape)
    rows = evaluate(net, [vols[0], dataclasses.replace(vols[1], cine=None)], CINE, torch.device("cpu"), frames=3)
    assert [r["window"] for r in rows] == ["cine", "repeated"]
    plain = SPACES.create("unet").build({"width": 4, "depth": 3, "res_units": 0}, CINE, SMOKE.image_size)
    assert "window" not in evaluate(plain, vols[:1], CINE, torch.device("cpu"))[0]
    assert window_of(SPACES.create("unet"), {"width": 4, "depth": 3}) == 1


# ----------------------------------------------------------------------------- timing one new frame per query


class Recorder(nn.Module):
    """Records every input it is given; segments by thresholding the last channel."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return torch.cat([x[:, -1:], -x[:, -1:], x[:, -1:] * 0, x[:, -1:] * 0], dim=1) * self.w


def test_frame_ring_and_stream_windows_are_causal() -> None:
    stream = [np.full((1, 1, 2, 2), float(i), np.float32) for i in range(6)]
    ring = FrameRing(3)
    firsts = [ring.push(f)[0, :, 0, 0].tolist() for f in stream]
    assert firsts == [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]  # start padded with frame 0
    windows = StreamWindows(3)
    batches = [np.concatenate(stream[:4]), np.concatenate(stream[4:])]
    got = np.concatenate([windows.push(b) for b in batches])
    assert got.shape == (6, 3, 2, 2) and got[:, :, 0, 0].tolist() == firsts


def test_window_measurement_records_its_input() -> None:
    profile = dataclasses.replace(load_profile("local-cpu"), warmup_queries=2, min_queries=6, min_duration_s=0.0, threads=1)
    caller = Recorder()
    assert measure_latency(caller, (1, 8, 8), profile, frames=3).queries == 6
    assert caller.seen == []  # a private copy is timed; the caller's module never runs
    out = measure_all(Recorder(), (1, 8, 8), profile, frames=3)
    assert out["input"]["frames"] == 3 and out["input"]["stack_shape"] == [3, 8, 8]
    assert "input" not in measure_all(Recorder(), (1, 8, 8), profile)
    stream = dataclasses.replace(profile, stream_batch=4, throughput_min_duration_s=0.0)
    tp = measure_throughput(Recorder(), (1, 8, 8), stream, frames=3)
    assert tp.batch_size == 4 and tp.frames >= 12


def test_measured_windows_shift_by_one_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    from rtbench.hardware import measure

    fed: list[np.ndarray] = []
    real = measure.segment
    monkeypatch.setattr(measure, "segment", lambda net, x, device, dtype: (fed.append(x.copy()), real(net, x, device, dtype))[1])
    profile = dataclasses.replace(load_profile("local-cpu"), warmup_queries=2, min_queries=5, min_duration_s=0.0, threads=1)
    measure_latency(Recorder(), (1, 4, 4), profile, frames=3)
    assert len(fed) == 7 and all(x.shape == (1, 3, 4, 4) for x in fed)
    for a, b in zip(fed, fed[1:]):
        assert np.array_equal(a[0, 1:], b[0, :-1])  # each query: the oldest frame drops out, one new frame arrives


# ----------------------------------------------------------------------------- end to end


def test_smoke_submission_records_the_window(ray_session, tmp_path: Path) -> None:
    spec = resolve(
        ["budget=smoke", "dataset=synthetic-cine", "hardware=local-cpu", f"runs.dir={tmp_path}", "method=icaunet"]
        + ["method.width=4", "method.depth=3"]
    )
    res = submit(spec, echo=lambda s: None)
    rec = json.loads((res.run_dir / "record.json").read_text())
    assert rec["status"] == "complete", rec["failures"]
    (cand,) = rec["candidates"]
    assert cand["label"] == "ICA-UNet (n=3, width 4, depth 3)" and cand["complete"]
    assert 0.0 <= cand["metrics"]["dice_mean"] <= 1.0
    meas = cand["measurement"]
    assert meas["input"]["frames"] == 3 and meas["latency"]["p50_ms"] > 0 and meas["throughput"]["fps"] > 0
    temporal = cand["folds"][0]["train"]["temporal"]
    assert temporal["frames"] == 3 and temporal["temporal_fallback"] is False
    assert temporal["test_windows"]["cine"] == len(cand["folds"][0]["per_volume"])
    assert {r["window"] for r in cand["folds"][0]["per_volume"]} == {"cine"}
