"""Leaderboard: collect run records into pandas, rank per board, constraint-checked."""

from rtbench.leaderboard.table import collect, rank_board, render_board

__all__ = ["collect", "rank_board", "render_board"]
