"""Constraint-checked tables per board from run records.

One row per (run, candidate). Rows on different boards (task/dataset/hardware/budget) are never
compared. Ranking: feasible rows first (every real-time constraint met, latency checked on p90),
then by mean Dice; a row that breaks a constraint stays on the board, marked with what it broke,
and never ranks above a feasible row. Rows whose training or measurement is incomplete are listed
last and never ranked. Only trusted records are read (``rtbench.store.iter_records``): a record of
the wrong shape or schema, or one whose integrity hash no longer matches its content (modified
since the harness wrote it), is left out with a one-line warning naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rtbench.records import warn_once
from rtbench.store import Warn, iter_records
from rtbench.tasks import get_task


def candidate_row(rec: dict[str, Any], cand: dict[str, Any]) -> dict[str, Any]:
    cfg = rec["config"]
    task = get_task(cfg["task"])
    m = cand.get("metrics", {})
    meas = cand.get("measurement") or {}
    lat = meas.get("latency", {})
    tp = meas.get("throughput", {})
    cons = cand.get("constraints")
    row: dict[str, Any] = {
        "board": rec["board"],
        "method": cfg["method"],
        "candidate": cand["label"],
        "run_id": rec["run_id"],
        "seed": cfg["seed"],
    }
    for c in task.classes:
        row[f"dice_{c}"] = m.get(f"dice_{c}")
        row[f"dice_{c}_std"] = m.get(f"dice_{c}_std")
    row.update(
        dice_mean=m.get("dice_mean"),
        dice_mean_std=m.get("dice_mean_std"),
        hd95_mean=m.get("hd95_mean"),
        qc_mae=m.get("qc_mae"),
        qc_mae_std=m.get("qc_mae_std"),
        latency_p50_ms=lat.get("p50_ms"),
        latency_p90_ms=lat.get("p90_ms"),
        latency_p99_ms=lat.get("p99_ms"),
        throughput_fps=tp.get("fps"),
        params_m=(meas.get("params") or 0) / 1e6 if meas else None,
        gflops=(meas.get("flops") or 0) / 1e9 if meas else None,
        busy_cores=meas.get("busy_cores_before") if meas else None,
        complete=bool(cand.get("complete")),
        feasible=bool(cons and cons["feasible"]) and bool(cand.get("complete")),
        broken=",".join(cons["broken"]) if cons else "",
        train_seconds=cand.get("train_seconds"),
        search_seconds=rec.get("search", {}).get("seconds"),
    )
    return row


def collect(runs_dir: Path, warn: Warn = warn_once) -> pd.DataFrame:
    """Every candidate of every trusted run record under ``runs_dir`` as one DataFrame row; ``warn`` hears of the rest."""
    rows = [candidate_row(rec, cand) for _, rec in iter_records(runs_dir, warn) for cand in rec.get("candidates", [])]
    return pd.DataFrame(rows)


def rank_board(df: pd.DataFrame) -> pd.DataFrame:
    """Rank one board: complete+feasible by Dice, then complete+infeasible by Dice, then incomplete."""
    df = df.copy()
    df["_tier"] = 2 - df["complete"].astype(int) - (df["complete"] & df["feasible"]).astype(int)
    df = df.sort_values(["_tier", "dice_mean"], ascending=[True, False], na_position="last")
    df.insert(0, "rank", [str(i + 1) if tier == 0 else "-" for i, tier in enumerate(df["_tier"])])
    return df.drop(columns="_tier").reset_index(drop=True)


def fmt_pm(m: Any, s: Any) -> str:
    """``mean±std`` to 3 decimals, ``-`` when missing."""
    if m is None or pd.isna(m):
        return "-"
    return f"{m:.3f}±{s:.3f}" if s is not None and not pd.isna(s) else f"{m:.3f}"


def fmt_num(v: Any, fmt: str) -> str:
    """``v`` in ``fmt``, ``-`` when missing."""
    return "-" if v is None or pd.isna(v) else format(v, fmt)


def render_board(board: str, df: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """(header line, display DataFrame) for one ranked board; an echo board adds the QC's MAE (latency is segmentation + QC)."""
    task = get_task(board.split("/")[0])
    classes = task.classes
    out = pd.DataFrame(
        {
            "rank": df["rank"],
            "method": df["method"],
            "candidate": df["candidate"],
            **{c: [fmt_pm(m, s) for m, s in zip(df[f"dice_{c}"], df[f"dice_{c}_std"])] for c in classes},
            "Dice": [fmt_pm(m, s) for m, s in zip(df["dice_mean"], df["dice_mean_std"])],
            "HD95 mm": [fmt_num(v, ".2f") for v in df["hd95_mean"]],
            **({"QC MAE": [fmt_pm(m, s) for m, s in zip(df["qc_mae"], df["qc_mae_std"])]} if task.name == "echo" else {}),
            "p50 ms": [fmt_num(v, ".1f") for v in df["latency_p50_ms"]],
            "p90 ms": [fmt_num(v, ".1f") for v in df["latency_p90_ms"]],
            "fps": [fmt_num(v, ".1f") for v in df["throughput_fps"]],
            "params M": [fmt_num(v, ".2f") for v in df["params_m"]],
            "GFLOPs": [fmt_num(v, ".2f") for v in df["gflops"]],
            "busy cores": [fmt_num(v, ".1f") for v in df["busy_cores"]],
            "verdict": [
                ("ok" if f else f"breaks {b}") if c else "incomplete" for f, b, c in zip(df["feasible"], df["broken"], df["complete"])
            ],
            "run": list(df["run_id"]),  # tells apart rows of one method and label from runs of other configs or code
        }
    )
    checks = " and ".join(c.describe() for c in task.constraints)
    pair = ", segmentation + quality control together" if task.name == "echo" else ""
    header = f"Board {board}   constraints: {checks} (latency checked on p90{pair}, throughput measured as sustained frames/s)"
    return header, out
