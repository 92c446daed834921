"""Latency predictors and metrics (rtbench.hardware.predict) on hand-built graphs and known vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rtbench.hardware.predict import (
    CalibratedModel,
    GraphFeatures,
    acc10,
    graph_features,
    longest_path_latency,
    mape,
    mpe,
    rmspe,
    spearman,
    sum_latency,
)
from rtbench.spaces.base import OpInstance, OpNode

LATENCY_MS: dict[str, float] = {}


def _node(id: str, ms: float, *inputs: str) -> OpNode:
    """A node whose op (named after the node) takes ``ms`` in the lookup ``_t``; every input is (4, 8, 8)."""
    LATENCY_MS[id] = ms
    return OpNode(id, OpInstance(id, 4, 4, 8, 8), inputs)


def _t(inst: OpInstance) -> float:
    return LATENCY_MS[inst.op]


# in -> a(1) -> b(2) ------> d=add(1) -> e(3)
#          \--> c(5) ----/
DIAMOND = [_node("a", 1), _node("b", 2, "a"), _node("c", 5, "a"), _node("d", 1, "b", "c"), _node("e", 3, "d")]


def test_sum_model_adds_every_node() -> None:
    assert sum_latency(DIAMOND, _t) == pytest.approx(12.0)
    assert sum_latency([], _t) == 0.0


def test_longest_path_takes_the_heaviest_chain() -> None:
    assert longest_path_latency(DIAMOND, _t) == pytest.approx(1 + 5 + 1 + 3)
    # two sources and two sinks: the heavier independent chain wins
    two = [_node("x", 4), _node("y", 1), _node("z", 2, "y")]
    assert longest_path_latency(two, _t) == pytest.approx(4.0)
    assert longest_path_latency([], _t) == 0.0


def test_longest_path_rejects_an_unordered_graph() -> None:
    with pytest.raises(ValueError, match="topological order.*'b'"):
        longest_path_latency([DIAMOND[1], DIAMOND[0]], _t)


def test_graph_features() -> None:
    f = graph_features(DIAMOND, _t)
    assert f == GraphFeatures(
        sum_ms=pytest.approx(12.0), longest_ms=pytest.approx(10.0), n_ops=5, act_melems=pytest.approx(5 * 4 * 64 / 1e6)
    )


def _synthetic(count: int, seed: int = 0) -> list[GraphFeatures]:
    rng = np.random.default_rng(seed)
    return [GraphFeatures(float(rng.uniform(5, 50)), 0.0, int(rng.integers(10, 80)), float(rng.uniform(0.1, 3))) for _ in range(count)]


TRUE = (2.0, 0.8, -0.05, 1.5)


def _truth(f: GraphFeatures) -> float:
    return TRUE[0] + TRUE[1] * f.sum_ms + TRUE[2] * f.n_ops + TRUE[3] * f.act_melems


def test_calibrated_fit_recovers_known_coefficients() -> None:
    feats = _synthetic(30)
    model = CalibratedModel.fit(feats, [_truth(f) for f in feats])
    assert model.coef == pytest.approx(TRUE, rel=1e-6, abs=1e-8)
    assert model.predict(feats[0]) == pytest.approx(_truth(feats[0]))
    assert list(model.as_dict()) == list(CalibratedModel.FEATURES)


def test_calibrated_p90_fit_recovers_its_own_coefficients() -> None:
    """The p90 coefficients are fit on the measured p90s, independently of the p50 ones."""
    feats = _synthetic(30)
    true_p90 = (3.0, 1.1, -0.04, 1.0)
    p90 = [true_p90[0] + true_p90[1] * f.sum_ms + true_p90[2] * f.n_ops + true_p90[3] * f.act_melems for f in feats]
    model = CalibratedModel.fit(feats, [_truth(f) for f in feats], p90)
    assert model.coef == pytest.approx(TRUE, rel=1e-6, abs=1e-8)
    assert model.coef_p90 == pytest.approx(true_p90, rel=1e-6, abs=1e-8)
    assert model.predict_p90(feats[0]) == pytest.approx(p90[0])
    assert CalibratedModel.fit(feats, [_truth(f) for f in feats]).predict_p90(feats[0]) is None


def test_latency_model_predicts_p90_calibrated_where_it_can_else_the_table_sum() -> None:
    from rtbench.hardware.latency_model import LatencyModel
    from rtbench.spaces.msnas import MSNASSpace
    from rtbench.tasks import CINE

    space = MSNASSpace()
    genotype = space.sample_genotype(np.random.default_rng(0), CINE, 32, {"layers": 4, "scales": 3, "channels": 4, "paths": 3})
    op_ms = lambda inst: 0.1  # noqa: E731
    plain = LatencyModel(space, CINE, 32, "stand-in", op_ms)
    table = plain.table_sum_ms(genotype)
    assert plain.predict_p90_ms(genotype) == table and plain.calibrated_p90_ms(genotype) is None
    assert plain.predicts_p90 == "table-sum ms"
    p50_only = LatencyModel(space, CINE, 32, "stand-in", op_ms, CalibratedModel((0.0, 0.5, 0.0, 0.0)))
    assert p50_only.predict_p90_ms(genotype) == table and p50_only.predicts_p90 == "table-sum ms"
    both = LatencyModel(space, CINE, 32, "stand-in", op_ms, CalibratedModel((0.0, 0.5, 0.0, 0.0), coef_p90=(1.0, 0.6, 0.0, 0.0)))
    assert both.predict_p90_ms(genotype) == pytest.approx(1.0 + 0.6 * table) and both.predicts_p90 == "calibrated p90 ms"
    assert both.predict_ms(genotype) == pytest.approx(0.5 * table)


def test_calibrated_fit_shrugs_off_an_outlier() -> None:
    feats = _synthetic(40, seed=1)
    measured = [_truth(f) for f in feats]
    measured[7] *= 3  # one measurement disturbed by a busy machine
    model = CalibratedModel.fit(feats, measured)
    held_out = _synthetic(20, seed=2)
    assert mape([model.predict(f) for f in held_out], [_truth(f) for f in held_out]) < 1.0


def test_calibrated_fit_needs_enough_networks() -> None:
    feats = _synthetic(3)
    with pytest.raises(ValueError, match="at least 4"):
        CalibratedModel.fit(feats, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="positive"):
        CalibratedModel.fit(_synthetic(4), [1.0, 2.0, 0.0, 3.0])


def test_error_metrics_on_known_vectors() -> None:
    measured = [100.0, 100.0, 100.0, 100.0]
    pred = [110.0, 90.0, 100.0, 150.0]  # relative errors +10%, -10%, 0, +50%
    assert mpe(pred, measured) == pytest.approx(12.5)  # signed: over-prediction dominates
    assert mape(pred, measured) == pytest.approx(17.5)
    assert rmspe(pred, measured) == pytest.approx(100 * math.sqrt((0.01 + 0.01 + 0 + 0.25) / 4))
    assert acc10(pred, measured) == pytest.approx(75.0)  # the +-10% boundary counts as within
    assert acc10([111.0, 100.0], [100.0, 100.0]) == pytest.approx(50.0)
    assert acc10(pred, measured, tolerance=0.5) == pytest.approx(100.0)


def test_metrics_reject_bad_vectors() -> None:
    with pytest.raises(ValueError, match="equally long"):
        mape([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        acc10([1.0], [0.0])


def test_spearman_on_known_vectors() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)  # 1 - 6 * 2 / (4 * 15)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
