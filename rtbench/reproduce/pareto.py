"""Pareto fronts and gaps: moved to :mod:`rtbench.leaderboard.pareto` (the leaderboard's plots draw them too); re-exported here."""

from rtbench.leaderboard.pareto import dominates, front_gap, pareto_front

__all__ = ["dominates", "front_gap", "pareto_front"]
