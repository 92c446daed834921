"""A page per run: what was run (resolved config, the command that reproduces it), where (environment),
what it found (each candidate's verdict, measurement, per-fold scores and architecture), how long it
took, and the record it was read from.

On this page ``±`` is the record's own spread: the std over test volumes of one fold, or over the
folds' means when there are several (``rtbench.records.aggregate_folds``), never over seeds.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from html import escape
from typing import Any

from rtbench.leaderboard.architecture import picture
from rtbench.leaderboard.exports import interval, pm
from rtbench.leaderboard.pages import SMOKE_LABEL, constraint_line, is_smoke, page, slug
from rtbench.leaderboard.verdict import METHOD_NOTE, NO_SAMPLES, p90_interval
from rtbench.tasks import get_task

RUN_PM = "± on this page: std over the test volumes of one fold, or over the folds' means when there are several (not over seeds)"


def _arg(key: str, value: Any) -> str:
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value).lower() if isinstance(value, bool) else str(value)
    return shlex.quote(f"{key}={text}")


def _overrides(group: str, recorded: dict[str, Any], named: Any) -> list[str]:
    """``group.<field>=value`` for each recorded field that differs from the named budget or profile."""
    if named is None:
        return []
    base = dataclasses.asdict(named)
    return [_arg(f"{group}.{k}", v) for k, v in recorded.items() if k != "name" and k in base and base[k] != v]


def reproduce_command(cfg: dict[str, Any]) -> str:
    """The ``bench submit`` command that resolves to this run's config (same run id, so it resumes rather than re-runs)."""
    from rtbench.budgets import get_budget
    from rtbench.errors import RTBenchError
    from rtbench.hardware.profile import load_profile

    args = [_arg("method", cfg["method"]), *(_arg(f"method.{k}", v) for k, v in (cfg.get("method_config") or {}).items())]
    args += [_arg("dataset", cfg.get("dataset", "?"))]
    args += [_arg(f"dataset.{k}", v) for k, v in (cfg.get("dataset_config") or {}).items() if v not in ("", None)]
    budget, hardware = cfg.get("budget") or {}, cfg.get("hardware") or {}
    try:
        named_budget = get_budget(str(budget.get("name")))
    except RTBenchError:
        named_budget = None
    try:
        named_profile = load_profile(str(hardware.get("name")))
    except (RTBenchError, OSError):
        named_profile = None
    args += [_arg("budget", budget.get("name", "?")), *_overrides("budget", budget, named_budget)]
    args += [_arg("hardware", hardware.get("name", "?")), *_overrides("hardware", hardware, named_profile)]
    args.append(_arg("seed", cfg.get("seed", 0)))
    if cfg.get("device", "auto") != "auto":
        args.append(_arg("device", cfg["device"]))
    return "bench submit " + " ".join(args)


def _kv_table(items: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th class='text'>{escape(str(k))}</th><td class='text'>{escape(str(v))}</td></tr>" for k, v in items.items())
    return f"<table>{rows}</table>"


def _folds_table(cand: dict[str, Any], classes: tuple[str, ...]) -> str:
    names = [*classes, "mean"]
    head = "<tr><th>fold</th><th>volumes</th>" + "".join(f"<th>Dice {n}</th>" for n in names) + "<th>HD95 mm</th><th>train s</th></tr>"
    rows = []
    for f in cand.get("folds") or []:
        s, t = f.get("summary") or {}, f.get("train") or {}
        cells = [str(f.get("fold")), str(s.get("volumes", "-"))]
        cells += [pm(s.get(f"dice_{n}_mean"), s.get(f"dice_{n}_std")) for n in names]
        cells += [pm(s.get("hd95_mean_mean"), s.get("hd95_mean_std"), ".2f"), pm(t.get("train_seconds"), None, ".0f")]
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells).replace("±", "&plusmn;") + "</tr>")
    m = cand.get("metrics") or {}
    if m:
        cells = ["all", str(int(m.get("volumes", 0)))] + [pm(m.get(f"dice_{n}"), m.get(f"dice_{n}_std")) for n in names]
        cells += [pm(m.get("hd95_mean"), m.get("hd95_mean_std"), ".2f"), pm(cand.get("train_seconds"), None, ".0f")]
        rows.append("<tr><th>" + "</th><th>".join(escape(c) for c in cells).replace("±", "&plusmn;") + "</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>" if rows else "<p class='note'>no finished fold</p>"


def _measurement(cand: dict[str, Any]) -> str:
    meas = cand.get("measurement") or {}
    if not meas:
        return "<p class='note'>not measured</p>"
    lat, tp = meas.get("latency") or {}, meas.get("throughput") or {}
    samples = lat.get("samples_ms") or []
    ci = p90_interval([samples]) if samples else None
    items = {
        "latency p50 / p90 / p99 ms": " / ".join(pm(lat.get(k), None, ".2f") for k in ("p50_ms", "p90_ms", "p99_ms")),
        "p90 95% interval": interval(ci.lo, ci.hi, "") if ci else NO_SAMPLES,
        "latency queries / timed s": f"{lat.get('queries', '-')} / {pm(lat.get('duration_s'), None, '.2f')}",
        "throughput frames/s": f"{pm(tp.get('fps'), None, '.1f')} ({tp.get('frames', '-')} frames, "
        f"batches of {tp.get('batch_size', '-')}, {pm(tp.get('duration_s'), None, '.2f')} s)",
        "params": meas.get("params", "-"),
        "FLOPs": meas.get("flops", "-"),
        "cores busy before timing / load avg 1 min": f"{pm(meas.get('busy_cores_before'), None, '.2f')} / "
        f"{pm(meas.get('load_avg_1m'), None, '.2f')}",
    }
    return _kv_table(items)


def _candidate_section(cand: dict[str, Any], member: dict[str, Any], classes: tuple[str, ...]) -> str:
    mark = " ★ entry" if member["entry"] else ""
    svg = picture(cand.get("genotype")) or f"<p class='note'>no architecture picture for space {escape(str(cand.get('space')))}</p>"
    predicted = json.dumps(cand.get("predicted") or {}, indent=1, sort_keys=True)
    genotype = json.dumps(cand.get("genotype"), indent=1)
    facts = (
        f"verdict: <b>{escape(member['verdict'])}</b> · entry rule: {escape(member['entry_rule'])} · space {escape(str(cand.get('space')))}"
    )
    return "\n".join(
        [
            f"<section class='candidate'><h2>{escape(cand['label'])}{mark}</h2>",
            f"<p>{facts}</p>",
            "<h3>Measurement</h3>",
            _measurement(cand),
            "<h3>Scores per fold</h3>",
            _folds_table(cand, classes),
            "<h3>Architecture</h3>",
            svg,
            f"<details><summary>genotype and what the method predicted</summary><pre>{escape(genotype)}</pre>"
            f"<pre>{escape(predicted)}</pre></details></section>",
        ]
    )


def run_page_html(rec: dict[str, Any], record_path: str, run_members: list[dict[str, Any]]) -> str:
    """The page of one run (``run_members``: its candidates as ``rtbench.leaderboard.aggregate.record_members`` made them)."""
    cfg = rec["config"]
    board = rec["board"]
    task = get_task(cfg["task"])
    facts = {
        "board": board,
        "method": cfg["method"],
        "seed": cfg["seed"],
        "status": rec["status"],
        "updated": rec["updated"],
        "record": record_path,
        "config hash": cfg.get("config_hash", "-"),
    }
    timings = {
        "search s": pm(rec.get("search", {}).get("seconds"), None, ".1f"),
        "last submission wall s": pm(rec.get("wall_seconds_last_submission"), None, ".1f"),
        **{f"train s ({c['label']})": pm(c.get("train_seconds"), None, ".1f") for c in rec["candidates"]},
    }
    failures = "".join(
        f"<li><b>{escape(f.get('unit', '?'))}</b>: {escape(str(f.get('error', '')))}</li>" for f in rec.get("failures") or []
    )
    body = [
        f"<p><a href='../index.html#{slug(board)}'>&larr; board {escape(board)}</a></p>",
        f"<h1>Run {escape(rec['run_id'])}</h1>",
        f'<p class="smoke">{SMOKE_LABEL}</p>' if is_smoke(board) else "",
        f"<p class='constraints'>{escape(constraint_line(task))}</p>",
        f"<ul class='note'><li>{escape(RUN_PM)}</li><li>{escape(METHOD_NOTE)}</li></ul>",
        _kv_table(facts),
        "<h3>Reproduce</h3>",
        f"<pre>{escape(reproduce_command(cfg))}</pre>",
        *(_candidate_section(c, m, task.classes) for c, m in zip(rec["candidates"], run_members)),
        "<h2>Timings</h2>",
        _kv_table(timings),
        f"<h2>Failures</h2><ul>{failures}</ul>" if failures else "",
        "<h2>Environment</h2>",
        _kv_table(rec.get("environment") or {}),
        "<h2>Resolved config</h2>",
        f"<pre>{escape(json.dumps(cfg, indent=1, sort_keys=True))}</pre>",
    ]
    return page(f"run {rec['run_id']}", "\n".join(b for b in body if b), root="../")
