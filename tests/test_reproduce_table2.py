"""``bench reproduce rtdnas-table2``: layout, claims (each able to go red), missing rows, options, one smoke run through Ray."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from rtbench.cli import main
from rtbench.errors import ConfigError
from rtbench.reproduce import REPRODUCTIONS, reproduce
from rtbench.reproduce.rtdnas_table2 import ROWS, Row, display_table, figures_table, reference_rows
from rtbench.reproduce.rtdnas_table2_claims import claims, complexity_vs_latency
from rtbench.reproduce.submissions import Finished, Submission, output_dir, plan, stage_times
from rtbench.tasks import CINE

# ----------------------------------------------------------------------------- constructed records


def cand(label: str, dice: float, lt: float, tp: float, flops_g: float = 1.0, complete: bool = True, key: str = "") -> dict[str, Any]:
    """A record candidate as ``rtbench.records.assemble`` writes it, with the constraint check of its own LT and TP."""
    broken = CINE.broken({"latency_p90_ms": lt, "throughput_fps": tp})
    metrics = {f"dice_{c}{s}": (dice if not s else 0.01) for c in ("RV", "MYO", "LV", "mean") for s in ("", "_std")}
    return {
        "label": label,
        "key": key or label,
        "complete": complete,
        "metrics": metrics if complete else {},
        "measurement": {
            "latency": {"p50_ms": 0.9 * lt, "p90_ms": lt, "duration_s": 1.5},
            "throughput": {"fps": tp, "duration_s": 2.5},
            "params": int(flops_g * 1e6),
            "flops": int(flops_g * 1e9),
            "busy_cores_before": 0.2,
        }
        if complete
        else None,
        "constraints": {"broken": broken, "feasible": not broken} if complete else None,
        "predicted": {},
        "train_seconds": 7.0,
    }


def record(run_id: str, *cands: dict[str, Any]) -> dict[str, Any]:
    status = "complete" if all(c["complete"] for c in cands) else "partial"
    return {
        "run_id": run_id,
        "status": status,
        "config": {"hardware": {"name": "local-cpu"}},
        "environment": {"cpu": "test CPU"},
        "search": {"seconds": 3.0},
        "candidates": list(cands),
        "failures": [],
        "wall_seconds_last_submission": 20.0,
    }


def paper_like() -> dict[str, dict[str, Any]]:
    """Records shaped like the paper's Table 2: every claim holds on them."""
    return {
        "icaunet n=3": record("ica3", cand("ICA-UNet (n=3)", 0.901, 35, 31.6, 0.8)),
        "icaunet n=4": record("ica4", cand("ICA-UNet (n=4)", 0.920, 39, 28.3, 1.0)),
        "hwnas": record("hw", cand("HW-NAS N_l=8", 0.930, 52, 19.5, 1.2)),
        "bixnas": record("bix", cand("BiX-NAS", 0.923, 49, 20.1, 0.6)),
        "rtdnas paths=6,7,8,auto": record(
            "rt",
            cand("GA N_l=6", 0.918, 37, 31.8, 1.4),
            cand("GA N_l=7", 0.922, 41, 28.9, 1.6),
            cand("GA N_l=8 = GA N_l=8 (auto)", 0.931, 46, 23.4, 1.9),
        ),
    }


def finished(records: dict[str, dict[str, Any]], rows: tuple[Row, ...] = ROWS) -> list[Finished]:
    """What ``run_all`` hands back: a record per submission name, or 'not registered' where none is given."""
    subs = list(dict.fromkeys(r.submission for r in rows))
    return [
        Finished(s, None, record=records.get(s.name), problem="" if s.name in records else f"method '{s.method}' is not registered here")
        for s in subs
    ]


def table(records: dict[str, dict[str, Any]], rows: tuple[Row, ...] = ROWS) -> pd.DataFrame:
    return figures_table(rows, finished(records, rows), reference_rows(), "cine")


def verdicts(records: dict[str, dict[str, Any]], source: str = "ours (measured)") -> list[str]:
    return list(claims(table(records), "cine")[source])


# ----------------------------------------------------------------------------- layout


def test_registered_and_the_rows_are_a_data_table() -> None:
    assert {"rtdnas-table1", "rtdnas-table2", "rtdnas-fig2"} <= set(REPRODUCTIONS)
    assert [r.submission.name for r in ROWS][:4] == ["icaunet n=3", "icaunet n=4", "hwnas", "bixnas"]
    rt = {r.submission for r in ROWS if r.group == "RT-DNAS"}
    assert rt == {Submission("rtdnas", fixed=("method.paths=6,7,8,auto",))}, "N_l = 6, 7, 8 and auto come from one search"
    refs = set(reference_rows()["Methods"])
    assert all(r.reference in refs for r in ROWS if r.reference), "every reference names a row of the paper's CSV"


def test_layout_measured_row_above_the_reported_row() -> None:
    figures = table(paper_like())
    shown = display_table(figures)
    assert list(shown.columns[:12]) == [
        "Methods",
        "RV",
        "MYO",
        "LV",
        "Average",
        "LT (ms)",
        "TP (fps)",
        "LT p50 (ms)",
        "FLOPs (G)",
        "params (M)",
        "busy cores",
        "verdict",
    ]
    assert list(figures["source"]) == ["measured", "reported"] * 7 + ["measured"]  # the auto entry has no paper row
    # how busy the machine was when a row was timed: from the record's measurement; a paper row has none
    assert list(shown["busy cores"][:2]) == ["0.2", "-"]
    pairs = list(zip(figures["Methods"][0:14:2], figures["Methods"][1:14:2]))
    assert all(a == b for a, b in pairs) and pairs[2] == ("HW-Aware NAS", "HW-Aware NAS")
    assert figures["Methods"].iloc[-1] == "RT-DNAS (auto: N_l = 8)"  # "GA N_l=8 = GA N_l=8 (auto)" is both rows
    assert figures["Methods"].iloc[-3] == "RT-DNAS (N_l = 8)" and figures["LT_ms"].iloc[-3] == figures["LT_ms"].iloc[-1]
    hw = shown[shown["Methods"] == "HW-Aware NAS"]
    assert list(hw["LT (ms)"]) == ["52.0 ✗", "52.0 ✗"] and list(hw["TP (fps)"]) == ["19.5 ✗", "19.5 ✗"]
    bix = shown[shown["Methods"] == "BiX-NAS"]
    assert list(bix["LT (ms)"]) == ["49.0", "49.0"] and list(bix["verdict"]) == ["breaks throughput"] * 2
    ours = shown[figures["source"] == "measured"]
    assert (ours["hardware"] == "local-cpu: test CPU").all() and ours["Average"].str.contains("±").all()
    assert list(ours["FLOPs (G)"][:2]) == ["0.800", "1.000"] and list(ours["LT p50 (ms)"][:1]) == ["31.5"]
    assert (shown[figures["source"] == "reported"]["hardware"] == "NVIDIA Tesla P100 (reported)").all()


def test_missing_submissions_read_not_measured_and_the_rest_stay() -> None:
    recs = {k: v for k, v in paper_like().items() if k.startswith("rtdnas")}
    figures = table(recs)
    ours = figures[figures["source"] == "measured"].set_index("Methods")
    for name in ("ICA-UNet (n=3)", "ICA-UNet (n=4)", "HW-Aware NAS", "BiX-NAS"):
        assert ours.loc[name, "constraints"] == "not measured"
        assert "is not registered here" in ours.loc[name, "note"]
    assert ours.loc["RT-DNAS (N_l = 8)", "constraints"] == "ok"
    assert display_table(figures)["Average"].iloc[0] == "-"
    assert verdicts(recs) == ["held", "not measured", "not measured"]
    assert "not measured: ICA-UNet (n=3), ICA-UNet (n=4), HW-Aware NAS, BiX-NAS" in claims(figures, "cine")["ours"][0]


def test_a_run_without_the_rows_label_and_an_incomplete_candidate_say_why() -> None:
    recs = paper_like()
    recs["rtdnas paths=6,7,8,auto"] = record("rt", cand("GA N_l=6", 0.918, 37, 31.8), cand("GA N_l=7", 0.0, 0, 0, complete=False))
    ours = table(recs)
    ours = ours[ours["source"] == "measured"].set_index("Methods")
    assert (
        ours.loc["RT-DNAS (N_l = 7)", "constraints"] == "incomplete"
        and "run the same command again" in ours.loc["RT-DNAS (N_l = 7)", "note"]
    )
    assert (
        ours.loc["RT-DNAS (N_l = 8)", "constraints"] == "not measured"
        and "no candidate labelled /GA N_l=8/" in ours.loc["RT-DNAS (N_l = 8)", "note"]
    )
    assert ours.loc["RT-DNAS (auto: N_l = ?)", "constraints"] == "not measured"


def test_several_matching_candidates_each_get_a_labelled_row_and_claim_b_reads_the_best() -> None:
    recs = paper_like()
    recs["hwnas"] = record("hw", cand("HW-NAS N_l=4", 0.90, 30, 35.0), cand("HW-NAS N_l=8", 0.93, 52, 19.5))
    figures = table(recs)
    names = list(figures[figures["group"] == "HW-NAS"]["Methods"])
    assert names == ["HW-Aware NAS [HW-NAS N_l=4]", "HW-Aware NAS [HW-NAS N_l=8]", "HW-Aware NAS"]
    assert verdicts(recs)[1] == "held"  # the most accurate HW-NAS network breaks the constraints; its small one does not


# ----------------------------------------------------------------------------- claims


def test_the_papers_reported_rows_satisfy_its_claims() -> None:
    assert verdicts({}, "paper (reported)") == ["held", "held", "held"]
    assert verdicts(paper_like()) == ["held", "held", "held"]


def test_claim_a_goes_red_when_another_feasible_row_is_more_accurate() -> None:
    recs = paper_like()
    recs["icaunet n=4"] = record("ica4", cand("ICA-UNet (n=4)", 0.95, 39, 28.3))
    assert verdicts(recs)[0] == "did not hold"
    recs = paper_like()  # or when no RT-DNAS row meets the constraints
    recs["rtdnas paths=6,7,8,auto"] = record("rt", cand("GA N_l=6", 0.95, 55, 18.0), cand("GA N_l=7", 0.96, 60, 15.0))
    c = claims(table(recs), "cine")
    assert c["ours (measured)"][0] == "did not hold" and "no RT-DNAS row meets the constraints" in c["ours"][0]


def test_claim_b_goes_red_when_a_complexity_nas_meets_the_constraints() -> None:
    recs = paper_like()
    recs["bixnas"] = record("bix", cand("BiX-NAS", 0.923, 40, 25.0))
    assert verdicts(recs)[1] == "did not hold"
    del recs["hwnas"]  # a feasible BiX-NAS decides it even with HW-NAS missing
    assert verdicts(recs)[1] == "did not hold"
    recs = paper_like()
    del recs["hwnas"]
    assert verdicts(recs)[1] == "not measured"


def test_claim_c_goes_red_without_slack() -> None:
    recs = paper_like()
    recs["icaunet n=3"] = record("ica3", cand("ICA-UNet (n=3)", 0.901, 47, 31.6))  # feasible, but within 10 % of 50 ms
    c = claims(table(recs), "cine")
    assert c["ours (measured)"][2] == "did not hold" and "47.0 <= 45.0 (latency)" in c["ours"][2]
    recs["icaunet n=3"] = record("ica3", cand("ICA-UNet (n=3)", 0.901, 35, 23.0))  # throughput only 5 % over 22
    assert verdicts(recs)[2] == "did not hold"
    recs = paper_like()
    del recs["icaunet n=4"]
    assert verdicts(recs)[2] == "not measured"


def test_complexity_vs_latency_reports_rank_agreement() -> None:
    text = complexity_vs_latency(table(paper_like()))
    assert "over 7 networks" in text and "Spearman rho(FLOPs, p90) = " in text
    assert "does not separate" in text  # BiX-NAS (0.6 G) breaks a constraint, RT-DNAS N_l=8 (1.9 G) does not
    assert "too few" in complexity_vs_latency(table({}))


def test_stage_times_come_from_the_records() -> None:
    times = stage_times(finished(paper_like())).set_index("submission")
    rt = times.loc["rtdnas paths=6,7,8,auto"]
    assert (rt["candidates"], rt["search (s)"], rt["training (s)"], rt["measurement (s)"], rt["last call (s)"]) == (
        3,
        "3.0",
        "21.0",
        "12.0",
        "20.0",
    )
    none = stage_times(finished({})).set_index("submission").loc["hwnas"]
    assert none["search (s)"] == "-" and "not registered" in none["status"]
    resumed = paper_like()
    resumed["hwnas"]["search"] = {"seconds": 745.0, "attempts": 2}  # a search interrupted once
    assert stage_times(finished(resumed)).set_index("submission").loc["hwnas", "search (s)"] == "745.0 (2 attempts)"


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    "bad, message",
    [
        ("method=unet", "chooses the methods itself"),
        ("method.paths=7", "method.paths is fixed by this reproduction"),
        ("method.no_such_option=1", "none of this reproduction's methods"),
        ("budget=nonesuch", "budget"),
    ],
)
def test_bad_options_are_refused_before_any_work(bad: str, message: str, tmp_path, capsys) -> None:
    with pytest.raises(ConfigError, match=message):
        reproduce("rtdnas-table2", [bad, f"runs.dir={tmp_path}"], echo=print, show=lambda t, d: None)
    assert main(["reproduce", "rtdnas-table2", bad, f"runs.dir={tmp_path}"]) == 2
    assert "error:" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


def test_a_method_option_goes_to_the_methods_that_take_it(tmp_path) -> None:
    renamed = Submission("unet", fixed=("method.n=3",))  # the table's setting is not an option of the method
    subs = [Submission("rtdnas", fixed=("method.paths=6,auto",)), Submission("unet"), Submission("no-such-method"), renamed]
    planned = plan(subs, ["method.layers=5", "budget=smoke", f"runs.dir={tmp_path}"])
    rt, unet, missing, bad = planned
    assert rt.spec.method_config["layers"] == 5 and rt.spec.method_config["paths"] == "6,auto"
    assert "layers" not in unet.spec.method_config and unet.spec.budget.name == "smoke"
    assert missing.spec is None and missing.problem == "method 'no-such-method' is not registered here"
    assert bad.spec is None and "does not take this reproduction's settings" in bad.problem and "method.n" in bad.problem
    with pytest.raises(ConfigError, match="method.layers"):  # the user's value is at fault: refused before any work
        plan(subs, ["method.layers=many", f"runs.dir={tmp_path}"])
    cloud = Submission("unet", defaults=("method.width=6",))  # a default key is its submission's alone
    sized = plan([Submission("unet"), cloud], ["method.width=8", f"runs.dir={tmp_path}"])
    assert [p.spec.method_config["width"] for p in sized] == [16, 8]
    again = plan(subs, ["method.layers=5", "budget=smoke", f"runs.dir={tmp_path}"])
    assert [p.spec.run_id for p in again[:2]] == [p.spec.run_id for p in planned[:2]], "same command, same run folders"


def test_submit_no_runs_nothing_and_reads_what_the_folders_hold(tmp_path) -> None:
    from rtbench.reproduce import rtdnas_table2

    args = [*SMOKE_ARGS, f"runs.dir={tmp_path}"]
    lines: list[str] = []
    code = rtdnas_table2.reproduce([*args, "submit=no"], echo=lines.append, show=lambda t, d: None, rows=SMOKE_ROWS)
    assert code == 1, "nothing has run, so the reproduction is incomplete"
    assert any(line.startswith("[1/2 unet width=4 depth=3] submit=no: run ") and line.endswith("is not complete") for line in lines)
    assert not any("submitting run" in line for line in lines)
    assert [p.name for p in tmp_path.glob("*/*")] == ["reproduce"], "submit=no created a run folder"
    (out,) = list(tmp_path.glob("*/reproduce/rtdnas-table2-*"))
    assert out == output_dir("rtdnas-table2", plan([r.submission for r in SMOKE_ROWS], args), args), "submit=no writes where the run does"
    ours = pd.read_csv(out / "rtdnas-table2.csv").query("source == 'measured'")
    assert set(ours["verdict"]) == {"not measured"} and ours["note"].str.contains("submit=no").sum() == 3
    with pytest.raises(ConfigError, match="submit=maybe is not valid; expected one of yes, no"):
        rtdnas_table2.reproduce([*args, "submit=maybe"], echo=lines.append, show=lambda t, d: None, rows=SMOKE_ROWS)


def test_slow_submissions_run_last_and_the_rows_keep_their_order(tmp_path) -> None:
    from rtbench.reproduce.submissions import run_all

    assert [r.submission.slow for r in ROWS if r.group == "BiX-NAS"] == [True], "bixnas (hours on a CPU) runs last"
    slow, fast = Submission("unet", fixed=("method.width=4",), slow=True), Submission("unet", fixed=("method.width=8",))
    lines: list[str] = []
    planned = plan([slow, fast], [*SMOKE_ARGS, f"runs.dir={tmp_path}", "submit=no"])
    run_all(planned, lines.append)
    assert [line.split("]")[0] for line in lines] == ["[1/2 unet width=8", "[2/2 unet width=4"]
    assert [p.submission for p in planned] == [slow, fast], "the table reads the plan in its own order"


# ----------------------------------------------------------------------------- end to end

SMOKE_ARGS = ["budget=smoke", "dataset=synthetic-cine", "hardware=local-cpu", "ray.train_cpus=1"]
SMOKE_RTDNAS = Submission("rtdnas", fixed=("method.paths=2,auto", "method.layers=4", "method.scales=3", "method.channels=4"))
SMOKE_ROWS = (
    Row("U-Net (width 4)", "ICA-UNet", Submission("unet", fixed=("method.width=4", "method.depth=3")), None, "ICA-UNet (n=3)"),
    Row("BiX-NAS", "BiX-NAS", Submission("no-such-method"), "BiX-NAS", "BiX-NAS"),
    Row("RT-DNAS (N_l = 2)", "RT-DNAS", SMOKE_RTDNAS, r"GA N_l=2", "RT-DNAS (N_l = 6)"),
    Row("RT-DNAS (auto: N_l = {0})", "RT-DNAS", SMOKE_RTDNAS, r"GA N_l=(\d+) \(auto\)"),
)
"""Methods that exist here, at smoke size, in the roles of the paper's rows; one whose method does not exist."""


def units_of(run_dir) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((run_dir / "units").glob("*.json"))}


@pytest.mark.slow
def test_table2_then_fig2_end_to_end_on_smoke_reuses_the_runs(ray_session, tmp_path) -> None:
    from rtbench.reproduce import rtdnas_fig2, rtdnas_table2

    args = [*SMOKE_ARGS, f"runs.dir={tmp_path}"]
    lines: list[str] = []
    shown: list[tuple[str, pd.DataFrame]] = []
    code = rtdnas_table2.reproduce(args, echo=lines.append, show=lambda t, d: shown.append((t, d)), rows=SMOKE_ROWS)
    assert code == 1, "the missing method leaves the reproduction incomplete"
    assert any(line.startswith("[1/2 unet width=4 depth=3] ") for line in lines) and any("[2/2 rtdnas " in line for line in lines)
    assert any("not run: method 'no-such-method' is not registered here" in line for line in lines)
    (out,) = list(tmp_path.glob("*/reproduce/rtdnas-table2-*"))
    shown_table = pd.read_csv(out / "rtdnas-table2.csv")
    assert list(shown_table["source"]) == ["measured", "reported"] * 3 + ["measured"]
    ours = shown_table[shown_table["source"] == "measured"].set_index("Methods")
    assert ours.loc["BiX-NAS", "verdict"] == "not measured"
    for name in ("U-Net (width 4)", "RT-DNAS (N_l = 2)"):
        assert ours.loc[name, "verdict"] in ("ok", "breaks latency", "breaks throughput", "breaks latency,throughput")
        assert float(str(ours.loc[name, "LT (ms)"]).split()[0]) > 0 and float(ours.loc[name, "FLOPs (G)"]) > 0
    claim_rows = pd.read_csv(out / "rtdnas-table2-claims.csv")
    assert claim_rows["ours (measured)"][1] == "not measured"  # no HW-NAS, no BiX-NAS here
    md = (out / "rtdnas-table2.md").read_text()
    assert "## Wall time per stage" in md and "Complexity vs latency" in md and "| RT-DNAS (N_l = 2) |" in md
    assert [t for t, _ in shown][1:] == ["Claims of the paper", "Wall time per stage"]

    run_dirs = [p for p in tmp_path.glob("*/*") if (p / "record.json").is_file()]
    assert len(run_dirs) == 2
    before = {d: units_of(d) for d in run_dirs}
    assert rtdnas_table2.reproduce([*args, "submit=no"], echo=lines.append, show=lambda t, d: None, rows=SMOKE_ROWS) == 1
    again = pd.read_csv(out / "rtdnas-table2.csv")
    assert again["verdict"].tolist() == shown_table["verdict"].tolist(), "submit=no reads the finished runs' rows"
    cloud = SMOKE_ROWS[0].submission  # the random cloud's stand-in: a run Table 2 finished, so Fig. 2 runs nothing
    code = rtdnas_fig2.reproduce(args, echo=lines.append, show=lambda t, d: None, rows=SMOKE_ROWS, cloud=cloud)
    assert code == 1
    assert all(units_of(d) == before[d] for d in run_dirs), "Fig. 2 re-ran a finished Table 2 trial"
    assert sorted(p for p in tmp_path.glob("*/*") if (p / "record.json").is_file()) == sorted(run_dirs), "Fig. 2 started a new run"
    (fig,) = list(tmp_path.glob("*/reproduce/rtdnas-fig2-*"))
    assert (fig / "rtdnas-fig2.png").stat().st_size > 0 and (fig / "rtdnas-fig2.svg").read_text().lstrip().startswith("<?xml")
    points = pd.read_csv(fig / "rtdnas-fig2.csv")
    assert len(points[points["group"] == "random"]) == 1 and len(points[points["group"] == "RT-DNAS"]) >= 1
    assert len(pd.read_csv(fig / "rtdnas-fig2-claims.csv")) == 3
    assert json.loads((run_dirs[0] / "record.json").read_text())["status"] == "complete"


def test_a_reproduction_stopped_by_ctrl_c_exits_130_like_submit() -> None:
    from rtbench.reproduce.submissions import exit_code

    lines: list[str] = []
    done = Finished(Submission("unet"), None, record={"status": "complete"})
    stopped = Finished(Submission("rtdnas"), None, record={"status": "partial"}, stopped_by_user=True)
    failed = Finished(Submission("hwnas"), None, record={"status": "partial"})
    assert exit_code([done], lines.append) == 0
    assert exit_code([done, failed], lines.append) == 1
    assert exit_code([done, stopped, failed], lines.append) == 130
    assert "rtdnas; hwnas" in lines[-1] and "Ctrl-C" in lines[-1]
