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
