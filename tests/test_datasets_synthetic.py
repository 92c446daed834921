"""The synthetic cine dataset: determinism, the data contract, anatomy and motion, physical units, speed."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from rtbench.budgets import Budget
from rtbench.datasets import DATASETS, synthetic_cine
from rtbench.datasets.base import Volume
from rtbench.datasets.synthetic_cine import GROUPS, SyntheticCine, cycle_frames
from rtbench.errors import ConfigError

SMALL = Budget(name="test", image_size=64, spacing_mm=3.0, synthetic_patients=5)


def load(budget: Budget = SMALL, seed: int = 0, **config: object) -> list[Volume]:
    return SyntheticCine(SyntheticCine.Config(**config)).load(budget, seed).volumes  # type: ignore[arg-type]


def test_registered_as_cine_dataset() -> None:
    cls = DATASETS.get("synthetic-cine")
    assert cls is SyntheticCine and cls.task == "cine" and cls.name == "synthetic-cine"


def test_deterministic_bitwise_and_seeded_by_config_only() -> None:
    a, b = load(), load()
    assert [v.case_id for v in a] == [v.case_id for v in b]
    for x, y in zip(a, b):
        assert x.image.tobytes() == y.image.tobytes() and x.label.tobytes() == y.label.tobytes()
    # the submission seed does not change the data; dataset.data_seed does
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, load(seed=7)))
    assert not np.array_equal(a[0].image, load(data_seed=1)[0].image)
    # patient i has its own stream: the first patients do not depend on the patient count
    more = load(patients=7)
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, more))


def test_shapes_dtypes_labels_and_contract() -> None:
    vols = load(slices=6)
    assert len(vols) == 5 * 2
    assert [v.phase for v in vols[:2]] == ["ED", "ES"] and vols[0].case_id == "syn000_ED"
    assert [v.group for v in vols[::2]] == list(GROUPS)  # round-robin groups, so splits can stratify
    for v in vols:
        assert v.image.shape == v.label.shape == (6, 64, 64)
        assert v.image.dtype == np.float32 and v.label.dtype == np.uint8
        assert set(np.unique(v.label)) <= {0, 1, 2, 3}
        assert v.spacing[1:] == (3.0, 3.0) and 4.0 < v.spacing[0] < 20.0
        assert abs(float(v.image.mean())) < 1e-3 and abs(float(v.image.std()) - 1.0) < 1e-3
        for s in (2, 3):  # mid-ventricular slices hold every class
            assert set(np.unique(v.label[s])) == {0, 1, 2, 3}, (v.case_id, s)


def test_heart_contracts_and_shrinks_toward_apex() -> None:
    vols = load(slices=8)
    lv_ratio = {}
    for ed, es in zip(vols[::2], vols[1::2]):
        lv_ed = (ed.label == 3).sum(axis=(1, 2))
        lv_es = (es.label == 3).sum(axis=(1, 2))
        assert lv_es.sum() < 0.9 * lv_ed.sum(), ed.patient
        assert lv_ed[0] > lv_ed[-1]  # base larger than apex
        assert (ed.label[-1] == 1).sum() == 0  # RV gone at the apex
        # wall thickening at ES: myocardium keeps its area while the cavity shrinks
        myo_ed, myo_es = (ed.label[2] == 2).sum(), (es.label[2] == 2).sum()
        assert abs(int(myo_es) - int(myo_ed)) < 0.35 * myo_ed
        lv_ratio[ed.group] = lv_es.sum() / lv_ed.sum()
    assert lv_ratio["DCM"] > lv_ratio["NOR"] > lv_ratio["HCM"]  # ejection: DCM weakest, HCM strongest


def test_cine_frames_cover_the_cycle() -> None:
    t, t_es, phases = cycle_frames(10)
    assert phases[0] == "ED" and phases[round(0.35 * 10)] == "ES" and phases[1] == "t01" and len(set(phases)) == 10
    assert np.allclose(np.diff(t), 0.1) and t_es == pytest.approx(0.4)
    vols = load(Budget(name="t", image_size=48, spacing_mm=4.0, synthetic_patients=1), frames=10)
    assert [v.phase for v in vols] == phases
    lv = [int((v.label == 3).sum()) for v in vols]
    assert lv.index(max(lv)) == 0 and lv.index(min(lv)) == phases.index("ES")


def test_hearts_have_physical_size_on_any_grid() -> None:
    """Same patients, same field of view, two pixel sizes: structure areas in mm^2 agree."""
    coarse = load(Budget(name="a", image_size=48, spacing_mm=4.0, synthetic_patients=3))
    fine = load(Budget(name="b", image_size=96, spacing_mm=2.0, synthetic_patients=3))
    for c, f in zip(coarse, fine):
        for cls in (1, 2, 3):
            area_c = (c.label == cls).sum() * 16.0
            area_f = (f.label == cls).sum() * 4.0
            assert abs(area_c - area_f) < 0.2 * area_f + 100.0, (c.case_id, cls)


def test_bad_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="dataset.frames"):
        load(frames=1)
    with pytest.raises(ConfigError, match="dataset.noise"):
        load(noise=-0.1)
    with pytest.raises(ConfigError, match="synthetic_patients"):
        load(Budget(name="t", synthetic_patients=0))
    with pytest.raises(ConfigError, match="dataset.slices"):  # the driver's validation pass, without generating anything
        SyntheticCine(SyntheticCine.Config(slices=0)).validate(SMALL)
    SyntheticCine().validate(SMALL)


def test_native_grid_is_the_harness_grid_and_fingerprint_follows_config_and_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    assert all(v.native is None for v in load())  # drawn on the harness grid: native scores are the grid scores
    fp = SyntheticCine().fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", fp) and SyntheticCine().fingerprint() == fp
    assert SyntheticCine(SyntheticCine.Config(data_seed=1)).fingerprint() != fp
    monkeypatch.setattr(synthetic_cine, "GENERATOR_VERSION", synthetic_cine.GENERATOR_VERSION + 1)
    assert SyntheticCine().fingerprint() != fp


def test_fast_enough_for_the_quick_budget() -> None:
    progress: list[str] = []
    t0 = time.perf_counter()
    vols = SyntheticCine().load(Budget(name="quick"), 0, progress.append).volumes  # 20 patients x 2 frames x 8 slices, 128 px
    elapsed = time.perf_counter() - t0
    assert len(vols) == 40 and vols[0].image.shape == (8, 128, 128)
    assert progress[-1].endswith("20/20 patients")
    assert elapsed < 5.0  # about 0.5 s on a 2-core CPU; generous for a shared machine
