"""Does training two candidates at once, one thread each, beat one at a time on every core?

``bench submit`` trains a submission's candidates as Ray Tune trials with ``ray.train_cpus`` CPUs
each (default: every CPU of the node, so one trial at a time). This times training steps of one
random derived network of a space (default: msnas at the quick budget's 128 px, batch 8, Adam,
cross-entropy) two ways and prints the training throughput of each:

* ``serial``: one process with ``--cores`` threads (what the default does);
* ``parallel``: ``--cores`` processes with one thread each, stepping at the same time (what
  ``ray.train_cpus=1`` does when a submission has several candidates).

Nothing else should run meanwhile. Use it to choose ``ray.train_cpus`` for a many-candidate run
(``method=random``) on a small CPU box.

    python benchmarks/train_parallelism.py --steps 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.multiprocessing as mp

from rtbench.spaces.base import SPACES
from rtbench.tasks import get_task


def _steps(space_name: str, size: int, seed: int, batch: int, steps: int, threads: int, barrier, out) -> None:
    """Warm up, wait at the barrier, then time ``steps`` training steps; put the seconds on ``out``."""
    torch.set_num_threads(threads)
    space, task = SPACES.create(space_name), get_task("cine")
    genotype = space.sample_genotype(np.random.default_rng(seed), task, size, None)
    torch.manual_seed(seed)
    net = space.build(genotype, task, size)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(batch, task.in_channels, size, size)
    y = torch.randint(0, task.num_classes, (batch, size, size))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    barrier.wait()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    out.put(time.perf_counter() - t0)


def _run(args: argparse.Namespace, processes: int, threads: int) -> list[float]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    work = (args.space, args.size, args.seed, args.batch, args.steps, threads, barrier, out)
    procs = [ctx.Process(target=_steps, args=work) for _ in range(processes)]
    for p in procs:
        p.start()
    seconds = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="msnas")
    parser.add_argument("--size", type=int, default=128, help="image size S in pixels (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="which random network (default 0)")
    parser.add_argument("--batch", type=int, default=8, help="batch size (default 8, the quick budget's)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per process (default 20)")
    parser.add_argument("--cores", type=int, default=2, help="cores to use (default 2)")
    args = parser.parse_args()

    serial = _run(args, 1, args.cores)[0]
    serial_rate = args.steps * args.batch / serial
    print(f"serial: 1 process x {args.cores} threads: {serial / args.steps:.3f} s/step, {serial_rate:.1f} images/s")
    parallel = _run(args, args.cores, 1)
    parallel_rate = sum(args.steps * args.batch / s for s in parallel)
    per_step = ", ".join(f"{s / args.steps:.3f}" for s in parallel)
    print(f"parallel: {args.cores} processes x 1 thread: {per_step} s/step, {parallel_rate:.1f} images/s in all")
    print(f"parallel / serial throughput: {parallel_rate / serial_rate:.2f}x")


if __name__ == "__main__":
    main()
