"""The synthetic-echo dataset: determinism, the data contract, motion, hard patients, the echo task's defaults and input channels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtbench.budgets import Budget, get_budget
from rtbench.config import resolve
from rtbench.datasets import DATASETS, build_dataset
from rtbench.datasets.base import Volume
from rtbench.datasets.echo_channels import as_channels
from rtbench.datasets.splits import make_split
from rtbench.datasets.synthetic_echo import DIFFICULTIES, SyntheticEcho, is_hard, synthesize_patient
from rtbench.errors import ConfigError
from rtbench.tasks import get_task

TINY = Budget(name="test", image_size=32, spacing_mm=6.0, synthetic_patients=4)
SMALL = Budget(name="test", image_size=64, spacing_mm=3.0, synthetic_patients=4)


def load(budget: Budget = TINY, seed: int = 0, **config: object) -> list[Volume]:
    config.setdefault("frames", 6)
    return SyntheticEcho(SyntheticEcho.Config(**config)).load(budget, seed).volumes  # type: ignore[arg-type]


def by_patient(volumes: list[Volume]) -> dict[str, list[Volume]]:
    out: dict[str, list[Volume]] = {}
    for v in volumes:
        out.setdefault(v.patient, []).append(v)
    return out


def test_registered_as_the_echo_tasks_default() -> None:
    cls = DATASETS.get("synthetic-echo")
    assert cls is SyntheticEcho and cls.task == "echo" and cls.name == "synthetic-echo"
    assert get_task("echo").default_dataset == "synthetic-echo" and get_task("cine").default_dataset == "synthetic-cine"
    assert SyntheticEcho.Config().frames == 30  # seed 003: 30 frames per patient
    # loading through the registry, as the harness does for task=echo
    bundle = build_dataset(get_task("echo").default_dataset, {"frames": 3, "patients": 2}).load(TINY, 0)
    assert len(bundle.volumes) == 6 and len(bundle.patients()) == 2


def test_deterministic_bitwise_and_seeded_by_config_only() -> None:
    a, b = load(), load()
    assert [v.case_id for v in a] == [v.case_id for v in b]
    for x, y in zip(a, b):
        assert x.image.tobytes() == y.image.tobytes() and x.label.tobytes() == y.label.tobytes()
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, load(seed=7)))  # the submission seed is not used
    other = load(data_seed=1)
    assert not np.array_equal(a[0].image, other[0].image) and not np.array_equal(a[0].label, other[0].label)
    more = load(patients=6)  # patient i has its own stream
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, more))
    fp = SyntheticEcho(SyntheticEcho.Config()).fingerprint()
    assert fp == SyntheticEcho(SyntheticEcho.Config()).fingerprint() and len(fp) == 64
    assert fp != SyntheticEcho(SyntheticEcho.Config(data_seed=1)).fingerprint()


def test_shapes_dtypes_labels_every_frame_and_the_sector() -> None:
    vols = load(frames=6)
    assert len(vols) == 4 * 6
    assert [v.phase for v in vols[:6]] == ["ED", "t01", "ES", "t03", "t04", "t05"] and vols[0].case_id == "echo000_ED"
    for v in vols:
        assert v.image.shape == v.label.shape == (1, 32, 32)
        assert v.image.dtype == np.float32 and v.label.dtype == np.uint8
        assert set(np.unique(v.label)) == {0, 1}, v.case_id  # every frame labelled: myocardium present
        assert v.spacing[1:] == (6.0, 6.0) and v.native is None
        assert abs(float(v.image.mean())) < 1e-3 and abs(float(v.image.std()) - 1.0) < 1e-3
        # outside the sector the rendered frame is 0, so one constant (the minimum) after normalisation
        low = v.image[0] == v.image.min()
        assert low[-1, 0] and low[-1, -1] and low[0, 0] and low[0, -1] and 0.2 < low.mean() < 0.7
        assert not low[2, 16]  # the sector's apex at the top centre
        assert (v.image[0][v.label[0] == 1] > v.image.min()).all()  # the myocardium lies inside the sector
        assert v.cine is not None and len(v.cine.frames) == 6 and v.cine.frames[v.cine.index] is v.image and v.cine.cyclic
    groups = [vs[0].group for vs in by_patient(vols).values()]
    assert groups == ["normal-easy", "defect-hard", "normal-easy", "defect-easy"]  # round-robin perfusion, 30% hard


def test_wall_motion_base_moves_toward_apex_at_end_systole() -> None:
    for frames in by_patient(load(SMALL, frames=10)).values():
        rows = [np.flatnonzero(v.label[0].any(axis=1)) for v in frames]
        length = [int(r[-1] - r[0]) for r in rows]
        es = [v.phase for v in frames].index("ES")
        assert length[es] < length[0], frames[0].patient  # longitudinal shortening
        ed, sys = frames[0].label[0] == 1, frames[es].label[0] == 1
        assert (ed & sys).sum() / (ed | sys).sum() < 0.8  # the wall moved
        assert 0.6 < sys.sum() / ed.sum() < 1.6  # and kept roughly its area (it thickens)


def test_hard_share_is_spread_and_every_prefix_holds_it() -> None:
    for share in (0.0, 0.3, 0.5, 1.0):
        hard = [is_hard(i, share) for i in range(40)]
        for n in range(1, 41):
            assert sum(hard[:n]) == int(np.floor(n * share + 0.5))
    vols = load(patients=10, frames=2)
    first = {p: vs[0] for p, vs in by_patient(vols).items()}
    assert sum(v.meta["hard"] for v in first.values()) == 3
    for v in first.values():
        assert v.group.endswith("-hard") == v.meta["hard"] == bool(v.meta["difficulties"])
        assert set(v.meta["difficulties"]) <= set(DIFFICULTIES) and v.meta["defect"] == v.group.startswith("defect")


def _visibility(v: Volume) -> float:
    """AUROC of telling myocardium pixels from their 2-pixel neighbourhood by closeness to the myocardium's median intensity."""
    from scipy import ndimage

    img, lab = v.image[0], v.label[0] == 1
    ring = ndimage.binary_dilation(lab, iterations=2) & ~lab & (img > img.min())
    med = np.median(img[lab])
    pos, neg = -np.abs(img[lab] - med), -np.abs(img[ring] - med)
    ranks = np.concatenate([pos, neg]).argsort().argsort() + 1.0
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def test_hard_patients_are_measurably_harder_than_their_easy_twins() -> None:
    """The same patients (same stream: pose, size, motion) drawn easy and hard: contrast and visibility drop."""
    budget = SMALL
    cnr, vis, kinds = {False: [], True: []}, {False: [], True: []}, []
    for i in range(8):
        for hard in (False, True):
            rng = np.random.default_rng(np.random.SeedSequence([0, i]))
            frames = synthesize_patient(f"p{i}", i, hard, rng, 3, budget)
            cnr[hard].append(np.mean([v.meta["cnr"] for v in frames]))
            vis[hard].append(np.mean([_visibility(v) for v in frames]))
            if hard:
                kinds.append(frames[0].meta["difficulties"])
    assert {k for ks in kinds for k in ks} == set(DIFFICULTIES)  # every difficulty drawn at least once
    easy_cnr, hard_cnr = np.array(cnr[False]), np.array(cnr[True])
    easy_vis, hard_vis = np.array(vis[False]), np.array(vis[True])
    assert hard_vis.mean() < easy_vis.mean() - 0.03 and (hard_vis < easy_vis).mean() >= 0.75, (easy_vis, hard_vis)
    low = [j for j, ks in enumerate(kinds) if "low_contrast" in ks or "noise" in ks]
    assert low and (hard_cnr[low] < 0.85 * easy_cnr[low]).all(), (easy_cnr, hard_cnr, kinds)  # lower cavity/myocardium contrast


def test_paper_size_frame() -> None:
    paper = Budget(name="t", image_size=256, spacing_mm=0.65, synthetic_patients=1)
    vols = load(paper, frames=2, patients=1)
    assert vols[0].image.shape == (1, 256, 256) and vols[0].label.sum() > 1000
    assert get_budget("paper").image_size * get_budget("paper").spacing_mm > 160  # the sector fits the paper budget's field


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [("frames", 1, "dataset.frames=1"), ("patients", -1, "dataset.patients=-1"), ("hard_fraction", 1.5, "dataset.hard_fraction=1.5")],
)
def test_config_errors_name_the_key(key: str, value: object, text: str) -> None:
    with pytest.raises(ConfigError, match=text.replace(".", r"\.")):
        SyntheticEcho(SyntheticEcho.Config(**{key: value})).validate(TINY)  # type: ignore[arg-type]


def test_task_echo_takes_synthetic_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    for args in (["task=echo"], ["dataset=synthetic-echo"], ["task=echo", "dataset=synthetic-echo", "budget=smoke"]):
        spec = resolve(args)
        assert (spec.task, spec.dataset) == ("echo", "synthetic-echo"), args
    with pytest.raises(ConfigError, match="does not match dataset 'synthetic-echo', which is a 'echo' dataset"):
        resolve(["task=cine", "dataset=synthetic-echo"])
    spec = resolve(["budget=smoke"])  # the cine default is unchanged
    assert spec.task == "cine" and spec.dataset == "synthetic-cine"
    assert resolve(["task=cine", "budget=smoke"]).dataset == "synthetic-cine"
    # a task the harness cannot train yet is refused with its reason, before any work
    import dataclasses

    from rtbench import tasks

    monkeypatch.setitem(tasks.TASKS, "echo", dataclasses.replace(tasks.ECHO, not_trainable="the reason"))
    with pytest.raises(ConfigError, match=r"task=echo \(dataset=synthetic-echo\) cannot be submitted yet: the reason"):
        resolve(["task=echo"])


def test_splits_stratify_on_perfusion_and_hardness() -> None:
    patients = SyntheticEcho(SyntheticEcho.Config(frames=2, patients=10)).load(TINY, 0).patients()
    plan = make_split(patients, Budget(name="t", test_fraction=0.3), seed=0)
    test = plan.folds[0].test
    assert len(test) == 3 and any(patients[p].endswith("-hard") for p in test)


def test_as_channels_repeats_the_grey_frame() -> None:
    x = torch.randn(2, 1, 8, 8)
    y = as_channels(x, get_task("echo").in_channels)
    assert y.shape == (2, 3, 8, 8) and all(torch.equal(y[:, k], x[:, 0]) for k in range(3))
    assert y.data_ptr() == x.data_ptr()  # a view
    a = np.zeros((1, 1, 4, 4), dtype=np.float32)
    assert as_channels(a, 3).shape == (1, 3, 4, 4) and as_channels(a, 1) is a
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        as_channels(torch.zeros(2, 3, 8, 8), 3)
