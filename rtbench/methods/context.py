"""``SearchContext``: a method's only door into the harness.

A method gets one context per search and uses nothing else of the harness:

=======================  ==========================================================================
``ctx.space``            the ``Space`` object of the method's space (``Method.space``): build,
                         op graph, sampling, and the space's own cost model / supernet helpers
``ctx.latency_model()``  the profile's latency model for that space at the budget's image size
                         (``LatencyModel``: ``op_ms`` per op, ``table_sum_ms``, ``calibrated_ms``,
                         ``predict_ms``, ``calibrated_p90_ms``, ``predict_p90_ms``; all in
                         milliseconds, see ``rtbench.hardware.latency_model``)
``ctx.flops(genotype)``  FLOPs of a derived network (2 x MACs)
``ctx.measure(module)``  ``Measurement``: batch-1 latency percentiles (ms) on the profile
``ctx.volumes``          the search pool only (no test patient), ``ctx.loaders()`` over it
``ctx.task``             classes, input channels, real-time constraints (``task.latency_bound_ms``)
``ctx.budget``           search epochs, GA settings, image size, ...
``ctx.hardware``         the hardware profile (name, device, threads)
``ctx.seed``, ``ctx.rng`` the submission's seed and a numpy Generator seeded with it
``ctx.device``           the torch device to search on
``ctx.checkpoint_dir``   a folder kept across interruptions (resume a search from it)
``ctx.report(**m)``      progress shown to the user: ``report(epoch=3, epochs=40, loss=0.4)`` or
                         ``report(message="...")``
=======================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rtbench.budgets import Budget
from rtbench.hardware.measure import LatencyResult
from rtbench.hardware.profile import HardwareProfile
from rtbench.spaces.base import Space
from rtbench.tasks import Task

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

    from rtbench.datasets.base import Volume
    from rtbench.hardware.latency_model import LatencyModel

Measurement = LatencyResult
"""What ``ctx.measure`` returns (``rtbench.hardware.measure.LatencyResult``): ``p50_ms``, ``p90_ms``,
``p99_ms``, ``mean_ms``, ``min_ms``, ``max_ms`` (single-stream batch-1 end-to-end latency, host
frame in -> mask on host, after an untimed warm-up), ``queries`` (timed queries) and
``duration_s`` (wall time of the timed phase)."""

LatencySource = Callable[[Space, dict[str, Any] | None], "LatencyModel"]
"""``source(space, options) -> LatencyModel``: how the context obtains a latency model (tests pass a stand-in)."""


@dataclass
class SearchContext:
    """Everything a method may use while searching, and nothing it may not (no test patients). See the module docstring.

    Attributes:
        task: classes and real-time constraints.
        budget: the submission's budget.
        hardware: the hardware profile the submission is timed on.
        space: the method's search space.
        volumes: the search pool only; splits guarantee no test patient is in it.
        seed: the submission's seed; ``rng`` is a numpy Generator seeded with it.
        device: torch device for search computation.
        checkpoint_dir: a folder kept across interruptions.
        report: progress callback.
        latency_source: where ``latency_model()`` comes from; None: the profile's cached op table
            (built on first use, with progress lines), with its calibration where one was fitted.
    """

    task: Task
    budget: Budget
    hardware: HardwareProfile
    space: Space
    volumes: list[Volume]
    seed: int
    rng: np.random.Generator
    device: torch.device
    checkpoint_dir: Path
    report: Callable[..., None] = lambda **metrics: None
    latency_source: LatencySource | None = None

    def loaders(self, val_fraction: float = 0.5, batch_size: int | None = None) -> tuple[DataLoader, DataLoader]:
        """Two slice loaders over disjoint patients of the search pool: (train, val).

        The val loader feeds architecture updates in bi-level search (DARTS first order). Images have
        ``task.in_channels`` channels (the echo task's greyscale frame repeated into 3).
        """
        from rtbench.train.data import slice_loader, split_patients

        train_v, val_v = split_patients(self.volumes, val_fraction, self.seed)
        bs = batch_size or self.budget.batch_size
        return (
            slice_loader(train_v, bs, shuffle=True, augment=True, seed=self.seed, channels=self.task.in_channels),
            slice_loader(val_v, bs, shuffle=True, augment=False, seed=self.seed + 1, channels=self.task.in_channels),
        )

    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one frame as the harness feeds it."""
        s = self.budget.image_size
        return (self.task.in_channels, s, s)

    def latency_model(self, options: dict[str, Any] | None = None) -> LatencyModel:
        """The latency model of ``ctx.space`` (with space ``options``, e.g. the msnas grid) on this profile at the budget's image size.

        The first call on a machine measures the space's op table on the profile (minutes; progress
        goes to ``report``), later calls reuse the cache. See ``rtbench.hardware.latency_model`` for
        units: ``op_ms`` and ``table_sum_ms`` are table p50 ms, ``calibrated_ms`` predicts measured p50 ms and
        ``calibrated_p90_ms`` measured p90 ms (None where ``bench latency-check`` has not fitted them).
        """
        if self.latency_source is not None:
            return self.latency_source(self.space, options)
        from rtbench.hardware.latency_model import table_latency_model

        return table_latency_model(
            self.space, self.hardware, self.budget.image_size, self.task, options, progress=lambda line: self.report(message=line)
        )

    def flops(self, genotype: dict[str, Any]) -> float:
        """FLOPs (2 x MACs) of the derived network of ``genotype`` at the budget's image size.

        The sum of ``space.op_flops`` over the op graph where the space describes one, else torch's
        FLOP counter on the built network.
        """
        try:
            graph = self.space.op_graph(genotype, self.task, self.budget.image_size)
        except NotImplementedError:
            from rtbench.hardware.measure import count_flops

            return float(count_flops(self.space.build(genotype, self.task, self.budget.image_size), self.input_shape()))
        return float(sum(self.space.op_flops(node.inst) for node in graph))

    def measure(self, module: nn.Module) -> Measurement:
        """Time ``module`` with the harness protocol on this profile: a ``LatencyResult`` (see :data:`Measurement`)."""
        from rtbench.hardware.measure import measure_latency

        return measure_latency(module, self.input_shape(), self.hardware, self.budget)
