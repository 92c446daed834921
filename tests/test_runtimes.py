"""Runtimes: the profile field, boards per runtime, latency tables per runtime, a measurement under
ONNX Runtime end to end, and ``bench runtimes`` on a tiny trained run."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from test_export import smoke_run

from rtbench.cli import main
from rtbench.config import resolve
from rtbench.errors import ConfigError
from rtbench.hardware import runtime as rt
from rtbench.hardware.lut import TableKey, table_path
from rtbench.hardware.profile import load_profile
from rtbench.spaces import SPACES
from rtbench.tasks import get_task

needs_ort = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")


def test_runtime_field_defaults_to_eager_and_takes_an_override():
    assert load_profile("local-cpu").runtime == "eager"
    spec = resolve(["budget=smoke", "hardware.runtime=eager"])
    assert spec.hardware.runtime == "eager"
    if rt.missing("onnxruntime") is None:
        assert resolve(["budget=smoke", "hardware.runtime=onnxruntime"]).hardware.runtime == "onnxruntime"


def test_unknown_runtime_is_refused_naming_the_valid_ones(capsys):
    with pytest.raises(ConfigError) as err:
        resolve(["budget=smoke", "hardware.runtime=tensorrt"])
    assert "tensorrt" in str(err.value) and all(name in str(err.value) for name in rt.RUNTIMES)
    assert main(["profile", "hardware.runtime=tensorrt", "space=msnas", "budget=smoke"]) == 2
    assert "runtime='tensorrt' is not valid" in capsys.readouterr().out


def test_a_runtime_whose_package_is_missing_is_refused_in_one_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(ConfigError) as err:
        load_profile("local-cpu", runtime="onnxruntime")
    assert "onnxruntime" in str(err.value) and "pip install" in str(err.value) and "\n" not in str(err.value)


def test_eager_boards_run_ids_and_tables_keep_their_names():
    plain, eager = resolve(["budget=smoke"]), resolve(["budget=smoke", "hardware.runtime=eager"])
    assert plain.board == eager.board == "cine/synthetic-cine/local-cpu/smoke"
    assert plain.run_id == eager.run_id and "runtime" not in plain.identity()["hardware"]
    key = TableKey.of(plain.hardware)
    legacy = {k: v for k, v in asdict(key).items() if k != "runtime"}  # the key as it was before runtimes
    assert key.digest() == hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()[:16]
    assert "+" not in table_path("msnas", 32, key).name


@needs_ort
def test_other_runtimes_get_their_own_board_run_and_table():
    eager, ort = resolve(["budget=smoke"]), resolve(["budget=smoke", "hardware.runtime=onnxruntime"])
    assert ort.board == "cine/synthetic-cine/local-cpu+onnxruntime/smoke" and ort.run_id != eager.run_id
    k_eager, k_ort = TableKey.of(eager.hardware), TableKey.of(ort.hardware)
    assert k_ort.runtime == "onnxruntime" and k_ort.digest() != k_eager.digest()
    assert "local-cpu+onnxruntime" in table_path("msnas", 32, k_ort).name


def _tiny_unet():
    torch.manual_seed(0)
    return SPACES.create("unet").build({"width": 4, "depth": 3, "res_units": 1}, get_task("cine"), 32)


@needs_ort
def test_a_measurement_under_onnxruntime_runs_end_to_end():
    from rtbench.hardware.measure import measure_all, segment, torch_device, torch_dtype
    from rtbench.hardware.runtime_onnx import OrtForward

    model = _tiny_unet()
    fast = dict(warmup_queries=2, min_queries=10, min_duration_s=0.05, throughput_min_duration_s=0.05)
    profile = load_profile("local-cpu", runtime="onnxruntime", **fast)
    forward = rt.deployed(model, profile, torch_device(profile), torch_dtype(profile), (1, 32, 32))
    assert isinstance(forward, OrtForward)  # the forward pass is ONNX Runtime's, not torch's
    frames = np.random.default_rng(0).standard_normal((3, 1, 32, 32), dtype=np.float32)
    eager = rt.deployed(model, load_profile("local-cpu"), torch.device("cpu"), torch.float32, (1, 32, 32))
    with torch.inference_mode():  # the same masks from host frames to host uint8 masks, batch 3 through the dynamic axis
        got, want = segment(forward, frames, torch.device("cpu"), torch.float32), segment(eager, frames, torch.device("cpu"), torch.float32)
    assert got.dtype == np.uint8 and got.shape == (3, 32, 32) and (got == want).mean() > 0.999
    result = measure_all(model, (1, 32, 32), profile)
    assert result["latency"]["queries"] >= 10 and 0 < result["latency"]["p50_ms"] <= result["latency"]["p90_ms"]
    assert result["throughput"]["fps"] > 0 and result["flops"] > 0 and len(result["latency"]["samples_ms"]) == result["latency"]["queries"]


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")
def test_openvino_gives_the_masks_eager_gives():
    from rtbench.hardware.measure import segment

    model = _tiny_unet()
    cpu, f32 = torch.device("cpu"), torch.float32
    forward = rt.deployed(model, load_profile("local-cpu", runtime="openvino"), cpu, f32, (1, 32, 32))
    frames = np.random.default_rng(0).standard_normal((2, 1, 32, 32), dtype=np.float32)
    with torch.inference_mode():
        assert (segment(forward, frames, cpu, f32) == segment(model.eval(), frames, cpu, f32)).mean() > 0.999


@needs_ort
def test_bench_runtimes_times_a_tiny_run_under_each_runtime(ray_session, tmp_path_factory, capsys):
    runs, run_id = smoke_run(tmp_path_factory.getbasetemp() / "runtime-runs")
    assert main(["runtimes", run_id, "runtimes=eager,onnxruntime", "block=3", f"runs.dir={runs}"]) == 0
    out = capsys.readouterr().out
    assert "roofline:" in out and "GFLOP/s" in out and "verdicts that change between runtimes" in out
    (csv,) = runs.glob("*/*/runtimes/runtimes.csv")
    data = json.loads(csv.with_suffix(".json").read_text())
    assert data["roofline"]["gflops"] > 0
    rows = {r["runtime"]: r for r in data["rows"]}
    assert set(rows) == {"eager", "onnxruntime"}
    for row in rows.values():
        assert 0 < row["p50 ms"] <= row["p90 ms"] and row["fps"] > 0 and row["GFLOP/s"] > 0
        assert row["verdict"] == "ok" or row["verdict"].startswith("breaks")
    assert main(["runtimes", run_id, "runtimes=eager,bogus", f"runs.dir={runs}"]) == 2
    assert "'bogus' is not a runtime" in capsys.readouterr().out
    # another profile than the run's: timed there, written beside under its name
    assert main(["runtimes", run_id, "runtimes=eager", "block=3", "hardware=cpu-4t", f"runs.dir={runs}"]) == 0
    other = json.loads((csv.parent / "runtimes-cpu-4t.json").read_text())
    assert other["profile"] == "cpu-4t" and {r["runtime"] for r in other["rows"]} == {"eager"}
    assert main(["runtimes", run_id, "hardware=no-such-profile", f"runs.dir={runs}"]) == 2
    assert "no-such-profile" in capsys.readouterr().out
