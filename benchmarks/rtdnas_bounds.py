"""Does RT-DNAS's latency bound bite? One line per ``rtdnas`` run of a board, read from the run records.

For every complete ``rtdnas`` (or ``msnas``) record under the given board folders: the bound
(``method.latency_bound_ms``, 0 = the task's), the search's eq. 2 ``L_t`` after each epoch (table ms
of the N_l-path estimate; the checkpoint's history), and per candidate: N_l, the decoder's
predicted latency (calibrated p90 ms where the profile is calibrated), the table sum, the measured
p50 / p90, throughput, FLOPs and mean Dice. The candidate marked ``entry`` is the method's
leaderboard row. Used for issue 12's three-bound runs::

    python benchmarks/rtdnas_bounds.py runs/cine__acdc@33aca4__local-cpu__quick+98ee88

Reads only; prints a Markdown table and, per run, the L_t history.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch


def search_history(run: Path) -> list[dict[str, float]]:
    """The search's per-epoch metrics (``loss``, ``L_a``, ``L_t_ms``) from its checkpoint, or [] without one."""
    for name in ("rtdnas_search.pt", "msnas_search.pt"):
        path = run / "search" / "checkpoints" / name
        if path.is_file():
            return list(torch.load(path, map_location="cpu", weights_only=False).get("history", []))
    return []


def rows(run: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per candidate of a complete record."""
    cfg = record["config"]
    method = cfg.get("method_config", {})
    out = []
    for cand in record["candidates"]:
        pred, meas, metrics = cand.get("predicted", {}), cand.get("measurement", {}), cand.get("metrics", {})
        lat = meas.get("latency", {})
        out.append(
            {
                "run": run.name,
                "code": cfg.get("method_provenance", {}).get("source_sha256", "")[:8],
                "bound_ms": method.get("latency_bound_ms", ""),
                "paths": method.get("paths", ""),
                "fitness": method.get("fitness", "latency (pre-#12)"),
                "candidate": cand["label"],
                "entry": "yes" if pred.get("entry") else "",
                "pred_ms": pred.get("latency_ms"),
                "table_ms": pred.get("table_sum_ms", pred.get("latency_ms")),
                "p50_ms": lat.get("p50_ms"),
                "p90_ms": lat.get("p90_ms"),
                "fps": meas.get("throughput", {}).get("fps"),
                "gflops": (meas.get("flops") or 0) / 1e9,
                "dice": metrics.get("dice_mean"),
                "train_s": cand.get("train_seconds"),
            }
        )
    return out


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return "" if v is None else str(v)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("boards", nargs="+", type=Path, help="board folders under runs/")
    args = parser.parse_args(argv)
    table: list[dict[str, Any]] = []
    histories: dict[str, list[dict[str, float]]] = {}
    for board in args.boards:
        for path in sorted(board.glob("*/record.json")):
            record = json.loads(path.read_text())
            if record.get("status") != "complete" or record["config"].get("method") not in ("rtdnas", "msnas"):
                continue
            table.extend(rows(path.parent, record))
            histories[path.parent.name] = search_history(path.parent)
            histories[path.parent.name + " search s"] = [{"s": record.get("search", {}).get("seconds", 0.0)}]
    if not table:
        print("no complete rtdnas/msnas record under " + ", ".join(map(str, args.boards)), file=sys.stderr)
        return 1
    cols = list(table[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in table:
        print("| " + " | ".join(fmt(row[c]) for c in cols) + " |")
    print()
    for run, hist in histories.items():
        if run.endswith(" search s"):
            print(f"{run}: {hist[0]['s']:.0f}")
        else:
            print(f"{run}: L_t_ms by epoch " + ", ".join(f"{h['L_t_ms']:.1f}" for h in hist if "L_t_ms" in h))
    return 0


if __name__ == "__main__":
    sys.exit(main())
