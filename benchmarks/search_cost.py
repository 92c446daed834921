"""What one RT-DNAS search step costs: time and peak memory of the msnas supernet, K = 4 vs K = 1.

A search step here is one forward + backward pass of the default supernet (10 layers, 4 scales,
3 blocks, C = 8) on a batch of the quick budget (``batch_size`` images of ``image_size`` px) with a
cross-entropy loss: the work of either half (weights or architecture) of a first-order DARTS step.
Partial channel connections (PC-DARTS, seed 000 §3.1) send 1/K of the channels through the ops;
K = 1 is the full supernet.

Each setting runs in its own subprocess so memory figures do not mix: on CUDA the peak is
``torch.cuda.max_memory_allocated`` over the steps; on CPU it is the rise of the process's peak
resident set (``resource.getrusage(...).ru_maxrss``) from just before the first step to after the
last, i.e. the activations and gradients a step adds on top of the model and the batch.

    python benchmarks/search_cost.py --steps 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from rtbench.budgets import get_budget
from rtbench.spaces.msnas import MSNASConfig, MSNASSupernet
from rtbench.tasks import CINE


def one_setting(partial_k: int, steps: int, batch: int, size: int) -> dict[str, float]:
    """Time ``steps`` forward+backward passes (after one untimed step) and the peak memory they add."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    net = MSNASSupernet(MSNASConfig(partial_k=partial_k), CINE).to(device)
    x = torch.randn(batch, CINE.in_channels, size, size, device=device)
    y = torch.randint(0, CINE.num_classes, (batch, size, size), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    times = []
    for i in range(steps + 1):
        net.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        loss_fn(net(x), y).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t0)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {
        "partial_k": partial_k,
        "step_s": statistics.median(times),
        "peak_mib": peak / 2**20,
        "device": device.type,
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    budget = get_budget("quick")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per setting (default 3)")
    parser.add_argument("--batch", type=int, default=budget.batch_size, help=f"batch size (default quick: {budget.batch_size})")
    parser.add_argument("--size", type=int, default=budget.image_size, help=f"image size (default quick: {budget.image_size})")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)  # run one K in this process
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one_setting(args.child, args.steps, args.batch, args.size)))
        return 0

    rows = {}
    for k in (4, 1):
        cmd = [sys.executable, __file__, "--child", str(k), "--steps", str(args.steps), "--batch", str(args.batch)]
        out = subprocess.run([*cmd, "--size", str(args.size)], check=True, capture_output=True, text=True).stdout
        rows[k] = json.loads(out.splitlines()[-1])
        r = rows[k]
        print(
            f"K={k}: {r['step_s']:.2f} s per forward+backward step, peak +{r['peak_mib']:.0f} MiB "
            f"(batch {args.batch}, {args.size} px, {r['device']}, {r['threads']} threads)"
        )
    memory, step = (rows[1][key] / rows[4][key] for key in ("peak_mib", "step_s"))
    print(f"K=1 / K=4: memory {memory:.2f}x, time {step:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
