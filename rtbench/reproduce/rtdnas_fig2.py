"""``bench reproduce rtdnas-fig2 [key=value ...] [method.samples=K]``: seed 000's Fig. 2, Dice vs latency and throughput.

Runs Table 2's submissions (``rtdnas_table2.ROWS``: the same configurations, so the same run
folders, so nothing Table 2 finished runs again) plus ``method=random`` with ``method.samples=K``
(default :data:`DEFAULT_SAMPLES`) over the same space, then draws (``rtbench.reproduce.plots``)
average Dice against (a) p90 latency and (b) throughput: the random cloud in grey, each method's
rows labelled, the feasible region shaded and the Pareto front of the feasible points drawn.
Written to ``<runs.dir>/<board>/reproduce/rtdnas-fig2-s<seed>-<hash>/``: ``rtdnas-fig2.png``,
``rtdnas-fig2.svg``, ``rtdnas-fig2.md`` and ``.csv`` (every point, its front membership and gap)
and ``rtdnas-fig2-claims.csv``. Only measured points are drawn: the paper's P100 figures are of
another machine (the claims are also checked on Table 2's reported rows, as a check of the checker).

The claims of the figure ("the Pareto frontier of the points in the valid region is formed by the
architectures from RT-DNAS"; "a random search has a very slim chance to find any close-to-optimal
architectures"):

* (d) every point of the feasible Pareto front is an RT-DNAS row, checked per panel. (On the
  paper's own Table 2 rows this does not hold in the latency panel: ICA-UNet (n=3) at 35 ms is
  faster than every RT-DNAS row, and ICA-UNet (n=4) at 39 ms / .920 is not dominated by RT-DNAS
  (N_l = 6) at 37 ms / .918; the throughput panel's front is RT-DNAS's alone.)
* (e) random samples rarely approach it: at most :data:`RARELY` of the measured random samples are
  feasible with a gap (``rtbench.reproduce.pareto.front_gap``) of at most :data:`DELTA` Dice to
  the front in either panel. With K = 12, 10 % allows one sample.
"""

from __future__ import annotations

import pandas as pd

from rtbench.leaderboard.table import fmt_num
from rtbench.reproduce.outputs import Echo, Outcome, Show, write_outputs
from rtbench.reproduce.pareto import front_gap, pareto_front
from rtbench.reproduce.plots import RANDOM, Panel, draw_fig2
from rtbench.reproduce.rows import is_decided, measured_row
from rtbench.reproduce.rtdnas_table2 import ROWS, Row, figures_table, reference_rows
from rtbench.reproduce.rtdnas_table2_claims import RTDNAS, decided
from rtbench.reproduce.submissions import Finished, Submission, exit_code, output_dir, plan, run_all, stage_times
from rtbench.tasks import get_task

NAME = "rtdnas-fig2"
TITLE = "RT-DNAS Fig. 2: average Dice vs latency and throughput, random samples and the methods' networks (seed 000)"
DEFAULT_SAMPLES = 12
DELTA = 0.01
"""(e): a feasible random sample within this much Dice of the front "approaches" it."""
RARELY = 0.10
"""(e): "rarely" is at most this share of the measured random samples."""
CLOUD = Submission("random", defaults=(f"method.samples={DEFAULT_SAMPLES}",))
POINT_COLUMNS = ["Methods", "group", "Average", "LT_ms", "TP_fps", "feasible", "run_id", "key"]


def panels(task_name: str) -> tuple[Panel, Panel]:
    """(a) p90 latency, minimised; (b) throughput, maximised; each with the task's constraint on it (if any)."""
    by_metric = {c.metric: c for c in get_task(task_name).constraints}
    return (
        Panel("LT_ms", False, "p90 latency (ms)", by_metric.get("latency_p90_ms")),
        Panel("TP_fps", True, "throughput (frames/s)", by_metric.get("throughput_fps")),
    )


def method_points(figures: pd.DataFrame, source: str) -> pd.DataFrame:
    """One point per distinct network of the table's ``source`` rows; a network on two rows keeps both names."""
    rows = decided(figures[figures["source"] == source])
    if rows.empty:
        return pd.DataFrame(columns=POINT_COLUMNS)
    rows = rows.assign(feasible=rows["constraints"] == "ok")
    if source == "reported":
        return rows.assign(run_id="reported", key=rows["Methods"])[POINT_COLUMNS].reset_index(drop=True)
    merged = rows.groupby(["run_id", "key"], sort=False).agg({**{c: "first" for c in POINT_COLUMNS if c not in ("run_id", "key")}})
    names = rows.groupby(["run_id", "key"], sort=False)["Methods"].agg(" / ".join)
    return merged.assign(Methods=names).reset_index()[POINT_COLUMNS]


def cloud_points(p: Finished | None) -> pd.DataFrame:
    """The random samples of the cloud's run with a complete measurement."""
    rows = []
    for cand in (p.record or {}).get("candidates", []) if p else []:
        r = measured_row(p.record, cand)  # type: ignore[union-attr, arg-type]
        if is_decided(pd.Series(r)):
            rows.append({**r, "Methods": cand["label"], "group": RANDOM, "feasible": r["constraints"] == "ok"})
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def with_fronts(points: pd.DataFrame, panel_pair: tuple[Panel, Panel]) -> pd.DataFrame:
    """``points`` plus, per panel, whether each point is on the feasible front and its gap to it."""
    out = points.copy().reset_index(drop=True)
    feasible = out[out["feasible"].astype(bool)]
    for tag, panel in zip(("a", "b"), panel_pair):
        pts = list(zip(feasible[panel.column].astype(float), feasible["Average"].astype(float)))
        front_idx = {feasible.index[i] for i in pareto_front(pts, panel.maximize)}
        front = [pts[i] for i in pareto_front(pts, panel.maximize)]
        out[f"front_{tag}"] = [i in front_idx for i in out.index]
        out[f"gap_{tag}"] = [front_gap((float(x), float(d)), front, panel.maximize) for x, d in zip(out[panel.column], out["Average"])]
    return out


def claim_front_is_rtdnas(points: pd.DataFrame, tag: str) -> Outcome:
    """(d) every point of the feasible Pareto front of panel ``tag`` (``a``: latency, ``b``: throughput) is an RT-DNAS row."""
    if points.empty or not (points["group"] == RTDNAS).any():
        return Outcome(None, "no RT-DNAS row measured", "not measured")
    if not points["feasible"].astype(bool).any():
        return Outcome(False, "no point meets the constraints: there is no feasible front")
    front = points[points[f"front_{tag}"]]
    others = front[front["group"] != RTDNAS]
    listed = ", ".join(f"{r['Methods']} ({r['group']})" for _, r in front.iterrows())
    return Outcome(others.empty, f"front: {listed}" + (f"; not RT-DNAS: {', '.join(others['Methods'])}" if not others.empty else ""))


def claim_random_rarely_near(points: pd.DataFrame) -> Outcome:
    """(e) at most RARELY of the random samples are feasible and within DELTA Dice of the front (either panel)."""
    cloud = points[points["group"] == RANDOM]
    if cloud.empty:
        return Outcome(None, "no random sample measured", "not measured")
    near = cloud[cloud["feasible"].astype(bool) & ((cloud["gap_a"] <= DELTA) | (cloud["gap_b"] <= DELTA))]
    share = len(near) / len(cloud)
    detail = (
        f"{len(near)} of {len(cloud)} random samples ({share:.0%}) are feasible and within {DELTA} Dice of the front "
        f"(allowed: {RARELY:.0%}); {int(cloud['feasible'].astype(bool).sum())} are feasible"
    )
    if not near.empty:
        detail += "; near: " + ", ".join(f"{r['Methods']} {r['Average']:.3f}" for _, r in near.iterrows())
    return Outcome(share <= RARELY, detail)


def claims(measured: pd.DataFrame, reported: pd.DataFrame) -> pd.DataFrame:
    """Claim (d) per panel and (e) on the measured points (fronts added by :func:`with_fronts`); (d) on the reported ones."""
    no_cloud = Outcome(None, "the paper gives no per-sample figures for its random architectures", "not reported")
    front = "(d) the feasible Pareto front of panel ({}) is formed by RT-DNAS rows"
    near = f"(e) random samples rarely approach it (<= {RARELY:.0%} within {DELTA} Dice)"
    out = []
    for text, p, o in (
        (front.format("a: latency"), claim_front_is_rtdnas(reported, "a"), claim_front_is_rtdnas(measured, "a")),
        (front.format("b: throughput"), claim_front_is_rtdnas(reported, "b"), claim_front_is_rtdnas(measured, "b")),
        (near, no_cloud, claim_random_rarely_near(measured)),
    ):
        out.append({"claim": text, "paper (reported)": p.verdict, "ours (measured)": o.verdict, "ours": o.detail, "paper": p.detail})
    return pd.DataFrame(out)


def points_table(points: pd.DataFrame) -> pd.DataFrame:
    """The points as shown in the markdown and CSV."""
    return pd.DataFrame(
        {
            "Methods": points["Methods"],
            "group": points["group"],
            "Dice": [fmt_num(v, ".3f") for v in points["Average"]],
            "LT p90 (ms)": [fmt_num(v, ".1f") for v in points["LT_ms"]],
            "TP (fps)": [fmt_num(v, ".1f") for v in points["TP_fps"]],
            "feasible": points["feasible"].astype(bool),
            "front (a)": points["front_a"],
            "front (b)": points["front_b"],
            "gap (a)": [fmt_num(v, ".3f") for v in points["gap_a"]],
            "gap (b)": [fmt_num(v, ".3f") for v in points["gap_b"]],
            "run": points["run_id"],
        }
    )


def reproduce(args: list[str], echo: Echo, show: Show, rows: tuple[Row, ...] = ROWS, cloud: Submission = CLOUD) -> int:
    """Run (or resume) Table 2's submissions and the random cloud; draw Fig. 2 and check its claims.

    Returns 0 when every submission is complete, 1 otherwise (the figure shows what there is).
    """
    finished = plan([*(r.submission for r in rows), cloud], args)
    out_dir = output_dir(NAME, finished, args)
    echo(f"reproducing {TITLE}: {len(finished)} submission(s): " + "; ".join(p.name for p in finished))
    run_all(finished, echo)
    spec = next(p.spec for p in finished if p.spec is not None)
    panel_pair = panels(spec.task)
    figures = figures_table(rows, finished, reference_rows(), spec.task)
    cloud_run = next((p for p in finished if p.submission == cloud), None)
    measured = with_fronts(pd.concat([method_points(figures, "measured"), cloud_points(cloud_run)], ignore_index=True), panel_pair)
    reported = with_fronts(method_points(figures, "reported"), panel_pair)
    claim_rows = claims(measured, reported)
    missing = [str(m) for m in figures[(figures["source"] == "measured") & ~figures.apply(is_decided, axis=1)]["Methods"]]
    hardware = [h for h in figures[figures["source"] == "measured"]["hardware"] if isinstance(h, str) and h != "-"]
    title = f"{TITLE}\nboard {spec.board}; measured on {hardware[0] if hardware else spec.hardware.name}"
    images = draw_fig2(measured, panel_pair, title, out_dir / NAME)
    header = [
        f"Board `{spec.board}`. ![Fig. 2]({NAME}.png) Points: every distinct measured network of Table 2's rows and "
        f"{len(measured[measured['group'] == RANDOM])} measured random sample(s); not measured: {', '.join(missing) or 'none'}.",
        "",
        f"Front: the Pareto front of the points meeting every constraint; gap: the Dice a point lacks against the best "
        f"front point at least as fast (a) or at least as high in throughput (b). (e) counts a random sample as approaching "
        f"the front when it is feasible and its gap is <= {DELTA} in either panel.",
    ]
    table = points_table(measured)
    paths = write_outputs(out_dir, NAME, TITLE, header, table, claim_rows, sections=(("Wall time per stage", stage_times(finished)),))
    show(f"{TITLE} | board {spec.board}", table)
    show("Claims of the paper", claim_rows[["claim", "paper (reported)", "ours (measured)", "ours"]])
    for path in [*images, *paths]:
        echo(f"wrote {path}")
    return exit_code(finished, echo)
