"""How well do lookup-table latency predictors match measured networks? (nn-Meter-style fidelity report)

Builds (or reuses from the cache) the op latency table of a space on a hardware profile, samples
``n`` random derived networks, predicts each one's latency with the sum, longest-path and
calibrated models, measures each twice with the harness protocol, and prints MAPE, RMSPE, acc10
(share within +-10%; nn-Meter reports 99% on CPU) and Spearman's rho per model, next to the
ceiling set by the measurement's own repeatability. By default every network is measured with a
reference network interleaved and drift-corrected (``rtbench.hardware.fidelity``), and both the
corrected and the raw scores are printed; ``--drift none`` measures each network alone.
Writes latency_check.{png,csv,json}.

Run on a quiet machine: other processes on the same cores make every figure noisy.

    python benchmarks/latency_fidelity.py                      # msnas, local-cpu, 128 px, n=50
    python benchmarks/latency_fidelity.py --space msnas --hardware cpu-4t --n 100 --calibration-n 30
    python benchmarks/latency_fidelity.py --threads 1 --net-queries 20 --net-duration 1   # lighter, 1 thread
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rtbench.hardware import load_profile
from rtbench.hardware.fidelity import run_latency_check
from rtbench.hardware.lut import MeasureSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="msnas")
    parser.add_argument("--hardware", default="local-cpu", help="hardware profile name or YAML path")
    parser.add_argument("--size", type=int, default=128, help="image size S (px); 128 is the quick budget's")
    parser.add_argument("--n", type=int, default=50, help="networks reported")
    parser.add_argument("--calibration-n", type=int, default=20, help="other networks the calibrated model is fit on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--op-rounds", type=int, default=3, help="measurement rounds per table entry (the fastest is kept)")
    parser.add_argument("--threads", type=int, default=None, help="override the profile's thread count (a separate table)")
    parser.add_argument("--net-warmup", type=int, default=None, help="network warm-up queries (default: the profile's)")
    parser.add_argument("--net-queries", type=int, default=None, help="network minimum queries (default: the profile's)")
    parser.add_argument("--net-duration", type=float, default=None, help="network minimum seconds (default: the profile's)")
    parser.add_argument("--drift", default="reference", choices=("reference", "none"), help="drift correction (default reference)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default runs/latency-check/...)")
    args = parser.parse_args(argv)

    profile = load_profile(args.hardware, **({} if args.threads is None else {"threads": args.threads}))
    network_settings = MeasureSettings(
        warmup_queries=profile.warmup_queries if args.net_warmup is None else args.net_warmup,
        min_queries=profile.min_queries if args.net_queries is None else args.net_queries,
        min_duration_s=profile.min_duration_s if args.net_duration is None else args.net_duration,
    )

    start = time.perf_counter()
    report = run_latency_check(
        args.space,
        profile,
        n=args.n,
        image_size=args.size,
        seed=args.seed,
        calibration_n=args.calibration_n,
        out_dir=args.out,
        op_rounds=args.op_rounds,
        network_settings=network_settings,
        drift=args.drift,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(f"network measurement: {network_settings}")
    print(report.format_table())
    print(f"wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
