"""What a latency fidelity report holds: per-network rows, per-model scores and the report itself.

:class:`FidelityReport` is what :func:`rtbench.hardware.fidelity.run_latency_check` returns; it
prints itself as a plain-text table (:meth:`FidelityReport.format_table`) and serialises to the
JSON that :func:`rtbench.hardware.fidelity.write_report` saves (:meth:`FidelityReport.to_dict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rtbench.hardware.predict import acc10, mape, mpe, rmspe, spearman

MODELS = {"sum": "sum", "longest_path": "longest path", "calibrated": "calibrated"}
"""Predictors graded, as ``row field prefix: label``."""
CEILING = "measurement (2nd vs 1st)"
NN_METER_ACC10 = 99.0  # nn-Meter's reported +-10% accuracy on CPU (percent)


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
    ``raw_calibrated_ms`` is the calibrated model fit on raw latencies; ``calibrated_p90_ms`` the
    calibrated model's p90 prediction (fit on measured p90s).
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
    calibrated_p90_ms: float | None = None


@dataclass
class FidelityReport:
    """Result of :func:`run_latency_check`; ``scores`` has one entry per model label plus :data:`CEILING`.

    With drift correction, ``scores`` grade the corrected latencies and ``raw_scores`` the raw ones
    (empty without); ``reference`` holds the reference genotype and its median p50 over the run.
    ``p90_scores`` grade the calibrated p90 model (coefficients ``calibration_p90``) and the plain
    sum against the reported networks' measured p90s.
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
    calibration_p90: dict[str, float] = field(default_factory=dict)
    p90_scores: dict[str, Score] = field(default_factory=dict)

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
        for label, sc in self.p90_scores.items():
            lines.append(
                f"{label} vs measured p90: bias {sc.mpe:+.1f}%, MAPE {sc.mape:.1f}%, acc10 {sc.acc10:.1f}%, Spearman {sc.spearman:.3f}"
            )
        lines.append("calibrated: " + ", ".join(f"{k} {v:+.4g}" for k, v in self.calibration.items()))
        if self.calibration_p90:
            lines.append("calibrated p90: " + ", ".join(f"{k} {v:+.4g}" for k, v in self.calibration_p90.items()))
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
            "calibration_p90": self.calibration_p90,
            "scores": {k: asdict(v) for k, v in self.scores.items()},
            "p90_scores": {k: asdict(v) for k, v in self.p90_scores.items()},
            "raw_scores": {k: asdict(v) for k, v in self.raw_scores.items()},
            "raw_calibration": self.raw_calibration,
            "reference": self.reference,
            "table": self.table,
            "environment": self.environment,
            "files": self.files,
            "rows": [asdict(r) for r in self.rows],
        }
