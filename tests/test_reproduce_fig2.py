"""``bench reproduce rtdnas-fig2``: the Pareto front on constructed points, the figure files, and the claims (each able to go red)."""

from __future__ import annotations

import pandas as pd
import pytest
from test_reproduce_table2 import cand, paper_like, record, table

from rtbench.errors import ConfigError
from rtbench.reproduce import reproduce, rtdnas_fig2
from rtbench.reproduce.pareto import dominates, front_gap, pareto_front
from rtbench.reproduce.plots import draw_fig2
from rtbench.reproduce.rtdnas_fig2 import CLOUD, DEFAULT_SAMPLES, claims, cloud_points, method_points, panels, with_fronts
from rtbench.reproduce.submissions import Finished

# ----------------------------------------------------------------------------- Pareto fronts


def test_pareto_front_on_a_constructed_point_set() -> None:
    # (latency ms, Dice): 0, 1, 3, 5 are non-dominated; 2 is beaten by 1 (faster, more accurate); 4 by 3; 6 equals 5 (both stay)
    pts = [(30.0, 0.80), (35.0, 0.90), (36.0, 0.85), (40.0, 0.92), (45.0, 0.91), (48.0, 0.95), (48.0, 0.95)]
    assert pareto_front(pts, maximize_x=False) == [0, 1, 3, 5, 6]
    assert dominates((35.0, 0.90), (36.0, 0.85), False) and not dominates((48.0, 0.95), (48.0, 0.95), False)
    # throughput is maximised: (fps, Dice)
    fps = [(20.0, 0.95), (25.0, 0.90), (24.0, 0.89), (30.0, 0.80), (30.0, 0.70)]
    assert pareto_front(fps, maximize_x=True) == [0, 1, 3]
    front = [pts[i] for i in pareto_front(pts, False)]
    assert front_gap((45.0, 0.91), front, False) == pytest.approx(0.01)  # (40 ms, .92) is faster and better
    assert front_gap((29.0, 0.50), front, False) == 0.0  # nothing on the front is as fast
    assert front_gap((50.0, 0.99), front, False) == 0.0  # better than the front: no gap, never negative


# ----------------------------------------------------------------------------- points and claims


def cloud(*samples: tuple[float, float, float]) -> Finished:
    cands = [cand(f"random #{i} N_l=5", d, lt, tp, key=f"r{i}") for i, (d, lt, tp) in enumerate(samples)]
    return Finished(CLOUD, None, record=record("rand", *cands))


def points(samples: Finished | None, recs: dict | None = None) -> pd.DataFrame:
    figures = table(paper_like() if recs is None else recs)
    return with_fronts(pd.concat([method_points(figures, "measured"), cloud_points(samples)], ignore_index=True), panels("cine"))


FAR = [(0.80, 40.0, 25.0), (0.85, 45.0, 23.0), (0.90, 60.0, 15.0)] * 4
"""Twelve random samples: feasible ones far below the front, accurate ones too slow."""


def test_method_points_merge_one_network_on_two_rows() -> None:
    pts = method_points(table(paper_like()), "measured")
    assert len(pts) == 7 and "RT-DNAS (N_l = 8) / RT-DNAS (auto: N_l = 8)" in set(pts["Methods"])
    assert pts["feasible"].sum() == 5


def test_claims_hold_on_paper_like_points_with_a_far_cloud() -> None:
    c = claims(points(cloud(*FAR)), with_fronts(method_points(table({}), "reported"), panels("cine")))
    assert list(c["ours (measured)"]) == ["did not hold", "held", "held"]  # ICA-UNet is on the latency front, as in the paper
    assert "not RT-DNAS: ICA-UNet (n=3), ICA-UNet (n=4)" in c["ours"][0]
    assert list(c["paper (reported)"]) == ["did not hold", "held", "not reported"]
    assert "0 of 12 random samples (0%)" in c["ours"][2]


def test_claim_d_goes_red_when_a_random_sample_is_on_the_throughput_front() -> None:
    c = claims(points(cloud(*FAR, (0.925, 40.0, 29.5))), points(None))
    assert c["ours (measured)"][1] == "did not hold" and "random #12 N_l=5 (random)" in c["ours"][1]
    assert c["ours (measured)"][2] == "held", "one of thirteen (8 %) is still rare"


def test_claim_e_goes_red_when_random_samples_often_approach_the_front() -> None:
    near = [(0.915, 42.0, 26.0), (0.913, 44.0, 24.5)]  # feasible, .007 / .009 below RT-DNAS N_l=7 (faster, more accurate)
    c = claims(points(cloud(*FAR[:8], *near)), points(None))
    assert c["ours (measured)"][2] == "did not hold" and "2 of 10 random samples (20%)" in c["ours"][2]
    assert c["ours (measured)"][1] == "held", "near the front is not on it"


def test_claims_not_measured_without_rtdnas_or_random_rows() -> None:
    c = claims(points(None), points(None))
    assert c["ours (measured)"][2] == "not measured"
    recs = {k: v for k, v in paper_like().items() if not k.startswith("rtdnas")}
    c = claims(points(cloud(*FAR), recs), points(None))
    assert list(c["ours (measured)"][:2]) == ["not measured", "not measured"]


# ----------------------------------------------------------------------------- the figure


def test_draw_fig2_writes_png_and_svg(tmp_path) -> None:
    pts = points(cloud(*FAR))
    paths = draw_fig2(pts, panels("cine"), "Fig. 2 test", tmp_path / "out" / "rtdnas-fig2")
    assert [p.name for p in paths] == ["rtdnas-fig2.png", "rtdnas-fig2.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths[1].read_text()
    assert "<svg" in svg and "Pareto front" in svg and "RT-DNAS (N_l = 6)" in svg and "random samples (feasible)" in svg


def test_draw_fig2_with_no_feasible_point_and_an_echo_like_task(tmp_path) -> None:
    pts = points(cloud((0.5, 80.0, 10.0)), {})
    assert not pts["feasible"].any()
    only_latency = panels("echo")
    assert only_latency[1].constraint is None
    paths = draw_fig2(pts, only_latency, "no feasible point", tmp_path / "f")
    assert all(p.stat().st_size > 0 for p in paths)


def test_a_panel_spanning_more_than_a_decade_gets_a_log_axis() -> None:
    """On ACDC panel (a) spans 10.2-149 ms (ICA-UNet n=3 to the heaviest random genotype): a log axis spreads the
    methods' cluster around the 50 ms bound. Spans within a decade stay linear."""
    from matplotlib.figure import Figure

    from rtbench.reproduce.plots import LOG_SPAN, _shade, x_limits

    lo, hi, log = x_limits([10.2, 50.0, 600.0])
    assert log and lo < 10.2 and hi > 600.0 and hi / 600.0 == pytest.approx(10.2 / lo)  # the same margin in decades
    lo, hi, log = x_limits([40.0, 50.0, 97.0])
    assert not log and lo == pytest.approx(40.0 - 0.08 * 57.0) and hi == pytest.approx(97.0 + 0.08 * 57.0)
    assert not x_limits([0.0, 600.0])[2], "a zero value has no logarithm: linear"
    assert not x_limits([10.0, 10.0 * LOG_SPAN])[2] and x_limits([10.0, 10.0 * LOG_SPAN * 1.01])[2]
    latency, throughput = panels("cine")
    ax = Figure().subplots()
    _shade(ax, latency, [10.2, 83.7, 600.0])
    assert ax.get_xscale() == "log" and ax.get_xlim()[0] < 10.2
    ax = Figure().subplots()
    _shade(ax, throughput, [27.8, 30.4, 61.1])  # the bound (22 fps) is inside the span too
    assert ax.get_xscale() == "linear" and ax.get_xlim()[0] < 22.0


# ----------------------------------------------------------------------------- options


def test_random_samples_default_and_options(tmp_path) -> None:
    assert DEFAULT_SAMPLES >= 12 and CLOUD.defaults == (f"method.samples={DEFAULT_SAMPLES}",)
    with pytest.raises(ConfigError, match="chooses the methods itself"):
        reproduce("rtdnas-fig2", ["method=random", f"runs.dir={tmp_path}"], echo=print, show=lambda t, d: None)
    with pytest.raises(ConfigError, match="method.paths is fixed"):
        rtdnas_fig2.reproduce(["method.paths=3", f"runs.dir={tmp_path}"], echo=print, show=lambda t, d: None)
    assert not any(tmp_path.iterdir())


def test_fig2_plans_table2s_runs_and_samples_go_to_the_cloud_only(tmp_path) -> None:
    from rtbench.reproduce.rtdnas_table2 import ROWS
    from rtbench.reproduce.submissions import plan

    table2 = [r.submission for r in ROWS]
    common = ["budget=smoke", f"runs.dir={tmp_path}"]
    t2 = {p.submission: p.spec.run_id for p in plan(table2, common) if p.spec}
    f2 = plan([*table2, CLOUD], [*common, "method.samples=13"])
    assert {p.submission: p.spec.run_id for p in f2 if p.spec and p.submission != CLOUD} == t2, "Fig. 2 must reuse Table 2's runs"
    (cloud,) = [p for p in f2 if p.submission == CLOUD]
    if cloud.spec is not None:  # the random method is registered here
        assert cloud.spec.method == "random" and cloud.spec.method_config["samples"] == 13
        assert cloud.name == "random samples=13", "progress lines name the sample count the run uses, not the default"
        assert cloud.submission.name == f"random samples={DEFAULT_SAMPLES}"
    assert not any(tmp_path.iterdir())


def test_labels_neither_overlap_nor_leave_the_axes() -> None:
    """A cluster of long labels (Table 2's HW-NAS and RT-DNAS N_l = 6-8 sit within a few ms and 0.01 Dice
    on ACDC) and labels at the right edge (HW-NAS's ran past panel (a)): every box inside, none overlapping."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from rtbench.reproduce.labels import _marker, _overlap, place_labels

    fig = Figure(figsize=(6.5, 5.5))
    canvas = FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_xlim(0, 100)
    ax.set_ylim(0.85, 0.885)
    cluster = [
        ("HW-Aware NAS [HW-NAS N_l=7]", 84.0, 0.8806),
        ("HW-Aware NAS [HW-NAS N_l=6]", 89.0, 0.8793),
        ("HW-Aware NAS [HW-NAS N_l=8]", 82.6, 0.8781),
        ("RT-DNAS (N_l = 7)", 53.4, 0.8790),
        ("RT-DNAS (N_l = 8)", 58.6, 0.8735),
        ("RT-DNAS (N_l = 6)", 51.7, 0.8725),
        ("ICA-UNet (n=3)", 1.0, 0.857),
    ]
    texts = place_labels(ax, cluster, canvas.get_renderer())
    canvas.draw()
    renderer = canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    boxes = [Text.get_window_extent(t, renderer) for t in texts]  # the text, without a leader line
    assert [t.get_text() for t in texts] == [c[0] for c in cluster]
    for box, (text, *_) in zip(boxes, cluster):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, f"{text} leaves the axes"
    overlaps = [(cluster[a][0], cluster[b][0]) for a in range(len(boxes)) for b in range(a) if _overlap(boxes[a], boxes[b]) > 0]
    assert not overlaps, f"overlapping labels: {overlaps}"
    covering = [
        (cluster[a][0], cluster[b][0])
        for a in range(len(boxes))
        for b in range(len(cluster))
        if a != b and _overlap(boxes[a], _marker(ax, *cluster[b][1:])) > 0
    ]
    assert not covering, f"labels covering another labelled point: {covering}"


def test_labels_keep_clear_of_unlabelled_points_where_a_free_place_exists() -> None:
    """A random sample just right of and above a method's point, where the first offset puts its label: with
    the sample passed as ``avoid`` the label moves off it; without, it covers it (the test can go red)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from rtbench.reproduce.labels import _marker, _overlap, place_labels

    def covered(avoid: list[tuple[float, float]]) -> float:
        fig = Figure(figsize=(6.5, 5.5))
        canvas = FigureCanvasAgg(fig)
        ax = fig.subplots()
        ax.set_xlim(0, 100)
        ax.set_ylim(0.80, 0.90)
        (text,) = place_labels(ax, [("RT-DNAS (N_l = 6)", 50.0, 0.85)], canvas.get_renderer(), avoid=avoid)
        canvas.draw()
        box = Text.get_window_extent(text, canvas.get_renderer())
        return _overlap(box, _marker(ax, 58.0, 0.8515))

    assert covered([]) > 0, "the sample must sit where the first offset puts the label"
    assert covered([(58.0, 0.8515)]) == 0.0


# ACDC's measured Fig. 2 (session 12, rtdnas-fig2-s0-9ead828d): (Methods, group, Dice, p90 ms, fps, feasible)
ACDC_FIG2 = [
    ("ICA-UNet (n=3)", "ICA-UNet", 0.857, 10.2, 138.2, True),
    ("ICA-UNet (n=4)", "ICA-UNet", 0.852, 17.7, 61.1, True),
    ("HW-Aware NAS [HW-NAS N_l=6]", "HW-NAS", 0.879, 89.1, 15.7, False),
    ("HW-Aware NAS [HW-NAS N_l=7]", "HW-NAS", 0.881, 83.7, 14.9, False),
    ("HW-Aware NAS [HW-NAS N_l=8]", "HW-NAS", 0.878, 82.6, 15.2, False),
    ("BiX-NAS", "BiX-NAS", 0.881, 97.0, 11.5, False),
    ("RT-DNAS (N_l = 6)", "RT-DNAS", 0.872, 51.7, 27.8, False),
    ("RT-DNAS (N_l = 7)", "RT-DNAS", 0.879, 53.4, 28.6, False),
    ("RT-DNAS (N_l = 8)", "RT-DNAS", 0.873, 58.6, 18.9, False),
    ("RT-DNAS (auto: N_l = 3)", "RT-DNAS", 0.864, 40.7, 30.4, True),
] + [
    (f"random #{i}", "random", d, lt, fps, False)
    for i, (d, lt, fps) in enumerate(
        [(0.831, 58.7, 19.5), (0.883, 91.6, 14.6), (0.893, 65.0, 16.5), (0.881, 71.6, 18.4), (0.876, 98.5, 12.7), (0.873, 149.0, 7.6),
         (0.877, 101.4, 11.5), (0.855, 61.3, 26.8), (0.875, 105.4, 12.9), (0.876, 114.3, 12.7), (0.895, 106.2, 11.7), (0.888, 89.0, 13.3)],
        1,
    )
]  # fmt: skip


def test_acdc_fig2_labels_cover_no_marker_of_a_method_and_leave_no_panel() -> None:
    """The measured ACDC figure: with its 12 random samples drawn, twelve offsets left the HW-NAS N_l=8 label over two
    RT-DNAS stars. Every label must stay inside its panel, off every other label and off every labelled point."""
    from matplotlib.text import Text

    from rtbench.reproduce.labels import _marker, _overlap
    from rtbench.reproduce.plots import RANDOM, layout_fig2

    pts = pd.DataFrame(ACDC_FIG2, columns=["Methods", "group", "Average", "LT_ms", "TP_fps", "feasible"])
    pts = with_fronts(pts.assign(run_id="r", key=range(len(pts))), panels("cine"))
    fig, texts = layout_fig2(pts, panels("cine"), "ACDC")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    methods = pts[pts["group"] != RANDOM]
    for ax, panel, panel_texts in zip(fig.axes, panels("cine"), texts):
        frame = ax.get_window_extent(renderer)
        boxes = [Text.get_window_extent(t, renderer) for t in panel_texts]  # the text, without its leader line
        xy = list(zip(methods[panel.column], methods["Average"]))
        names = list(methods["Methods"])
        for a, box in enumerate(boxes):
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, f"{names[a]} leaves the panel"
            assert not [names[b] for b in range(a) if _overlap(box, boxes[b]) > 0], f"{names[a]} overlaps a label"
            covered = [names[b] for b in range(len(xy)) if b != a and _overlap(box, _marker(ax, *xy[b])) > 0]
            assert not covered, f"{panel.column}: the label of {names[a]} covers {covered}"
