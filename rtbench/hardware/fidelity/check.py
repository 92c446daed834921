"""The latency fidelity check itself: measure random networks and grade every latency predictor on them.

See the package docstring (:mod:`rtbench.hardware.fidelity`) for the protocol and the drift correction.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rtbench.errors import ConfigError
from rtbench.hardware.env import environment_info
from rtbench.hardware.fidelity.plot import write_report
from rtbench.hardware.fidelity.report import CEILING, MODELS, FidelityReport, NetworkRow, Score
from rtbench.hardware.fidelity.sampling import check_genotypes
from rtbench.hardware.fidelity.timer import Measured, NetworkTimer, PairMeasure
from rtbench.hardware.lut import (
    DEFAULT_OP_SETTINGS,
    LatencyTable,
    Measure,
    MeasureSettings,
    build_table,
    calibration_path,
)
from rtbench.hardware.measure import Progress, measure_latency, measure_latency_paired
from rtbench.hardware.predict import CalibratedModel, GraphFeatures, graph_features
from rtbench.hardware.profile import HardwareProfile
from rtbench.spaces.base import SPACES, Space
from rtbench.tasks import Task, get_task

DRIFT = ("reference", "none")
"""Drift correction choices of :func:`run_latency_check` (see the package docstring)."""


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
       reference, ...)``, then drift-corrected (package docstring); with ``"none"``, ``measure``.
    4. :class:`~rtbench.hardware.predict.CalibratedModel` is fit on the calibration networks, on
       their measured p50s and, for its ``coef_p90``, on their measured p90s; every model and the
       second pass are scored against the first pass of the reported networks (corrected and raw
       latencies separately under drift correction), and the calibrated p90 against the reported
       networks' measured p90s (``report.p90_scores``).
    5. When the table has a file (``table.path``), the calibrated model (fit on the drift-corrected
       latencies; raw ones with ``drift="none"``) is saved beside it, to
       :func:`~rtbench.hardware.lut.calibration_path` (``CalibratedModel.save``), for a later search to
       load: it predicts the measured p50 and p90 latency of a whole network in ms, single stream at
       batch 1, on ``profile`` (a search's bounds use the p90, ``LatencyModel.predict_p90_ms``). Its
       meta records space, task, image size, profile, seed, n, calibration_n, drift and when it was
       created (UTC); a later check on the same table replaces it.
    6. ``latency_check.{png,csv,json}`` are written to ``out_dir`` (default
       ``runs/latency-check/<space>_<profile>_<S>px_n<n>_seed<seed>``); ``report.files`` names them
       and the calibration file.
    """
    if n < 2:
        raise ConfigError(f"latency check: n={n} must be at least 2 (Spearman's rho needs two networks)")
    if drift not in DRIFT:
        raise ConfigError(f"latency check: drift='{drift}' is not valid; expected one of: {', '.join(DRIFT)}")
    if calibration_n < len(CalibratedModel.FEATURES):
        raise ConfigError(f"latency check: calibration_n={calibration_n} must be at least {len(CalibratedModel.FEATURES)}")
    sp = SPACES.create(space) if isinstance(space, str) else space
    tk = get_task(task) if isinstance(task, str) else task
    out = (
        Path(out_dir)
        if out_dir is not None
        else Path("runs") / "latency-check" / f"{sp.name}_{profile.label}_{image_size}px_n{n}_seed{seed}"
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
    timer = NetworkTimer(sp, tk, image_size, seed, settings, measure, pair_measure, reference)
    timer.expect(calibration_n + 2 * n, progress)
    cal_results = [timer.measure_one(g, "calibration", progress) for g in calibration]
    first = [timer.measure_one(g, "report", progress) for g in reported]
    second = [timer.measure_one(g, "report, 2nd pass", progress) for g in reported]
    everything = cal_results + first + second
    ref_p50s = [m.reference_ms for m in everything if m.reference_ms is not None]
    typical = float(np.median(ref_p50s)) if ref_p50s else None

    model = CalibratedModel.fit(
        features[n:], [m.corrected(typical)[0] for m in cal_results], [m.corrected(typical)[1] for m in cal_results]
    )
    raw_model = CalibratedModel.fit(features[n:], [m.p50_ms for m in cal_results]) if typical is not None else None
    files: dict[str, str] = {}
    if table.path is not None:
        saved = calibration_path(table.path)
        meta = {
            "space": sp.name,
            "task": tk.name,
            "image_size": image_size,
            "profile": profile.name,
            "runtime": profile.runtime,
            "seed": seed,
            "n": n,
            "calibration_n": calibration_n,
            "drift": drift,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        model.save(saved, meta)
        files["calibration file"] = str(saved)
    rows = [
        _row("report", i, g, f, model, m, s, raw_model, typical)
        for i, (g, f, m, s) in enumerate(zip(reported, features[:n], first, second, strict=True))
    ] + [
        _row("calibration", i, g, f, model, m, None, raw_model, typical)
        for i, (g, f, m) in enumerate(zip(calibration, features[n:], cal_results, strict=True))
    ]
    scores = _scores(rows[:n], "measured_ms", "remeasured_ms", "calibrated_ms")
    raw_scores = _scores(rows[:n], "raw_ms", "raw_remeasured_ms", "raw_calibrated_ms") if typical is not None else {}
    p90_scores = {
        "calibrated p90": Score.of([r.calibrated_p90_ms for r in rows[:n]], [r.measured_p90_ms for r in rows[:n]]),
        "sum": Score.of([r.sum_ms for r in rows[:n]], [r.measured_p90_ms for r in rows[:n]]),
    }

    report = FidelityReport(
        space=sp.name,
        task=tk.name,
        profile=profile.label,
        image_size=image_size,
        seed=seed,
        n=n,
        calibration_n=calibration_n,
        calibration=model.as_dict(),
        calibration_p90=model.p90_dict(),
        scores=scores,
        p90_scores=p90_scores,
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
        files=files,
    )
    write_report(report, out)
    return report


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
    first: Measured,
    second: Measured | None,
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
        calibrated_p90_ms=model.predict_p90(f),
        measured_ms=p50,
        measured_p90_ms=p90,
        remeasured_ms=second.corrected(typical_ms)[0] if second else None,
        raw_ms=first.p50_ms if drift else None,
        raw_remeasured_ms=second.p50_ms if second and drift else None,
        reference_ms=first.reference_ms,
        raw_calibrated_ms=raw_model.predict(f) if raw_model else None,
    )
