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

One submission at a time per run folder: ``submit`` holds an OS file lock on the folder's
``submit.lock`` throughout and refuses, naming the holder, when another process holds it
(``rtbench.runlock``). Ctrl-C stops the whole submission, not just the running stage: the running
trials are stopped, no further stage starts, the record is written (partial) and the lock is
released; a second Ctrl-C stops at once. The record is sealed with an integrity hash.

Ray: a private local Ray on this machine's CPUs (no dashboard) unless ``ray.address=`` or
RAY_ADDRESS names a cluster; an already-initialised Ray (e.g. the test session's) is reused
(``rtbench.raysession``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtbench.config import RunSpec
from rtbench.errors import ConfigError, RTBenchError
from rtbench.jsonio import write_json_atomic, write_json_sealed
from rtbench.raysession import ensure_ray, local_resources, quiet_ray
from rtbench.records import assemble, load_unit, save_unit, unit_done
from rtbench.runfolder import RunFolder, check_store
from rtbench.runlock import submission_lock
from rtbench.trials import check_data

__all__ = ["SubmissionResult", "Unit", "ensure_ray", "local_resources", "submit"]
quiet_ray()

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
    stopped_by_user: bool = False  # Ctrl-C


class StopFlag:
    """Set by Ctrl-C, read by the Tune stopper. A plain attribute, not a threading.Event: Tune pickles its stopper."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


# ----------------------------------------------------------------------------- Ray session


def _node_cpus(resource: str | None = None) -> float:
    """The CPUs of the largest alive Ray node (among those offering ``resource``): a trial cannot span nodes."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return max((float(r.get("CPU", 0.0)) for r in nodes if resource is None or resource in r), default=0.0) or 1.0


def train_resources(spec: RunSpec) -> dict[str, float]:
    """``ray.train_cpus`` (default: every CPU of the largest node) and ``ray.train_gpus``."""
    cpus = float(spec.ray.train_cpus) if spec.ray.train_cpus > 0 else _node_cpus()
    res = {"cpu": cpus}
    if spec.ray.train_gpus > 0:
        res["gpu"] = spec.ray.train_gpus
    return res


def search_resources(spec: RunSpec) -> dict[str, float]:
    """A training trial's resources plus the profile's capacity-1 resource: a search may time ops on
    the profile (``ctx.latency_model()`` builds the op table), so nothing else may be timed meanwhile."""
    _require_resource(spec)
    res = train_resources(spec)
    res["cpu"] = min(res["cpu"], _node_cpus(spec.hardware.resource))
    return res | {spec.hardware.resource: 1.0}


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
    res = {"cpu": min(float(prof.num_threads()), _node_cpus(prof.resource)), prof.resource: 1.0}
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
            if state["stop"].is_set():  # a worker that Ctrl-C reached too: not a failure of the unit
                echo(f"[{unit}] stopped")
                return
            save_unit(run_dir, unit, unit.split("-")[0], "error", invocation, error=f"trial crashed: {trial.error_file or 'see Ray logs'}")
            state["failed"].append(unit)
            echo(f"[{unit}] CRASHED (see {trial.error_file})")

    class StopAfter(tune.Stopper):
        """Stops every trial on Ctrl-C, or once ``stop_after`` units finished (a simulated interruption)."""

        def __call__(self, trial_id: str, result: dict) -> bool:
            return self.stop_all()

        def stop_all(self) -> bool:
            return state["stop"].is_set() or (stop_after is not None and len(state["done"]) >= stop_after)

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

    if state["stop"].is_set():
        echo(f"== {stage}: not started (Ctrl-C)")
        return
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


@contextlib.contextmanager
def _ctrl_c_stops(stop: StopFlag, echo: Printer) -> Iterator[None]:
    """Meanwhile, a first Ctrl-C sets ``stop`` (trials are stopped, no further stage starts); a second raises KeyboardInterrupt.

    Ray Tune's own SIGINT handler is switched off: it would end only the running stage and let
    the next one start. Outside the main thread (no signals there) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        echo("Ctrl-C: stopping the running trials and writing the record (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _make_run_dir(spec: RunSpec) -> Path:
    """The run folder, created; ConfigError naming runs.dir when it (or a folder on the way) is a file."""
    check_store(spec.runs_dir)
    run_dir = spec.folder.root
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"runs.dir={spec.runs_dir}: cannot create the run folder {run_dir} ({err.strerror or err})") from None
    return run_dir


def submit(spec: RunSpec, echo: Printer = print, stop_after: int | None = None) -> SubmissionResult:
    """Run (or resume) one submission and write its record, holding the run folder's lock throughout.

    ``stop_after``: stop every trial once that many units have finished in this call (used by the
    resume test to simulate an interruption). RunLocked when another process is submitting the
    same run; ConfigError when runs.dir is a file.
    """
    check_store(spec.runs_dir)  # runs.dir that is a file: refused before any work
    check_data(spec, echo)  # the validation pass: bad data stops here, before any folder, lock or Ray
    run_dir = _make_run_dir(spec)
    invocation = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    state: dict[str, Any] = {"done": [], "failed": [], "launched": [], "stop": StopFlag()}
    with submission_lock(spec.folder.lock, invocation), _ctrl_c_stops(state["stop"], echo):
        record = _submit_locked(spec, run_dir, invocation, echo, stop_after, state)
    stopped = state["stop"].is_set()
    interrupted = record["status"] != "complete"
    return SubmissionResult(run_dir=run_dir, record=record, launched=state["launched"], interrupted=interrupted, stopped_by_user=stopped)


def _submit_locked(spec: RunSpec, run_dir: Path, invocation: str, echo: Printer, stop_after: int | None, state: dict[str, Any]) -> dict:
    folder = spec.folder
    spec_d = spec.to_dict()
    echo(f"run {spec.run_id} on board {spec.board}\n  folder: {run_dir}")
    ensure_ray(spec, echo)
    write_json_atomic(folder.spec, spec_d)  # from here on `bench runs` lists the run, with or without a record
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
    return write_json_sealed(folder.record, record)


def _n_folds(spec: RunSpec) -> int:
    return spec.budget.folds if spec.budget.protocol == "kfold" else 1
