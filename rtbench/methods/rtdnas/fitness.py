"""Fitness of an RT-DNAS individual: the derived network's predicted latency under the real-time bounds (seed 000 §2.3).

Predictor. The latency of a derived network is the *sum model* over its op graph
(``LatencyModel.table_sum_ms`` of ``ctx.latency_model()``: the table p50 of every op, summed). Why the sum model and not the calibrated one:

* the GA compares individuals that share one cell structure and one N_l; they differ in which
  cells and tiles the union of their paths holds, and the sum model prices exactly that, op by op
  (a single stream runs the ops one after another on CPU and in one CUDA stream alike);
* it needs nothing but the table, so the GA is deterministic under a seed; a calibrated model
  must first be fit on networks measured during the search, whose noise would make two searches
  with the same seed decode different networks;
* its bias is known and conservative: every table entry is one op timed alone through a whole
  end-to-end query, so it also carries that query's fixed cost and the sum over-predicts the
  measured network. A network predicted feasible is then feasible with margin; the harness
  measures the real latency anyway, and the prediction is recorded beside it, never instead.

Bounds. The latency bound is L_ub (the task's, 50 ms for cine, unless the method overrides it).
The throughput bound (cine: >= 22 frames/s) becomes a latency bound through the single-stream
relation fps = 1000 / latency (one frame at a time, as frames arrive in a real-time stream;
batching can only raise the harness's measured throughput, so this is conservative):
fps >= F  <=>  latency <= 1000 / F.

Penalty. An infeasible individual's fitness is its *violation* (the ms by which it exceeds each
bound, summed) before its latency, compared lexicographically (Deb's feasibility rule): every
feasible individual beats every infeasible one, and among infeasible ones the smaller violation
wins. Both bounds are monotone in the predicted latency, so this order is the latency order
itself: the GA returns the fastest individual it finds whatever the bounds, and the bounds decide
whether it is reported feasible. (The bound changes *which* networks can be decoded through the
search: eq. 2 penalises the expected latency of the cell structure, ``search``.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rtbench.tasks import Task


@dataclass(frozen=True, order=True)
class Fitness:
    """GA fitness, lower is fitter: ``(violation_ms, latency_ms)`` compared in that order.

    Attributes:
        violation_ms: sum over the bounds of the ms by which ``latency_ms`` exceeds each (0: feasible).
        latency_ms: predicted latency of the derived network (sum model, ms).
        fps: predicted single-stream throughput, ``1000 / latency_ms`` (not compared).
    """

    violation_ms: float
    latency_ms: float
    fps: float = field(compare=False)

    @property
    def feasible(self) -> bool:
        return self.violation_ms == 0.0


@dataclass(frozen=True)
class RealTimeBounds:
    """The real-time constraints an individual is checked against, in predicted latency.

    Attributes:
        latency_ms: L_ub.
        min_fps: the minimum throughput (0: none).
    """

    latency_ms: float
    min_fps: float = 0.0

    @classmethod
    def of(cls, task: Task, latency_bound_ms: float = 0.0) -> RealTimeBounds:
        """The task's bounds; ``latency_bound_ms > 0`` replaces the task's latency bound."""
        fps = [c.bound for c in task.constraints if c.metric == "throughput_fps" and c.op == ">="]
        return cls(latency_ms=latency_bound_ms if latency_bound_ms > 0 else task.latency_bound_ms, min_fps=max(fps, default=0.0))

    def fitness(self, latency_ms: float) -> Fitness:
        """The fitness of a network predicted to take ``latency_ms`` (see the module docstring)."""
        over_latency = max(0.0, latency_ms - self.latency_ms)
        over_fps = max(0.0, latency_ms - 1000.0 / self.min_fps) if self.min_fps > 0 else 0.0
        fps = 1000.0 / latency_ms if latency_ms > 0 else math.inf
        return Fitness(violation_ms=over_latency + over_fps, latency_ms=latency_ms, fps=fps)
