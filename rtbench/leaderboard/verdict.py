"""Verdicts under timing noise: a bootstrap confidence interval on p90 latency and the row's verdict.

p90 is estimated from a finite number of timed queries, so a network measured twice can land on
either side of a bound. The interval here is a percentile bootstrap (Efron & Tibshirani 1993,
ch. 13): resample the per-query latencies of one measurement with replacement ``B`` times, take
each resample's p90 (numpy's linear percentile, the estimator the measurement itself uses), and
report the 2.5th and 97.5th percentiles of those p90s. The generator is seeded, so the same
samples always give the same interval. Records written before the measurement kept per-query
samples have no interval (``NO_SAMPLES`` says why).

A constraint's verdict is three-valued: ``ok`` when the whole interval meets the bound, ``breaks``
when none of it does, ``borderline`` when the interval straddles the bound. Constraints without an
interval (throughput, or latency without samples) are checked on the point estimate, as
``rtbench.tasks.Task.broken`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rtbench.tasks import Task

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
NO_SAMPLES = "record predates per-query samples"
METHOD_NOTE = (
    f"p90 {CONFIDENCE:.0%} interval: percentile bootstrap over the measured per-query latencies "
    f"({BOOTSTRAP_RESAMPLES} resamples, numpy seed {BOOTSTRAP_SEED}); over seeds, the interval of the mean p90"
)


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[lo, hi]`` in the metric's unit."""

    lo: float
    hi: float


def p90_replicas(samples_ms: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """``resamples`` bootstrap replicas of p90 over ``samples_ms`` (seeded, so reproducible)."""
    x = np.asarray(samples_ms, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    return np.percentile(x[idx], 90, axis=1)


def p90_interval(samples: Sequence[Sequence[float]]) -> Interval | None:
    """The bootstrap interval of p90 for one measurement, or of the mean p90 over several (one per seed).

    Each measurement is resampled on its own (seed ``BOOTSTRAP_SEED + i``) and the replicas averaged
    across measurements. None when any measurement has no samples.
    """
    if not samples or any(len(s) == 0 for s in samples):
        return None
    replicas = np.mean([p90_replicas(s, seed=BOOTSTRAP_SEED + i) for i, s in enumerate(samples)], axis=0)
    tail = (1 - CONFIDENCE) / 2 * 100
    lo, hi = np.percentile(replicas, [tail, 100 - tail])
    return Interval(float(lo), float(hi))


def constraint_states(task: Task, values: dict[str, float | None], p90_ci: Interval | None) -> dict[str, str]:
    """Each constraint's label -> ``ok``, ``breaks`` or ``borderline`` (see the module docstring).

    ``values`` maps a constraint's metric (``latency_p90_ms``, ``throughput_fps``) to its point
    estimate; a missing one breaks. The latency constraint uses ``p90_ci`` when there is one.
    """
    out: dict[str, str] = {}
    for c in task.constraints:
        v = values.get(c.metric)
        if c.metric == "latency_p90_ms" and p90_ci is not None:
            lo_ok, hi_ok = c.holds(p90_ci.lo), c.holds(p90_ci.hi)
            out[c.label] = "ok" if lo_ok and hi_ok else ("breaks" if not lo_ok and not hi_ok else "borderline")
        else:
            out[c.label] = "ok" if v is not None and c.holds(float(v)) else "breaks"
    return out


def verdict(states: dict[str, str]) -> str:
    """One line for a measured row: ``breaks <labels>`` if any constraint surely breaks, else
    ``borderline <labels>`` if any interval straddles its bound, else ``ok``."""
    broken = [k for k, s in states.items() if s == "breaks"]
    if broken:
        return f"breaks {','.join(broken)}"
    border = [k for k, s in states.items() if s == "borderline"]
    return f"borderline {','.join(border)}" if border else "ok"


def combine(verdicts: Sequence[str]) -> str:
    """The verdict of a row aggregated over seeds: the seeds' common verdict, else ``mixed (k/n ok)``."""
    unique = sorted(set(verdicts))
    if len(unique) == 1:
        return unique[0]
    return f"mixed ({sum(v == 'ok' for v in verdicts)}/{len(verdicts)} ok)"


def tier(verdict_line: str, complete: bool) -> int:
    """Ranking tier: 0 ok, 1 borderline or mixed, 2 breaks, 3 incomplete (a row never outranks a lower tier number)."""
    if not complete:
        return 3
    if verdict_line == "ok":
        return 0
    return 2 if verdict_line.startswith("breaks") else 1
