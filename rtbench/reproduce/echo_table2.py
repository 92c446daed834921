"""``bench reproduce echo-table2 [key=value ...]``: seed 003's Table II, the searched echo framework against U-Net + ResNet18.

Four submissions on the echo task (``task=echo``; the embedded default dataset is
``synthetic-echo``, ``dataset=camus dataset.root=...`` for real data), each resumable through
``rtbench.reproduce.submissions``:

=========================  ==================================================================
``U-Net(8)+ResNet18``      ``method=unet-resnet18 method.width=8``
``U-Net(16)+ResNet18``     ``method=unet-resnet18 method.width=16``
``w/o hardware-aware``     ``method=echonas method.latency_weight=0`` (eq. 3 without LAT)
``hardware-aware``         ``method=echonas`` (eq. 3, lambda2 = 0.001)
=========================  ==================================================================

The table (``<runs.dir>/<board>/reproduce/echo-table2-s<seed>-<hash>/echo-table2.{md,csv}``) has
the paper's columns, Dice (myocardium, per frame), MAE (of the QC's predicted Dice), Latency (ms)
and FLOPs (M), each measured row above the paper's reported one (``reference/echo_table2.csv``;
a 4-core Intel i7 and the authors' private MCE data: never a figure of our machine or data). Our
latency is the p90 of segmentation and QC together, end to end (the task's constraint, <= 50
ms); the paper does not say which statistic its latency is. Our columns after FLOPs: the MAE of a
QC that always predicts the mean Dice of D_seg_eval (what a useful QC must beat), the QC's AUROC
for failed segmentations (true Dice < 0.7), p50, throughput, parameters, the verdict.

Claims of the paper (§IV-B), checked on the reported rows and on ours:

* (a) "integrating hardware latency during searching can further reduce the latency": the
  hardware-aware row's LT is below the w/o-hardware-aware row's, at about equal Dice
  (``|dDice| <= DICE_TOL``; the paper's two rows differ by 0.005);
* (b) "compared to ... U-net(16)+Resnet18, the searched network reduces the inference latency by
  40.2% with very small accuracy degradation": the hardware-aware row's LT is at least
  ``MIN_CUT`` below U-Net(16)+ResNet18's (about 40%, ten points of leeway) and its Dice at most
  ``DICE_TOL`` lower.

And two checks of our data (issue 14's, not the paper's): (s1) the synthetic task is neither
trivial nor broken for U-Net(16)+ResNet18 (``0.6 < Dice < 0.97``); (s2) every measured QC beats
the constant predictor (``MAE < MAE of the mean``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rtbench.leaderboard.table import fmt_num, fmt_pm
from rtbench.reproduce.outputs import Echo, Outcome, Show, write_outputs
from rtbench.reproduce.rows import NOT_MEASURED, hardware_label, verdict_of
from rtbench.reproduce.submissions import Finished, Submission, exit_code, output_dir, plan, run_all, stage_times
from rtbench.tasks import ECHO

NAME = "echo-table2"
TITLE = "Echo HW-NAS Table II: the searched segmentation + quality-control framework against U-Net + ResNet18 (seed 003)"
REFERENCE = Path(__file__).parent / "reference" / "echo_table2.csv"
DICE_TOL = 0.02
"""'About equal' / 'very small degradation' of Dice: at most this much (the paper's differences are 0.005 and 0.007)."""
MIN_CUT = 0.30
"""(b): the latency cut vs U-Net(16)+ResNet18 that counts as 'about 40%' (the paper's 40.2%, less ten points)."""
TASK_ARGS = ("task=echo",)


@dataclass(frozen=True)
class Row:
    """One row: the name shown (also the paper's ``Methods``) and the submission that measures it."""

    methods: str
    submission: Submission


ROWS: tuple[Row, ...] = (
    Row("U-Net(8)+ResNet18", Submission("unet-resnet18", fixed=("method.width=8",))),
    Row("U-Net(16)+ResNet18", Submission("unet-resnet18", fixed=("method.width=16",))),
    Row("w/o hardware-aware", Submission("echonas", fixed=("method.latency_weight=0",))),
    Row("hardware-aware", Submission("echonas")),
)

FIGURES = [
    "Methods",
    "Dice",
    "Dice_std",
    "MAE",
    "MAE_std",
    "MAE_mean_predictor",
    "AUROC",
    "LT_ms",
    "LT_p50_ms",
    "TP_fps",
    "flops_M",
    "params_M",
    "predicted_LT_ms",
    "constraints",
    "broken",
    "source",
    "hardware",
    "label",
    "key",
    "run_id",
    "note",
]


def measured(row: Row, p: Finished | None) -> dict[str, Any]:
    """The measured figures of ``row`` (its run's one candidate), or a ``not measured`` row saying why."""
    base = {"Methods": row.methods, "source": "measured", "constraints": NOT_MEASURED, "hardware": "-"}
    if p is None or p.record is None or not p.record.get("candidates"):
        why = "its submission was not part of this reproduction" if p is None else (p.problem or "no record yet")
        return base | {"note": why}
    rec = p.record
    cand = rec["candidates"][0]
    m, meas, cons = cand.get("metrics", {}), cand.get("measurement") or {}, cand.get("constraints")
    lat, tp = meas.get("latency", {}), meas.get("throughput", {})
    return base | {
        "Dice": m.get("dice_mean"),
        "Dice_std": m.get("dice_mean_std"),
        "MAE": m.get("qc_mae"),
        "MAE_std": m.get("qc_mae_std"),
        "MAE_mean_predictor": m.get("qc_mae_baseline"),
        "AUROC": m.get("qc_auroc"),
        "LT_ms": lat.get("p90_ms"),
        "LT_p50_ms": lat.get("p50_ms"),
        "TP_fps": tp.get("fps"),
        "flops_M": meas["flops"] / 1e6 if meas.get("flops") is not None else None,
        "params_M": meas["params"] / 1e6 if meas.get("params") is not None else None,
        "predicted_LT_ms": cand.get("predicted", {}).get("latency_ms"),
        "constraints": verdict_of(cons["broken"] if cons else None, bool(cand.get("complete"))),
        "broken": ",".join(cons["broken"]) if cons else "",
        "hardware": hardware_label(rec),
        "label": cand["label"],
        "key": cand.get("key", ""),
        "run_id": rec.get("run_id", ""),
        "note": "" if cand.get("complete") else (p.problem or "training or measurement incomplete: run the same command again"),
    }


def figures_table(finished: list[Finished], reference: pd.DataFrame) -> pd.DataFrame:
    """Each row's measured figures, then the paper's reported row."""
    by_sub = {p.submission: p for p in finished}
    out: list[dict[str, Any]] = []
    for row in ROWS:
        out.append(measured(row, by_sub.get(row.submission)))
        ref = reference[reference["Methods"] == row.methods].iloc[0].to_dict()
        broken = ECHO.broken({"latency_p90_ms": ref["LT_ms"]})  # the task's own constraints, as for measured rows
        ref.update(constraints=verdict_of(broken, True), broken=",".join(broken), note=ref.pop("paper", ""))
        out.append(ref)
    return pd.DataFrame(out, columns=FIGURES)


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _pick(rows: pd.DataFrame, methods: str) -> pd.Series | None:
    hit = rows[rows["Methods"] == methods]
    if hit.empty or _num(hit.iloc[0]["Dice"]) is None or _num(hit.iloc[0]["LT_ms"]) is None:
        return None
    return hit.iloc[0]


def claim_latency_term(rows: pd.DataFrame) -> Outcome:
    """(a) hardware-aware LT < w/o hardware-aware LT, |dDice| <= DICE_TOL."""
    hw, wo = _pick(rows, "hardware-aware"), _pick(rows, "w/o hardware-aware")
    if hw is None or wo is None:
        return Outcome(None, "needs both echonas rows", NOT_MEASURED)
    d = float(hw["Dice"]) - float(wo["Dice"])
    cut = float(wo["LT_ms"]) - float(hw["LT_ms"])
    detail = f"LT {wo['LT_ms']:.1f} -> {hw['LT_ms']:.1f} ms ({cut:+.1f} ms cut), Dice {wo['Dice']:.3f} -> {hw['Dice']:.3f} ({d:+.3f})"
    return Outcome(cut > 0 and abs(d) <= DICE_TOL, detail)


def claim_cut_vs_unet16(rows: pd.DataFrame) -> Outcome:
    """(b) hardware-aware cuts LT by >= MIN_CUT vs U-Net(16)+ResNet18, losing <= DICE_TOL Dice."""
    hw, u16 = _pick(rows, "hardware-aware"), _pick(rows, "U-Net(16)+ResNet18")
    if hw is None or u16 is None:
        return Outcome(None, "needs the hardware-aware and U-Net(16)+ResNet18 rows", NOT_MEASURED)
    cut = 1 - float(hw["LT_ms"]) / float(u16["LT_ms"])
    loss = float(u16["Dice"]) - float(hw["Dice"])
    detail = f"latency cut {cut:.1%} ({u16['LT_ms']:.1f} -> {hw['LT_ms']:.1f} ms), Dice loss {loss:+.3f}"
    return Outcome(cut >= MIN_CUT and loss <= DICE_TOL, detail)


def check_task_difficulty(rows: pd.DataFrame) -> Outcome:
    """(s1) 0.6 < Dice of U-Net(16)+ResNet18 < 0.97."""
    u16 = _pick(rows, "U-Net(16)+ResNet18")
    if u16 is None:
        return Outcome(None, "needs the U-Net(16)+ResNet18 row", NOT_MEASURED)
    return Outcome(0.6 < float(u16["Dice"]) < 0.97, f"Dice {u16['Dice']:.3f}")


def check_qc_beats_mean(rows: pd.DataFrame) -> Outcome:
    """(s2) every measured QC's MAE is below the constant (mean-Dice) predictor's."""
    scored = rows.dropna(subset=["MAE", "MAE_mean_predictor"])
    if scored.empty:
        return Outcome(None, "no measured QC", NOT_MEASURED)
    parts = [f"{r['Methods']} {r['MAE']:.3f} vs {r['MAE_mean_predictor']:.3f}" for _, r in scored.iterrows()]
    return Outcome(bool((scored["MAE"] < scored["MAE_mean_predictor"]).all()), "; ".join(parts))


def claims(figures: pd.DataFrame) -> pd.DataFrame:
    """The paper's claims on its rows and on ours, then our data checks (measured rows only)."""
    paper, ours = figures[figures["source"] == "reported"], figures[figures["source"] == "measured"]
    out = []
    for text, check in (
        ("(a) the latency term cuts latency at about equal Dice", claim_latency_term),
        (f"(b) searched vs U-Net(16)+ResNet18: latency cut >= {MIN_CUT:.0%} (paper 40.2%), Dice loss <= {DICE_TOL}", claim_cut_vs_unet16),
    ):
        p, o = check(paper), check(ours)
        out.append({"claim": text, "paper (reported)": p.verdict, "ours (measured)": o.verdict, "ours": o.detail, "paper": p.detail})
    for text, check in (
        ("(s1) synthetic task neither trivial nor broken: 0.6 < Dice(U-Net(16)) < 0.97", check_task_difficulty),
        ("(s2) every QC beats always predicting the mean Dice", check_qc_beats_mean),
    ):
        o = check(ours)
        out.append({"claim": text, "paper (reported)": "-", "ours (measured)": o.verdict, "ours": o.detail, "paper": "our data check"})
    return pd.DataFrame(out)


def _lt(v: Any, broken: Any) -> str:
    return fmt_num(v, ".1f") + (" ✗" if "latency" in str(broken) else "")


def display_table(figures: pd.DataFrame) -> pd.DataFrame:
    """The paper's columns (Dice, MAE, Latency, FLOPs), then ours."""
    return pd.DataFrame(
        {
            "Method": figures["Methods"],
            "Dice": [fmt_pm(m, s) if _num(s) is not None else fmt_num(m, ".3f") for m, s in zip(figures["Dice"], figures["Dice_std"])],
            "MAE": [fmt_num(v, ".3f") for v in figures["MAE"]],
            "Latency (ms)": [_lt(v, b) for v, b in zip(figures["LT_ms"], figures["broken"])],
            "FLOPs (M)": [fmt_num(v, ".0f") for v in figures["flops_M"]],
            "MAE of mean": [fmt_num(v, ".3f") for v in figures["MAE_mean_predictor"]],
            "AUROC (Dice<0.7)": [fmt_num(v, ".2f") for v in figures["AUROC"]],
            "p50 (ms)": [fmt_num(v, ".1f") for v in figures["LT_p50_ms"]],
            "fps": [fmt_num(v, ".1f") for v in figures["TP_fps"]],
            "verdict": figures["constraints"],
            "source": figures["source"],
            "hardware": figures["hardware"].fillna(""),
            "note": figures["note"].fillna(""),
        }
    )


def reproduce(args: list[str], echo: Echo, show: Show) -> int:
    """Run (or resume) the four submissions on the echo task; write and show the table (0: all complete, 1: not yet)."""
    user = [a for a in args if not a.startswith("task=")]
    finished = plan([r.submission for r in ROWS], [*TASK_ARGS, *user])
    out_dir = output_dir(NAME, finished, [*TASK_ARGS, *user])
    echo(f"reproducing {TITLE}: {len(finished)} submission(s): " + "; ".join(p.name for p in finished))
    run_all(finished, echo)
    spec = next(p.spec for p in finished if p.spec is not None)
    figures = figures_table(finished, pd.read_csv(REFERENCE))
    table, claim_rows, times = display_table(figures), claims(figures), stage_times(finished)
    header = [
        f"Board `{spec.board}`. Latency: our p90 of segmentation + quality control together, end to end (the constraint "
        "<= 50 ms, ✗ where broken); the paper's statistic is unstated. Reported rows: a 4-core Intel i7 and the authors' "
        "private MCE data, never figures of our machine or data. MAE of mean: a QC that always predicts D_seg_eval's mean "
        "Dice. AUROC: the QC's predicted Dice as a detector of segmentations with true Dice < 0.7.",
    ]
    paths = write_outputs(out_dir, NAME, TITLE, header, table, claim_rows, sections=(("Wall time per stage", times),))
    figures.to_csv(out_dir / f"{NAME}-figures.csv", index=False)
    show(f"{TITLE} | board {spec.board}", table)
    show("Claims of the paper and checks of our data", claim_rows[["claim", "paper (reported)", "ours (measured)", "ours"]])
    show("Wall time per stage", times)
    for path in [*paths, out_dir / f"{NAME}-figures.csv"]:
        echo(f"wrote {path}")
    return exit_code(finished, echo)
