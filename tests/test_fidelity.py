"""The latency fidelity report (rtbench.hardware.fidelity) end to end on a tiny fake space.

The fake space has three cheap op choices on 8x8 inputs in a small DAG (stem, two chained ops,
an optional parallel branch merged by an add, a head), so the report runs in a second with tiny
measurement settings. Nothing here checks how accurate or fast anything is: that belongs to
benchmarks/latency_fidelity.py.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from rtbench.errors import ConfigError
from rtbench.hardware.fidelity import CEILING, MODELS, FidelityReport, Score, run_latency_check, sample_distinct
from rtbench.hardware.lut import LatencyTable, MeasureSettings, calibration_path
from rtbench.hardware.measure import LatencyResult
from rtbench.hardware.predict import CalibratedModel, GraphFeatures
from rtbench.hardware.profile import HardwareProfile
from rtbench.spaces.base import OpInstance, OpNode, Space
from rtbench.tasks import CINE, Task

PROFILE = HardwareProfile(name="test-cpu", threads=1)
TINY = MeasureSettings(warmup_queries=1, min_queries=3, min_duration_s=0.0)
CHOICES = ("conv", "sep_conv", "identity")
WIDTH = 4


class Add(nn.Module):
    """The merge op; timed alone it adds its input to itself."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return xs[0] + xs[-1]


class GraphNet(nn.Module):
    """Runs an op graph: each node's module on the outputs of its inputs (the network input for none)."""

    def __init__(self, graph: list[OpNode], space: Space) -> None:
        super().__init__()
        self.graph = graph
        self.ops = nn.ModuleDict({n.id: space.build_op_instance(n.inst) for n in graph})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: dict[str, torch.Tensor] = {}
        for n in self.graph:
            out[n.id] = self.ops[n.id](*([out[i] for i in n.inputs] or [x]))
        return out[self.graph[-1].id]


class TinySpace(Space):
    """Genotype ``{"ops": [3 names from CHOICES], "skip": bool}``: 54 networks.

    stem -> ops[0] -> ops[1] -> (ops[2] on the stem, added) or (ops[2] after ops[1]) -> head.
    """

    name = "tiny-fake"

    def sample_genotype(
        self, rng: np.random.Generator, task: Task, image_size: int, config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"ops": [CHOICES[int(i)] for i in rng.integers(0, len(CHOICES), 3)], "skip": bool(rng.integers(0, 2))}

    def op_instances(self, task: Task, image_size: int, config: dict[str, Any] | None = None) -> list[OpInstance]:
        s = image_size
        mid = [OpInstance(op, WIDTH, WIDTH, s, s) for op in (*CHOICES, "add")]
        return [OpInstance("stem", task.in_channels, WIDTH, s, s), *mid, OpInstance("head", WIDTH, task.num_classes, s, s)]

    def op_graph(self, genotype: dict[str, Any], task: Task, image_size: int) -> list[OpNode]:
        s, ops = image_size, genotype["ops"]

        def mid(op: str) -> OpInstance:
            return OpInstance(op, WIDTH, WIDTH, s, s)

        graph = [
            OpNode("stem", OpInstance("stem", task.in_channels, WIDTH, s, s)),
            OpNode("n0", mid(ops[0]), ("stem",)),
            OpNode("n1", mid(ops[1]), ("n0",)),
        ]
        if genotype["skip"]:
            graph += [OpNode("n2", mid(ops[2]), ("stem",)), OpNode("add", mid("add"), ("n1", "n2"))]
        else:
            graph.append(OpNode("n2", mid(ops[2]), ("n1",)))
        return [*graph, OpNode("head", OpInstance("head", WIDTH, task.num_classes, s, s), (graph[-1].id,))]

    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        return GraphNet(self.op_graph(genotype, task, image_size), self)

    def build_op_instance(self, inst: OpInstance) -> nn.Module:
        if inst.op == "stem":
            return nn.Conv2d(inst.c_in, inst.c_out, 3, padding=1)
        if inst.op == "head":
            return nn.Conv2d(inst.c_in, inst.c_out, 1)
        if inst.op == "add":
            return Add()
        return super().build_op_instance(inst)


def test_report_end_to_end(tmp_path: Path) -> None:
    lines: list[str] = []
    out = tmp_path / "out"
    report = run_latency_check(
        TinySpace(),
        PROFILE,
        n=4,
        image_size=8,
        seed=0,
        calibration_n=5,
        out_dir=out,
        progress=lines.append,
        op_settings=TINY,
        network_settings=TINY,
        lut_root=tmp_path / "lut",
    )
    assert isinstance(report, FidelityReport)
    assert list(report.scores) == [*MODELS.values(), CEILING]
    # every score grades the reported rows' predictions (and second pass) against their first pass
    rows = report.report_rows()
    first = [r.measured_ms for r in rows]
    graded = {label: [getattr(r, f"{key}_ms") for r in rows] for key, label in MODELS.items()}
    graded[CEILING] = [r.remeasured_ms for r in rows]
    for label, pred in graded.items():
        assert asdict(report.scores[label]) == pytest.approx(asdict(Score.of(pred, first)), nan_ok=True)
    assert [r.set for r in report.rows] == ["report"] * 4 + ["calibration"] * 5
    report_genotypes = {r.genotype for r in report.rows if r.set == "report"}
    calibration_genotypes = {r.genotype for r in report.rows if r.set == "calibration"}
    assert len(report_genotypes) == 4 and len(calibration_genotypes) == 5
    assert not report_genotypes & calibration_genotypes  # the calibration never sees a reported network
    for r in report.report_rows():
        assert r.remeasured_ms is not None and r.measured_ms > 0 and r.sum_ms >= r.longest_path_ms > 0
    assert report.table["entries"] == 6 and report.table["settings"]["min_queries"] == TINY.min_queries

    assert set(report.files) == {"png file", "csv file", "json file", "calibration file"}
    png, csv_path, json_path = (Path(report.files[f"{k} file"]) for k in ("png", "csv", "json"))
    assert png.parent == out and png.read_bytes().startswith(b"\x89PNG")
    with csv_path.open() as f:
        assert len(list(csv.DictReader(f))) == 9
    saved = json.loads(json_path.read_text())
    assert len(saved["rows"]) == 9 and set(saved["scores"]) == set(report.scores)
    assert set(saved["calibration"]) == {"intercept_ms", "per_sum_ms", "per_op_ms", "per_melem_ms"}

    text = report.format_table()
    for label in report.scores:
        assert label in text
    assert "nn-Meter" in text
    network_lines = [line for line in lines if line.startswith("latency-check ")]
    assert len(network_lines) == 5 + 2 * 4
    assert network_lines[-1].startswith("latency-check 13/13 ") and "ETA" in network_lines[-1]


class FakeMeasure:
    """Counts measurements; latency = 0.2 ms + 1 us per parameter, its p90 ``p90_factor`` times that."""

    def __init__(self, p90_factor: float = 1.0) -> None:
        self.calls = 0
        self.p90_factor = p90_factor

    def __call__(self, module: nn.Module, shape: tuple[int, int, int], profile: HardwareProfile) -> LatencyResult:
        self.calls += 1
        ms = 0.2 + 1e-3 * sum(p.numel() for p in module.parameters())
        p90 = self.p90_factor * ms
        return LatencyResult(ms, p90, p90, ms, ms, p90, 1, 0.0)


class FakePairMeasure:
    """Pairs ``FakeMeasure`` on both networks, with a host that slows by ``drift`` per call (multiplicative)."""

    def __init__(self, drift: float = 0.0) -> None:
        self.inner = FakeMeasure()
        self.drift = drift
        self.calls = 0

    def __call__(
        self, module: nn.Module, reference: nn.Module, shape: tuple[int, int, int], profile: HardwareProfile
    ) -> tuple[LatencyResult, LatencyResult]:
        slow = (1 + self.drift) ** self.calls
        self.calls += 1
        out = []
        for net in (module, reference):
            ms = self.inner(net, shape, profile).p50_ms * slow
            out.append(LatencyResult(ms, ms, ms, ms, ms, ms, 1, 0.0))
        return out[0], out[1]


def test_drift_correction_cancels_host_drift_that_raw_figures_show(tmp_path: Path) -> None:
    pair = FakePairMeasure(drift=0.05)  # the host slows by 5% per measurement: 2.05x over the 15 measurements
    kwargs: dict[str, Any] = dict(n=4, image_size=8, calibration_n=5, lut_root=tmp_path / "lut", measure=FakeMeasure())
    report = run_latency_check(TinySpace(), PROFILE, out_dir=tmp_path / "a", pair_measure=pair, **kwargs)
    assert pair.calls == 5 + 2 * 4
    assert report.scores[CEILING].mape == pytest.approx(0.0, abs=1e-9)  # corrected: both passes agree exactly
    assert report.raw_scores[CEILING].mape > 10.0  # raw: the second pass ran on a slower host
    ref = report.reference
    assert ref["min_p50_ms"] < ref["median_p50_ms"] < ref["max_p50_ms"] and ref["genotype"] not in {r.genotype for r in report.rows}
    for r in report.report_rows():
        assert r.raw_ms is not None and r.reference_ms is not None and r.raw_remeasured_ms is not None
        assert r.measured_ms == pytest.approx(r.raw_ms * ref["median_p50_ms"] / r.reference_ms)
    text = report.format_table()
    assert "drift-corrected" in text and "raw (uncorrected)" in text

    none = run_latency_check(TinySpace(), PROFILE, out_dir=tmp_path / "b", drift="none", pair_measure=FakePairMeasure(), **kwargs)
    assert none.raw_scores == {} and none.reference == {} and all(r.raw_ms is None for r in none.rows)


def test_unknown_drift_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="drift='median'"):
        run_latency_check(TinySpace(), PROFILE, n=4, calibration_n=5, image_size=8, out_dir=tmp_path, drift="median")


def test_report_reuses_the_cached_table(tmp_path: Path) -> None:
    measure = FakeMeasure()
    kwargs: dict[str, Any] = dict(n=3, image_size=8, calibration_n=4, lut_root=tmp_path / "lut", measure=measure, drift="none")
    first = run_latency_check(TinySpace(), PROFILE, out_dir=tmp_path / "a", **kwargs)
    assert measure.calls == 3 * 6 + 4 + 2 * 3  # 3 rounds over the table, calibration networks, 2 passes of reported ones
    second = run_latency_check(TinySpace(), PROFILE, out_dir=tmp_path / "b", **kwargs)
    assert measure.calls == 28 + 4 + 2 * 3  # the table came from the cache
    assert [r.genotype for r in first.rows] == [r.genotype for r in second.rows]  # same seed, same networks
    assert first.scores[CEILING].acc10 == 100.0  # a deterministic stand-in repeats itself exactly


def test_sample_distinct_runs_out_on_a_small_space() -> None:
    rng = np.random.default_rng(0)
    seen: set[str] = set()
    assert len(sample_distinct(TinySpace(), rng, CINE, 8, None, 50, seen)) == 50
    with pytest.raises(ConfigError, match="only 4 new distinct genotypes"):
        sample_distinct(TinySpace(), rng, CINE, 8, None, 5, seen)


@pytest.mark.parametrize(("n", "calibration_n", "match"), [(1, 5, "n=1"), (4, 3, "calibration_n=3")])
def test_bad_sizes_are_config_errors(tmp_path: Path, n: int, calibration_n: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        run_latency_check(TinySpace(), PROFILE, n=n, calibration_n=calibration_n, image_size=8, out_dir=tmp_path)


@pytest.mark.parametrize(("drift", "slowdown"), [("none", 0.0), ("reference", 0.05)])
def test_calibrated_model_recovers_a_latency_linear_in_its_features(tmp_path: Path, drift: str, slowdown: float) -> None:
    """Under FakeMeasure an op alone takes ``0.2 + 1e-3 * params`` ms and a network ``0.2 + 1e-3 * sum params``,
    so a network's latency is ``T_sum - 0.2 * (n_ops - 1)``: exactly linear in the calibrated model's
    features, while the sum model pays the 0.2 ms harness cost once per op. On a host that slows by
    ``slowdown`` per measurement, the drift-corrected latencies are that line times a constant."""
    report = run_latency_check(
        TinySpace(),
        PROFILE,
        n=8,
        image_size=8,
        calibration_n=6,
        lut_root=tmp_path / "lut",
        measure=FakeMeasure(),
        out_dir=tmp_path / "out",
        drift=drift,
        pair_measure=FakePairMeasure(slowdown),
    )
    calibrated, plain = report.scores[MODELS["calibrated"]], report.scores[MODELS["sum"]]
    assert calibrated.acc10 == 100.0 and calibrated.mape < 1.0
    assert plain.mpe > 10.0 and plain.mape > calibrated.mape + 10.0 and plain.acc10 < 100.0
    for r in report.rows:  # the calibration networks too: fit and prediction agree
        assert r.calibrated_ms == pytest.approx(r.measured_ms, rel=0.01)


def test_latency_check_fits_and_saves_a_p90_calibration(tmp_path: Path) -> None:
    """Networks whose measured p90 is 1.3x their p50: the saved calibration predicts both, the p90 fit on the
    measured p90s (exactly linear in the features here), and the report grades it against the measured p90s."""
    report = run_latency_check(
        TinySpace(),
        PROFILE,
        n=6,
        image_size=8,
        calibration_n=6,
        lut_root=tmp_path / "lut",
        measure=FakeMeasure(p90_factor=1.3),
        out_dir=tmp_path / "out",
        drift="none",
    )
    for r in report.rows:
        assert r.measured_p90_ms == pytest.approx(1.3 * r.measured_ms)
        assert r.calibrated_p90_ms == pytest.approx(r.measured_p90_ms, rel=0.01)
    assert report.calibration_p90["per_sum_ms"] == pytest.approx(1.3 * report.calibration["per_sum_ms"], rel=0.01)
    assert report.p90_scores["calibrated p90"].acc10 == 100.0 and report.p90_scores["sum"].mape > 10.0
    assert "calibrated p90 vs measured p90" in report.format_table()
    loaded = CalibratedModel.load(Path(report.files["calibration file"]))
    assert loaded is not None and loaded.p90_dict() == report.calibration_p90
    saved = json.loads(Path(report.files["calibration file"]).read_text())
    assert saved["format"] == 2 and set(saved["coef_p90"]) == set(CalibratedModel.FEATURES)


def test_calibrated_model_save_load_round_trip(tmp_path: Path) -> None:
    model = CalibratedModel((0.25, 1.1, -0.2, -0.003), fitted_on=20)
    path = tmp_path / "sub" / "t.calibration.json"
    model.save(path, {"space": "tiny-fake", "profile": "test-cpu"})
    assert CalibratedModel.load(path) == model  # same coefficients, bit for bit
    saved = json.loads(path.read_text())
    assert saved["coef"] == dict(zip(CalibratedModel.FEATURES, model.coef, strict=True))
    assert (saved["unit"], saved["statistic"], saved["fitted_on"], saved["space"]) == ("ms", "p50", 20, "tiny-fake")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert CalibratedModel.load(tmp_path / "absent.calibration.json") is None
    with pytest.raises(ValueError, match="reserved"):
        model.save(path, {"coef": 1})
    assert "coef_p90" not in saved and model.predict_p90(GraphFeatures(10.0, 5.0, 20, 1.0)) is None
    with_p90 = CalibratedModel((0.25, 1.1, -0.2, -0.003), fitted_on=20, coef_p90=(0.5, 1.3, -0.2, -0.001))
    with_p90.save(path, {"space": "tiny-fake"})
    assert CalibratedModel.load(path) == with_p90 and json.loads(path.read_text())["format"] == 2


def test_a_format_1_calibration_still_loads_without_a_p90_fit(tmp_path: Path) -> None:
    """Calibrations saved before p90 fits existed keep working as p50 models."""
    path = tmp_path / "t.calibration.json"
    coef = dict(zip(CalibratedModel.FEATURES, (0.25, 1.1, -0.2, -0.003), strict=True))
    path.write_text(json.dumps({"format": 1, "unit": "ms", "statistic": "p50", "coef": coef, "fitted_on": 20}))
    loaded = CalibratedModel.load(path)
    assert loaded == CalibratedModel((0.25, 1.1, -0.2, -0.003), fitted_on=20) and loaded.coef_p90 is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json", "Expecting property name"),
        ("[1, 2]", "a JSON list"),
        ('{"format": 1, "unit": "s", "statistic": "p50"}', "unit 's'"),
        ('{"format": 1, "unit": "ms", "statistic": "p50", "coef": {"intercept_ms": 1.0}, "fitted_on": 3}', "coef must name"),
        ('{"format": 1, "unit": "ms", "statistic": "p50", "fitted_on": 3}', "no 'coef' key"),
        ('{"format": 3, "unit": "ms", "statistic": "p50"}', "format 3"),
        (
            '{"format": 2, "unit": "ms", "statistic": "p50", "fitted_on": 3, "coef": {"intercept_ms": 1, "per_sum_ms": 1, '
            '"per_op_ms": 0, "per_melem_ms": 0}, "coef_p90": {"intercept_ms": 1}}',
            "coef_p90 must name",
        ),
    ],
)
def test_calibrated_model_load_rejects_a_corrupt_file(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "t.calibration.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=why) as err:
        CalibratedModel.load(path)
    assert str(path) in str(err.value)


def test_latency_check_saves_the_calibration_beside_the_table(tmp_path: Path) -> None:
    lut = tmp_path / "lut"
    report = run_latency_check(
        TinySpace(),
        PROFILE,
        n=4,
        image_size=8,
        seed=2,
        calibration_n=5,
        lut_root=lut,
        measure=FakeMeasure(),
        out_dir=tmp_path / "out",
        drift="none",
    )
    table = Path(report.table["path"])
    path = calibration_path(table)
    assert path == lut / f"{table.stem}.calibration.json" and path.is_file()
    assert report.files["calibration file"] == str(path) and f"calibration file: {path}" in report.format_table()
    loaded = CalibratedModel.load(path)
    assert loaded is not None and loaded.as_dict() == report.calibration and loaded.fitted_on == 5
    saved = json.loads(path.read_text())
    assert {k: saved[k] for k in ("space", "image_size", "profile", "seed", "n", "calibration_n")} == {
        "space": "tiny-fake",
        "image_size": 8,
        "profile": "test-cpu",
        "seed": 2,
        "n": 4,
        "calibration_n": 5,
    }
    assert saved["created"].endswith("+00:00")
    assert json.loads(Path(report.files["json file"]).read_text())["files"]["calibration file"] == str(path)

    detached = LatencyTable.load(table)
    detached.path = None  # a table with no file of its own: nothing to save the calibration beside
    again = run_latency_check(
        TinySpace(),
        PROFILE,
        n=4,
        image_size=8,
        calibration_n=5,
        table=detached,
        measure=FakeMeasure(),
        out_dir=tmp_path / "b",
        drift="none",
    )
    assert "calibration file" not in again.files and set(lut.iterdir()) == {table, path}
