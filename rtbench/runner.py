"""Ray Tune orchestration of one submission: search -> train x fold -> measure -> record.

Every piece of work is a Ray Tune trial: the search, each (candidate, fold) training, and each
measurement. A measurement trial holds its hardware profile's custom resource (capacity 1, named
``hw-<profile>``) besides the profile's CPUs/GPU, so no two measurements share a device.

Resume. Ray Tune's own ``Tuner.restore`` resumes one experiment from its periodic snapshot; here
a submission is several experiments (the candidates exist only after the search), and a trial
finished just before an interruption may not be in Tune's snapshot yet. So the unit of resume is
ours: a driver-side Tune callback writes ``units/<unit>.json`` the moment a trial reports its
final payload, and a resubmission launches trials only for units without an ``ok`` file. Failed
trials are recorded with their error, never counted, and retried on the next submission.

Ray: a local Ray on this machine's CPUs (no dashboard) unless ``ray.address=`` or RAY_ADDRESS
names a cluster; an already-initialised Ray (e.g. the test session's) is reused.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtbench.config import RunSpec
from rtbench.errors import RTBenchError
from rtbench.hardware.profile import load_profile, profile_names
from rtbench.jsonio import write_json_atomic
from rtbench.records import assemble, load_unit, save_unit, unit_done
from rtbench.runfolder import RunFolder

os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter honours verbose=0; we print our own progress
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

Printer = Callable[[str], None]


@dataclass
class Unit:
    """One trial to run: its id, stage and the arguments of its trial function."""

    id: str
    stage: str
    args: dict[str, Any]


@dataclass
class SubmissionResult:
    run_dir: Path
    record: dict[str, Any]
    launched: list[str] = field(default_factory=list)
    interrupted: bool = False


# ----------------------------------------------------------------------------- Ray session


def ensure_ray(spec: RunSpec, echo: Printer) -> None:
    """Connect to the cluster named by ray.address / RAY_ADDRESS, or start a local Ray."""
    import ray

    if ray.is_initialized():
        return
    logging.getLogger("ray").setLevel(logging.ERROR)
    address = spec.ray.address or os.environ.get("RAY_ADDRESS", "")
    common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, configure_logging=True)
    if address:
        echo(f"ray: connecting to {address}")
        ray.init(address=address, **common)
        return
    ray.init(num_cpus=os.cpu_count() or 1, resources=local_resources(spec), **common)


def local_resources(spec: RunSpec) -> dict[str, float]:
    """Capacity-1 custom resources for every profile this machine can host."""
    import torch

    out = {}
    for name in profile_names():
        p = load_profile(name)
        if p.device == "cpu" or torch.cuda.is_available():
            out[p.resource] = 1.0
    out[spec.hardware.resource] = 1.0
    return out


def _cluster_cpus() -> float:
    import ray

    return float(ray.cluster_resources().get("CPU", 1.0))


def train_resources(spec: RunSpec) -> dict[str, float]:
    cpus = float(spec.ray.train_cpus) if spec.ray.train_cpus > 0 else _cluster_cpus()
    res = {"cpu": cpus}
    if spec.ray.train_gpus > 0:
        res["gpu"] = spec.ray.train_gpus
    return res


def search_resources(spec: RunSpec) -> dict[str, float]:
    """A training trial's resources plus the profile's capacity-1 resource: a search may time ops on
    the profile (``ctx.latency_model()`` builds the op table), so nothing else may be timed meanwhile."""
    _require_resource(spec)
    return train_resources(spec) | {spec.hardware.resource: 1.0}


def _require_resource(spec: RunSpec) -> None:
    """RTBenchError unless the Ray cluster offers the profile's capacity-1 resource."""
    import ray

    if spec.hardware.resource not in ray.cluster_resources():
        raise RTBenchError(
            f"the Ray cluster has no '{spec.hardware.resource}' resource, so it cannot host hardware={spec.hardware.name}; "
            f"start the node that owns the device with --resources='{{\"{spec.hardware.resource}\": 1}}'"
        )


def measure_resources(spec: RunSpec) -> dict[str, float]:
    """The profile's device: its capacity-1 resource, its threads' worth of CPUs, its GPU."""
    prof = spec.hardware
    _require_resource(spec)
    res = {"cpu": min(float(prof.num_threads()), _cluster_cpus()), prof.resource: 1.0}
    if prof.device == "cuda":
        res["gpu"] = 1.0
    return res


# ----------------------------------------------------------------------------- trial function


def _trial(grid: dict[str, Any]) -> None:
    """Tune function trainable: run one unit, report progress, report the payload as the final result.

    Tune's grid picks a unit id (``grid["unit"]``); every unit's arguments ride along in
    ``grid["_units"]``, so each trial's Tune config stays a plain id.
    """
    import torch
    from ray import tune

    from rtbench import trials

    config = grid["_units"][grid["unit"]]
    torch.set_num_threads(max(1, int(config["threads"])))

    def report(**metrics: Any) -> None:
        tune.report({"kind": "progress", "unit": config["unit"], "info": json.dumps(metrics, default=str)})

    stage, a = config["stage"], config["args"]
    try:
        if stage == "search":
            payload = trials.run_search(a["spec"], a["run_dir"], report)
        elif stage == "train":
            payload = trials.run_train(a["spec"], a["candidate"], a["fold"], report)
        elif stage == "measure":
            payload = trials.run_measure(a["spec"], a["candidate"], report)
        else:
            raise RTBenchError(f"unknown stage {stage}")
    except Exception as err:  # reported as a failed unit, with its traceback, never as a result
        tune.report({"kind": "error", "unit": config["unit"], "error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()})
        return
    tune.report({"kind": "final", "unit": config["unit"], "payload": json.dumps(payload, default=str)})


def _make_callback(run_dir: Path, invocation: str, echo: Printer, stop_after: int | None, state: dict[str, Any]) -> Any:
    from ray import tune

    class UnitWriter(tune.Callback):
        """Driver side: print progress lines, write each unit's file as soon as its trial ends."""

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            unit, kind = result.get("unit"), result.get("kind")
            if kind == "progress":
                echo(_progress_line(unit, json.loads(result.get("info", "{}"))))
            elif kind == "final":
                payload = json.loads(result["payload"])
                save_unit(run_dir, unit, unit.split("-")[0], "ok", invocation, payload=payload)
                state["done"].append(unit)
                echo(f"[{unit}] done")
            elif kind == "error":
                trace = result.get("trace", "")
                save_unit(run_dir, unit, unit.split("-")[0], "error", invocation, error=result.get("error", ""), trace=trace)
                state["failed"].append(unit)
                echo(f"[{unit}] FAILED: {result.get('error')}" + (f" ({where})" if (where := raised_at(trace)) else ""))

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            unit = trial.config["unit"]
            save_unit(run_dir, unit, unit.split("-")[0], "error", invocation, error=f"trial crashed: {trial.error_file or 'see Ray logs'}")
            state["failed"].append(unit)
            echo(f"[{unit}] CRASHED (see {trial.error_file})")

    class StopAfter(tune.Stopper):
        """Stops every trial once ``stop_after`` units finished (a simulated interruption)."""

        def __call__(self, trial_id: str, result: dict) -> bool:
            return self.stop_all()

        def stop_all(self) -> bool:
            return stop_after is not None and len(state["done"]) >= stop_after

    return UnitWriter(), StopAfter()


def raised_at(trace: str) -> str:
    """``file:line in function`` of the innermost frame of a formatted traceback ("" if there is none)."""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', trace)
    if not frames:
        return ""
    path, line, func = frames[-1]
    return f"raised at {path}:{line} in {func}"


def _progress_line(unit: str, info: dict[str, Any]) -> str:
    if "epoch" in info and "epochs" in info:
        extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items() if k not in ("epoch", "epochs"))
        return f"[{unit}] epoch {info['epoch']}/{info['epochs']} {extra}"
    if "message" in info:
        return f"[{unit}] {info['message']}"
    return f"[{unit}] " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())


def _run_stage(
    stage: str,
    units: list[Unit],
    resources: dict[str, float],
    run_dir: Path,
    invocation: str,
    echo: Printer,
    stop_after: int | None,
    state: dict[str, Any],
) -> None:
    from ray import tune

    todo = [u for u in units if not unit_done(run_dir, u.id)]
    skipped = len(units) - len(todo)
    echo(f"== {stage}: {len(todo)} trial(s) to run" + (f", {skipped} already finished" if skipped else ""))
    if not todo or (stop_after is not None and len(state["done"]) >= stop_after):
        return
    state["launched"].extend(u.id for u in todo)
    threads = int(resources.get("cpu", 1))
    configs = {u.id: {"unit": u.id, "stage": u.stage, "args": u.args, "threads": threads} for u in todo}
    trainable = tune.with_resources(_trial, resources)
    writer, stopper = _make_callback(run_dir, invocation, echo, stop_after, state)
    tuner = tune.Tuner(
        trainable,
        param_space={"unit": tune.grid_search(list(configs))} | {"_units": configs},
        tune_config=tune.TuneConfig(max_concurrent_trials=0, reuse_actors=False),
        run_config=tune.RunConfig(
            name=f"{stage}-{invocation}",
            storage_path=str(RunFolder(run_dir).tune),
            verbose=0,
            callbacks=[writer],
            stop=stopper,
            failure_config=tune.FailureConfig(max_failures=0),
            log_to_file=True,
        ),
    )
    tuner.fit()


# ----------------------------------------------------------------------------- submission


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def submit(spec: RunSpec, echo: Printer = print, stop_after: int | None = None) -> SubmissionResult:
    """Run (or resume) one submission and write its record.

    ``stop_after``: stop every trial once that many units have finished in this call (used by the
    resume test to simulate an interruption).
    """
    folder = spec.folder
    run_dir = folder.root
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_d = spec.to_dict()
    write_json_atomic(folder.spec, spec_d)
    invocation = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    echo(f"run {spec.run_id} on board {spec.board}\n  folder: {run_dir}")
    ensure_ray(spec, echo)
    state: dict[str, Any] = {"done": [], "failed": [], "launched": []}
    driver_env = {"git_sha": _git_sha(), "submitted_with": invocation}

    t0 = time.perf_counter()
    _run_stage(
        "search",
        [Unit("search", "search", {"spec": spec_d, "run_dir": str(run_dir)})],
        search_resources(spec),
        run_dir,
        invocation,
        echo,
        stop_after,
        state,
    )
    search_u = load_unit(run_dir, "search")
    candidates = search_u["payload"]["candidates"] if search_u and search_u["status"] == "ok" else None
    n_folds = _n_folds(spec)
    if candidates is not None:
        echo("candidates: " + ", ".join(f"{c['label']} [{c['key']}]" for c in candidates))
        train_units = [
            Unit(f"train-{c['key']}-f{k}", "train", {"spec": spec_d, "candidate": c, "fold": k}) for c in candidates for k in range(n_folds)
        ]
        _run_stage("train", train_units, train_resources(spec), run_dir, invocation, echo, stop_after, state)
        measure_units = [Unit(f"measure-{c['key']}", "measure", {"spec": spec_d, "candidate": c}) for c in candidates]
        _run_stage("measure", measure_units, measure_resources(spec), run_dir, invocation, echo, stop_after, state)

    record = assemble(run_dir, spec_d, candidates, n_folds, driver_env)
    record["wall_seconds_last_submission"] = time.perf_counter() - t0
    write_json_atomic(folder.record, record)
    interrupted = record["status"] != "complete"
    return SubmissionResult(run_dir=run_dir, record=record, launched=state["launched"], interrupted=interrupted)


def _n_folds(spec: RunSpec) -> int:
    return spec.budget.folds if spec.budget.protocol == "kfold" else 1
