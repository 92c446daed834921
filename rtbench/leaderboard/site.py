"""``bench leaderboard out=DIR``: the static, self-contained leaderboard site.

Layout of ``DIR`` (nothing outside it is referenced; open ``index.html`` from disk)::

    index.html                      one section per board: constraint line, entries' summary, every row, plots, exports
    site.css, site.js               the one stylesheet and the table-sorting script (``rtbench.leaderboard.assets``)
    boards/<board>/plots.png|svg    mean Dice vs p90 latency and vs throughput (``rtbench.leaderboard.plots``)
    boards/<board>/board.csv|md|json  the board's rows (``rtbench.leaderboard.exports``)
    runs/<board>--<run-id>.html     a page per run (``rtbench.leaderboard.runpage``)

Only trusted records are read (``rtbench.store.iter_records``); the run store is never written.
"""

from __future__ import annotations

import time
from pathlib import Path

from rtbench.leaderboard.aggregate import board_rows, entries_only, record_members
from rtbench.leaderboard.assets import CSS, JS
from rtbench.leaderboard.exports import write_exports
from rtbench.leaderboard.pages import SMOKE_LABEL, board_section, constraint_line, index_page, is_smoke, run_page, slug
from rtbench.leaderboard.plots import draw_board, method_colours
from rtbench.leaderboard.reported import reported_points
from rtbench.leaderboard.runpage import run_page_html
from rtbench.records import warn_once
from rtbench.store import Warn, iter_records
from rtbench.tasks import get_task


def build_site(runs_dir: Path, out_dir: Path, warn: Warn = warn_once) -> list[Path]:
    """Write the site for the run store ``runs_dir`` into ``out_dir`` (created if needed); every file written, index first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    records = list(iter_records(runs_dir, warn))
    per_record = [record_members(path, rec) for path, rec in records]
    boards = board_rows([m for ms in per_record for m in ms])
    colours = method_colours([m["method"] for ms in per_record for m in ms])
    written: list[Path] = []
    sections = []
    for board, df in boards.items():
        task = get_task(board.split("/")[0])
        folder = out_dir / "boards" / slug(board)
        title = f"Board {board}" + (f"  [{SMOKE_LABEL}]" if is_smoke(board) else "")
        plots = draw_board(df, task, title, folder / "plots", colours, reported_points(task.name))
        exports = write_exports(df, task, f"{title}   {constraint_line(task)}", folder)
        written += plots + exports
        rel = lambda paths: [p.relative_to(out_dir).as_posix() for p in paths]
        sections.append((board, board_section(board, df, entries_only(df), rel(plots), rel(exports))))
    for (path, rec), ms in zip(records, per_record):
        if not ms:
            continue
        target = out_dir / run_page(ms[0])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(run_page_html(rec, str(path), ms))
        written.append(target)
    for name, text in (("site.css", CSS), ("site.js", JS)):
        (out_dir / name).write_text(text)
        written.append(out_dir / name)
    index = out_dir / "index.html"
    index.write_text(index_page(sections, str(runs_dir), time.strftime("%Y-%m-%d %H:%M:%S")))
    return [index, *written]
