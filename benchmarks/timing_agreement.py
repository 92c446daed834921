"""Does the harness's latency clock agree with itself and with torch.utils.benchmark?

Builds the ``unet`` space's U-Net (MONAI UNet, default width 16, depth 5) for the cine task and
checks, on one hardware profile:

(a) repeatability: two ``measure_latency`` runs; their p50s should be within 5 %.
(b) bare forward: ``torch.utils.benchmark.Timer`` median of ``model(x)`` (batch 1, same threads,
    inference mode, input already on the device) against our p50; within 10 %. Our p50 also
    covers the host -> device copy, argmax, uint8 cast and device -> host copy, so it is expected
    to be somewhat higher; the printed overhead says by how much.
(c) same query: ``Timer`` median of the exact end-to-end query the harness times
    (``rtbench.hardware.measure.segment``) against our p50; within 10 %. This isolates the clock
    from the extra work in the end-to-end path.

Run on a quiet machine: other processes on the same cores make every figure noisy.

    python benchmarks/timing_agreement.py --size 128 --width 16 --hardware local-cpu
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.benchmark import Timer

from rtbench.budgets import Budget
from rtbench.hardware import load_profile
from rtbench.hardware.env import device_name
from rtbench.hardware.measure import (
    frame_pool,
    measure_latency,
    measured_copy,
    segment,
    torch_device,
    torch_dtype,
)
from rtbench.spaces import SPACES
from rtbench.tasks import CINE

REPEAT_TOLERANCE = 0.05
TIMER_TOLERANCE = 0.10


def rel_diff(value: float, reference: float) -> float:
    """|value - reference| / reference."""
    return abs(value - reference) / reference


def verdict(name: str, diff: float, tolerance: float) -> bool:
    ok = diff <= tolerance
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {diff:.1%} (target <= {tolerance:.0%})")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128, help="image height = width in pixels (default 128)")
    parser.add_argument("--width", type=int, default=16, help="U-Net initial width (default 16)")
    parser.add_argument("--hardware", default="local-cpu", help="hardware profile (default local-cpu)")
    parser.add_argument("--min-duration", type=float, default=0.0, help="seconds per measurement (default: the profile's min_duration_s)")
    args = parser.parse_args(argv)

    profile = load_profile(args.hardware)
    budget = Budget(name="timing-agreement", min_duration_s=args.min_duration)
    model = SPACES.create("unet").build({"width": args.width, "depth": 5, "res_units": 0}, CINE, args.size)
    shape = (CINE.in_channels, args.size, args.size)
    min_run_time = args.min_duration or profile.min_duration_s
    print(
        f"U-Net width {args.width}, {args.size} px, profile {profile.name} ({device_name(profile)}, "
        f"{profile.num_threads()} threads, {profile.dtype}), torch {torch.__version__}"
    )

    first = measure_latency(model, shape, profile, budget)
    second = measure_latency(model, shape, profile, budget)
    for label, lat in (("run 1", first), ("run 2", second)):
        print(
            f"measure_latency {label}: p50 {lat.p50_ms:.3f} ms, p90 {lat.p90_ms:.3f} ms, p99 {lat.p99_ms:.3f} ms "
            f"({lat.queries} queries, {lat.duration_s:.1f} s)"
        )

    device, dtype = torch_device(profile), torch_dtype(profile)
    net = measured_copy(model, device, dtype)
    frame = frame_pool((1, *shape), count=1)[0]
    x = torch.from_numpy(frame).to(device=device, dtype=dtype)
    threads = profile.num_threads()
    # torch's Timer synchronises CUDA around each block, so its median is also host-observed time
    with torch.inference_mode():
        forward = Timer("net(x)", globals={"net": net, "x": x}, num_threads=threads).blocked_autorange(min_run_time=min_run_time)
        query = Timer(
            "segment(net, frame, device, dtype)",
            globals={"segment": segment, "net": net, "frame": frame, "device": device, "dtype": dtype},
            num_threads=threads,
        ).blocked_autorange(min_run_time=min_run_time)
    forward_ms, query_ms = forward.median * 1e3, query.median * 1e3
    print(f"torch.utils.benchmark bare forward: median {forward_ms:.3f} ms (IQR {forward.iqr * 1e3:.3f} ms)")
    print(f"torch.utils.benchmark end-to-end query: median {query_ms:.3f} ms (IQR {query.iqr * 1e3:.3f} ms)")
    print(f"end-to-end overhead over bare forward (our p50 - Timer forward): {first.p50_ms - forward_ms:+.3f} ms")

    results = [
        verdict("(a) measure_latency p50, run 2 vs run 1", rel_diff(second.p50_ms, first.p50_ms), REPEAT_TOLERANCE),
        verdict("(b) Timer bare-forward median vs our p50", rel_diff(forward_ms, first.p50_ms), TIMER_TOLERANCE),
        verdict("(c) Timer end-to-end-query median vs our p50", rel_diff(query_ms, first.p50_ms), TIMER_TOLERANCE),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
