"""The site's index page: one section per board, its constraint line, the entries' summary table, every
row in a sortable table, its plots and its exports. Every value is HTML-escaped; links are relative,
so the folder works when opened from disk or copied elsewhere.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

import pandas as pd

from rtbench.leaderboard.architecture import picture
from rtbench.leaderboard.exports import PM_NOTE, display_frame
from rtbench.leaderboard.verdict import METHOD_NOTE
from rtbench.tasks import Task, get_task

SMOKE_LABEL = "smoke: not for comparison"
RULES = (
    PM_NOTE,
    METHOD_NOTE,
    "verdict: ok when the whole p90 interval meets the latency bound (throughput on its measured value), "
    "breaks when it surely breaks one, borderline when the interval straddles the bound; over seeds, mixed when seeds disagree",
    "ranking: ok rows by mean Dice (numbered), then borderline or mixed, then rows that break a constraint, then incomplete rows",
    "★ entry: the candidate the method itself marked (predicted.entry = 1) or its only candidate; never chosen by test scores. "
    "The summary table ranks entries only",
    "seeds: runs of one method with the same config but for the seed are one row (mean over seeds, n shown)",
    "busy cores: how many cores other processes kept busy in the second before the row was timed (the most over its seeds; "
    "- on a GPU or for records older than the field); a CPU timing taken on a busy machine is inflated",
)
# display column -> the raw column its cells sort on
SORT_KEYS = {
    "rank": "rank_num",
    "Dice": "dice_mean",
    "HD95 mm": "hd95_mean",
    "QC MAE": "qc_mae",
    "p50 ms": "latency_p50_ms",
    "p90 ms": "latency_p90_ms",
    "p90 95% CI": "p90_hi",
    "fps": "throughput_fps",
    "params M": "params_m",
    "GFLOPs": "gflops",
    "busy cores": "busy_cores",
    "seeds": "n",
}
TEXT_COLUMNS = ("method", "candidate", "config", "verdict", "runs")


def slug(text: str) -> str:
    """A file- and id-safe name for a board or run (letters, digits, ``-``, ``_``, ``.``, ``@``)."""
    return re.sub(r"[^A-Za-z0-9_.@-]+", "-", text).strip("-")


def run_page(member: dict[str, Any]) -> str:
    """The run page of a member (relative to the site root)."""
    return f"runs/{slug(member['board'])}--{slug(member['run_id'])}.html"


def is_smoke(board: str) -> bool:
    """Whether the board's budget is ``smoke`` (its label, possibly with an override hash)."""
    return board.split("/")[-1].split("+")[0] == "smoke"


def constraint_line(task: Task) -> str:
    checks = " and ".join(c.describe() for c in task.constraints)
    return f"constraints: {checks} (latency checked on p90 of single-stream batch-1 queries; throughput as sustained frames/s)"


def page(title: str, body: str, root: str = "") -> str:
    """A whole HTML page around ``body``; ``root`` is the relative path back to the site root."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        f'<link rel="stylesheet" href="{root}site.css"></head><body>\n{body}\n'
        f'<script src="{root}site.js"></script></body></html>\n'
    )


def _verdict_class(v: str) -> str:
    return "verdict-" + v.split(" ")[0]


def _candidate_cell(r: pd.Series) -> str:
    first = r["members"][0]
    svg = picture(first["genotype"])
    tip = f"{first['entry_rule']}; space {first['space']}"
    detail = svg or f"<span class='note'>no architecture picture for space {escape(str(first['space']))}</span>"
    return f'<details title="{escape(tip)}"><summary>{escape(str(r["candidate"]))}</summary>{detail}</details>'


def _runs_cell(r: pd.Series) -> str:
    links = [f'<a href="{run_page(m)}" title="{escape(m["run_id"])}">s{m["seed"]}</a>' for m in r["members"]]
    return " ".join(links)


def board_table(df: pd.DataFrame, task: Task, table_id: str) -> str:
    """One sortable HTML table of a board's ranked rows."""
    shown = display_frame(df, task)
    shown["runs"] = ""
    raw = df.assign(rank_num=[int(x) if x != "-" else None for x in df["rank"]])
    head = "".join(f'<th class="{"text" if c in TEXT_COLUMNS else ""}">{escape(c)}</th>' for c in shown.columns)
    lines = [f'<table class="sortable" id="{escape(table_id)}"><thead><tr>{head}</tr></thead><tbody>']
    for i in range(len(df)):
        r = df.iloc[i]
        cells = []
        for c in shown.columns:
            v = raw.iloc[i][SORT_KEYS[c]] if c in SORT_KEYS else None
            data = "" if v is None or pd.isna(v) else f' data-v="{float(v):.6g}"'
            cls = "text" if c in TEXT_COLUMNS else ""
            if c == "verdict":
                cls += " " + _verdict_class(str(r["verdict"]))
            content = (
                _candidate_cell(r)
                if c == "candidate"
                else _runs_cell(r)
                if c == "runs"
                else escape(str(shown.iloc[i][c])).replace("±", "&plusmn;")
            )
            cells.append(f'<td class="{cls.strip()}"{data}>{content}</td>')
        cls = ' class="entry"' if r["entry"] else ""
        lines.append(f'<tr{cls} data-method="{escape(str(r["method"]))}">' + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def board_section(board: str, df: pd.DataFrame, entries: pd.DataFrame, plot_files: list[str], export_files: list[str]) -> str:
    """The index section of one board."""
    task = get_task(board.split("/")[0])
    sid = slug(board)
    parts = [f'<section class="board" id="{sid}" data-board="{escape(board)}">', f"<h2>Board {escape(board)}</h2>"]
    if is_smoke(board):
        parts.append(f'<p class="smoke">{SMOKE_LABEL}</p>')
    parts.append(f'<p class="constraints">{escape(constraint_line(task))}</p>')
    parts.append("<h3>Summary: one entry per method and config (± over seeds)</h3>")
    if entries.empty:
        parts.append("<p class='note'>no entries on this board (no run marked one)</p>")
    else:
        parts.append(board_table(entries, task, f"summary-{sid}"))
    parts.append(f"<h3>Every candidate ({len(df)} rows; ± over seeds)</h3>")
    parts.append(board_table(df, task, f"all-{sid}"))
    png = [p for p in plot_files if p.endswith(".png")]
    svg = [p for p in plot_files if p.endswith(".svg")]
    for p in png:
        parts.append(f'<p><img class="plot" src="{p}" alt="Dice vs p90 latency and vs throughput on {escape(board)}"></p>')
    links = [f'<a href="{p}">{p.rsplit("/", 1)[-1]}</a>' for p in [*svg, *export_files]]
    parts.append(f"<p class='note'>plot as SVG and exports: {' · '.join(links)}</p>")
    parts.append("</section>")
    return "\n".join(parts)


def index_page(sections: list[tuple[str, str]], source: str, generated: str) -> str:
    """The index: rules, a list of boards, then each board's section (``(board, html)`` pairs)."""
    toc = "".join(f'<li><a href="#{slug(b)}">{escape(b)}</a>{" (" + SMOKE_LABEL + ")" if is_smoke(b) else ""}</li>' for b, _ in sections)
    rules = "".join(f"<li>{escape(r)}</li>" for r in RULES)
    body = [
        "<h1>rtbench leaderboard</h1>",
        f"<p class='note'>from the run store {escape(source)}, generated {escape(generated)}. "
        "Rows on different boards (task / dataset / hardware / budget) are never compared.</p>",
        f"<ul class='note'>{rules}</ul>",
        f"<nav><ul>{toc}</ul></nav>" if sections else "<p>no run records</p>",
        *(html for _, html in sections),
    ]
    return page("rtbench leaderboard", "\n".join(body))
