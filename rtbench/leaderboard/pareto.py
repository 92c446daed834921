"""Pareto fronts of (Dice, latency) and (Dice, throughput) points, and how far a point falls short of one.

A point *dominates* another when it is at least as good on both axes and better on one: Dice is
maximised; the x axis is minimised (latency) or maximised (throughput). The front of a point set
is its non-dominated points (equal points are all on it). The *gap* of a point to a front is how
much Dice it lacks against the best front point at least as good on x:
``max{dice(f) : f in front, x(f) at least as good as x(p)} - dice(p)``, 0 when no front point is
at least as good on x (then nothing on the front beats it at its latency, so it is on the front
itself) and never negative.
"""

from __future__ import annotations

from collections.abc import Sequence


def _at_least_as_good(a: float, b: float, maximize: bool) -> bool:
    return a >= b if maximize else a <= b


def dominates(p: tuple[float, float], q: tuple[float, float], maximize_x: bool) -> bool:
    """Whether ``p = (x, dice)`` dominates ``q`` (Dice maximised, x maximised or minimised)."""
    (px, pd), (qx, qd) = p, q
    no_worse = _at_least_as_good(px, qx, maximize_x) and pd >= qd
    return no_worse and (px != qx or pd != qd)


def pareto_front(points: Sequence[tuple[float, float]], maximize_x: bool) -> list[int]:
    """Indices of the non-dominated ``(x, dice)`` points, in ascending order of x."""
    front = [i for i, p in enumerate(points) if not any(dominates(q, p, maximize_x) for q in points)]
    return sorted(front, key=lambda i: (points[i][0], points[i][1]))


def front_gap(point: tuple[float, float], front: Sequence[tuple[float, float]], maximize_x: bool) -> float:
    """Dice ``point`` lacks against the best front point at least as good on x (see the module docstring)."""
    better = [d for x, d in front if _at_least_as_good(x, point[0], maximize_x)]
    return max(0.0, max(better) - point[1]) if better else 0.0
