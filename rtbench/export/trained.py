"""A run's trained networks, rebuilt from its record and the weights its training trials kept.

``RUN`` (``bench export RUN``, ``bench runtimes RUN``) is a run folder, its ``record.json``, or a
run id (the folder's name, or a unique prefix of it) in the run store ``runs.dir``. The record
gives the config (space, task, image size, hardware, budget) and each candidate's genotype; the
weights are ``RunFolder.weights(key, fold)``, written by the (candidate, fold) training trial.
Runs trained before weights were kept have none: :func:`load_trained` then names the run and the
unit file to delete so that ``bench submit`` re-trains just that (candidate, fold).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rtbench.config import RunSpec, spec_from_dict
from rtbench.errors import ConfigError
from rtbench.runfolder import RunFolder, check_store
from rtbench.store import read_entry, scan_runs
from rtbench.tasks import get_task


@dataclass(frozen=True)
class Run:
    """One run as read from its folder: the folder, its (trusted) record and the spec rebuilt from it."""

    folder: RunFolder
    record: dict[str, Any]
    spec: RunSpec

    @property
    def name(self) -> str:
        return str(self.record.get("run_id", self.folder.root.name))

    def candidates(self, key: str = "") -> list[dict[str, Any]]:
        """The record's candidates, or the one whose key is ``key``; ConfigError naming the valid keys."""
        rows = self.record.get("candidates", [])
        if not key:
            return list(rows)
        found = [c for c in rows if c["key"] == key]
        if not found:
            valid = ", ".join(f"{c['key']} ({c['label']})" for c in rows) or "none"
            raise ConfigError(f"run {self.name}: no candidate with key '{key}'; its candidates: {valid}")
        return found


def find_run(run: str, runs_dir: str | Path = "runs") -> Run:
    """The run named ``run`` (a folder, a ``record.json``, or a run id / unique id prefix under ``runs_dir``)."""
    path = Path(run)
    if path.name == "record.json":
        path = path.parent
    if path.is_dir() and ((path / "record.json").exists() or (path / "spec.json").exists()):
        return _read(RunFolder(path.resolve()), run)
    folders = [e.folder for e in scan_runs(check_store(runs_dir), warn=lambda line: None) if e.folder.root.name.startswith(run)]
    exact = [f for f in folders if f.root.name == run]
    if len(exact) == 1 or len(folders) == 1:
        return _read((exact or folders)[0], run)
    if not folders:
        raise ConfigError(f"run '{run}': no run folder or run id of that name under runs.dir={runs_dir} (see bench runs)")
    raise ConfigError(f"run '{run}' matches {len(folders)} runs under runs.dir={runs_dir}: {', '.join(f.root.name for f in folders[:5])}")


def _read(folder: RunFolder, run: str) -> Run:
    entry = read_entry(folder, warn=lambda line: None)
    if entry.state != "ok" or entry.record is None:
        raise ConfigError(f"run '{run}' ({folder.root}): its record is {entry.state}; only a sealed, untampered record can be exported")
    return Run(folder, entry.record, spec_from_dict(entry.record["config"]))


def input_shape(run: Run, cand: dict[str, Any]) -> tuple[int, int, int]:
    """(C, H, W) of the network's input: the task's channels times its window's frames, at the budget's image size."""
    from rtbench.trials import space_of, window_of

    space = space_of(run.spec, cand["space"])
    c = get_task(run.spec.task).in_channels * window_of(space, cand["genotype"])
    return c, run.spec.budget.image_size, run.spec.budget.image_size


def build(run: Run, cand: dict[str, Any]) -> nn.Module:
    """The candidate's network as its space builds it (fresh weights, seeded by the run's seed), in eval mode."""
    from rtbench.trials import space_of

    torch.manual_seed(run.spec.seed)
    model = space_of(run.spec, cand["space"]).build(cand["genotype"], get_task(run.spec.task), run.spec.budget.image_size)
    return model.eval()


def load_trained(run: Run, cand: dict[str, Any], fold: int = 0) -> nn.Module:
    """The candidate's network with the weights trained on ``fold``; ConfigError saying how to re-train when none were kept."""
    folds = sorted(f["fold"] for f in cand.get("folds", []))
    if folds and fold not in folds:
        raise ConfigError(f"run {run.name}: candidate {cand['key']} has no fold {fold}; its trained folds: {', '.join(map(str, folds))}")
    path = run.folder.weights(cand["key"], fold)
    if not path.is_file():
        unit = run.folder.unit(f"train-{cand['key']}-f{fold}")
        raise ConfigError(
            f"run {run.name}: candidate {cand['label']} [{cand['key']}] fold {fold} has no trained weights ({path}): "
            f"the run was trained before rtbench kept weights, or that training failed. Re-train it: delete {unit} "
            "and run the same bench submit again (only that training re-runs)"
        )
    model = build(run, cand)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, ValueError) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{path}: not the weights of candidate {cand['key']} ({why}); delete it and re-train") from None
    return model.eval()
