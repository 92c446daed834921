"""The papers' reported rows, drawn on a board's plots beside the measured ones.

They are the reference tables of ``bench reproduce`` (``rtbench/reproduce/reference/*.csv``: the
Methods name, mean Dice, LT, TP and hardware as each paper printed them). They are read by file
path, not by importing ``rtbench.reproduce``, which imports the leaderboard: reading its data files
keeps the import graph acyclic. A reported row is never ranked and never on a Pareto front: it was
timed on another machine (seed 000: an NVIDIA Tesla P100), so the plots show it as a hollow
diamond labelled with that machine ("reported, P100").
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reproduce" / "reference"
TASK_OF: dict[str, str] = {"rtdnas_table1.csv": "cine", "rtdnas_table2.csv": "cine"}
"""Reference table -> the task its rows belong to (seed 000's tables are cine MRI)."""

COLUMNS = ["label", "dice_mean", "latency_p90_ms", "throughput_fps", "hardware", "paper"]


def machine(hardware: str) -> str:
    """``"NVIDIA Tesla P100 (reported)"`` -> ``"P100"``: the short machine name a marker is labelled with."""
    name = re.sub(r"\s*\(reported\)\s*$", "", str(hardware)).strip()
    return name.split()[-1] if name else "unknown machine"


def reported_points(task_name: str, reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    """Every reported row of ``task_name``'s reference tables (:data:`COLUMNS`), one per (paper table, Methods).

    LT is as printed (the papers do not say which statistic); it is plotted on the p90 axis for lack
    of another, which the legend's "reported" says.
    """
    frames = []
    for name, task in TASK_OF.items():
        path = reference_dir / name
        if task != task_name or not path.is_file():
            continue
        ref = pd.read_csv(path)
        frames.append(
            pd.DataFrame(
                {
                    "label": ref["Methods"],
                    "dice_mean": ref["Average"].astype(float),
                    "latency_p90_ms": ref["LT_ms"].astype(float),
                    "throughput_fps": ref["TP_fps"].astype(float),
                    "hardware": [machine(h) for h in ref["hardware"]],
                    "paper": ref["paper"],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True).drop_duplicates(subset=["label", "paper"]).reset_index(drop=True)
