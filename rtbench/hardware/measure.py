"""The harness's measurement protocol: latency and throughput of a network on a hardware profile.

Modelled on MLPerf LoadGen. Both measurements are end to end, as a scanner would see them: a query
starts with float32 frames in host memory and ends with the uint8 segmentation mask in host
memory. Inside the clock (``time.perf_counter_ns``) are, in order:

1. ``torch.from_numpy`` on the host frames and the copy to the profile's device and dtype,
2. the network's forward pass, run by the profile's runtime (:mod:`rtbench.hardware.runtime`; eager PyTorch by default),
3. ``argmax`` over the class channel and the cast to uint8 (on the device),
4. the copy of the mask back to host memory as a numpy array (on CUDA this synchronises, so the
   clock covers every kernel the query launched).

* **Latency** (single-stream): batch 1, one query at a time. After an untimed warm-up of
  ``warmup_queries`` queries, queries are issued until *both* at least ``min_queries`` were timed
  *and* at least ``min_duration_s`` seconds have passed. p50/p90/p99 are numpy percentiles of the
  per-query times; tasks check their latency constraint on p90. The per-query times themselves
  are kept too (``samples_ms``, in the order they were timed), so a reader can put a confidence
  interval on p90 (the leaderboard bootstraps one); records written before they were kept lack them.
* **Throughput** (offline-like): batches of ``stream_batch`` frames through the same pipeline,
  one batch after another, for at least ``throughput_min_duration_s`` seconds and at least
  ``MIN_STREAM_BATCHES`` batches; frames/s = frames / elapsed wall time.

Inputs rotate through a small fixed pool of distinct random frames (seeded), so no query reuses
the previous query's buffer. The network is measured as a private copy in eval mode under
``torch.inference_mode``, with ``torch.set_num_threads(profile.num_threads())``; the caller's
module, its device and the process's thread setting are left as they were.

Measurement settings come from the profile; a budget's ``min_queries``, ``min_duration_s`` and
``warmup_queries`` override them when > 0 (the smoke budget uses tiny ones).

A network with a temporal window of n frames (``frames`` > 1, :mod:`rtbench.datasets.windows`) is
still timed per frame as it arrives: each latency query hands one new frame to a host ring buffer
of the last n frames, which assembles the causal (n, H, W) stack, oldest first; the clock starts
before that assembly and covers the whole stack's copy to the device (n frames, not one: the
harness keeps no device-side state between queries). The ring starts full of the first frame
(start-of-stream padding) and fills with real frames during the warm-up. The throughput stream
builds each frame's window the same way from the frames before it.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rtbench.budgets import Budget
from rtbench.datasets.windows import FrameRing, StreamWindows
from rtbench.errors import ConfigError
from rtbench.hardware.profile import HardwareProfile
from rtbench.hardware.runtime import deployed
from rtbench.tasks import Task

Progress = Callable[[str], None]

FRAME_POOL = 8  # distinct random frames that latency queries rotate through
BATCH_POOL = 4  # distinct random batches that the throughput stream rotates through
MIN_STREAM_BATCHES = 3  # a throughput figure covers at least this many batches
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class LatencyResult:
    """Single-stream, batch-1, end-to-end latency (milliseconds) over ``queries`` timed queries.

    ``duration_s`` is the wall time of the timed phase (warm-up excluded); ``samples_ms`` holds
    every timed query's latency in the order timed (rounded to 0.1 microsecond), the raw data the
    percentiles summarise.
    """

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    queries: int
    duration_s: float
    samples_ms: tuple[float, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "samples_ms": list(self.samples_ms)}


@dataclass(frozen=True)
class ThroughputResult:
    """Sustained end-to-end frames per second over ``frames`` frames in batches of ``batch_size``."""

    fps: float
    frames: int
    batch_size: int
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def torch_device(profile: HardwareProfile) -> torch.device:
    """The torch device of ``profile``; ConfigError naming the profile if it cannot be used here."""
    if profile.device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"hardware profile '{profile.name}' needs device 'cuda', but CUDA is not available "
                f"(torch {torch.__version__}); choose a CPU profile such as hardware=local-cpu"
            )
        return torch.device("cuda")
    if profile.device == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"hardware profile '{profile.name}': device='{profile.device}' is not valid; expected cpu or cuda")


def torch_dtype(profile: HardwareProfile) -> torch.dtype:
    """The torch dtype networks run in on ``profile``; ConfigError if the device cannot run it."""
    if profile.dtype not in _DTYPES:
        raise ConfigError(f"hardware profile '{profile.name}': dtype='{profile.dtype}' is not valid; expected one of {', '.join(_DTYPES)}")
    if profile.device == "cpu" and profile.dtype == "float16":
        raise ConfigError(
            f"hardware profile '{profile.name}': dtype float16 is not supported on device cpu "
            "(torch's CPU half-precision kernels are incomplete and slow, so the figure would mislead); "
            "use float32 or bfloat16"
        )
    if profile.device == "cuda" and profile.dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            f"hardware profile '{profile.name}': dtype bfloat16 is not supported by {torch.cuda.get_device_name()}; use float32 or float16"
        )
    return _DTYPES[profile.dtype]


@contextmanager
def profile_threads(profile: HardwareProfile) -> Iterator[int]:
    """Run the block with ``torch.set_num_threads(profile.num_threads())``; restore the previous count after."""
    previous = torch.get_num_threads()
    threads = profile.num_threads()
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)


def segment(model: nn.Module, frames: np.ndarray, device: torch.device, dtype: torch.dtype) -> np.ndarray:
    """One end-to-end query: host frames (B, C, H, W) float32 -> host mask (B, H, W) uint8.

    Host -> device copy in ``dtype``, forward pass, argmax over classes and uint8 cast on the
    device, device -> host copy. This is exactly what the latency and throughput clocks cover.
    The argmax is ``max(dim=1).indices``: the same first-maximum index as ``argmax(dim=1)``, but
    ``argmax`` over the channel dim of an NCHW tensor runs a strided reduction that takes ~10x
    longer on CPU (1.2 ms vs 0.04 ms for 4 x 128 x 128 logits, torch 2.13), which would be charged
    to the network.

    A network with several outputs (a tuple or NamedTuple, e.g. the echo task's segmentation
    logits plus predicted Dice) is timed end to end: the mask comes from the first output and
    every other tensor output is copied to the host too, inside the clock.
    """
    x = torch.from_numpy(frames).to(device=device, dtype=dtype)
    out = model(x)
    if isinstance(out, tuple):
        for extra in out[1:]:
            if isinstance(extra, torch.Tensor):
                extra.cpu()
        out = out[0]
    return out.max(dim=1).indices.to(torch.uint8).cpu().numpy()


def measured_copy(model: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """A private eval-mode copy of ``model`` on ``device`` in ``dtype`` (the caller's module is untouched)."""
    return copy.deepcopy(model).to(device=device, dtype=dtype).eval()


def frame_pool(shape: tuple[int, ...], count: int = FRAME_POOL, seed: int = 0) -> list[np.ndarray]:
    """``count`` distinct contiguous float32 arrays of ``shape`` drawn from N(0, 1) with ``seed``."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape, dtype=np.float32) for _ in range(count)]


def _override(budget_value: float, profile_value: float) -> float:
    """A budget's measurement setting when it is > 0, else the profile's."""
    return budget_value if budget_value > 0 else profile_value


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    profile: HardwareProfile,
    budget: Budget | None = None,
    progress: Progress | None = None,
    frames: int = 1,
) -> LatencyResult:
    """Single-stream end-to-end latency of ``model`` on ``profile`` (see the module docstring).

    ``input_shape`` is (C, H, W) of one frame. The clock starts before the host frame is handed
    to torch and stops when the uint8 mask is a host numpy array. Untimed warm-up first, then
    queries until both the minimum query count and the minimum duration are met. ``frames`` > 1:
    the network's temporal window; each query pushes one new frame into the host ring buffer and
    the clock covers the stack's assembly and transfer too.
    """
    device, dtype = torch_device(profile), torch_dtype(profile)
    warmup = int(_override(budget.warmup_queries if budget else 0, profile.warmup_queries))
    min_queries = int(_override(budget.min_queries if budget else 0, profile.min_queries))
    min_duration_s = float(_override(budget.min_duration_s if budget else 0.0, profile.min_duration_s))
    net = deployed(model, profile, device, dtype, (frames * input_shape[0], *input_shape[1:]))
    pool = frame_pool((1, *input_shape))
    if progress:
        progress(f"latency: {profile.name}, {warmup} warm-up queries, then >= {min_queries} queries and >= {min_duration_s:g} s")
    times_ns: list[int] = []
    ring = FrameRing(frames) if frames > 1 else None  # a window network: one new frame per query, stacked on the host
    with profile_threads(profile), torch.inference_mode():
        for i in range(warmup):
            frame = pool[i % len(pool)]
            segment(net, frame if ring is None else ring.push(frame), device, dtype)
        start = end = time.perf_counter_ns()
        deadline = start + int(min_duration_s * 1e9)
        while len(times_ns) < min_queries or end < deadline:
            frame = pool[(len(times_ns) + (0 if ring is None else warmup)) % len(pool)]
            t0 = time.perf_counter_ns()
            segment(net, frame if ring is None else ring.push(frame), device, dtype)
            end = time.perf_counter_ns()
            times_ns.append(end - t0)
    result = _latency_result(times_ns, (end - start) / 1e9)
    if progress:
        progress(
            f"latency: {result.queries} queries in {result.duration_s:.1f} s, "
            f"p50 {result.p50_ms:.2f} ms, p90 {result.p90_ms:.2f} ms, p99 {result.p99_ms:.2f} ms"
        )
    return result


def _latency_result(times_ns: list[int], duration_s: float) -> LatencyResult:
    """Percentiles and extremes of per-query times given in nanoseconds."""
    ms = np.asarray(times_ns, dtype=np.float64) / 1e6
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return LatencyResult(
        p50_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        mean_ms=float(ms.mean()),
        min_ms=float(ms.min()),
        max_ms=float(ms.max()),
        queries=len(times_ns),
        duration_s=duration_s,
        samples_ms=tuple(round(float(v), 4) for v in ms),
    )


def measure_latency_paired(
    model: nn.Module,
    reference: nn.Module,
    input_shape: tuple[int, int, int],
    profile: HardwareProfile,
    budget: Budget | None = None,
) -> tuple[LatencyResult, LatencyResult]:
    """Single-stream latency of ``model`` and of ``reference``, their queries interleaved one by one.

    The same query (``segment``), clock, threads, warm-up and frame pool as :func:`measure_latency`,
    but the two networks take turns query by query, in alternating order (A B, B A, ...), until each
    has at least ``min_queries`` timed queries and the loop has run ``min_duration_s``. Host load
    that drifts more slowly than one pair of queries then slows both alike, so
    ``p50(model) / p50(reference)`` is stable where each p50 alone moves with the host (on the
    2-core dev VM, p50s of one network swing 10-30 % within minutes while this ratio holds within
    a few percent: ``benchmarks/supernet_overhead.py``). Used for drift correction in
    ``rtbench.hardware.fidelity``; the harness's own measurement stays :func:`measure_latency`.

    Returns ``(model's result, reference's result)``; each ``duration_s`` is the whole loop's.
    """
    device, dtype = torch_device(profile), torch_dtype(profile)
    warmup = int(_override(budget.warmup_queries if budget else 0, profile.warmup_queries))
    min_queries = int(_override(budget.min_queries if budget else 0, profile.min_queries))
    min_duration_s = float(_override(budget.min_duration_s if budget else 0.0, profile.min_duration_s))
    nets = (deployed(model, profile, device, dtype, input_shape), deployed(reference, profile, device, dtype, input_shape))
    frames = frame_pool((1, *input_shape))
    times_ns: tuple[list[int], list[int]] = ([], [])
    with profile_threads(profile), torch.inference_mode():
        for i in range(warmup):
            for net in nets:
                segment(net, frames[i % len(frames)], device, dtype)
        start = end = time.perf_counter_ns()
        deadline = start + int(min_duration_s * 1e9)
        turn = 0
        while turn < min_queries or end < deadline:
            frame = frames[turn % len(frames)]
            for k in (0, 1) if turn % 2 == 0 else (1, 0):
                t0 = time.perf_counter_ns()
                segment(nets[k], frame, device, dtype)
                end = time.perf_counter_ns()
                times_ns[k].append(end - t0)
            turn += 1
    duration_s = (end - start) / 1e9
    return _latency_result(times_ns[0], duration_s), _latency_result(times_ns[1], duration_s)


def measure_throughput(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    profile: HardwareProfile,
    budget: Budget | None = None,
    progress: Progress | None = None,
    frames: int = 1,
) -> ThroughputResult:
    """Sustained end-to-end frames/s of ``model`` over a stream of ``profile.stream_batch``-frame batches.

    Each batch goes host -> device -> forward -> argmax -> host inside the clock, one batch after
    another. The untimed warm-up covers as many frames as the latency warm-up (at least one
    batch). The timed phase lasts at least ``throughput_min_duration_s`` (a budget's
    ``min_duration_s`` when > 0) and at least ``MIN_STREAM_BATCHES`` batches. ``frames`` > 1: each
    frame of a batch is given its causal window (:class:`~rtbench.datasets.windows.StreamWindows`,
    assembled inside the clock), so a batch of B frames is B windows of ``frames`` frames.
    """
    device, dtype = torch_device(profile), torch_dtype(profile)
    batch = profile.stream_batch
    warmup_frames = int(_override(budget.warmup_queries if budget else 0, profile.warmup_queries))
    warmup = max(1, math.ceil(warmup_frames / batch))
    min_duration_s = float(_override(budget.min_duration_s if budget else 0.0, profile.throughput_min_duration_s))
    net = deployed(model, profile, device, dtype, (frames * input_shape[0], *input_shape[1:]))
    batches = frame_pool((batch, *input_shape), count=BATCH_POOL)
    if progress:
        progress(f"throughput: {profile.name}, batches of {batch}, >= {min_duration_s:g} s")
    done = 0
    stream = StreamWindows(frames) if frames > 1 else None  # a window network: each frame's window, built on the host
    with profile_threads(profile), torch.inference_mode():
        for i in range(warmup):
            arrived = batches[i % len(batches)]
            segment(net, arrived if stream is None else stream.push(arrived), device, dtype)
        start = end = time.perf_counter_ns()
        deadline = start + int(min_duration_s * 1e9)
        while done < MIN_STREAM_BATCHES or end < deadline:
            arrived = batches[done % len(batches)]
            segment(net, arrived if stream is None else stream.push(arrived), device, dtype)
            end = time.perf_counter_ns()
            done += 1
    duration_s = (end - start) / 1e9
    result = ThroughputResult(fps=done * batch / duration_s, frames=done * batch, batch_size=batch, duration_s=duration_s)
    if progress:
        progress(f"throughput: {result.frames} frames in {result.duration_s:.1f} s, {result.fps:.1f} frames/s")
    return result


def count_params(model: nn.Module) -> int:
    """Number of parameters (each shared tensor counted once)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """FLOPs of one batch-1 forward pass on a (C, H, W) input, as ``torch.utils.flop_counter`` counts them.

    That counter reports 2 FLOPs per multiply-accumulate of convolutions and matrix products and
    ignores element-wise work (activations, normalisation, argmax). Counted on a CPU float32 copy.
    """
    net = measured_copy(model, torch.device("cpu"), torch.float32)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(torch.zeros((1, *input_shape)))
    return int(counter.get_total_flops())


def check_constraints(task: Task, latency: LatencyResult, throughput: ThroughputResult) -> list[str]:
    """Labels of ``task``'s constraints the measurements break (latency is checked on p90)."""
    return task.broken({"latency_p90_ms": latency.p90_ms, "throughput_fps": throughput.fps})


def measure_all(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    profile: HardwareProfile,
    budget: Budget | None = None,
    progress: Progress | None = None,
    frames: int = 1,
) -> dict[str, Any]:
    """Latency, throughput, parameter count and FLOPs of ``model``: the harness's measure step.

    Returns ``{"latency": LatencyResult.to_dict(), "throughput": ThroughputResult.to_dict(),
    "params": int, "flops": int}``; for a network with a temporal window (``frames`` > 1) also
    ``"input"``: its window and how the measurement fed it (FLOPs are counted on the whole stack).
    """
    latency = measure_latency(model, input_shape, profile, budget, progress, frames)
    throughput = measure_throughput(model, input_shape, profile, budget, progress, frames)
    c, h, w = input_shape
    out: dict[str, Any] = {
        "latency": latency.to_dict(),
        "throughput": throughput.to_dict(),
        "params": count_params(model),
        "flops": count_flops(model, (frames * c, h, w)),
    }
    if frames > 1:
        out["input"] = {
            "frames": frames,
            "stack_shape": [frames * c, h, w],
            "feed": "one new frame per query into a host ring buffer of the last frames; "
            "the clock covers the stack's assembly and its whole copy to the device",
        }
    return out
