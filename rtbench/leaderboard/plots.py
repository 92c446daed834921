"""A board's plots (matplotlib, Agg): mean Dice vs (a) p90 latency and (b) throughput, as PNG and SVG.

Each measured row of the board (``rtbench.leaderboard.aggregate.board_rows``) is one point, coloured
by method; a method's entry is a large marker, its other candidates small ones. A filled marker
is ``ok``, a half-transparent one ``borderline`` or ``mixed``, a hollow one breaks a constraint.
On the latency panel the p90 confidence interval is a horizontal bar where the record has samples.
Rows of the ``random`` method are a grey cloud. Each panel shades its constraint's feasible region,
dashes the bound and draws the Pareto front of the ok rows (``rtbench.leaderboard.pareto``) as a
staircase. A board without an ok row is still drawn, and says so on both panels. The papers'
reported rows of the board's task (``rtbench.leaderboard.reported``) are hollow grey diamonds
labelled with their machine ("reported, P100"): never ranked, never on the front.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rtbench.leaderboard.aggregate import RANDOM_METHOD
from rtbench.leaderboard.pareto import pareto_front
from rtbench.tasks import Constraint, Task

NO_FEASIBLE = "no row meets every constraint on this board"


@dataclass(frozen=True)
class Panel:
    """One panel: the rows' column on x, whether more is better, its axis label and its constraint (if any)."""

    column: str
    maximize: bool
    xlabel: str
    constraint: Constraint | None


def panels(task: Task) -> tuple[Panel, Panel]:
    """(latency panel, throughput panel) of ``task``, each with its constraint where the task has one."""
    by_metric = {c.metric: c for c in task.constraints}
    return (
        Panel("latency_p90_ms", False, "p90 latency (ms)", by_metric.get("latency_p90_ms")),
        Panel("throughput_fps", True, "throughput (frames/s)", by_metric.get("throughput_fps")),
    )


def method_colours(methods: list[str]) -> dict[str, str]:
    """One matplotlib cycle colour per method, in sorted order: given the store's methods, a method keeps its colour on every board."""
    return {m: f"C{i % 10}" for i, m in enumerate(sorted(set(methods)))}


def _limits(ax: Axes, panel: Panel, xs: list[float]) -> tuple[float, float]:
    values = xs + ([panel.constraint.bound] if panel.constraint else [])
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = 0.08 * (hi - lo or max(abs(hi), 1.0))
    ax.set_xlim(lo - pad, hi + pad)
    return lo - pad, hi + pad


def _shade(ax: Axes, panel: Panel, xs: list[float]) -> None:
    lo, hi = _limits(ax, panel, xs)
    c = panel.constraint
    if c is None:
        return
    left, right = (lo, c.bound) if c.op == "<=" else (c.bound, hi)
    ax.axvspan(left, right, color="tab:green", alpha=0.08, label=f"feasible ({c.describe()})")
    ax.axvline(c.bound, color="tab:green", ls="--", lw=1)


def _style(verdict: str) -> tuple[bool, float, str]:
    """(filled, alpha, legend suffix) of a row's marker."""
    if verdict == "ok":
        return True, 1.0, ""
    if verdict.startswith("breaks"):
        return False, 1.0, " (breaks a constraint)"
    return True, 0.4, " (borderline)"


def _draw_reported(ax: Axes, reported: pd.DataFrame, col: str) -> None:
    """The papers' rows: hollow diamonds, one legend entry per machine, each labelled with its Methods name."""
    for hw, group in reported.groupby("hardware", sort=True):
        ax.scatter(
            group[col], group["dice_mean"], s=30, marker="D", facecolors="none", edgecolors="0.35", label=f"reported, {hw}", zorder=2
        )
        for _, r in group.iterrows():
            xy = (float(r[col]), float(r["dice_mean"]))
            ax.annotate(str(r["label"])[:22], xy, fontsize=5, color="0.35", xytext=(3, -7), textcoords="offset points")


def _draw_panel(ax: Axes, rows: pd.DataFrame, panel: Panel, colours: dict[str, str], reported: pd.DataFrame | None = None) -> None:
    col = panel.column
    shown = reported.dropna(subset=["dice_mean", col]) if reported is not None else None
    _shade(ax, panel, [float(v) for v in rows[col]] + ([float(v) for v in shown[col]] if shown is not None else []))
    if shown is not None and len(shown):
        _draw_reported(ax, shown, col)
    seen: set[str] = set()
    for _, r in rows.iterrows():
        x, y = float(r[col]), float(r["dice_mean"])
        filled, alpha, suffix = _style(str(r["verdict"]))
        cloud = r["method"] == RANDOM_METHOD
        colour = "0.55" if cloud else colours[str(r["method"])]
        label = ("random samples" if cloud else str(r["method"])) + suffix
        if panel.column == "latency_p90_ms" and not pd.isna(r["p90_lo"]):
            ax.plot([r["p90_lo"], r["p90_hi"]], [y, y], color=colour, lw=1, alpha=0.7, zorder=2)
        ax.scatter(
            [x],
            [y],
            s=16 if cloud else (60 if r["entry"] else 22),
            facecolors=colour if filled else "none",
            edgecolors=colour,
            alpha=alpha,
            label=None if label in seen else label,
            zorder=3,
        )
        seen.add(label)
        if not cloud:
            ax.annotate(str(r["candidate"])[:28], (x, y), fontsize=6, xytext=(4, 3), textcoords="offset points")
    ok = rows[rows["verdict"] == "ok"]
    pts = list(zip(ok[col].astype(float), ok["dice_mean"].astype(float)))
    front = [pts[i] for i in pareto_front(pts, panel.maximize)]
    if front:
        fx, fy = zip(*front)
        ax.plot(
            fx,
            fy,
            color="black",
            lw=1.2,
            drawstyle="steps-pre" if panel.maximize else "steps-post",
            marker="o",
            ms=11,
            mfc="none",
            label="Pareto front (ok rows)",
            zorder=1,
        )
    else:
        ax.text(0.5, 0.5, NO_FEASIBLE, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="tab:red")
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel("mean Dice (mean over seeds)")
    ax.grid(alpha=0.3)


def draw_board(
    rows: pd.DataFrame, task: Task, title: str, out_base: Path, colours: dict[str, str], reported: pd.DataFrame | None = None
) -> list[Path]:
    """Draw both panels for the measured rows of one board and save ``<out_base>.png`` and ``.svg``; their paths.

    ``rows`` are the board's ranked rows; those without a mean Dice or a figure on a panel's axis
    are left off that panel. ``reported``: the papers' rows to draw beside them (``reported_points``).
    """
    fig = Figure(figsize=(12, 5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    for ax, panel, tag in zip(axes, panels(task), ("(a)", "(b)")):
        measured = rows.dropna(subset=["dice_mean", panel.column])
        _draw_panel(ax, measured, panel, colours, reported)
        ax.set_title(f"{tag} mean Dice vs {panel.xlabel}", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    for h, lab in zip(*axes[1].get_legend_handles_labels()):
        if lab not in labels:
            handles.append(h)
            labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    if not (rows["verdict"] == "ok").any():
        title += f"  ({NO_FEASIBLE})"
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(bottom=0.24, top=0.88, wspace=0.2)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_base.with_suffix(".png"), out_base.with_suffix(".svg")]
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "rtbench"}):  # SVG text stays text; ids repeat run to run
        for path in paths:
            fig.savefig(path, dpi=120)
    return paths
