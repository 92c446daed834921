"""Seed 000's Fig. 2 drawn with matplotlib (Agg): average Dice vs (a) p90 latency and (b) throughput.

One figure, two panels. The random cloud in grey; each method's rows in one colour per method
family, each point labelled (``rtbench.reproduce.labels``: no two labels overlap, none leaves the
axes or covers a random sample where a free place exists); a filled marker meets every constraint, a hollow one breaks one. The panel's own
constraint region is shaded (latency <= bound in (a), throughput >= minimum in (b)) with its bound
dashed, and the Pareto front of the feasible points (every constraint met) is drawn as a
staircase: the best Dice attainable at each latency (a) or throughput (b). A panel whose x values
span more than a decade (:func:`x_limits`) is drawn on a log x axis, ticked at 1, 2 and 5 per decade.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from rtbench.leaderboard.plots import Panel
from rtbench.reproduce.labels import place_labels
from rtbench.reproduce.pareto import pareto_front

RANDOM = "random"
"""The ``group`` of the random cloud's points."""
COLOURS = {"RT-DNAS": "tab:red", "ICA-UNet": "tab:blue", "HW-NAS": "tab:orange", "BiX-NAS": "tab:green"}
MARKERS = {"RT-DNAS": "*", "ICA-UNet": "s", "HW-NAS": "^", "BiX-NAS": "D"}
LOG_SPAN = 10.0
"""A panel whose x values span more than this ratio gets a logarithmic x axis."""


def x_limits(values: list[float]) -> tuple[float, float, bool]:
    """x limits that show every value with an 8 % margin, and whether the axis is logarithmic.

    Log when the values are positive and span more than :data:`LOG_SPAN`; the margin is then 8 %
    of the span in decades. On ACDC (session 12) panel (a) spans 10.2-149 ms (ICA-UNet n=3 to the
    heaviest random genotype) and (b) 7.6-138 frames/s: on a linear axis the methods' cluster at
    40-100 ms, where the 50 ms bound falls, would take a third of panel (a)'s width.
    """
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if lo > 0 and hi / lo > LOG_SPAN:
        pad = (hi / lo) ** 0.08
        return lo / pad, hi * pad, True
    pad = 0.08 * (hi - lo or max(abs(hi), 1.0))
    return lo - pad, hi + pad, False


def _shade(ax: Axes, panel: Panel, xs: list[float]) -> None:
    """Shade the panel's constraint region over x limits that show every point and the bound."""
    c = panel.constraint
    lo, hi, log = x_limits(xs + ([c.bound] if c else []))
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(lo, hi)
    if c is None:
        return
    left, right = (lo, c.bound) if c.op == "<=" else (c.bound, hi)
    ax.axvspan(left, right, color="tab:green", alpha=0.08, label=f"feasible ({c.describe()})")
    ax.axvline(c.bound, color="tab:green", ls="--", lw=1)


def _draw_panel(ax: Axes, points: pd.DataFrame, panel: Panel) -> tuple[list[tuple[str, float, float]], list[tuple[float, float]]]:
    """Draw one panel but for its point labels; those labels as ``(text, x, y)``, placed once the
    layout is final, and the random cloud's points ``(x, y)``, which the labels keep clear of."""
    col = panel.column
    xs = [float(v) for v in points[col]]
    _shade(ax, panel, xs)
    cloud = points[points["group"] == RANDOM]
    for feasible, face in ((True, "0.6"), (False, "none")):
        part = cloud[cloud["feasible"] == feasible]
        if not part.empty:
            label = f"random samples ({'feasible' if feasible else 'infeasible'})"
            ax.scatter(part[col], part["Average"], s=16, facecolors=face, edgecolors="0.5", label=label, zorder=2)
    labels: list[tuple[str, float, float]] = []
    for group, part in points[points["group"] != RANDOM].groupby("group", sort=False):
        colour, marker = COLOURS.get(str(group), "tab:purple"), MARKERS.get(str(group), "o")
        for feasible in (True, False):
            sub = part[part["feasible"] == feasible]
            if sub.empty:
                continue
            ax.scatter(
                sub[col],
                sub["Average"],
                s=70 if marker == "*" else 40,
                marker=marker,
                facecolors=colour if feasible else "none",
                edgecolors=colour,
                label=f"{group}" + ("" if feasible else " (breaks a constraint)"),
                zorder=3,
            )
        labels += [(str(r["Methods"]), float(r[col]), float(r["Average"])) for _, r in part.iterrows()]
    feasible = points[points["feasible"]]
    pts = list(zip(feasible[col].astype(float), feasible["Average"].astype(float)))
    front = [pts[i] for i in pareto_front(pts, panel.maximize)]
    if front:
        fx, fy = zip(*front)
        style = "steps-pre" if panel.maximize else "steps-post"
        ax.plot(fx, fy, color="black", lw=1.2, drawstyle=style, label="Pareto front (feasible points)", zorder=1)
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel("average Dice")
    ax.grid(alpha=0.3)
    return labels, list(zip(cloud[col].astype(float), cloud["Average"].astype(float)))


def layout_fig2(points: pd.DataFrame, panels: tuple[Panel, Panel], title: str) -> tuple[Figure, list[list[Text]]]:
    """Both panels of ``points`` (columns Methods, group, Average, feasible and each panel's column)
    laid out: the figure, and each panel's point labels (in its points' order, the random cloud's excepted)."""
    fig = Figure(figsize=(13, 5.5))
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    point_labels: list[tuple[list[tuple[str, float, float]], list[tuple[float, float]]]] = []
    for ax, panel, tag in zip(axes, panels, ("(a)", "(b)")):
        point_labels.append(_draw_panel(ax, points, panel))
        ax.set_title(f"{tag} average Dice vs {panel.xlabel}", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    for h, lab in zip(*axes[1].get_legend_handles_labels()):
        if lab not in labels:
            handles.append(h)
            labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(bottom=0.24, top=0.88, wspace=0.2)
    texts = [place_labels(ax, panel_labels, canvas.get_renderer(), avoid=cloud) for ax, (panel_labels, cloud) in zip(axes, point_labels)]
    return fig, texts


def draw_fig2(points: pd.DataFrame, panels: tuple[Panel, Panel], title: str, out_base: Path) -> list[Path]:
    """Lay out both panels of ``points`` (:func:`layout_fig2`) and save ``<out_base>.png`` and
    ``<out_base>.svg``; their paths."""
    fig, _ = layout_fig2(points, panels, title)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_base.with_suffix(".png"), out_base.with_suffix(".svg")]
    with rc_context({"svg.fonttype": "none"}):  # SVG text stays text: searchable and editable
        for path in paths:
            fig.savefig(path, dpi=150)
    return paths
