"""Leaderboard rows that mean what they say: seeds aggregated, configs told apart, entries marked by the
method (never by test Dice), p90 intervals and borderline verdicts, per-query latency samples kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_leaderboard_records import BOARD, cand, put, samples, store
from torch import nn

from rtbench.hardware.measure import measure_all
from rtbench.hardware.profile import HardwareProfile
from rtbench.leaderboard.aggregate import board_rows, entries_only, members
from rtbench.leaderboard.verdict import NO_SAMPLES, Interval, combine, constraint_states, p90_interval, verdict
from rtbench.tasks import CINE


@pytest.fixture
def rows(tmp_path: Path):
    return board_rows(members(store(tmp_path / "runs")))[BOARD]


def _row(df, method: str, candidate: str):
    hit = df[(df["method"] == method) & (df["candidate"] == candidate)]
    assert len(hit) == 1, f"{method} {candidate}: {len(hit)} rows"
    return hit.iloc[0]


def test_two_seeds_of_one_method_and_config_are_one_row(rows) -> None:
    r = _row(rows, "unet", "U-Net(16)")
    assert r["n"] == 2 and r["seeds"] == [0, 1]
    assert r["dice_mean"] == pytest.approx(0.82) and r["dice_mean_std"] == pytest.approx(np.std([0.80, 0.84], ddof=1))
    assert r["latency_p90_ms"] == pytest.approx(21.0)
    assert [m["run_id"] for m in r["members"]] == ["unet-s0-aaaa", "unet-s1-bbbb"]
    single = _row(rows, "unet", "U-Net(8)")
    assert single["n"] == 1 and np.isnan(single["dice_mean_std"]), "n = 1 has no std over seeds"


def test_rows_of_one_method_show_their_config_difference(rows) -> None:
    assert _row(rows, "unet", "U-Net(16)")["config_diff"] == "width=16"
    assert _row(rows, "unet", "U-Net(8)")["config_diff"] == "width=8"
    assert _row(rows, "hwnas", "HW-NAS")["config_diff"] == "", "a method with one config on the board needs no difference"


def test_entry_is_the_methods_mark_never_the_best_test_dice(rows) -> None:
    assert bool(_row(rows, "rtdnas", "GA N_l=1 (auto)")["entry"])
    assert not bool(_row(rows, "rtdnas", "GA N_l=2")["entry"]), "the higher test Dice does not make a candidate the entry"
    summary = entries_only(rows)
    assert "GA N_l=2" not in set(summary["candidate"]) and "GA N_l=1 (auto)" in set(summary["candidate"])
    assert not any(summary["method"] == "random"), "random samples are never an entry"
    assert list(summary["rank"])[:3] == ["1", "2", "3"]


def test_several_unmarked_candidates_give_no_entry(tmp_path: Path) -> None:
    put(tmp_path, "hw-s0", "hwnas", 0, [cand("N_l=3", 0.8, 20.0), cand("N_l=5", 0.9, 30.0)])
    df = board_rows(members(tmp_path))[BOARD]
    assert not df["entry"].any() and entries_only(df).empty
    assert "none marked" in df.iloc[0]["members"][0]["entry_rule"]


def test_a_p90_interval_straddling_50_ms_is_borderline_and_unranked(rows) -> None:
    r = _row(rows, "hwnas", "HW-NAS")
    assert r["p90_lo"] < 50.0 < r["p90_hi"]
    assert r["verdict"] == "borderline latency" and r["rank"] == "-"
    ok = _row(rows, "unet", "U-Net(8)")
    assert ok["verdict"] == "ok" and ok["p90_hi"] < 50.0


def test_verdict_goes_each_way_on_the_interval() -> None:
    assert constraint_states(CINE, {"latency_p90_ms": 49.0, "throughput_fps": 30.0}, Interval(47.0, 51.0))["latency"] == "borderline"
    assert constraint_states(CINE, {"latency_p90_ms": 52.0, "throughput_fps": 30.0}, Interval(50.5, 53.0))["latency"] == "breaks"
    assert constraint_states(CINE, {"latency_p90_ms": 49.0, "throughput_fps": 30.0}, None)["latency"] == "ok", "no interval: point check"
    assert verdict({"latency": "borderline", "throughput": "breaks"}) == "breaks throughput"
    assert combine(["ok", "ok"]) == "ok" and combine(["ok", "breaks latency"]) == "mixed (1/2 ok)"


def test_p90_interval_is_seeded_and_covers_the_estimate() -> None:
    x = samples(30.0, spread=2.0)
    a, b = p90_interval([x]), p90_interval([x])
    assert a == b, "the same samples give the same interval"
    assert a.lo < float(np.percentile(x, 90)) < a.hi
    assert p90_interval([x, []]) is None


def test_records_without_samples_say_why_there_is_no_interval(tmp_path: Path) -> None:
    put(tmp_path, "old-s0", "unet", 0, [cand("U-Net(16)", 0.8, 20.0)])
    r = board_rows(members(tmp_path))[BOARD].iloc[0]
    assert np.isnan(r["p90_lo"]) and r["ci_note"] == NO_SAMPLES and r["verdict"] == "ok"


def test_measurement_keeps_every_query_latency() -> None:
    profile = HardwareProfile(
        name="tiny", threads=1, stream_batch=2, warmup_queries=1, min_queries=7, min_duration_s=0.0, throughput_min_duration_s=0.0
    )
    out = measure_all(nn.Conv2d(1, 4, 3, padding=1), (1, 8, 8), profile)
    lat = out["latency"]
    assert isinstance(lat["samples_ms"], list) and len(lat["samples_ms"]) == lat["queries"] >= 7
    assert lat["p90_ms"] == pytest.approx(float(np.percentile(lat["samples_ms"], 90)), abs=1e-3)


def test_a_row_shows_the_worst_load_its_timings_were_taken_under(tmp_path: Path) -> None:
    from rtbench.leaderboard.exports import display_frame
    from rtbench.leaderboard.table import candidate_row, rank_board, render_board

    loaded = []
    for seed, busy in ((0, 0.2), (1, 1.4)):
        c = cand("U-Net(16)", 0.8, 20.0)
        c["measurement"] |= {"busy_cores_before": busy, "load_avg_1m": 1.0}
        loaded.append(c)
        put(tmp_path, f"unet-s{seed}-cccc", "unet", seed, [c], width=16)
    put(tmp_path, "unet-s0-dddd", "unet", 0, [cand("U-Net(8)", 0.7, 10.0)], width=8)  # a record older than the field
    df = board_rows(members(tmp_path))[BOARD]
    assert _row(df, "unet", "U-Net(16)")["busy_cores"] == pytest.approx(1.4), "the most loaded seed's figure, not the mean"
    assert np.isnan(_row(df, "unet", "U-Net(8)")["busy_cores"])
    shown = display_frame(df, CINE).set_index("candidate")["busy cores"]
    assert shown["U-Net(16)"] == "1.4" and shown["U-Net(8)"] == "-"
    rec = {"board": BOARD, "run_id": "r", "config": {"task": "cine", "method": "unet", "seed": 0}}
    _, console = render_board(BOARD, rank_board(pd.DataFrame([candidate_row(rec, loaded[1])])))
    assert list(console["busy cores"]) == ["1.4"]
