"""Board rows that mean what they say: one row per (method, config, candidate) over seeds, with its entry mark and verdict.

From the trusted records of a run store (``rtbench.store.iter_records``), every candidate becomes a
*member* (``members``); members of one board with the same method, the same config but for the
seed (method options, dataset options other than file locations, and the method's source hash),
the same completeness and the same candidate (the method's entry, or else the same label) are one
*row* (``board_rows``): mean over seeds, sample std over seeds (ddof=1) when n > 1, the seed count
``n``. A row of n = 1 carries no std. ``busy_cores`` is the most cores other processes kept busy in the
second before any of its members was timed (the worst load behind its timings; NaN where no member
recorded it, as on a GPU).

A method's *entry* is the candidate the method itself marked (``predicted["entry"] == 1``), or its
only candidate; a run of several unmarked candidates has no entry (``entry_rule`` says so). Test
scores never choose it. The summary table ranks entries only.

Ranking within a board: verdict tier first (``rtbench.leaderboard.verdict.tier``: ok, then
borderline or mixed, then breaks, then incomplete), then mean Dice; only ok rows get a number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rtbench.leaderboard.table import candidate_row
from rtbench.leaderboard.verdict import NO_SAMPLES, combine, constraint_states, p90_interval, tier, verdict
from rtbench.records import warn_once
from rtbench.store import Warn, iter_records
from rtbench.tasks import get_task

RANDOM_METHOD = "random"
"""The method whose candidates are random samples: drawn as a grey cloud, never an entry."""
_LOCATION_KEYS = ("root", "test_root")  # where the files lie: not part of what was run (the fingerprint is)


def config_items(cfg: dict[str, Any]) -> dict[str, str]:
    """A run's config as flat ``key -> value`` strings, the seed left out: the method's options,
    ``dataset.<option>`` (file locations left out), ``code`` and ``space_code`` (the first 6 hex of
    the method's and of its space's source hash: runs of other code never share a row)."""
    items = {str(k): _text(v) for k, v in (cfg.get("method_config") or {}).items()}
    items.update({f"dataset.{k}": _text(v) for k, v in (cfg.get("dataset_config") or {}).items() if k not in _LOCATION_KEYS})
    for key, prov in (("code", "method_provenance"), ("space_code", "space_provenance")):
        sha = (cfg.get(prov) or {}).get("source_sha256")
        if sha:
            items[key] = str(sha)[:6]
    return items


def _text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def entry_rule(cands: list[dict[str, Any]]) -> tuple[set[int], str]:
    """Indices of a record's entry candidates and the rule that chose them (never test scores)."""
    marked = {i for i, c in enumerate(cands) if (c.get("predicted") or {}).get("entry") == 1}
    if marked:
        return marked, "marked by the method (predicted.entry = 1)"
    if len(cands) == 1:
        return {0}, "the method's only candidate"
    return set(), "several candidates, none marked by the method: no entry"


def record_members(path: Path, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every candidate of one trusted record at ``path``: the console row's fields plus what the site needs."""
    cfg = rec["config"]
    items = config_items(cfg)
    cands = rec.get("candidates", [])
    entries, rule = entry_rule(cands)
    out = []
    for i, cand in enumerate(cands):
        lat = (cand.get("measurement") or {}).get("latency") or {}
        row = candidate_row(rec, cand)
        row.update(
            index=i,
            key=str(cand.get("key", i)),
            record_path=str(path),
            space=cand.get("space", ""),
            genotype=cand.get("genotype"),
            entry=i in entries and cfg["method"] != RANDOM_METHOD,
            entry_rule=rule,
            config=items,
            config_key=json.dumps(items, sort_keys=True),
            samples_ms=[float(v) for v in lat.get("samples_ms") or []],
            hd95_mean_std=(cand.get("metrics") or {}).get("hd95_mean_std"),
            qc_mae=(cand.get("metrics") or {}).get("qc_mae"),
        )
        row["verdict"] = member_verdict(row)
        out.append(row)
    return out


def members(runs_dir: Path, warn: Warn = warn_once) -> list[dict[str, Any]]:
    """Every candidate of every trusted record under ``runs_dir`` (see :func:`record_members`)."""
    return [m for path, rec in iter_records(runs_dir, warn) for m in record_members(path, rec)]


def member_verdict(m: dict[str, Any]) -> str:
    """One candidate's verdict (``rtbench.leaderboard.verdict``), or ``incomplete``."""
    if not m["complete"]:
        return "incomplete"
    ci = p90_interval([m["samples_ms"]]) if m["samples_ms"] else None
    states = constraint_states(
        get_task(m["board"].split("/")[0]), {"latency_p90_ms": m["latency_p90_ms"], "throughput_fps": m["throughput_fps"]}, ci
    )
    return verdict(states)


_MEANS = ("dice_mean", "hd95_mean", "qc_mae", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "throughput_fps", "params_m", "gflops")


def _mean_std(values: list[Any]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None and not pd.isna(v)], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else float("nan")


def _aggregate(task_name: str, group: list[dict[str, Any]]) -> dict[str, Any]:
    """One board row from the members of one group (see the module docstring)."""
    task = get_task(task_name)
    first = group[0]
    row: dict[str, Any] = {k: first[k] for k in ("board", "method", "entry", "config", "config_key", "complete")}
    row["candidate"] = " / ".join(dict.fromkeys(m["candidate"] for m in group))
    row["n"] = len(group)
    row["seeds"] = [m["seed"] for m in group]
    row["members"] = group
    for name in (*(f"dice_{c}" for c in task.classes), *_MEANS):
        row[name], row[f"{name}_std"] = _mean_std([m.get(name) for m in group])
    busy = [float(m["busy_cores"]) for m in group if m.get("busy_cores") is not None]
    row["busy_cores"] = max(busy) if busy else float("nan")
    samples = [m["samples_ms"] for m in group]
    ci = p90_interval(samples) if row["complete"] else None
    row["p90_lo"], row["p90_hi"] = (ci.lo, ci.hi) if ci else (float("nan"), float("nan"))
    row["ci_note"] = "" if ci or not row["complete"] else NO_SAMPLES
    row["verdict"] = combine([m["verdict"] for m in group])
    row["tier"] = tier(row["verdict"], row["complete"])
    return row


def config_differences(rows: list[dict[str, Any]]) -> None:
    """Set each row's ``config_diff``: the ``key=value`` settings in which it differs from other rows of its method on the board."""
    by_method: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_method.setdefault(r["method"], []).append(r)
    for same in by_method.values():
        keys = sorted({k for r in same for k in r["config"]})
        differing = [k for k in keys if len({r["config"].get(k) for r in same}) > 1]
        for r in same:
            r["config_diff"] = ", ".join(f"{k}={r['config'][k]}" for k in differing if k in r["config"])


def rank(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by tier then mean Dice (best first, missing last); ``rank`` numbers the ok rows only."""
    df = df.sort_values(["tier", "dice_mean"], ascending=[True, False], na_position="last").reset_index(drop=True)
    numbers, k = [], 0
    for t in df["tier"]:
        k += t == 0
        numbers.append(str(k) if t == 0 else "-")
    df.insert(0, "rank", numbers)
    return df


def board_rows(all_members: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """Board name -> its ranked rows (one per group of members; see the module docstring), boards sorted by name."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for m in all_members:
        who = "entry" if m["entry"] else m["candidate"]
        groups.setdefault((m["board"], m["method"], m["config_key"], m["complete"], who), []).append(m)
    rows = [_aggregate(g[0]["board"].split("/")[0], sorted(g, key=lambda m: (m["seed"], m["run_id"]))) for g in groups.values()]
    out: dict[str, pd.DataFrame] = {}
    for board in sorted({r["board"] for r in rows}):
        on_board = [r for r in rows if r["board"] == board]
        config_differences(on_board)
        out[board] = rank(pd.DataFrame(on_board))
    return out


def entries_only(df: pd.DataFrame) -> pd.DataFrame:
    """The summary table of a board: its entry rows, re-ranked."""
    return rank(df[df["entry"]].drop(columns="rank"))
