"""Writing a latency fidelity report to disk: the scatter plot, the per-network CSV and the JSON."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from rtbench.hardware.fidelity.report import CEILING, MODELS, FidelityReport


def write_report(report: FidelityReport, out_dir: Path) -> None:
    """Write ``latency_check.png`` (scatter), ``.csv`` (one row per network) and ``.json`` (everything).

    Their paths are added to ``report.files`` (files it already names, such as the calibration file, stay).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / f"latency_check.{kind}" for kind in ("png", "csv", "json")}
    report.files = report.files | {f"{kind} file": str(p) for kind, p in paths.items()}
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
