"""One network under several runtimes, timed interleaved in one process, beside the machine's matmul roofline.

:func:`time_runtimes` runs the harness protocol (:mod:`rtbench.hardware.measure`: the same
end-to-end query, ``segment``, from host float32 frames to a host uint8 mask, the same warm-up,
minimum query count and duration, the same throughput stream) for every runtime at once, in
round-robin blocks: each round times ``block`` latency queries under each runtime in turn, the
order rotated every round, until every runtime has at least ``min_queries`` timed queries and at
least ``min_duration_s`` of timed queries of its own. Host load that drifts more slowly than one
round then slows every runtime alike, so the comparison is fair on a shared machine where one
network's p50 moves 10-30% within minutes (``benchmarks/reference_bias.py`` showed query-level
interleaving unbiased). The throughput stream runs the same way, one batch per runtime per turn.

:func:`matmul_roofline` is the machine's attainable float32 compute: the median GFLOP/s of a
square ``torch.mm`` (2 n^3 FLOPs, n = 2048 by default) repeated for about a second on the profile's
device and threads, after a warm-up. ``torch.mm`` calls the best GEMM torch has (oneDNN/MKL on a
CPU, cuBLAS on a GPU), so a network's achieved GFLOP/s (its FLOPs per frame / p50) over this figure
is the share of the machine it uses; it is an upper bound no convolution network reaches, since
its small, memory-bound layers and the query's copies and argmax count in its time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from rtbench.budgets import Budget
from rtbench.datasets.windows import FrameRing, StreamWindows
from rtbench.hardware.measure import (
    MIN_STREAM_BATCHES,
    LatencyResult,
    Progress,
    ThroughputResult,
    _latency_result,
    frame_pool,
    profile_threads,
    segment,
    torch_device,
    torch_dtype,
)
from rtbench.hardware.profile import HardwareProfile
from rtbench.hardware.runtime import deployed


@dataclass(frozen=True)
class RuntimeTiming:
    """One runtime's figures from an interleaved comparison (``error``: why it could not be timed)."""

    runtime: str
    latency: LatencyResult | None = None
    throughput: ThroughputResult | None = None
    error: str = ""


def _setting(budget: Budget | None, name: str, profile_value: float) -> float:
    """A budget's measurement setting when it is > 0, else the profile's (as ``measure`` does)."""
    value = getattr(budget, name, 0) if budget is not None else 0
    return value if value > 0 else profile_value


class _Lane:
    """One runtime's forward passes (batch 1 and stream batch) and its input state, inside a comparison."""

    def __init__(self, model: nn.Module, profile: HardwareProfile, shape: tuple[int, int, int], frames: int) -> None:
        self.device, self.dtype = torch_device(profile), torch_dtype(profile)
        stack = (frames * shape[0], *shape[1:])
        self.forward = deployed(model, profile, self.device, self.dtype, stack)  # batch 1 and the stream's batch alike
        self.ring = FrameRing(frames) if frames > 1 else None
        self.windows = StreamWindows(frames) if frames > 1 else None
        self.times_ns: list[int] = []
        self.stream_ns = 0
        self.batches = 0

    def query(self, frame: np.ndarray) -> int:
        t0 = time.perf_counter_ns()
        segment(self.forward, frame if self.ring is None else self.ring.push(frame), self.device, self.dtype)
        return time.perf_counter_ns() - t0

    def batch(self, arrived: np.ndarray) -> int:
        t0 = time.perf_counter_ns()
        segment(self.forward, arrived if self.windows is None else self.windows.push(arrived), self.device, self.dtype)
        return time.perf_counter_ns() - t0


def time_runtimes(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    profile: HardwareProfile,
    runtimes: list[str],
    budget: Budget | None = None,
    frames: int = 1,
    block: int = 10,
    progress: Progress | None = None,
) -> dict[str, RuntimeTiming]:
    """Latency and throughput of ``model`` under each of ``runtimes`` on ``profile``, interleaved (module docstring).

    ``input_shape`` is (C, H, W) of one frame; ``frames`` the network's temporal window. A runtime
    that fails to build or run gets a :class:`RuntimeTiming` with its error; the others go on.
    """
    warmup = int(_setting(budget, "warmup_queries", profile.warmup_queries))
    min_queries = int(_setting(budget, "min_queries", profile.min_queries))
    min_s = float(_setting(budget, "min_duration_s", profile.min_duration_s))
    stream_s = float(_setting(budget, "min_duration_s", profile.throughput_min_duration_s))
    lanes: dict[str, _Lane] = {}
    out: dict[str, RuntimeTiming] = {}
    pool = frame_pool((1, *input_shape))
    batches = frame_pool((profile.stream_batch, *input_shape), count=4)
    with profile_threads(profile):
        for rt in runtimes:
            try:  # built outside inference mode (the ONNX exporter traces), warmed up inside it
                lane = _Lane(model, replace(profile, runtime=rt), input_shape, frames)
                with torch.inference_mode():
                    for i in range(max(warmup, 1)):  # compiles (compile) and allocates (every runtime) outside the clock
                        lane.query(pool[i % len(pool)])
                    lane.batch(batches[0])
                lanes[rt] = lane
                if progress:
                    progress(f"runtimes: {rt} ready")
            except Exception as err:  # one runtime that cannot run this network does not stop the others
                out[rt] = RuntimeTiming(rt, error=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    with profile_threads(profile), torch.inference_mode():
        turn = 0
        while lanes and any(len(ln.times_ns) < min_queries or sum(ln.times_ns) < min_s * 1e9 for ln in lanes.values()):
            order = list(lanes.values())
            for lane in order[turn % len(order) :] + order[: turn % len(order)]:
                for _ in range(block):
                    lane.times_ns.append(lane.query(pool[len(lane.times_ns) % len(pool)]))
            turn += 1
        turn = 0
        while lanes and any(ln.batches < MIN_STREAM_BATCHES or ln.stream_ns < stream_s * 1e9 for ln in lanes.values()):
            order = list(lanes.values())
            for lane in order[turn % len(order) :] + order[: turn % len(order)]:
                lane.stream_ns += lane.batch(batches[lane.batches % len(batches)])
                lane.batches += 1
            turn += 1
    for rt, lane in lanes.items():
        seconds = lane.stream_ns / 1e9
        frames_done = lane.batches * profile.stream_batch
        latency = _latency_result(lane.times_ns, sum(lane.times_ns) / 1e9)
        out[rt] = RuntimeTiming(rt, latency, ThroughputResult(frames_done / seconds, frames_done, profile.stream_batch, seconds))
        if progress:
            progress(f"runtimes: {rt}: p50 {latency.p50_ms:.2f} ms, p90 {latency.p90_ms:.2f} ms, {frames_done / seconds:.1f} frames/s")
    return {rt: out[rt] for rt in runtimes}


def matmul_roofline(profile: HardwareProfile, n: int = 2048, seconds: float = 1.0) -> dict[str, Any]:
    """Attainable float32 GFLOP/s on ``profile``'s device and threads: the median over repeated ``torch.mm`` of two n x n matrices."""
    device = torch_device(profile)
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    rates: list[float] = []
    with profile_threads(profile) as threads, torch.inference_mode():
        torch.mm(a, b)  # warm-up: library initialisation, thread pool start
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        sync()
        deadline = time.perf_counter() + seconds
        while len(rates) < 3 or time.perf_counter() < deadline:
            t0 = time.perf_counter()
            torch.mm(a, b)
            sync()
            rates.append(2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return {
        "gflops": float(np.median(rates)),
        "best_gflops": float(max(rates)),
        "repeats": len(rates),
        "method": f"torch.mm of two {n}x{n} float32 matrices on {device.type}, {threads} thread(s), median of {len(rates)}",
    }
