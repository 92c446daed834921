"""Look at synthetic-echo: a few frames of an easy and of hard patients, the myocardium label's contour overlaid.

Renders the frames at end-diastole, mid-systole, end-systole and mid-diastole of the first easy
patient and of the first hard patient showing each difficulty among ``--patients`` patients
(``rtbench.datasets.synthetic_echo``), one row per patient, the label's outline in red, and writes
a PNG. Prints where it wrote it, and per patient its group, difficulties and mean cavity /
myocardium contrast-to-noise ratio (``meta["cnr"]``), the same figure pooled over the easy and the
hard patients, and the generation time (wall and CPU)::

    python benchmarks/echo_frames.py --size 128 --spacing 1.5 --out /tmp/echo_frames.png
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rtbench.budgets import get_budget  # noqa: E402
from rtbench.datasets.base import Volume  # noqa: E402
from rtbench.datasets.synthetic_echo import DIFFICULTIES, SyntheticEcho  # noqa: E402


def pick(volumes: list[Volume]) -> list[list[Volume]]:
    """The first easy patient and the first hard patient showing each difficulty, as lists of frames."""
    by_patient: dict[str, list[Volume]] = {}
    for v in volumes:
        by_patient.setdefault(v.patient, []).append(v)
    patients = list(by_patient.values())
    chosen = [next(p for p in patients if not p[0].meta["hard"])]
    for kind in DIFFICULTIES:
        found = next((p for p in patients if kind in p[0].meta["difficulties"]), None)
        if found is not None and all(found is not c for c in chosen):
            chosen.append(found)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="image size (px)")
    parser.add_argument("--spacing", type=float, default=1.5, help="pixel spacing (mm)")
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("echo_frames.png"))
    args = parser.parse_args()

    budget = replace(get_budget("quick"), image_size=args.size, spacing_mm=args.spacing)
    config = SyntheticEcho.Config(frames=args.frames, patients=args.patients, data_seed=args.data_seed)
    start, cpu = time.perf_counter(), time.process_time()
    volumes = SyntheticEcho(config).load(budget, 0).volumes
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    rows = pick(volumes)
    es = next(v.meta["frame"] for v in volumes if v.phase == "ES")
    cols = [0, es // 2, es, (es + args.frames) // 2]
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.6 * len(cols), 2.6 * len(rows)), squeeze=False)
    for i, frames in enumerate(rows):
        meta = frames[0].meta
        what = ", ".join(meta["difficulties"]) or "easy"
        for j, k in enumerate(cols):
            v = frames[k]
            ax = axes[i, j]
            ax.imshow(v.image[0], cmap="gray")
            ax.contour(v.label[0], levels=[0.5], colors="red", linewidths=0.7)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{v.case_id} cnr {v.meta['cnr']:.2f}", fontsize=7)
        axes[i, 0].set_ylabel(f"{frames[0].group}\n{what}", fontsize=8)
        cnr = np.nanmean([f.meta["cnr"] for f in frames])
        print(f"{frames[0].patient}: {frames[0].group:<12} {what:<24} mean cnr {cnr:.2f}")
    for hard in (False, True):
        cnrs = [v.meta["cnr"] for v in volumes if v.meta["hard"] == hard]
        patients = len({v.patient for v in volumes if v.meta["hard"] == hard})
        print(f"{'hard' if hard else 'easy'} patients: {patients}, cavity/myocardium cnr mean {np.nanmean(cnrs):.2f} (frames: {len(cnrs)})")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    grid = f"{args.size} px / {args.spacing} mm"
    print(f"generated {args.patients} patients x {args.frames} frames at {grid} in {elapsed:.1f} s ({cpu:.1f} s CPU)")
    print(f"wrote {args.out.resolve()}")


if __name__ == "__main__":
    main()
