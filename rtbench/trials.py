"""The three kinds of work of a submission, as plain functions (Ray Tune runs each as a trial).

* :func:`run_search`: the method searches the search pool only and returns candidates.
* :func:`run_train`: one (candidate, fold): build, train from scratch with the shared recipe,
  score on the fold's test patients (Dice per class, HD95 in mm, per volume), and keep the trained
  weights in the run folder (``RunFolder.weights``, for ``bench export`` and ``bench runtimes``).
  A segmentation + quality-control network (the echo task) trains its two parts on the two halves
  of the fold's training patients and adds the QC's scores (:mod:`rtbench.train.quality`).
* :func:`run_measure`: one candidate: latency percentiles, throughput, params and FLOPs on the
  hardware profile.

Each takes the resolved spec as a dict (what crosses process boundaries) and a ``report``
callback for progress, and returns a JSON-able payload. Each resolves the submission's method
first (:func:`space_of`), which imports a plug-in's package, so a space the plug-in brings is
registered in this worker before any space is looked up. None of them writes results: the runner
does, so a trial that dies leaves nothing half-written.

Temporal windows (:func:`window_of`, :mod:`rtbench.datasets.windows`): a candidate whose space
declares a window of n > 1 frames is trained and scored on causal windows and timed one new frame
per query; its training record keeps ``temporal`` (window kinds, ``temporal_fallback``), its
measurement ``input``, and where the data have no cine its label says so
(``ICA-UNet (n=3) [fallback: frame repeated]``). Single-frame candidates are untouched.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtbench.config import RunSpec, spec_from_dict
from rtbench.datasets import DatasetBundle, Volume, build_dataset
from rtbench.datasets.splits import SplitPlan, make_split
from rtbench.datasets.windows import fallback_marker, temporal_record
from rtbench.errors import RTBenchError
from rtbench.methods import METHODS, Candidate, SearchContext, build_method
from rtbench.runfolder import RunFolder
from rtbench.spaces import SPACES, Space
from rtbench.stageclock import StageClock
from rtbench.tasks import get_task

Report = Callable[..., None]


def resolve_device(spec: RunSpec) -> torch.device:
    """``device=auto``: the GPU when one is visible to this process, else the CPU."""
    if spec.device == "cuda" or (spec.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RTBenchError("device=cuda but no CUDA device is visible to this process")
        return torch.device("cuda")
    return torch.device("cpu")


def load_data(spec: RunSpec, progress: Callable[[str], None] | None = None) -> tuple[DatasetBundle, SplitPlan]:
    """The dataset at the budget's grid and its patient-level split plan (deterministic by seed)."""
    bundle = build_dataset(spec.dataset, spec.dataset_config).load(spec.budget, spec.seed, progress)
    if spec.budget.protocol == "roots" and bundle.test_volumes is None:
        raise RTBenchError(f"budget.protocol=roots needs a test set: set dataset.test_root for dataset '{spec.dataset}'")
    plan = make_split(bundle.patients(), spec.budget, spec.seed, has_test_set=bundle.test_volumes is not None)
    return bundle, plan


QUIET_SECONDS = 3.0
"""The validation pass prints the dataset's progress lines only once it has run this long (a cached read is silent)."""


def check_data(spec: RunSpec, echo: Callable[[str], None]) -> None:
    """The validation pass on the driver, before Ray starts: read (and cache) the dataset and plan the split.

    A bad file, root or split setting raises its one-line DataError/ConfigError here, so nothing is
    written and no trial starts. A long first read (preprocessing a real dataset) shows its progress.
    """
    start = time.monotonic()

    def progress(line: str) -> None:
        if time.monotonic() - start >= QUIET_SECONDS:
            echo(f"data: {line}")

    load_data(spec, progress)  # Dataset.load checks every file before it caches; then the split


def space_of(spec: RunSpec, name: str) -> Space:
    """The space ``name``, after resolving the submission's method (a plug-in registers its own space on import)."""
    METHODS.get(spec.method)
    return SPACES.create(name)


def window_of(space: Space, genotype: dict[str, Any]) -> int:
    """Frames n of the causal window the network of ``genotype`` consumes (input ``(B, n * C, H, W)``).

    The door for any network with a temporal window: ``Space.frames(genotype) -> n`` (1 by default,
    as every space was before windows); a space with temporal networks overrides it.
    """
    n = space.frames(genotype)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise RTBenchError(f"space '{space.name}': frames(genotype) returned {n!r}; expected an integer >= 1")
    return n


PATH_KEYS = ("source", "path", "file", "root", "dir")
"""``Volume.meta`` keys a method never sees (they name files, from which the test fold could be found)."""


def search_view(volumes: list[Volume]) -> list[Volume]:
    """The search pool as a method sees it: the same arrays, ``meta`` without file paths or roots.

    A key named like a path (:data:`PATH_KEYS`) or a string value holding a path separator is
    dropped, so ``ctx.volumes`` names no file, folder or root, and through them no test patient.
    """
    return [dataclasses.replace(v, meta={k: m for k, m in v.meta.items() if _public(k, m)}) for v in volumes]


def _public(key: str, value: Any) -> bool:
    if any(word in key.lower() for word in PATH_KEYS):
        return False
    return not (isinstance(value, str) and (os.sep in value or "/" in value))


def _select(volumes: list[Volume], patients: tuple[str, ...]) -> list[Volume]:
    keep = set(patients)
    return [v for v in volumes if v.patient in keep]


def run_search(spec_d: dict[str, Any], run_dir: str, report: Report) -> dict[str, Any]:
    spec = spec_from_dict(spec_d)
    method = build_method(spec.method, spec.method_config)
    bundle, plan = load_data(spec, lambda s: report(stage="data", message=s))
    ctx = SearchContext(
        task=get_task(spec.task),
        budget=spec.budget,
        hardware=spec.hardware,
        space=SPACES.create(method.space),
        volumes=search_view(_select(bundle.volumes, plan.search)),
        seed=spec.seed,
        rng=np.random.default_rng(spec.seed),
        device=resolve_device(spec),
        checkpoint_dir=RunFolder(Path(run_dir)).search_checkpoints,
        report=report,
    )
    ctx.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    with StageClock(RunFolder(Path(run_dir)).search_clock) as clock:  # a resumed search adds to its earlier attempts' time
        candidates = method.search(ctx)
    seconds = clock.total
    if not candidates:
        raise RTBenchError(f"method '{spec.method}' returned no candidates")
    seen: set[str] = set()
    out = []
    for c in candidates:
        if not isinstance(c, Candidate):
            raise RTBenchError(f"method '{spec.method}' returned {type(c).__name__}, expected rtbench.methods.Candidate")
        space = space_of(spec, c.space)
        space.validate(c.genotype)
        if c.key in seen:
            continue
        seen.add(c.key)
        marker = fallback_marker(bundle.volumes + (bundle.test_volumes or []), window_of(space, c.genotype))
        out.append({**c.to_dict(), "label": c.label + marker, "key": c.key})
    return {
        "candidates": out,
        "search_seconds": seconds,
        "search_attempts": clock.attempts,
        "search_seconds_last_attempt": clock.this,
        "search_patients": len(plan.search),
    }


def run_train(spec_d: dict[str, Any], cand_d: dict[str, Any], fold: int, report: Report) -> dict[str, Any]:
    from rtbench.train.metrics import evaluate, summarize
    from rtbench.train.quality import is_two_output, quality_summary, score_quality
    from rtbench.train.recipe import TrainingDiverged, seed_everything, train_model

    spec = spec_from_dict(spec_d)
    space = space_of(spec, cand_d["space"])
    task = get_task(spec.task)
    bundle, plan = load_data(spec)
    f = plan.folds[fold]
    train_v = _select(bundle.volumes, f.train)
    # protocol "roots": the dataset's own test set is the fold's test set
    test_v = bundle.test_volumes if bundle.test_volumes is not None else _select(bundle.volumes, f.test)
    device = resolve_device(spec)
    seed = spec.seed * 1000 + fold
    frames = window_of(space, cand_d["genotype"])
    seed_everything(seed)
    model = space.build(cand_d["genotype"], task, spec.budget.image_size).to(device)
    two_output = is_two_output(model)
    # spec dicts written before weights were kept lack run_dir: no checkpoint then
    checkpoint = RunFolder(Path(spec_d["run_dir"])).train_checkpoint(cand_d["key"], fold) if spec_d.get("run_dir") else None
    if checkpoint is not None and checkpoint.exists():
        report(message=f"resuming the training from {checkpoint}")
    try:
        if two_output:
            stats = _train_two_output(model, train_v, spec, seed, device, task.in_channels, report, checkpoint)
        else:
            stats = train_model(model, train_v, spec.budget, seed, device, lambda m: report(**m), frames, task.in_channels, checkpoint)
    except TrainingDiverged as err:
        raise TrainingDiverged(f"candidate {cand_d.get('label', '?')} ({cand_d.get('key', '?')}), fold {fold}: {err}") from err
    if spec_d.get("run_dir"):  # spec dicts written before weights were kept lack it
        keep_weights(model, RunFolder(Path(spec_d["run_dir"])).weights(cand_d["key"], fold))
    rows = evaluate(model, test_v, task, device, frames=frames)
    if frames > 1:
        stats["temporal"] = temporal_record(frames, train_v, test_v)
    payload = {
        "fold": fold,
        "train": stats,
        "per_volume": rows,
        "summary": summarize(rows, task.classes),
        "train_patients": len(f.train),
        "test_patients": len({v.patient for v in test_v}),
    }
    if two_output:
        for row, qc in zip(rows, score_quality(model, test_v, device, task.in_channels, stats["quality"]["eval_dice_mean"]), strict=True):
            row.update(qc)
        payload["quality"] = quality_summary(rows)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)  # the weights are kept; the unit file is written next
    return payload


def _train_two_output(
    model: torch.nn.Module,
    train_v: list[Volume],
    spec: RunSpec,
    seed: int,
    device: torch.device,
    channels: int,
    report: Report,
    checkpoint: Path | None,
) -> dict[str, Any]:
    """Seed 003 §IV-A (:mod:`rtbench.train.quality`): ``seg`` on half of D_train, then QC on the other half.

    ``checkpoint`` holds the segmentation network's per-epoch state (the QC's shorter training is
    not checkpointed: an interruption during it re-trains the QC alone, from the resumed ``seg``)."""
    from rtbench.train.data import split_patients
    from rtbench.train.quality import train_quality_control
    from rtbench.train.recipe import train_model

    seg_v, eval_v = split_patients(train_v, 0.5, seed)
    if not eval_v:
        raise RTBenchError(f"a segmentation + quality-control candidate needs >= 2 training patients per fold, got {len(train_v)} volumes")
    stats = train_model(model.seg, seg_v, spec.budget, seed, device, lambda m: report(stage="seg", **m), 1, channels, checkpoint)
    stats["quality"] = train_quality_control(model, eval_v, spec.budget, seed, device, channels, lambda m: report(**m))
    stats["seg_patients"] = len({v.patient for v in seg_v})
    stats["train_seconds"] += stats["quality"]["train_seconds"]
    return stats


def keep_weights(model: torch.nn.Module, path: Path) -> None:
    """Write ``model``'s state_dict (on the CPU) to ``path`` atomically: a temporary file in the same folder, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, path)


def run_measure(spec_d: dict[str, Any], cand_d: dict[str, Any], report: Report) -> dict[str, Any]:
    from rtbench.hardware.env import cpu_busy_cores, environment_info
    from rtbench.hardware.measure import measure_all
    from rtbench.hardware.runtime import runtime_info

    spec = spec_from_dict(spec_d)
    space = space_of(spec, cand_d["space"])
    task = get_task(spec.task)
    busy = cpu_busy_cores() if spec.hardware.device == "cpu" else None
    cores = os.cpu_count() or 1
    if busy is not None and busy > 0.5 * cores:
        report(message=f"warning: the machine is busy ({busy:.1f} of {cores} cores in use before timing); CPU timings will be inflated")
    torch.manual_seed(spec.seed)
    model = space.build(cand_d["genotype"], task, spec.budget.image_size)
    shape = (task.in_channels, spec.budget.image_size, spec.budget.image_size)
    frames = window_of(space, cand_d["genotype"])
    result = measure_all(model, shape, spec.hardware, spec.budget, progress=lambda s: report(message=s), frames=frames)
    result["environment"] = environment_info(spec.hardware) | runtime_info(spec.hardware) | {"busy_cores_before": busy} | _ray_node()
    return result


def _ray_node() -> dict[str, str | None]:
    """The Ray node this trial ran on (id and IP): which machine's device was timed. None outside Ray."""
    try:
        import ray

        if not ray.is_initialized():
            return {"ray_node_id": None, "ray_node_ip": None}
        return {"ray_node_id": ray.get_runtime_context().get_node_id(), "ray_node_ip": ray.util.get_node_ip_address()}
    except Exception:  # never fail a measurement over its provenance
        return {"ray_node_id": None, "ray_node_ip": None}
