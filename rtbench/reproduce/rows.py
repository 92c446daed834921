"""A paper-table row from a run record's candidate (measured) or from a paper's reference CSV (reported).

Shared by every reproduction. A measured row holds the candidate's Dice per class (mean and std,
the record's native-grid scores), ``LT_ms`` (our p90 single-stream batch-1 latency: the statistic
the constraint check uses), ``LT_p50_ms``, ``TP_fps`` (sustained frames/s at the profile's stream
batch size), FLOPs in G and parameters in M (as the harness measured them), the method's
predicted latency, the constraint verdict (``ok``, ``breaks latency,throughput``, ``incomplete``),
the hardware it was timed on and ``busy_cores``, how many cores other processes kept busy in the
second before it was timed (a CPU timing taken on a busy machine is inflated; None for records
written before it was kept, and for a GPU). A reported row's verdict is the task's constraints applied to
the paper's LT and TP.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from rtbench.tasks import get_task

CLASSES = ("RV", "MYO", "LV")
"""Seed 000's classes, the columns of its tables."""
NOT_MEASURED = "not measured"
"""The verdict of a row with no measured candidate (a failed, missing or unavailable submission)."""
METRIC_COLUMNS = {"latency_p90_ms": "LT_ms", "throughput_fps": "TP_fps"}
"""A task constraint's metric -> the row column that holds it."""


def hardware_label(record: dict[str, Any]) -> str:
    """``<profile>: <device>`` of the record's measurements (``local-cpu: AMD EPYC ...``)."""
    env = record.get("environment", {})
    device = env.get("cuda_device") or env.get("cpu") or "unknown device"
    return f"{record['config']['hardware']['name']}: {device}"


def verdict_of(broken: list[str] | None, complete: bool) -> str:
    """``ok`` / ``breaks <constraints>`` for a complete candidate, ``incomplete`` otherwise."""
    if not complete:
        return "incomplete"
    return "ok" if broken is not None and not broken else "breaks " + ",".join(broken or [])


def measured_row(record: dict[str, Any], cand: dict[str, Any]) -> dict[str, Any]:
    """The figures of one candidate of a run record, as a table row (see the module docstring)."""
    m = cand.get("metrics", {})
    meas = cand.get("measurement") or {}
    cons = cand.get("constraints")
    lat, tp = meas.get("latency", {}), meas.get("throughput", {})
    row: dict[str, Any] = {f"{c}{s}": m.get(f"dice_{c}{s}") for c in CLASSES for s in ("", "_std")}
    row.update(
        Average=m.get("dice_mean"),
        Average_std=m.get("dice_mean_std"),
        LT_ms=lat.get("p90_ms"),
        LT_p50_ms=lat.get("p50_ms"),
        TP_fps=tp.get("fps"),
        flops_G=meas["flops"] / 1e9 if meas.get("flops") is not None else None,
        params_M=meas["params"] / 1e6 if meas.get("params") is not None else None,
        predicted_LT_ms=cand.get("predicted", {}).get("latency_ms"),
        busy_cores=meas.get("busy_cores_before"),
        constraints=verdict_of(cons["broken"] if cons else None, bool(cand.get("complete"))),
        broken=",".join(cons["broken"]) if cons else "",
        hardware=hardware_label(record),
        source="measured",
        label=cand["label"],
        key=cand.get("key", ""),
        run_id=record.get("run_id", ""),
    )
    return row


def reported_broken(row: pd.Series | dict[str, Any], task_name: str) -> list[str]:
    """The task's constraints a reported row's LT and TP break."""
    return get_task(task_name).broken({"latency_p90_ms": row["LT_ms"], "throughput_fps": row["TP_fps"]})


def reported_verdict(row: pd.Series | dict[str, Any], task_name: str) -> str:
    """The task's constraints applied to a reported row's LT and TP."""
    broken = reported_broken(row, task_name)
    return "ok" if not broken else "breaks " + ",".join(broken)


def is_decided(row: pd.Series) -> bool:
    """Whether a row has what a claim needs: a complete candidate with Dice, LT and TP."""
    verdict = str(row.get("constraints", ""))
    if not (verdict == "ok" or verdict.startswith("breaks")):
        return False
    return all(row.get(k) is not None and not pd.isna(row.get(k)) for k in ("Average", "LT_ms", "TP_fps"))
