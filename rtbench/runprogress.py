"""How far a run without a record has got, read from its run folder alone (for ``bench runs``).

A submission writes its record at the end, so a run that is searching or training for hours has
none yet. Its unit files (``units/<unit>.json``, one per finished or failed trial; ``rtbench.runfolder``)
say how far it got: the search done or not (and how many candidates it returned), how many
training trials (candidates x folds) and measurements are done, and how many trainings left a
mid-training checkpoint (``train/checkpoints/``) to resume from, and at which epoch each stands.
Whether a ``bench submit`` is working on it now is whether its ``submit.lock`` is held
(``rtbench.runlock``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rtbench.records import read_unit_file
from rtbench.runfolder import RunFolder
from rtbench.runlock import lock_held


def _units(folder: RunFolder, prefix: str) -> list[dict[str, Any]]:
    """The trusted unit files of ``folder`` whose name starts with ``prefix`` (``rtbench.records.read_unit_file``)."""
    units = (read_unit_file(path) for path in sorted(folder.units.glob(f"{prefix}*.json")))
    return [u for u in units if u is not None]


def _folds(folder: RunFolder) -> int:
    """Folds per candidate: ``budget.folds`` under k-fold, else 1 (1 when the spec cannot be read)."""
    try:
        budget = json.loads(folder.spec.read_text()).get("budget", {})
    except (OSError, ValueError):
        return 1
    return int(budget.get("folds", 1)) if budget.get("protocol") == "kfold" else 1


def _midway(checkpoints: list[Path]) -> str:
    """`` (2 more checkpointed mid-training, at epochs 3/8 and 1/8)``, or ``""`` when there is none."""
    if not checkpoints:
        return ""
    from rtbench.train.resume import checkpoint_epochs  # torch: only imported when there is a checkpoint to read

    epochs = [checkpoint_epochs(path) for path in checkpoints]
    at = [f"{e[0]}/{e[1]}" if e else "unreadable" for e in epochs]
    where = at[0] if len(at) == 1 else ", ".join(at[:-1]) + f" and {at[-1]}"
    return f" ({len(checkpoints)} more checkpointed mid-training, at epoch{'s' if len(at) > 1 else ''} {where})"


def progress(folder: RunFolder) -> str:
    """``running`` or ``stopped``, then the stage reached, e.g. ``running: search done (12 candidates), trained 3/12, measured 0/12``."""
    state = "running" if lock_held(folder.lock) else "stopped"
    search = _units(folder, "search")
    if not search:
        return f"{state}: searching" if state == "running" else f"{state}: search not finished (the next submit resumes it)"
    if search[0].get("status") != "ok":
        return f"{state}: search failed (the next submit reruns it)"
    n = len((search[0].get("payload") or {}).get("candidates") or [])
    trained = [u for u in _units(folder, "train-") if u.get("status") == "ok"]
    measured = [u for u in _units(folder, "measure-") if u.get("status") == "ok"]
    midway = _midway(sorted(folder.train_checkpoints.glob("*.pt")))
    return f"{state}: search done ({n} candidates), trained {len(trained)}/{n * _folds(folder)}{midway}, measured {len(measured)}/{n}"
