"""How repeatable is a batch-1 p50 on this machine at each thread count?

Builds one random derived network of a space (default: msnas at the quick budget's 128 px), then
measures it with the harness protocol (``rtbench.hardware.measure.measure_latency``, the
``local-cpu`` settings) at every thread count given, interleaving the thread counts round by round
so a drift in background load hits all alike. Prints each p50 and the spread
``(max - min) / min`` per thread count. Use it to choose a CPU profile's ``threads``: a thread
count whose p50 spreads by more than the 5-10 % a latency constraint is checked to is not usable.

    python benchmarks/thread_noise.py --rounds 4 --threads 1 2
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from rtbench.hardware.measure import measure_latency
from rtbench.hardware.profile import load_profile
from rtbench.spaces.base import SPACES
from rtbench.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="msnas")
    parser.add_argument("--size", type=int, default=128, help="image size S in pixels (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="which random network (default 0)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    args = parser.parse_args()

    space, task = SPACES.create(args.space), get_task("cine")
    genotype = space.sample_genotype(np.random.default_rng(args.seed), task, args.size, None)
    torch.manual_seed(args.seed)
    net = space.build(genotype, task, args.size)
    p50s: dict[int, list[float]] = {t: [] for t in args.threads}
    for r in range(1, args.rounds + 1):
        for t in args.threads:
            res = measure_latency(net, (task.in_channels, args.size, args.size), load_profile("local-cpu", threads=t))
            p50s[t].append(res.p50_ms)
            print(f"round {r} threads {t}: p50 {res.p50_ms:.2f} ms, p90 {res.p90_ms:.2f} ms", flush=True)
    for t, v in p50s.items():
        spread = (max(v) - min(v)) / min(v) * 100
        print(f"{t} thread(s): p50 {min(v):.2f}-{max(v):.2f} ms over {len(v)} rounds, spread {spread:.1f}%")


if __name__ == "__main__":
    main()
