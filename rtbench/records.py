"""Run records: the unit files of a run folder and the schema-versioned record assembled from them, written atomically.

The folder's layout is ``rtbench.runfolder``. A unit file is the unit of resume: a trial whose
file says ``"status": "ok"`` never runs again. A failed trial's file keeps its error (and, for an
exception, its traceback) and is retried on the next submission; it is never counted as a result.

Unit files and records are sealed (``rtbench.jsonio.seal``: a SHA-256 over the rest of the file).
A unit file that cannot be read, has the wrong shape or no longer matches its hash counts as not
done: its trial runs again, after a one-line warning naming the file. (A unit file without a hash,
from before files were sealed, is still accepted.) Reading the run store is ``rtbench.store``.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rtbench.jsonio import read_json, seal_state, write_json_sealed
from rtbench.runfolder import RunFolder
from rtbench.tasks import get_task

SCHEMA = "rtbench.run/1"


# ----------------------------------------------------------------------------- units


UNIT_KEYS = ("unit", "stage", "status", "invocation")
_warned: set[str] = set()


def warn_once(line: str) -> None:
    """Print ``warning: <line>`` on stderr, once per process for the same line."""
    if line not in _warned:
        _warned.add(line)
        print(f"warning: {line}", file=sys.stderr, flush=True)


def read_unit_file(path: Path) -> dict[str, Any] | None:
    """The unit file at ``path``; None when there is none, or (with a warning) when it is unreadable, misshapen or modified."""
    if not path.is_file():
        return None
    try:
        u = read_json(path)
    except (OSError, ValueError) as err:  # ValueError: JSONDecodeError, UnicodeDecodeError
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        warn_once(f"unit file {path} is unreadable ({why}): its trial counts as not done and runs again")
        return None
    if not isinstance(u, dict) or any(k not in u for k in UNIT_KEYS) or (u["status"] == "ok" and not isinstance(u.get("payload"), dict)):
        warn_once(f"unit file {path} is not a unit record (needs {', '.join(UNIT_KEYS)}): its trial counts as not done and runs again")
        return None
    if seal_state(u) == "tampered":
        warn_once(f"unit file {path} was modified after it was written (integrity hash mismatch): its trial is not done and runs again")
        return None
    return u


def load_unit(run_dir: Path, unit: str) -> dict[str, Any] | None:
    """Unit ``unit`` of ``run_dir`` (see :func:`read_unit_file`)."""
    return read_unit_file(RunFolder(run_dir).unit(unit))


def unit_done(run_dir: Path, unit: str) -> bool:
    u = load_unit(run_dir, unit)
    return bool(u and u.get("status") == "ok")


def save_unit(
    run_dir: Path, unit: str, stage: str, status: str, invocation: str, payload: Any = None, error: str = "", trace: str = ""
) -> None:
    """Write the unit file of ``unit``, sealed: its status, the payload of a finished trial, or a failed one's error and traceback."""
    write_json_sealed(
        RunFolder(run_dir).unit(unit),
        {
            "unit": unit,
            "stage": stage,
            "status": status,
            "invocation": invocation,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "error": error,
            "trace": trace,
            "payload": payload,
        },
    )


# ----------------------------------------------------------------------------- assembly


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _measurement_of(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """A measure unit's payload for the candidate's record: its figures, plus how busy the machine was
    when it was timed (``busy_cores_before``: cores other processes kept busy in the second before;
    ``load_avg_1m``), the rest of its environment going to the record's ``environment``."""
    if not payload:
        return None
    env = payload.get("environment", {})
    figures = {k: v for k, v in payload.items() if k != "environment"}
    return figures | {"busy_cores_before": env.get("busy_cores_before"), "load_avg_1m": env.get("load_avg_1m")}


def aggregate_folds(folds: list[dict[str, Any]], classes: tuple[str, ...]) -> dict[str, float]:
    """Mean +- std of each metric: across folds when there are several, across volumes otherwise.

    Each fold payload holds ``per_volume`` rows (``rtbench.train.metrics.evaluate``); a metric's
    fold value is the mean over its volumes (nan-aware); std is the sample std (ddof=1). Keys, each
    with its ``_std``: the native-grid scores ``dice_RV``, ..., ``dice_mean``, ``hd95_RV``, ...,
    ``hd95_mean`` (what the leaderboard reads), the harness-grid ones ``grid_dice_RV``, ...,
    ``grid_hd95_mean``, and every one of those again over the ED volumes only and the ES volumes
    only (``dice_mean_ED``, ``grid_hd95_LV_ES``...); plus ``volumes``, ``volumes_ED``,
    ``volumes_ES`` and ``folds``; for a segmentation + quality-control candidate also ``qc_mae``,
    ``qc_mae_baseline`` and ``qc_auroc`` (:func:`_quality_folds`). Rows without ``grid_`` keys (records written before they
    existed) give those keys NaN.
    """
    from rtbench.train.metrics import PHASES, row_metric_names

    names = row_metric_names(classes)
    out: dict[str, float] = {}
    for phase in (None, *PHASES):
        suffix = f"_{phase}" if phase else ""
        rows_of = [[r for r in f["per_volume"] if phase is None or r.get("phase") == phase] for f in folds]
        for name in names:
            if len(folds) > 1:
                per_fold = [_mean_std([r.get(name) for r in rows])[0] for rows in rows_of]
                m, s = _mean_std(per_fold)
            else:
                m, s = _mean_std([r.get(name) for rows in rows_of for r in rows])
            out[f"{name}{suffix}"], out[f"{name}{suffix}_std"] = m, s
        out[f"volumes{suffix}"] = float(sum(len(rows) for rows in rows_of))
    out["folds"] = float(len(folds))
    if any("qc_pred" in r for f in folds for r in f["per_volume"]):
        out.update(_quality_folds(folds))
    return out


def _quality_folds(folds: list[dict[str, Any]]) -> dict[str, float]:
    """``qc_mae``, ``qc_mae_baseline`` and ``qc_auroc`` (each with ``_std``) of two-output folds (``rtbench.train.quality``).

    The MAEs are means of per-volume absolute errors, across folds when there are several (as the
    Dice); the AUROC is a fold's own figure (ranking needs the fold's volumes together), so with one
    fold its std is 0.
    """
    out: dict[str, float] = {}
    for name, ref in (("qc_mae", "qc_pred"), ("qc_mae_baseline", "qc_baseline")):
        errors = [[abs(r[ref] - r["qc_true"]) for r in f["per_volume"] if ref in r] for f in folds]
        if len(folds) > 1:
            out[name], out[f"{name}_std"] = _mean_std([_mean_std(e)[0] for e in errors])
        else:
            out[name], out[f"{name}_std"] = _mean_std(errors[0])
    out["qc_auroc"], out["qc_auroc_std"] = _mean_std([(f.get("quality") or {}).get("qc_auroc") for f in folds])
    return out


def assemble(
    run_dir: Path, spec: dict[str, Any], candidates: list[dict[str, Any]] | None, n_folds: int, driver_env: dict[str, Any]
) -> dict[str, Any]:
    """Build the run record from the unit files of ``run_dir``."""
    task = get_task(spec["task"])
    search_u = load_unit(run_dir, "search")
    failures = []
    rows = []
    env: dict[str, Any] = dict(driver_env)
    for cand in candidates or []:
        key = cand["key"]
        folds, fold_train = [], []
        for k in range(n_folds):
            u = load_unit(run_dir, f"train-{key}-f{k}")
            if u and u["status"] == "ok":
                folds.append(u["payload"])
                fold_train.append(u["payload"]["train"])
        mu = load_unit(run_dir, f"measure-{key}")
        measurement = mu["payload"] if mu and mu["status"] == "ok" else None
        if measurement:
            env.update(measurement.get("environment", {}))
        complete = len(folds) == n_folds and measurement is not None
        row: dict[str, Any] = {
            "key": key,
            "label": cand["label"],
            "space": cand["space"],
            "genotype": cand["genotype"],
            "predicted": cand.get("predicted", {}),
            "complete": complete,
            "folds": [{"fold": f["fold"], "summary": f["summary"], "train": f["train"], "per_volume": f["per_volume"]} for f in folds],
            "metrics": aggregate_folds(folds, task.classes) if folds else {},
            "train_seconds": float(sum(t.get("train_seconds", 0.0) for t in fold_train)),
            "measurement": _measurement_of(measurement),
        }
        if measurement:
            metrics = {
                "latency_p90_ms": measurement["latency"]["p90_ms"],
                "throughput_fps": measurement["throughput"]["fps"],
            }
            broken = task.broken(metrics)
            row["constraints"] = {
                "broken": broken,
                "feasible": not broken,
                "checked": [c.describe() for c in task.constraints],
            }
        rows.append(row)
    search_payload = search_u["payload"] if search_u and search_u["status"] == "ok" else {}
    units = RunFolder(run_dir).units
    for p in sorted(units.glob("*.json")) if units.is_dir() else []:
        u = read_unit_file(p)
        if u is not None and u.get("status") != "ok":
            failures.append({"unit": u["unit"], "stage": u["stage"], "error": u.get("error", ""), "trace": u.get("trace", "")})
    complete = bool(rows) and all(r["complete"] for r in rows)
    return {
        "schema": SCHEMA,
        "run_id": spec["run_id"],
        "board": spec["board"],
        "status": "complete" if complete else "partial",
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "config": spec,
        "environment": env,
        "search": {
            "seconds": search_payload.get("search_seconds"),
            "attempts": search_payload.get("search_attempts"),  # None for units written before attempts were counted
            "n_candidates": len(candidates or []),
        },
        "candidates": rows,
        "failures": failures,
    }
