"""Synthetic run records for the leaderboard tests, written with the harness's own sealing helper
(``rtbench.jsonio.write_json_sealed``) so the store trusts them (integrity hash matching)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rtbench.jsonio import write_json_sealed
from rtbench.records import SCHEMA
from rtbench.runfolder import RunFolder
from rtbench.tasks import CINE

BOARD = "cine/synthetic-cine/local-cpu/smoke"
MSNAS = {
    "layers": 4,
    "scales": 3,
    "channels": 4,
    "cell": [[[0, "sep_conv"]], [[0, "dil_conv"], [1, "identity"]]],
    "paths": [[0, 1, 2, 1, 0], [0, 0, 1, 1, 0]],
}


def samples(p90: float, spread: float = 0.5, n: int = 200, seed: int = 0) -> list[float]:
    """``n`` per-query latencies (ms) whose p90 is close to ``p90``, their spread around it ``spread`` ms."""
    rng = np.random.default_rng(seed)
    x = p90 - 1.2816 * spread + spread * rng.standard_normal(n)  # p90 of N(mu, s) is mu + 1.2816 s
    return [round(float(v), 4) for v in x]


def cand(
    label: str,
    dice: float,
    p90: float,
    fps: float = 100.0,
    entry: bool | None = None,
    lat_samples: list[float] | None = None,
    genotype: dict[str, Any] | None = None,
    space: str = "unet",
) -> dict[str, Any]:
    """A complete candidate as ``rtbench.records.assemble`` writes it, checked against cine's constraints on its point p90."""
    broken = CINE.broken({"latency_p90_ms": p90, "throughput_fps": fps})
    metrics = {f"dice_{c}": dice for c in ("RV", "MYO", "LV", "mean")} | {f"dice_{c}_std": 0.05 for c in ("RV", "MYO", "LV", "mean")}
    latency: dict[str, Any] = {"p50_ms": 0.8 * p90, "p90_ms": p90, "p99_ms": 1.1 * p90, "queries": 200, "duration_s": 2.0}
    if lat_samples is not None:
        latency["samples_ms"] = lat_samples
    return {
        "key": label.replace(" ", "_"),
        "label": label,
        "space": space,
        "genotype": genotype or {"width": 16, "depth": 5},
        "predicted": {} if entry is None else {"entry": float(entry)},
        "complete": True,
        "folds": [{"fold": 0, "summary": {"dice_mean_mean": dice, "dice_mean_std": 0.05, "volumes": 4}, "train": {"train_seconds": 3.0}}],
        "metrics": {**metrics, "hd95_mean": 5.0, "hd95_mean_std": 1.0, "volumes": 4.0, "folds": 1.0},
        "train_seconds": 3.0,
        "measurement": {
            "latency": latency,
            "throughput": {"fps": fps, "frames": 64, "batch_size": 8, "duration_s": 1.0},
            "params": 1000,
            "flops": 10**6,
        },
        "constraints": {"broken": broken, "feasible": not broken, "checked": [c.describe() for c in CINE.constraints]},
    }


def put(runs: Path, run_id: str, method: str, seed: int, cands: list[dict[str, Any]], board: str = BOARD, **method_config: Any) -> Path:
    """Write a sealed record of ``cands`` for ``method`` with ``method_config`` and ``seed``; its path."""
    cfg = {
        "method": method,
        "method_config": method_config,
        "method_provenance": {"source_sha256": "abcdef0123"},
        "dataset": "synthetic-cine",
        "dataset_config": {"root": "", "frames": 1},
        "task": board.split("/")[0],
        "seed": seed,
        "budget": {"name": board.split("/")[-1]},
        "hardware": {"name": "local-cpu"},
        "board": board,
        "run_id": run_id,
    }
    rec = {
        "schema": SCHEMA,
        "run_id": run_id,
        "board": board,
        "status": "complete",
        "updated": "2026-01-01T00:00:00",
        "config": cfg,
        "environment": {"cpu": "test CPU"},
        "search": {"seconds": 1.0, "n_candidates": len(cands)},
        "candidates": cands,
        "failures": [],
    }
    folder = RunFolder.of(runs, board, run_id)
    folder.root.mkdir(parents=True, exist_ok=True)
    write_json_sealed(folder.record, rec)
    return folder.record


def store(runs: Path) -> Path:
    """A small run store: unet (width 16) over two seeds, unet width 8, rtdnas with a marked entry, a borderline row, random samples."""
    put(runs, "unet-s0-aaaa", "unet", 0, [cand("U-Net(16)", 0.80, 20.0, lat_samples=samples(20.0))], width=16)
    put(runs, "unet-s1-bbbb", "unet", 1, [cand("U-Net(16)", 0.84, 22.0, lat_samples=samples(22.0, seed=1))], width=16)
    put(runs, "unet-s0-cccc", "unet", 0, [cand("U-Net(8)", 0.70, 10.0, lat_samples=samples(10.0))], width=8)
    rt = [
        cand("GA N_l=2", 0.95, 30.0, genotype=MSNAS, space="msnas", lat_samples=samples(30.0)),
        cand("GA N_l=1 (auto)", 0.75, 15.0, entry=True, genotype=MSNAS, space="msnas", lat_samples=samples(15.0)),
    ]
    put(runs, "rtdnas-s0-dddd", "rtdnas", 0, rt, paths="2,auto")
    put(runs, "hwnas-s0-eeee", "hwnas", 0, [cand("HW-NAS", 0.90, 50.0, lat_samples=[45.0] * 80 + [48.0 + 0.2 * i for i in range(20)])])
    put(
        runs,
        "random-s0-ffff",
        "random",
        0,
        [cand(f"random #{i}", 0.6 + 0.02 * i, 20.0 + 5 * i, genotype=MSNAS, space="msnas") for i in range(4)],
    )
    return runs


def test_samples_helper_puts_p90_where_asked() -> None:
    assert abs(float(np.percentile(samples(40.0), 90)) - 40.0) < 0.3
