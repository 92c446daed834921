"""``bench runs`` on a run without a record: how far it got, from its unit files, and whether a submit holds it."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from rtbench.records import save_unit
from rtbench.runfolder import RunFolder
from rtbench.runlock import lock_held, submission_lock
from rtbench.runprogress import progress


def folder(tmp_path: Path, protocol: str = "holdout") -> RunFolder:
    f = RunFolder(tmp_path / "run")
    f.units.mkdir(parents=True)
    f.spec.write_text(json.dumps({"budget": {"protocol": protocol, "folds": 5}}))
    return f


def unit(f: RunFolder, name: str, status: str = "ok", candidates: int = 0) -> None:
    payload = {"candidates": [{"key": f"c{i}"} for i in range(candidates)]} if name == "search" else {}
    save_unit(f.root, name, name.split("-")[0], status, "test", payload=payload)


def test_stages_are_read_from_the_unit_files(tmp_path: Path) -> None:
    f = folder(tmp_path)
    assert progress(f) == "stopped: search not finished (the next submit resumes it)"
    unit(f, "search", status="failed")
    assert progress(f) == "stopped: search failed (the next submit reruns it)"
    unit(f, "search", candidates=3)
    unit(f, "train-c0-f0")
    unit(f, "train-c1-f0", status="failed")
    unit(f, "measure-c0")
    assert progress(f) == "stopped: search done (3 candidates), trained 1/3, measured 1/3"
    f.train_checkpoint("c2", 0).parent.mkdir(parents=True)
    f.train_checkpoint("c2", 0).write_bytes(b"state")
    assert progress(f) == (
        "stopped: search done (3 candidates), trained 1/3 (1 more checkpointed mid-training, at epoch unreadable), measured 1/3"
    )


def test_mid_training_checkpoints_report_their_epoch(tmp_path: Path) -> None:
    f = folder(tmp_path)
    unit(f, "search", candidates=3)
    f.train_checkpoints.mkdir(parents=True)
    for key, epoch in (("c0", 3), ("c1", 1)):
        torch.save({"epoch": epoch, "signature": {"epochs": 8}}, f.train_checkpoint(key, 0))
    midway = "(2 more checkpointed mid-training, at epochs 3/8 and 1/8)"
    assert progress(f) == f"stopped: search done (3 candidates), trained 0/3 {midway}, measured 0/3"


def test_kfold_counts_a_training_per_candidate_and_fold(tmp_path: Path) -> None:
    f = folder(tmp_path, protocol="kfold")
    unit(f, "search", candidates=2)
    assert "trained 0/10" in progress(f)


def test_a_held_lock_reads_running_and_a_released_one_stopped(tmp_path: Path) -> None:
    f = folder(tmp_path)
    assert not lock_held(f.lock)
    with submission_lock(f.lock, "test"):
        assert lock_held(f.lock)
        assert progress(f) == "running: searching"
    assert not lock_held(f.lock) and progress(f).startswith("stopped")
