"""Tasks: a data family, its classes and its real-time constraints.

A task binds what is segmented to the constraints a row must meet to rank as feasible.

* ``cine`` (seed 000, RT-DNAS): classes RV, MYO, LV; latency <= 50 ms (checked on p90) and
  throughput >= 22 frames/s (the cine MRI reconstruction rate).
* ``echo`` (seed 003): myocardium segmentation + predicted Dice; latency <= 50 ms for
  segmentation and quality control together. Input: 3 channels, the greyscale frame repeated
  (:mod:`rtbench.datasets.echo_channels`). ``task=echo`` alone gets ``synthetic-echo``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from rtbench.errors import ConfigError

_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Constraint:
    """One real-time constraint, e.g. ``latency_p90_ms <= 50``."""

    metric: str
    op: str
    bound: float
    label: str

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.bound)

    def describe(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Task:
    """A segmentation task: foreground class names (background is class 0) and constraints."""

    name: str
    classes: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    in_channels: int = 1
    paper: str = ""
    default_dataset: str = "synthetic-cine"  # the embedded dataset ``task=NAME`` alone gets
    not_trainable: str = ""  # why ``bench submit`` refuses the task today ("" once the harness trains it)

    @property
    def num_classes(self) -> int:
        """Number of output channels, background included."""
        return len(self.classes) + 1

    @property
    def latency_bound_ms(self) -> float:
        for c in self.constraints:
            if c.metric == "latency_p90_ms":
                return c.bound
        raise ConfigError(f"task '{self.name}' has no latency constraint")

    def broken(self, metrics: dict[str, float]) -> list[str]:
        """Names of the constraints that ``metrics`` break (a missing metric counts as broken)."""
        out = []
        for c in self.constraints:
            v = metrics.get(c.metric)
            if v is None or not c.holds(float(v)):
                out.append(c.label)
        return out


CINE = Task(
    name="cine",
    classes=("RV", "MYO", "LV"),
    constraints=(
        Constraint("latency_p90_ms", "<=", 50.0, "latency"),
        Constraint("throughput_fps", ">=", 22.0, "throughput"),
    ),
    paper="000 RT-DNAS",
)

ECHO = Task(
    name="echo",
    classes=("MYO",),
    constraints=(Constraint("latency_p90_ms", "<=", 50.0, "latency"),),
    in_channels=3,
    paper="003 echo HW-NAS",
    default_dataset="synthetic-echo",
)

TASKS: dict[str, Task] = {t.name: t for t in (CINE, ECHO)}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task '{name}'; valid tasks: {', '.join(sorted(TASKS))}") from None
