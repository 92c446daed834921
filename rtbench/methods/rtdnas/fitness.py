"""Fitness of an RT-DNAS individual under the real-time bounds (seed 000 §2.2, §2.3).

What the GA maximises. §2.3 defines the fitness as "the overall network latency of an
individual" while the gene pool (the top paths by accumulated weight) keeps the accuracy, and
§2.2 asks for the network with the best accuracy whose latency stays under L_ub (the
supplementary Fig. 1 caption: "the optimized network architecture with the best accuracy
satisfying timing constraint"). Read literally, a latency fitness returns the fastest N_l-subset
of the pool whatever the bound. Two objectives (``method.fitness``):

* ``weight`` (default): maximise the individual's accumulated path weight, the sum of its genes'
  log-weights (§2.1: "the performance of each path can be evaluated by the proximal accumulated
  weight along the cells it covers"; the accuracy proxy the Dijkstra decoding maximises too),
  subject to the bounds. The Dijkstra individual (the N_l heaviest genes) is the heaviest of the
  pool, so when it meets the bounds the GA returns it; when it does not, the GA trades weight for
  latency until the network fits. Ties in weight go to the faster individual.
* ``latency``: minimise the predicted latency, the paper's literal §2.3 fitness, kept for Table 1's
  GA-vs-Dijkstra ablation (``rtbench.reproduce.rtdnas_table1``).

Constraints (Deb's feasibility rule). An individual's *violation* is the ms by which its predicted
latency exceeds each bound, summed. Fitnesses compare ``(violation, objective, latency)``
lexicographically: every feasible individual (violation 0) beats every infeasible one, infeasible
ones are ranked by violation alone (the smaller wins), and feasible ones by the objective.

Bounds. The latency bound is L_ub (the task's, 50 ms for cine, unless ``method.latency_bound_ms``
overrides it). The throughput bound (cine: >= 22 frames/s) becomes a latency bound through the
single-stream relation fps = 1000 / latency (one frame at a time, as frames arrive in a real-time
stream; batching can only raise the harness's measured throughput, so this is conservative):
fps >= F  <=>  latency <= 1000 / F.

Predictor. The predicted latency is the latency model's ``predict_p90_ms`` (the calibrated
measured p90 where ``bench latency-check`` fitted one for the profile, else the table sum, which
over-predicts; ``rtbench.hardware.latency_model``): the harness checks the bounds on measured p90.
It is a deterministic function of the table and the saved calibration, so two searches with the
same seed decode the same networks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rtbench.errors import ConfigError
from rtbench.tasks import Task

FITNESSES = ("weight", "latency")
"""``method.fitness`` values (see the module docstring)."""


@dataclass(frozen=True, order=True)
class Fitness:
    """GA fitness, lower is fitter: ``(violation_ms, objective, latency_ms)`` compared in that order (Deb's rule).

    Attributes:
        violation_ms: sum over the bounds of the ms by which ``latency_ms`` exceeds each (0: feasible).
        objective: what feasible individuals are ranked by: ``-log_weight`` (fitness ``weight``) or
            ``latency_ms`` (fitness ``latency``). Infeasible individuals are ranked by violation
            first; their objective only breaks exact ties.
        latency_ms: predicted latency of the derived network (ms); breaks ties in the objective.
        fps: predicted single-stream throughput, ``1000 / latency_ms`` (not compared).
        log_weight: the individual's accumulated path weight (not compared).
    """

    violation_ms: float
    objective: float
    latency_ms: float
    fps: float = field(compare=False)
    log_weight: float = field(compare=False, default=0.0)

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

    def violation_ms(self, latency_ms: float) -> float:
        """Ms over L_ub plus ms over the throughput bound's latency ``1000 / min_fps`` (0: meets both)."""
        over_latency = max(0.0, latency_ms - self.latency_ms)
        over_fps = max(0.0, latency_ms - 1000.0 / self.min_fps) if self.min_fps > 0 else 0.0
        return over_latency + over_fps

    def fitness(self, latency_ms: float, log_weight: float = 0.0, objective: str = "latency") -> Fitness:
        """The fitness of a network predicted to take ``latency_ms`` whose genes weigh ``log_weight`` in total.

        ``objective``: ``"weight"`` ranks feasible networks by weight (heavier first), ``"latency"``
        by latency (see the module docstring).
        """
        if objective not in FITNESSES:
            raise ConfigError(f"method.fitness='{objective}' is not valid; expected one of: {', '.join(FITNESSES)}")
        fps = 1000.0 / latency_ms if latency_ms > 0 else math.inf
        key = -log_weight if objective == "weight" else latency_ms
        return Fitness(self.violation_ms(latency_ms), key, latency_ms, fps, log_weight)
