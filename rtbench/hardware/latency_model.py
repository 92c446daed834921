"""The latency model a search gets from ``SearchContext.latency_model()``: one profile's op table, plus its calibration.

Units and statistics, stated once:

* ``op_ms(inst)``: the **p50 in milliseconds** of one op instance timed alone on the profile
  (single stream, batch 1, host frame in -> mask out; ``rtbench.hardware.lut``). It is the cost a
  differentiable estimator sums (RT-DNAS eq. 3-5, 003 eq. 4).
* ``table_sum_ms(genotype)``: the sum model, ``sum_v op_ms(v)`` over the derived network's op graph
  ("table ms"). Every entry carries a whole query's fixed cost, so it over-predicts the measured
  network (on the 2-core dev box about 2x the measured p50 at 128 px, ``bench latency-check``),
  but it ranks networks well.
* ``calibrated_ms(genotype)``: the calibrated model fit by ``bench latency-check`` on measured
  networks of this space, profile and image size (``CalibratedModel``; it predicts the **measured
  p50 in ms** of the whole network), or None where no check has been run for the profile.
* ``predict_ms(genotype)``: ``calibrated_ms`` where a calibration exists, else ``table_sum_ms``;
  ``predicts`` says which (``"calibrated p50 ms"`` or ``"table-sum ms"``).
* ``calibrated_p90_ms(genotype)``: the calibration's p90 fit (fit on the same networks' measured
  p90s), predicting the **measured p90 in ms**, the statistic of the harness's real-time check;
  None without a calibration or with one saved before p90 fits existed (format 1: rerun
  ``bench latency-check``).
* ``predict_p90_ms(genotype)``: ``calibrated_p90_ms`` where available, else ``table_sum_ms``;
  ``predicts_p90`` says which (``"calibrated p90 ms"`` or ``"table-sum ms"``). A method that
  bounds measured latency (RT-DNAS's ``method.latency_bound_ms``) checks it against this.

The harness's constraint check never uses a prediction: it measures p90 on the profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rtbench.hardware.lut import build_table, calibration_path
from rtbench.hardware.predict import CalibratedModel, Lookup, graph_features, sum_latency
from rtbench.hardware.profile import HardwareProfile
from rtbench.spaces.base import Space
from rtbench.tasks import Task

Progress = Callable[[str], None]


@dataclass(frozen=True)
class LatencyModel:
    """Predicted latency of derived networks of one space at one image size on one profile (see the module docstring).

    Attributes:
        space: the space whose genotypes it prices.
        task: input channels and classes (the op shapes depend on them).
        image_size: H = W of the input.
        profile: the hardware profile's name.
        op_ms: one op instance's table p50 (ms).
        calibrated: the fitted calibrated model, None where none has been fitted.
        table_path: the cached table's file ("" for a table not on disk).
    """

    space: Space
    task: Task
    image_size: int
    profile: str
    op_ms: Lookup
    calibrated: CalibratedModel | None = None
    table_path: str = ""

    unit = "ms"

    @property
    def predicts(self) -> str:
        """What :meth:`predict_ms` returns: ``"calibrated p50 ms"`` or ``"table-sum ms"``."""
        return "calibrated p50 ms" if self.calibrated is not None else "table-sum ms"

    @property
    def predicts_p90(self) -> str:
        """What :meth:`predict_p90_ms` returns: ``"calibrated p90 ms"`` or ``"table-sum ms"``."""
        return "calibrated p90 ms" if self.calibrated is not None and self.calibrated.coef_p90 is not None else "table-sum ms"

    def table_sum_ms(self, genotype: dict[str, Any]) -> float:
        """Sum model: the table p50 of every op of the derived network's op graph, summed (table ms)."""
        return sum_latency(self.space.op_graph(genotype, self.task, self.image_size), self.op_ms)

    def calibrated_ms(self, genotype: dict[str, Any]) -> float | None:
        """The calibrated prediction of the network's measured p50 (ms); None without a calibration."""
        if self.calibrated is None:
            return None
        return self.calibrated.predict(graph_features(self.space.op_graph(genotype, self.task, self.image_size), self.op_ms))

    def predict_ms(self, genotype: dict[str, Any]) -> float:
        """The best prediction available: calibrated p50 ms, else table-sum ms (see :attr:`predicts`)."""
        cal = self.calibrated_ms(genotype)
        return cal if cal is not None else self.table_sum_ms(genotype)

    def calibrated_p90_ms(self, genotype: dict[str, Any]) -> float | None:
        """The calibrated prediction of the network's measured p90 (ms); None without a p90 calibration."""
        if self.calibrated is None or self.calibrated.coef_p90 is None:
            return None
        return self.calibrated.predict_p90(graph_features(self.space.op_graph(genotype, self.task, self.image_size), self.op_ms))

    def predict_p90_ms(self, genotype: dict[str, Any]) -> float:
        """The network's p90 as best predicted: calibrated p90 ms, else table-sum ms (see :attr:`predicts_p90`)."""
        cal = self.calibrated_p90_ms(genotype)
        return cal if cal is not None else self.table_sum_ms(genotype)


def table_latency_model(
    space: Space,
    profile: HardwareProfile,
    image_size: int,
    task: Task,
    options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> LatencyModel:
    """Build or reuse the profile's op table for ``space`` (with space ``options``) and load its calibration, if any."""
    table = build_table(space, profile, image_size, task, config=options, progress=progress)
    calibrated = CalibratedModel.load(calibration_path(table.path)) if table.path is not None else None
    if progress:
        if calibrated is None:
            what = "table sum only (no calibration: run bench latency-check to fit one)"
        elif calibrated.coef_p90 is None:
            what = "with its calibrated p50 model (no p90 fit: rerun bench latency-check to add one)"
        else:
            what = "with its calibrated p50 and p90 models"
        progress(f"latency model for {space.name} @ {image_size} px on {profile.label}: {len(table)} ops, {what}")
    return LatencyModel(space, task, image_size, profile.name, table.latency_ms, calibrated, str(table.path or ""))
