"""Does timing a network interleaved with the reference network change its latency?

``bench latency-check`` corrects host drift by timing every network with a fixed reference network
interleaved query by query (``rtbench.hardware.measure.measure_latency_paired``). That is only
fair if the reference does not itself slow or speed the network, e.g. by evicting its weights and
activations from the caches between queries. This script checks it on the networks the check
itself samples (same space, seed and sampling order, so the reference is the same genotype).

Comparing a network timed alone now with the same network timed interleaved a minute later would
mostly measure the host's drift (10-30 % within minutes on the dev VM). So each network is timed in
alternating short blocks: ``--block`` queries alone, then ``--block`` (network, reference) pairs,
repeated for ``--seconds``; both conditions then sample the same host states. The harness's query,
clock, threads and frame pool are used throughout. Printed per network: p50 alone, p50 interleaved
and their ratio; then the median ratio over networks. The correction is unbiased if the ratios
stay within the timing noise of 1.0 (a few percent), with no trend over network size.

    python benchmarks/reference_bias.py --networks 8 --seconds 8
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from rtbench.budgets import get_budget
from rtbench.hardware import load_profile
from rtbench.hardware.fidelity import check_genotypes
from rtbench.hardware.measure import frame_pool, measured_copy, profile_threads, segment, torch_device, torch_dtype
from rtbench.hardware.profile import HardwareProfile
from rtbench.spaces.base import SPACES
from rtbench.tasks import get_task


def alone_vs_interleaved(
    net: nn.Module, reference: nn.Module, shape: tuple[int, int, int], profile: HardwareProfile, block: int, seconds: float
) -> tuple[float, float]:
    """(p50 alone, p50 interleaved with ``reference``) of ``net`` in ms, from alternating blocks of ``block`` queries."""
    device, dtype = torch_device(profile), torch_dtype(profile)
    a, r = measured_copy(net, device, dtype), measured_copy(reference, device, dtype)
    frames = frame_pool((1, *shape))
    alone: list[int] = []
    paired: list[int] = []
    with profile_threads(profile), torch.inference_mode():
        for i in range(profile.warmup_queries):
            segment(a, frames[i % len(frames)], device, dtype)
            segment(r, frames[i % len(frames)], device, dtype)
        deadline = time.perf_counter() + seconds
        q = 0
        while time.perf_counter() < deadline or len(alone) < 2 * block:
            for _ in range(block):  # alone: the network's queries back to back
                t0 = time.perf_counter_ns()
                segment(a, frames[q % len(frames)], device, dtype)
                alone.append(time.perf_counter_ns() - t0)
                q += 1
            for k in range(block):  # interleaved, in the order measure_latency_paired alternates
                first_net = k % 2 == 0
                if not first_net:
                    segment(r, frames[q % len(frames)], device, dtype)
                t0 = time.perf_counter_ns()
                segment(a, frames[q % len(frames)], device, dtype)
                paired.append(time.perf_counter_ns() - t0)
                if first_net:
                    segment(r, frames[q % len(frames)], device, dtype)
                q += 1
    return float(np.median(alone)) / 1e6, float(np.median(paired)) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="msnas")
    ap.add_argument("--hardware", default="local-cpu")
    ap.add_argument("--budget", default="quick", help="picks the image size")
    ap.add_argument("--seed", type=int, default=0, help="latency-check's seed: the same networks and reference")
    ap.add_argument("--n", type=int, default=50, help="latency-check's n (the reference is drawn after n + calibration_n)")
    ap.add_argument("--calibration-n", type=int, default=20)
    ap.add_argument("--networks", type=int, default=8, help="how many of the n reported networks to time")
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=8.0, help="per network")
    args = ap.parse_args()

    space, task, profile = SPACES.create(args.space), get_task("cine"), load_profile(args.hardware)
    size = get_budget(args.budget).image_size
    reported, _, reference_g = check_genotypes(space, task, size, None, args.seed, args.n, args.calibration_n)

    def build(genotype: dict) -> nn.Module:
        torch.manual_seed(args.seed)  # as latency-check builds them
        return space.build(genotype, task, size)

    reference = build(reference_g)
    shape = (task.in_channels, size, size)
    print(f"{args.space} @ {size} px on {args.hardware} ({profile.num_threads()} threads), seed {args.seed}: {args.networks} networks")
    ratios = []
    for i, g in enumerate(reported[: args.networks]):
        alone, paired = alone_vs_interleaved(build(g), reference, shape, profile, args.block, args.seconds)
        ratios.append(paired / alone)
        print(f"network {i}: alone p50 {alone:7.2f} ms, interleaved p50 {paired:7.2f} ms, ratio {paired / alone:.3f}", flush=True)
    print(f"interleaved / alone: median {statistics.median(ratios):.3f}, range {min(ratios):.3f}-{max(ratios):.3f}")


if __name__ == "__main__":
    main()
