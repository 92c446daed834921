"""Latency fidelity report: how well the lookup-table predictors match measured networks on a profile.

:func:`run_latency_check` samples ``n`` derived architectures of a space, predicts each one's
latency from the profile's latency table with the sum, longest-path and calibrated models
(``rtbench.hardware.predict``), measures each with the harness protocol (batch 1, input
``(task.in_channels, S, S)``), and grades every model with MAPE, RMSPE, acc10 and Spearman's rho.
The calibrated model is fit on ``calibration_n`` *other* random networks, never the ``n``
reported. Every reported network is measured twice, in two separate passes, and the second pass
graded against the first gives the ceiling any predictor can reach on this machine.

Drift correction (``drift="reference"``, the default). On a shared VM the host's load moves a
network's p50 by 10-30 % over minutes, more than the +-10 % that acc10 grades, so two passes over
the same networks disagree and no predictor can look better than that. Each network is therefore
measured with a fixed *reference* network (one more random genotype of the space) interleaved
query by query (``measure_latency_paired``), and its latency is rescaled to the run's typical
host state: ``corrected = p50 * median(reference p50 over the run) / reference p50 in the same
window`` (likewise p90). Load that drifts more slowly than one pair of queries cancels in the
ratio. Scores are computed on the corrected latencies and, printed beside them, on the raw ones
(each with its own calibration fit), so the correction's effect is visible, never hidden.
``drift="none"`` measures each network alone with the harness protocol.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from torch import nn

from rtbench.errors import ConfigError
from rtbench.hardware.env import environment_info
from rtbench.hardware.lut import (
    DEFAULT_OP_SETTINGS,
    LatencyTable,
    Measure,
    MeasureSettings,
    build_table,
    format_eta,
)
from rtbench.hardware.measure import LatencyResult, Progress, measure_latency, measure_latency_paired
from rtbench.hardware.predict import CalibratedModel, GraphFeatures, acc10, graph_features, mape, mpe, rmspe, spearman
from rtbench.hardware.profile import HardwareProfile
from rtbench.spaces.base import Space, get_space
from rtbench.tasks import Task, get_task

MODELS = {"sum": "sum", "longest_path": "longest path", "calibrated": "calibrated"}
"""Predictors graded, as ``row field prefix: label``."""
CEILING = "measurement (2nd vs 1st)"
NN_METER_ACC10 = 99.0  # nn-Meter's reported +-10% accuracy on CPU (percent)
DRIFT = ("reference", "none")
"""Drift correction choices of :func:`run_latency_check` (see the module docstring)."""
PairMeasure = Callable[[nn.Module, nn.Module, tuple[int, int, int], HardwareProfile], tuple[LatencyResult, LatencyResult]]


@dataclass(frozen=True)
class Score:
    """How well one predictor (or the second measurement) matches the first measurement; all but rho in percent."""

    mpe: float
    mape: float
    rmspe: float
    acc10: float
    spearman: float

    @classmethod
    def of(cls, pred: Sequence[float], measured: Sequence[float]) -> Score:
        return cls(mpe(pred, measured), mape(pred, measured), rmspe(pred, measured), acc10(pred, measured), spearman(pred, measured))


@dataclass
class NetworkRow:
    """One sampled network: its predictions and measurements (milliseconds, p50 unless named p90).

    ``set`` is ``report`` (graded) or ``calibration`` (fit the calibrated model; its
    ``calibrated_ms`` is in-sample). ``remeasured_ms`` is the second pass (report rows only).
    ``measured_ms`` / ``measured_p90_ms`` / ``remeasured_ms`` are drift-corrected when the report
    is; ``raw_ms`` / ``raw_remeasured_ms`` are the uncorrected p50s and ``reference_ms`` the
    reference network's p50 in the first measurement's window (None without drift correction).
    ``raw_calibrated_ms`` is the calibrated model fit on raw latencies.
    """

    set: str
    index: int
    genotype: str
    n_ops: int
    act_melems: float
    sum_ms: float
    longest_path_ms: float
    calibrated_ms: float
    measured_ms: float
    measured_p90_ms: float
    remeasured_ms: float | None = None
    raw_ms: float | None = None
    raw_remeasured_ms: float | None = None
    reference_ms: float | None = None
    raw_calibrated_ms: float | None = None


@dataclass
class FidelityReport:
    """Result of :func:`run_latency_check`; ``scores`` has one entry per model label plus :data:`CEILING`.

    With drift correction, ``scores`` grade the corrected latencies and ``raw_scores`` the raw ones
    (empty without); ``reference`` holds the reference genotype and its median p50 over the run.
    """

    space: str
    task: str
    profile: str
    image_size: int
    seed: int
    n: int
    calibration_n: int
    calibration: dict[str, float]
    scores: dict[str, Score]
    rows: list[NetworkRow]
    table: dict[str, Any]
    environment: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    raw_scores: dict[str, Score] = field(default_factory=dict)
    raw_calibration: dict[str, float] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)

    def report_rows(self) -> list[NetworkRow]:
        return [r for r in self.rows if r.set == "report"]

    def format_table(self) -> str:
        """A plain-text table: one line per model and the measurement ceiling, then context lines."""
        measured = [r.measured_ms for r in self.report_rows()]
        env = self.environment
        lines = [
            f"latency fidelity: space {self.space} ({self.task}) at {self.image_size} px on profile {self.profile} "
            f"({env.get('cuda_device') or env.get('cpu')}, {env.get('torch_threads')} threads, "
            f"{self.table.get('dtype')}, torch {self.table.get('torch')})",
            f"{self.n} networks (p50 {min(measured):.2f}-{max(measured):.2f} ms), calibrated on {self.calibration_n} others, "
            f"seed {self.seed}",
        ]
        blocks = [("drift-corrected" if self.raw_scores else "", self.scores)]
        if self.raw_scores:
            ref = self.reference
            lines.append(
                f"drift correction: each network measured interleaved with a reference network "
                f"(median p50 {ref['median_p50_ms']:.2f} ms, range {ref['min_p50_ms']:.2f}-{ref['max_p50_ms']:.2f} ms over the run)"
            )
            blocks.append(("raw (uncorrected)", self.raw_scores))
        for title, scores in blocks:
            if title:
                lines.append(f"-- {title}")
            lines.append(f"{'model':<26}{'bias %':>8}{'MAPE %':>8}{'RMSPE %':>9}{'acc10 %':>9}{'Spearman':>10}")
            for label, s in scores.items():
                lines.append(f"{label:<26}{s.mpe:>+8.1f}{s.mape:>8.1f}{s.rmspe:>9.1f}{s.acc10:>9.1f}{s.spearman:>10.3f}")
        best = max((s.acc10 for k, s in self.scores.items() if k != CEILING), default=0.0)
        what = "drift-corrected " if self.raw_scores else ""
        lines.append(
            f"best {what}acc10 {best:.1f}% vs nn-Meter's {NN_METER_ACC10:.0f}% "
            f"(the {what}measurement itself reaches {self.scores[CEILING].acc10:.1f}%)"
        )
        lines.append("calibrated: " + ", ".join(f"{k} {v:+.4g}" for k, v in self.calibration.items()))
        lines.extend(f"{k}: {v}" for k, v in self.files.items())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "task": self.task,
            "profile": self.profile,
            "image_size": self.image_size,
            "seed": self.seed,
            "n": self.n,
            "calibration_n": self.calibration_n,
            "calibration": self.calibration,
            "scores": {k: asdict(v) for k, v in self.scores.items()},
            "raw_scores": {k: asdict(v) for k, v in self.raw_scores.items()},
            "raw_calibration": self.raw_calibration,
            "reference": self.reference,
            "table": self.table,
            "environment": self.environment,
            "files": self.files,
            "rows": [asdict(r) for r in self.rows],
        }


def sample_distinct(
    space: Space,
    rng: np.random.Generator,
    task: Task,
    image_size: int,
    config: dict[str, Any] | None,
    count: int,
    exclude: set[str],
) -> list[dict[str, Any]]:
    """``count`` random genotypes whose canonical JSON is not in ``exclude`` nor repeated (added to ``exclude``).

    ConfigError if the space yields too few distinct genotypes (100 draws per wanted genotype).
    """
    out: list[dict[str, Any]] = []
    for _ in range(100 * count):
        if len(out) == count:
            break
        genotype = space.sample_genotype(rng, task, image_size, config)
        canon = json.dumps(genotype, sort_keys=True)
        if canon not in exclude:
            exclude.add(canon)
            out.append(genotype)
    if len(out) < count:
        raise ConfigError(f"space '{space.name}' produced only {len(out)} new distinct genotypes of the {count} needed")
    return out


def check_genotypes(
    space: Space, task: Task, image_size: int, config: dict[str, Any] | None, seed: int, n: int, calibration_n: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """The genotypes :func:`run_latency_check` uses for ``seed``: (``n`` reported, ``calibration_n`` calibration, the reference).

    Drawn in that order from ``numpy.random.default_rng(seed)``, all distinct. The reference is drawn
    last, so it does not move the other two whether or not drift correction uses it.
    """
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    reported = sample_distinct(space, rng, task, image_size, config, n, seen)
    calibration = sample_distinct(space, rng, task, image_size, config, calibration_n, seen)
    reference = sample_distinct(space, rng, task, image_size, config, 1, seen)[0]
    return reported, calibration, reference


def run_latency_check(
    space: str | Space,
    profile: HardwareProfile,
    n: int = 50,
    image_size: int = 128,
    seed: int = 0,
    calibration_n: int = 20,
    out_dir: Path | str | None = None,
    progress: Progress | None = None,
    *,
    task: Task | str = "cine",
    config: dict[str, Any] | None = None,
    op_settings: MeasureSettings = DEFAULT_OP_SETTINGS,
    op_rounds: int = 3,
    network_settings: MeasureSettings | None = None,
    table: LatencyTable | None = None,
    lut_root: Path | None = None,
    measure: Measure = measure_latency,
    drift: str = "reference",
    pair_measure: PairMeasure = measure_latency_paired,
) -> FidelityReport:
    """Grade the latency predictors of ``space`` on ``profile`` against ``n`` measured random networks.

    1. The op latency table: ``table`` if given, else :func:`~rtbench.hardware.lut.build_table`
       (cached under ``lut_root``; takes only missing measurements, ``op_rounds`` per entry with ``op_settings``).
    2. ``n`` distinct genotypes from ``space.sample_genotype`` with ``numpy.random.default_rng(seed)``,
       then ``calibration_n`` further distinct genotypes, none of them among the ``n``.
    3. Each network is built (``torch.manual_seed(seed)``) and measured at batch 1 on a
       ``(task.in_channels, S, S)`` input under ``network_settings`` (None: the profile's own
       network settings): the calibration networks, then the reported ones, then the reported
       ones again (the second, independent pass). With ``drift="reference"`` one further distinct
       genotype is the reference network and every measurement is ``pair_measure(network,
       reference, ...)``, then drift-corrected (module docstring); with ``"none"``, ``measure``.
    4. :class:`~rtbench.hardware.predict.CalibratedModel` is fit on the calibration networks; every
       model and the second pass are scored against the first pass of the reported networks
       (corrected and raw latencies separately under drift correction).
    5. ``latency_check.{png,csv,json}`` are written to ``out_dir`` (default
       ``runs/latency-check/<space>_<profile>_<S>px_n<n>_seed<seed>``).
    """
    if n < 2:
        raise ConfigError(f"latency check: n={n} must be at least 2 (Spearman's rho needs two networks)")
    if drift not in DRIFT:
        raise ConfigError(f"latency check: drift='{drift}' is not valid; expected one of: {', '.join(DRIFT)}")
    if calibration_n < len(CalibratedModel.FEATURES):
        raise ConfigError(f"latency check: calibration_n={calibration_n} must be at least {len(CalibratedModel.FEATURES)}")
    sp = get_space(space) if isinstance(space, str) else space
    tk = get_task(task) if isinstance(task, str) else task
    out = (
        Path(out_dir)
        if out_dir is not None
        else Path("runs") / "latency-check" / f"{sp.name}_{profile.name}_{image_size}px_n{n}_seed{seed}"
    )
    if table is None:
        table = build_table(sp, profile, image_size, tk, config, progress, op_settings, rounds=op_rounds, root=lut_root, measure=measure)

    reported, calibration, reference = check_genotypes(sp, tk, image_size, config, seed, n, calibration_n)
    if drift != "reference":
        reference = None
    graphs = [sp.op_graph(g, tk, image_size) for g in reported + calibration]
    uncovered = table.missing(node.inst for graph in graphs for node in graph)
    if uncovered:
        raise ConfigError(
            f"space '{sp.name}': op_graph uses {len(uncovered)} op instance(s) that op_instances does not list, "
            f"e.g. {', '.join(i.key for i in uncovered[:3])}"
        )
    features = [graph_features(graph, table.latency_ms) for graph in graphs]

    settings = network_settings.apply(profile) if network_settings else profile
    timer = _NetworkTimer(sp, tk, image_size, seed, settings, measure, pair_measure, reference)
    timer.expect(calibration_n + 2 * n, progress)
    cal_results = [timer.measure_one(g, "calibration", progress) for g in calibration]
    first = [timer.measure_one(g, "report", progress) for g in reported]
    second = [timer.measure_one(g, "report, 2nd pass", progress) for g in reported]
    everything = cal_results + first + second
    ref_p50s = [m.reference_ms for m in everything if m.reference_ms is not None]
    typical = float(np.median(ref_p50s)) if ref_p50s else None

    model = CalibratedModel.fit(features[n:], [m.corrected(typical)[0] for m in cal_results])
    raw_model = CalibratedModel.fit(features[n:], [m.p50_ms for m in cal_results]) if typical is not None else None
    rows = [
        _row("report", i, g, f, model, m, s, raw_model, typical)
        for i, (g, f, m, s) in enumerate(zip(reported, features[:n], first, second, strict=True))
    ] + [
        _row("calibration", i, g, f, model, m, None, raw_model, typical)
        for i, (g, f, m) in enumerate(zip(calibration, features[n:], cal_results, strict=True))
    ]
    scores = _scores(rows[:n], "measured_ms", "remeasured_ms", "calibrated_ms")
    raw_scores = _scores(rows[:n], "raw_ms", "raw_remeasured_ms", "raw_calibrated_ms") if typical is not None else {}

    report = FidelityReport(
        space=sp.name,
        task=tk.name,
        profile=profile.name,
        image_size=image_size,
        seed=seed,
        n=n,
        calibration_n=calibration_n,
        calibration=model.as_dict(),
        scores=scores,
        rows=rows,
        table={k: v for k, v in table.header().items() if k != "updated"} | {"entries": len(table), "path": str(table.path)},
        environment=environment_info(profile),
        raw_scores=raw_scores,
        raw_calibration=raw_model.as_dict() if raw_model else {},
        reference=(
            {
                "genotype": json.dumps(reference, sort_keys=True),
                "median_p50_ms": typical,
                "min_p50_ms": min(ref_p50s),
                "max_p50_ms": max(ref_p50s),
            }
            if reference is not None and typical is not None
            else {}
        ),
    )
    write_report(report, out)
    return report


def write_report(report: FidelityReport, out_dir: Path) -> None:
    """Write ``latency_check.png`` (scatter), ``.csv`` (one row per network) and ``.json`` (everything); record their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / f"latency_check.{kind}" for kind in ("png", "csv", "json")}
    report.files = {f"{kind} file": str(p) for kind, p in paths.items()}
    plot_fidelity(report, paths["png"])
    with paths["csv"].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(report.rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in report.rows)
    paths["json"].write_text(json.dumps(report.to_dict(), indent=1))


def plot_fidelity(report: FidelityReport, path: Path) -> None:
    """Predicted (and re-measured) vs measured p50 latency on log axes: one marker per model, y = x and a +-10% band."""
    rows = report.report_rows()
    measured = np.array([r.measured_ms for r in rows])
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot()
    lo, hi = measured.min(), measured.max()
    for (key, label), marker in zip(MODELS.items(), "os^", strict=True):
        pred = [getattr(r, f"{key}_ms") for r in rows]
        lo, hi = min(lo, min(pred)), max(hi, max(pred))
        ax.scatter(measured, pred, marker=marker, s=22, alpha=0.75, label=f"{label} (acc10 {report.scores[label].acc10:.0f}%)")
    again = [r.remeasured_ms for r in rows]
    ax.scatter(measured, again, marker="x", s=18, color="grey", label=f"{CEILING} (acc10 {report.scores[CEILING].acc10:.0f}%)")
    lo, hi = 0.8 * max(min(lo, min(again)), 1e-3), 1.25 * max(hi, max(again))
    line = np.geomspace(lo, hi, 50)
    ax.plot(line, line, color="black", linewidth=1, label="y = x")
    ax.fill_between(line, 0.9 * line, 1.1 * line, color="black", alpha=0.1, label="+-10%")
    ax.set(
        xscale="log",
        yscale="log",
        xlim=(lo, hi),
        ylim=(lo, hi),
        xlabel="measured p50 latency (ms)",
        ylabel="predicted (x: re-measured) latency (ms)",
        title=f"{report.space} @ {report.image_size} px on {report.profile}: {report.n} networks",
    )
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=8, loc="lower right")  # the sum model over-predicts: its points crowd the upper left
    fig.savefig(path, dpi=120, bbox_inches="tight")


@dataclass(frozen=True)
class _Measured:
    """One network measurement: its p50 and p90 (ms) and, under drift correction, the reference's p50 in the same window."""

    p50_ms: float
    p90_ms: float
    reference_ms: float | None = None

    def corrected(self, typical_ms: float | None) -> tuple[float, float]:
        """(p50, p90) rescaled to the reference's typical p50: ``x * typical / reference`` (unchanged without a reference)."""
        if typical_ms is None or self.reference_ms is None:
            return self.p50_ms, self.p90_ms
        scale = typical_ms / self.reference_ms
        return self.p50_ms * scale, self.p90_ms * scale


class _NetworkTimer:
    """Builds and measures networks one at a time (with the reference interleaved, if any), with n/N and ETA progress lines."""

    def __init__(
        self,
        space: Space,
        task: Task,
        image_size: int,
        seed: int,
        profile: HardwareProfile,
        measure: Measure,
        pair_measure: PairMeasure,
        reference: dict[str, Any] | None,
    ) -> None:
        self.space, self.task, self.image_size, self.seed, self.profile = space, task, image_size, seed, profile
        self.measure, self.pair_measure = measure, pair_measure
        self.reference = self._build(reference) if reference is not None else None
        self.total, self.done, self.start = 0, 0, time.perf_counter()

    def _build(self, genotype: dict[str, Any]) -> nn.Module:
        torch.manual_seed(self.seed)
        return self.space.build(genotype, self.task, self.image_size)

    def expect(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.start = total, 0, time.perf_counter()
        if progress:
            progress(f"latency-check: measuring {total} networks on {self.profile.name} at {self.image_size} px")

    def measure_one(self, genotype: dict[str, Any], what: str, progress: Progress | None) -> _Measured:
        net = self._build(genotype)
        shape = (self.task.in_channels, self.image_size, self.image_size)
        if self.reference is None:
            r = self.measure(net, shape, self.profile)
            result = _Measured(r.p50_ms, r.p90_ms)
        else:
            r, ref = self.pair_measure(net, self.reference, shape, self.profile)
            result = _Measured(r.p50_ms, r.p90_ms, ref.p50_ms)
        self.done += 1
        if progress:
            eta = (time.perf_counter() - self.start) / self.done * (self.total - self.done)
            extra = f" (reference {result.reference_ms:.2f} ms)" if result.reference_ms is not None else ""
            progress(f"latency-check {self.done}/{self.total} ({what}): p50 {result.p50_ms:.2f} ms{extra}, ETA {format_eta(eta)}")
        return result


def _scores(rows: list[NetworkRow], measured: str, remeasured: str, calibrated: str) -> dict[str, Score]:
    """Every model and the second pass graded against the first pass, reading the given row fields."""
    first = [getattr(r, measured) for r in rows]
    fields = {"sum": "sum_ms", "longest_path": "longest_path_ms", "calibrated": calibrated}
    scores = {label: Score.of([getattr(r, fields[k]) for r in rows], first) for k, label in MODELS.items()}
    scores[CEILING] = Score.of([getattr(r, remeasured) for r in rows], first)
    return scores


def _row(
    kind: str,
    index: int,
    genotype: dict[str, Any],
    f: GraphFeatures,
    model: CalibratedModel,
    first: _Measured,
    second: _Measured | None,
    raw_model: CalibratedModel | None,
    typical_ms: float | None,
) -> NetworkRow:
    """A row: latencies drift-corrected to ``typical_ms`` (the reference's median p50), raw ones beside them."""
    drift = first.reference_ms is not None
    p50, p90 = first.corrected(typical_ms)
    return NetworkRow(
        set=kind,
        index=index,
        genotype=json.dumps(genotype, sort_keys=True),
        n_ops=f.n_ops,
        act_melems=f.act_melems,
        sum_ms=f.sum_ms,
        longest_path_ms=f.longest_ms,
        calibrated_ms=model.predict(f),
        measured_ms=p50,
        measured_p90_ms=p90,
        remeasured_ms=second.corrected(typical_ms)[0] if second else None,
        raw_ms=first.p50_ms if drift else None,
        raw_remeasured_ms=second.p50_ms if second and drift else None,
        reference_ms=first.reference_ms,
        raw_calibrated_ms=raw_model.predict(f) if raw_model else None,
    )
