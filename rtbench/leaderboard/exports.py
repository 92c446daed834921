"""A board's rows as a display table, and its CSV, Markdown and JSON exports.

The display table is what the site shows and the Markdown export holds: one column per figure,
``mean±std`` where the row aggregates n > 1 seeds (``±`` is the sample std over seeds, the one
meaning it has on the board pages) and the single run's value where n = 1. The CSV and JSON
exports hold the raw numbers instead (means, ``*_std`` over seeds, the p90 interval), plus the run
ids behind each row, so nothing shown is lost to rounding.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from rtbench.tasks import Task

PM_NOTE = "±: sample std over seeds (rows with n > 1); a row of n = 1 shows one run's value and no ±"
RAW_COLUMNS = (
    "rank",
    "entry",
    "method",
    "candidate",
    "config_diff",
    "n",
    "seeds",
    "verdict",
    "dice_mean",
    "dice_mean_std",
    "hd95_mean",
    "hd95_mean_std",
    "qc_mae",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p90_ms_std",
    "p90_lo",
    "p90_hi",
    "ci_note",
    "throughput_fps",
    "throughput_fps_std",
    "params_m",
    "gflops",
    "busy_cores",
    "complete",
)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def pm(mean: Any, std: Any, fmt: str = ".3f") -> str:
    """``mean±std`` (std over seeds), the mean alone when there is no std, ``-`` when missing."""
    if _missing(mean):
        return "-"
    return f"{mean:{fmt}}" if _missing(std) else f"{mean:{fmt}}±{std:{fmt}}"


def interval(lo: Any, hi: Any, note: str) -> str:
    """``[lo, hi]`` in ms, else the reason there is none (or ``-``)."""
    return f"[{lo:.1f}, {hi:.1f}]" if not _missing(lo) else (note or "-")


def display_frame(df: pd.DataFrame, task: Task) -> pd.DataFrame:
    """The board's ranked rows as display strings (see the module docstring); echo boards add the QC MAE column."""
    cols: dict[str, list[str]] = {
        "rank": list(df["rank"]),
        "entry": ["★" if e else "" for e in df["entry"]],
        "method": list(df["method"]),
        "candidate": list(df["candidate"]),
        "config": [d or "" for d in df["config_diff"]],
    }
    for c in task.classes:
        cols[c] = [pm(m, s) for m, s in zip(df[f"dice_{c}"], df[f"dice_{c}_std"])]
    cols["Dice"] = [pm(m, s) for m, s in zip(df["dice_mean"], df["dice_mean_std"])]
    cols["HD95 mm"] = [pm(m, s, ".2f") for m, s in zip(df["hd95_mean"], df["hd95_mean_std"])]
    if task.name == "echo":
        cols["QC MAE"] = [pm(m, s) for m, s in zip(df["qc_mae"], df["qc_mae_std"])]
    cols["p50 ms"] = [pm(m, s, ".1f") for m, s in zip(df["latency_p50_ms"], df["latency_p50_ms_std"])]
    cols["p90 ms"] = [pm(m, s, ".1f") for m, s in zip(df["latency_p90_ms"], df["latency_p90_ms_std"])]
    cols["p90 95% CI"] = [interval(lo, hi, n) for lo, hi, n in zip(df["p90_lo"], df["p90_hi"], df["ci_note"])]
    cols["fps"] = [pm(m, s, ".1f") for m, s in zip(df["throughput_fps"], df["throughput_fps_std"])]
    cols["params M"] = [pm(m, float("nan"), ".3f") for m in df["params_m"]]
    cols["GFLOPs"] = [pm(m, float("nan"), ".2f") for m in df["gflops"]]
    cols["busy cores"] = [pm(m, float("nan"), ".1f") for m in df["busy_cores"]]
    cols["verdict"] = list(df["verdict"])
    cols["seeds"] = [f"n={n}" for n in df["n"]]
    return pd.DataFrame(cols)


def raw_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The board's rows as JSON-able dicts of raw numbers (NaN as null), each with its runs."""
    out = []
    for _, r in df.iterrows():
        row = {k: r[k] for k in RAW_COLUMNS if k in r}
        row.update({k: r[k] for k in r.index if k.startswith("dice_")})
        row["runs"] = [
            {"run_id": m["run_id"], "seed": m["seed"], "candidate": m["candidate"], "record": m["record_path"]} for m in r["members"]
        ]
        out.append({k: (None if _missing(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    return out


def markdown(table: pd.DataFrame) -> str:
    """A display table as a GitHub Markdown table (pipes in cells escaped)."""
    cell = lambda v: str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(map(cell, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_exports(df: pd.DataFrame, task: Task, header: str, out_dir: Path) -> list[Path]:
    """``board.csv`` (raw numbers), ``board.md`` (the display table under ``header``) and ``board.json`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = raw_records(df)
    paths = [out_dir / "board.csv", out_dir / "board.md", out_dir / "board.json"]
    pd.DataFrame([{k: v for k, v in r.items() if k != "runs"} | {"runs": " ".join(x["run_id"] for x in r["runs"])} for r in raw]).to_csv(
        paths[0], index=False
    )
    paths[1].write_text(f"{header}\n\n{PM_NOTE}\n\n" + markdown(display_frame(df, task)))
    paths[2].write_text(json.dumps({"header": header, "pm": PM_NOTE, "rows": raw}, indent=1, default=str))
    return paths
