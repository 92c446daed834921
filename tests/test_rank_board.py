"""Ranking one board: feasible rows above infeasible ones whatever their Dice, incomplete rows last and unranked."""

from __future__ import annotations

import pandas as pd

from rtbench.leaderboard.table import rank_board


def _row(name: str, dice: float | None, complete: bool, feasible: bool) -> dict:
    return {"candidate": name, "dice_mean": dice, "complete": complete, "feasible": feasible}


def test_feasible_rank_above_infeasible_and_incomplete_rows_come_last() -> None:
    df = pd.DataFrame(
        [
            _row("slow but best", 0.95, True, False),
            _row("unfinished", None, False, False),
            _row("fast, good", 0.88, True, True),
            _row("fast, worse", 0.80, True, True),
            _row("slow, worst", 0.70, True, False),
            _row("unfinished but scored", 0.99, False, True),
        ]
    )
    ranked = rank_board(df)
    assert list(ranked["candidate"]) == ["fast, good", "fast, worse", "slow but best", "slow, worst", "unfinished but scored", "unfinished"]
    assert list(ranked["rank"]) == ["1", "2", "-", "-", "-", "-"]  # only feasible rows get a rank


def test_a_board_with_no_feasible_row_ranks_nothing_but_keeps_the_rows() -> None:
    ranked = rank_board(pd.DataFrame([_row("a", 0.9, True, False), _row("b", 0.8, True, False)]))
    assert list(ranked["candidate"]) == ["a", "b"] and set(ranked["rank"]) == {"-"}


def test_an_echo_board_shows_the_qc_mae_and_a_cine_board_does_not() -> None:
    from rtbench.leaderboard.table import candidate_row, render_board

    def record(task: str, classes: tuple[str, ...]) -> tuple[dict, dict]:
        metrics = {f"dice_{c}": 0.8 for c in classes} | {"dice_mean": 0.8, "hd95_mean": 2.0, "qc_mae": 0.027, "qc_mae_std": 0.004}
        cand = {"label": "x", "complete": True, "metrics": metrics, "measurement": None, "constraints": None}
        return {"board": f"{task}/d/local-cpu/quick", "run_id": "r", "config": {"task": task, "method": "m", "seed": 0}}, cand

    rec, cand = record("echo", ("MYO",))
    header, shown = render_board(rec["board"], rank_board(pd.DataFrame([candidate_row(rec, cand)])))
    assert list(shown["QC MAE"]) == ["0.027±0.004"] and "segmentation + quality control" in header
    rec, cand = record("cine", ("RV", "MYO", "LV"))
    _, shown = render_board(rec["board"], rank_board(pd.DataFrame([candidate_row(rec, cand)])))
    assert "QC MAE" not in shown.columns
    assert list(shown["run"]) == ["r"], "the run id tells apart rows of one method and label from different runs"
