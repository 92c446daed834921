"""Trained weights kept per (candidate, fold) and ``bench export RUN format=onnx`` with its fidelity check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rtbench.cli import main
from rtbench.config import resolve
from rtbench.export import find_run, load_trained
from rtbench.runner import submit

SMOKE_RUN = ["budget=smoke", "dataset=synthetic-cine", "hardware=local-cpu", "method=unet", "method.width=4", "method.depth=3"]


def smoke_run(root: Path) -> tuple[Path, str]:
    """A tiny trained U-Net run in the run store ``root`` (resumed, so every test file that asks reuses it): (runs dir, run id)."""
    spec = resolve([*SMOKE_RUN, f"runs.dir={root}"])
    res = submit(spec, echo=lambda s: None)
    assert res.record["status"] == "complete", res.record["failures"]
    return root, spec.run_id


@pytest.fixture(scope="module")
def tiny_run(ray_session, tmp_path_factory):
    return smoke_run(tmp_path_factory.getbasetemp() / "runtime-runs")


def test_training_keeps_the_weights_of_each_candidate_and_fold(tiny_run):
    runs, run_id = tiny_run
    run = find_run(run_id, runs)
    (cand,) = run.candidates()
    path = run.folder.weights(cand["key"], 0)
    assert path.is_file()
    assert not run.folder.train_checkpoint(cand["key"], 0).exists()  # the per-epoch state goes once the trial finished
    model = load_trained(run, cand, 0)
    state = torch.load(path, weights_only=True)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    from rtbench.export.trained import build

    assert any(not torch.equal(v, build(run, cand).state_dict()[k]) for k, v in state.items())  # trained, not fresh


def test_export_writes_a_batch1_onnx_file_that_matches_pytorch(tiny_run, capsys):
    pytest.importorskip("onnxruntime")
    import onnx

    runs, run_id = tiny_run
    assert main(["export", run_id, "format=onnx", f"runs.dir={runs}"]) == 0
    out = capsys.readouterr().out
    assert "mask agreement" in out and "ok" in out
    run = find_run(run_id, runs)
    (cand,) = run.candidates()
    path = run.folder.export / f"{cand['key']}-f0.onnx"
    graph = onnx.load(str(path))
    dims = [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 1, run.spec.budget.image_size, run.spec.budget.image_size]  # fixed batch 1, the board's size
    report = json.loads(path.with_name(path.name + ".fidelity.json").read_text())
    fid = report["fidelity"]
    assert fid["passed"] and fid["max_abs_logit_diff"] <= 1e-3 and fid["mask_agreement"] >= 0.999
    assert fid["inputs"] >= 1 and "test volume" in fid["source"]  # real inputs: a test volume of the fold


def test_export_of_a_run_without_weights_names_the_run_and_says_to_retrain(tiny_run, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    import shutil

    runs, run_id = tiny_run
    copy = tmp_path / "old-runs"
    shutil.copytree(runs, copy)
    shutil.rmtree(next(copy.glob("*/*/weights")))  # a run trained before weights were kept
    assert main(["export", run_id, "format=onnx", f"runs.dir={copy}"]) == 2
    err = capsys.readouterr().out
    assert run_id in err and "no trained weights" in err and "re-train" in err.lower()


def test_export_refuses_a_missing_format_and_an_unknown_run(tiny_run, capsys):
    runs, run_id = tiny_run
    assert main(["export", run_id, f"runs.dir={runs}"]) == 2
    assert "format=''" in capsys.readouterr().out
    assert main(["export", "no-such-run", "format=onnx", f"runs.dir={runs}"]) == 2
    assert "no-such-run" in capsys.readouterr().out


def test_a_window_network_exports_with_its_whole_window_as_input(tmp_path):
    """ICA-UNet (n=3): the graph's input holds the 3-frame stack, checked on causal windows of a test volume (no Ray needed)."""
    pytest.importorskip("onnxruntime")
    from rtbench.export.to_onnx import export_onnx
    from rtbench.export.trained import Run, build
    from rtbench.runfolder import RunFolder

    spec = resolve(["budget=smoke", "method=icaunet", f"runs.dir={tmp_path}"])
    cand = {"key": "win", "label": "ICA-UNet (n=3)", "space": "icaunet", "genotype": {"n": 3, "width": 4, "depth": 3}}
    run = Run(RunFolder(tmp_path / "run"), {"run_id": "hand-made", "board": spec.board, "candidates": [cand]}, spec)
    path, fidelity = export_onnx(run, cand, build(run, cand), 0, tmp_path / "win.onnx", samples=3)
    import onnx

    dims = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, spec.budget.image_size, spec.budget.image_size]
    assert fidelity.passed and fidelity.inputs == 3 and "test volume" in fidelity.source
