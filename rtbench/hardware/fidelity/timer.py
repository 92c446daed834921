"""Timing whole networks for a latency fidelity report, alone or interleaved with a reference network."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rtbench.hardware.lut import Measure, format_eta
from rtbench.hardware.measure import LatencyResult, Progress
from rtbench.hardware.profile import HardwareProfile
from rtbench.spaces.base import Space
from rtbench.tasks import Task

PairMeasure = Callable[[nn.Module, nn.Module, tuple[int, int, int], HardwareProfile], tuple[LatencyResult, LatencyResult]]
"""``pair_measure(network, reference, (C, H, W), profile) -> (network's, reference's)``: ``measure_latency_paired`` or a stand-in."""


@dataclass(frozen=True)
class Measured:
    """One network measurement: its p50 and p90 (ms) and, under drift correction, the reference's p50 in the same window."""

    p50_ms: float
    p90_ms: float
    reference_ms: float | None = None

    def corrected(self, typical_ms: float | None) -> tuple[float, float]:
        """(p50, p90) rescaled to the reference's typical p50: ``x * typical / reference`` (unchanged without a reference)."""
        if typical_ms is None or self.reference_ms is None:
            return self.p50_ms, self.p90_ms
        scale = typical_ms / self.reference_ms
        return self.p50_ms * scale, self.p90_ms * scale


class NetworkTimer:
    """Builds and measures networks one at a time (with the reference interleaved, if any), with n/N and ETA progress lines."""

    def __init__(
        self,
        space: Space,
        task: Task,
        image_size: int,
        seed: int,
        profile: HardwareProfile,
        measure: Measure,
        pair_measure: PairMeasure,
        reference: dict[str, Any] | None,
    ) -> None:
        self.space, self.task, self.image_size, self.seed, self.profile = space, task, image_size, seed, profile
        self.measure, self.pair_measure = measure, pair_measure
        self.reference = self._build(reference) if reference is not None else None
        self.total, self.done, self.start = 0, 0, time.perf_counter()

    def _build(self, genotype: dict[str, Any]) -> nn.Module:
        torch.manual_seed(self.seed)
        return self.space.build(genotype, self.task, self.image_size)

    def expect(self, total: int, progress: Progress | None) -> None:
        self.total, self.done, self.start = total, 0, time.perf_counter()
        if progress:
            progress(f"latency-check: measuring {total} networks on {self.profile.label} at {self.image_size} px")

    def measure_one(self, genotype: dict[str, Any], what: str, progress: Progress | None) -> Measured:
        net = self._build(genotype)
        shape = (self.task.in_channels, self.image_size, self.image_size)
        if self.reference is None:
            r = self.measure(net, shape, self.profile)
            result = Measured(r.p50_ms, r.p90_ms)
        else:
            r, ref = self.pair_measure(net, self.reference, shape, self.profile)
            result = Measured(r.p50_ms, r.p90_ms, ref.p50_ms)
        self.done += 1
        if progress:
            eta = (time.perf_counter() - self.start) / self.done * (self.total - self.done)
            extra = f" (reference {result.reference_ms:.2f} ms)" if result.reference_ms is not None else ""
            progress(f"latency-check {self.done}/{self.total} ({what}): p50 {result.p50_ms:.2f} ms{extra}, ETA {format_eta(eta)}")
        return result
