"""Print the runtimes table of issue 16: candidates of one or more runs under every runtime, interleaved.

    python benchmarks/runtimes_table.py RUN [RUN ...] [--runs-dir runs] [--candidates KEY,KEY] [--runtimes eager,onnxruntime]

For each run (a run id, a unique prefix, or a run folder), every candidate (or those of
``--candidates``) is timed under each runtime with ``rtbench.export.compare.compare_runtimes``
(the harness's end-to-end query, round-robin blocks of ``--block`` queries per runtime, on the run's
own profile and budget settings). Prints one markdown table over all runs: p50 / p90 (ms), frames/s,
FLOPs per frame, achieved GFLOP/s (FLOPs / p50) and its share of the matmul roofline (measured once
per run, ``torch.mm`` of two 2048 x 2048 float32 matrices at the profile's threads), the verdict per
runtime, and which candidates' verdicts change between runtimes. Runs trained before rtbench kept
weights are timed with fresh weights (said in the weights column; latency does not depend on them).
"""

from __future__ import annotations

import argparse

from rtbench.export import find_run
from rtbench.export.compare import compare_runtimes, verdict_changes

COLUMNS = ("candidate", "runtime", "p50 ms", "p90 ms", "fps", "GFLOPs", "GFLOP/s", "% roofline", "verdict", "weights")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run ids (or unique prefixes) or run folders")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--candidates", default="", help="comma-separated candidate keys (default: every candidate)")
    parser.add_argument("--runtimes", default="", help="comma-separated runtimes (default: every one this machine can run)")
    parser.add_argument("--block", type=int, default=10, help="latency queries per runtime per round")
    parser.add_argument("--fold", type=int, default=0)
    args = parser.parse_args()
    keys = [k for k in args.candidates.split(",") if k]
    lines = ["| run | " + " | ".join(COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    changed, roofs = [], []
    for name in args.runs:
        run = find_run(name, args.runs_dir)
        keep = [c["key"] for c in run.candidates() if not keys or c["key"] in keys]
        rows = []
        for key in keep:
            result = compare_runtimes(run, key, args.fold, args.runtimes, args.block, echo=lambda line: print(f"  {line}", flush=True))
            rows += result["rows"]
            roofs.append(f"{run.name} ({result['profile']}): {result['roofline']['gflops']:.1f} GFLOP/s, {result['roofline']['method']}")
        lines += ["| " + " | ".join([run.name, *(str(r.get(c, "-")) for c in COLUMNS)]) + " |" for r in rows]
        changed += verdict_changes(rows)
    print("\n".join(lines))
    print("\nroofline (matmul, measured before each candidate):\n  " + "\n  ".join(roofs))
    print("verdicts that change between runtimes: " + (", ".join(changed) if changed else "none"))


if __name__ == "__main__":
    main()
