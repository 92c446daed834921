"""``bench reproduce NAME [key=value ...]``: re-run a paper's table here and print it beside the paper's own rows.

``rtdnas-table1`` is seed 000's Table 1, the decoding ablation: one RT-DNAS search
(``method=rtdnas method.paths=3,5,7 method.decoder=both method.fitness=latency``), decoded by the
GA and by MS-NAS's Dijkstra decoding at N_l = 3, 5, 7, each network trained, scored and timed by
the harness like any submission (``rtbench.runner.submit``: same run folder for the same
arguments, so an interrupted reproduction resumes). The user's ``key=value`` overrides
(``dataset=``, ``hardware=``, ``budget=``, ``seed=``, ``method.layers=``...) apply; ``method=``
and the settings the table fixes (``method.paths``, ``method.decoder``, ``method.fitness``) cannot
be overridden.

Why ``method.fitness=latency``: Table 1 compares the two decoders at equal N_l, and its GA is the
paper's literal §2.3 one, "*Fitness*: the overall network latency of an individual", over the
top-10 pool. rtdnas's default fitness (``weight``: the heaviest network meeting the bounds)
returns the Dijkstra network itself whenever that one meets the bounds (it is the heaviest of
the pool), which would make the ablation compare a network with itself.

Output, in ``<run_dir>/reproduce/``: ``rtdnas-table1.md`` (the table, the notes and the claims),
``rtdnas-table1.csv`` (the table) and ``rtdnas-table1-claims.csv``. The table follows the paper's
layout (Methods, RV, MYO, LV, Average, LT, TP; Dice as mean±std), a measured row above the paper's
reported row for each network, each labelled with its hardware and source. Columns after TP are
ours: the p50 latency, the search's predicted latency and the constraint verdict.

LT. The paper does not say which statistic its LT is. Ours is the p90 of the harness's
single-stream batch-1 end-to-end latency, the statistic the constraint check uses (p50 beside it).
TP is the harness's sustained frames/s at the profile's stream batch size; the paper's protocol is
not stated either. Reported rows were timed on an NVIDIA Tesla P100 and are never compared with
ours as figures of the same machine.

Claims of the paper checked on the measured rows (and, as a check of the checker, on the
reported ones): (a) at equal N_l, GA latency <= Dijkstra latency; (b) Dice rises with N_l, for each
decoder; (c) latency rises with N_l, for each decoder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rtbench.config import parse_overrides, resolve
from rtbench.errors import ConfigError
from rtbench.leaderboard.table import fmt_num, fmt_pm
from rtbench.reproduce.outputs import Echo, Outcome, Show, write_outputs
from rtbench.reproduce.rows import CLASSES, measured_row, reported_verdict
from rtbench.runfolder import RunFolder
from rtbench.runner import submit
from rtbench.tasks import get_task

REFERENCE_DIR = Path(__file__).parent / "reference"
LABEL = re.compile(r"\b(GA|Dijkstra) N_l=(\d+)\b")
"""A decoder label of an ``rtdnas`` candidate; a candidate found by both decoders carries two."""


@dataclass(frozen=True)
class Reproduction:
    """One reproducible table: the run it needs and the paper's rows it is shown beside.

    Attributes:
        name: ``bench reproduce`` name.
        title: what the table is.
        reference: CSV of the paper's rows in ``reference/`` (one row per method, ``label`` = our candidate label).
        settings: the ``key=value`` settings the table fixes; the user may not override them.
    """

    name: str
    title: str
    reference: str
    settings: dict[str, str] = field(default_factory=dict)

    def overrides(self, args: list[str]) -> dict[str, str]:
        """The reproduction's settings plus the user's ``key=value`` overrides; ConfigError on a fixed key."""
        user = parse_overrides(args)
        fixed = sorted(set(user) & ({"method"} | set(self.settings)))
        if fixed:
            given = ", ".join(f"{k}={user[k]}" for k in fixed)
            mine = " ".join(f"{k}={v}" for k, v in self.settings.items())
            raise ConfigError(f"bench reproduce {self.name} fixes {mine}; it cannot take {given}")
        return {**self.settings, **user}

    def reference_rows(self) -> pd.DataFrame:
        return pd.read_csv(REFERENCE_DIR / self.reference)


REPRODUCTIONS: dict[str, Reproduction] = {
    "rtdnas-table1": Reproduction(
        name="rtdnas-table1",
        title="RT-DNAS Table 1: GA vs Dijkstra network-level decoding at N_l = 3, 5, 7 (seed 000)",
        reference="rtdnas_table1.csv",
        settings={"method": "rtdnas", "method.paths": "3,5,7", "method.decoder": "both", "method.fitness": "latency"},
    ),
}

FIGURES = [
    "Methods",
    "label",
    *(f"{c}{s}" for c in (*CLASSES, "Average") for s in ("", "_std")),
    "LT_ms",
    "LT_p50_ms",
    "TP_fps",
    "predicted_LT_ms",
    "constraints",
    "hardware",
    "source",
]
"""Columns of the numeric table behind the display (ours: LT_ms is the p90)."""
COLUMNS = [
    "Methods",
    "RV",
    "MYO",
    "LV",
    "Average",
    "LT (ms)",
    "TP (fps)",
    "LT p50 (ms)",
    "predicted LT (ms)",
    "constraints",
    "hardware",
    "source",
]
"""The displayed table: the paper's layout, then our columns."""


def measured_figures(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per decoder label (``"GA N_l=7"``), the measured figures of the candidate that carries it."""
    out: dict[str, dict[str, Any]] = {}
    for cand in record["candidates"]:
        row = measured_row(record, cand)
        for decoder, n in LABEL.findall(cand["label"]):
            out[f"{decoder} N_l={n}"] = row
    return out


def figures_table(reference: pd.DataFrame, measured: dict[str, dict[str, Any]], task_name: str) -> pd.DataFrame:
    """Numeric rows in the paper's order: for every paper row, ours (measured) then the paper's (reported)."""
    rows = []
    for _, ref in reference.iterrows():
        ours = measured.get(ref["label"], {"constraints": "missing", "source": "measured", "hardware": "-"})
        rows.append({**ours, "Methods": ref["Methods"], "label": ref["label"]})
        rows.append({**ref.to_dict(), "constraints": reported_verdict(ref, task_name)})
    return pd.DataFrame(rows, columns=FIGURES)


def display_table(figures: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout (Dice as mean±std), then our extra columns."""
    out = pd.DataFrame({"Methods": figures["Methods"]})
    for c in (*CLASSES, "Average"):
        out[c] = [fmt_pm(m, s) for m, s in zip(figures[c], figures[f"{c}_std"])]
    out["LT (ms)"] = [fmt_num(v, ".1f") for v in figures["LT_ms"]]
    out["TP (fps)"] = [fmt_num(v, ".1f") for v in figures["TP_fps"]]
    out["LT p50 (ms)"] = [fmt_num(v, ".1f") for v in figures["LT_p50_ms"]]
    out["predicted LT (ms)"] = [fmt_num(v, ".1f") for v in figures["predicted_LT_ms"]]
    out["constraints"] = figures["constraints"]
    out["hardware"] = figures["hardware"]
    out["source"] = figures["source"]
    return out[COLUMNS]


def _points(figures: pd.DataFrame, source: str) -> dict[str, dict[int, tuple[float, float]]]:
    """``{decoder: {N_l: (average Dice, LT)}}`` of the rows from ``source`` with both figures."""
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for _, r in figures[figures["source"] == source].iterrows():
        dice, lt = r.get("Average"), r.get("LT_ms")
        if dice is None or lt is None or pd.isna(dice) or pd.isna(lt):
            continue
        decoder, n = LABEL.fullmatch(str(r["label"])).groups()  # type: ignore[union-attr]
        out.setdefault(decoder, {})[int(n)] = (float(dice), float(lt))
    return out


def claim_ga_not_slower(points: dict[str, dict[int, tuple[float, float]]]) -> Outcome:
    """(a) at equal N_l, the GA network's latency is at most the Dijkstra network's."""
    ga, dij = points.get("GA", {}), points.get("Dijkstra", {})
    pairs = [(n, ga[n][1], dij[n][1]) for n in sorted(set(ga) & set(dij))]
    if not pairs:
        return Outcome(None, "no N_l with both decoders")
    detail = "; ".join(f"N_l={n}: GA {a:.1f} vs Dijkstra {b:.1f} ms" for n, a, b in pairs)
    return Outcome(all(a <= b for _, a, b in pairs), detail)


def _rises(points: dict[str, dict[int, tuple[float, float]]], which: int, name: str, unit: str) -> Outcome:
    parts, held = [], []
    for decoder in sorted(points):
        series = [points[decoder][n][which] for n in sorted(points[decoder])]
        if len(series) < 2:
            continue
        held.append(all(b > a for a, b in zip(series, series[1:])))
        parts.append(f"{decoder}: " + " -> ".join(f"{v:{unit}}" for v in series))
    if not held:
        return Outcome(None, f"fewer than two N_l per decoder with a {name}")
    return Outcome(all(held), "; ".join(parts))


def claims(figures: pd.DataFrame) -> pd.DataFrame:
    """The three claims of Table 1 on the reported rows and on the measured rows."""
    rows = []
    checks = (
        ("(a) at equal N_l, GA latency <= Dijkstra latency", claim_ga_not_slower),
        ("(b) Dice rises with N_l, for each decoder", lambda p: _rises(p, 0, "Dice", ".3f")),
        ("(c) latency rises with N_l, for each decoder", lambda p: _rises(p, 1, "latency", ".1f")),
    )
    paper, ours = _points(figures, "reported"), _points(figures, "measured")
    for text, check in checks:
        p, o = check(paper), check(ours)
        rows.append({"claim": text, "paper (reported)": p.verdict, "ours (measured)": o.verdict, "ours": o.detail, "paper": p.detail})
    return pd.DataFrame(rows)


def reproduce(name: str, args: list[str], echo: Echo, show: Show) -> int:
    """Run (or resume) the reproduction ``name`` with ``key=value`` ``args``, write and show its table.

    Returns 0 when every network was trained and measured, 1 when the run is incomplete (the table
    is written with what there is; running the same command again resumes).
    """
    if name not in REPRODUCTIONS:
        raise ConfigError(f"unknown reproduction '{name}'; valid names: {', '.join(REPRODUCTIONS)}")
    repro = REPRODUCTIONS[name]
    spec = resolve(repro.overrides(args))
    echo(f"reproducing {repro.title}")
    result = submit(spec, echo=echo)
    record = result.record
    figures = figures_table(repro.reference_rows(), measured_figures(record), spec.task)
    table, claim_rows = display_table(figures), claims(figures)
    header = [
        f"Run `{record['run_id']}` on board `{record['board']}` (status: {record['status']}); run folder `{result.run_dir}`.",
        "",
        "LT: our p90 single-stream batch-1 end-to-end latency, the statistic the constraint check uses (p50 beside it); "
        "the paper does not say which statistic its LT is. TP: our sustained frames/s at the profile's stream batch size "
        f"({spec.hardware.stream_batch}). Constraints: {' and '.join(c.describe() for c in get_task(spec.task).constraints)}. "
        "Predicted LT: the search's sum-model prediction from the op latency table. Reported rows were timed on an "
        "NVIDIA Tesla P100 by the paper's authors; measured rows on the hardware named in their row.",
    ]
    paths = write_outputs(RunFolder(result.run_dir).reproduce, name, repro.title, header, table, claim_rows)
    show(f"{repro.title} | board {record['board']} | LT = p90 (ours), statistic unstated (paper)", table)
    show("Claims of the paper", claim_rows[["claim", "paper (reported)", "ours (measured)", "ours"]])
    for p in paths:
        echo(f"wrote {p}")
    if result.stopped_by_user:
        echo("interrupted (Ctrl-C): run the same command again to resume (finished trials are not re-run)")
        return 130
    if result.interrupted:
        echo("the run is incomplete: run the same command again to resume (finished trials are not re-run)")
        return 1
    return 0
