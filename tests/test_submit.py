"""End to end through Ray Tune: a smoke submission, resume after an interruption, failed trials."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_export import SMOKE_RUN, smoke_run

from rtbench.cli import main
from rtbench.config import resolve
from rtbench.jsonio import seal_state
from rtbench.records import load_unit
from rtbench.runner import submit

SMOKE = ["budget=smoke", "dataset=synthetic-cine", "hardware=local-cpu"]


def _spec(tmp_path, *extra):
    return resolve([*SMOKE, f"runs.dir={tmp_path}", *extra])


@pytest.fixture(scope="module")
def unet_runs(ray_session, tmp_path_factory) -> Path:
    """The tiny U-Net smoke run that test_export and test_runtimes also use (submitted once per test run).

    Each test below copies its run store and works on the copy: submitting the same spec once per
    test cost three searches, trainings and measurements for no extra coverage.
    """
    root, _ = smoke_run(tmp_path_factory.getbasetemp() / "runtime-runs")
    return root


def _copy_runs(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst / "runs")
    return dst / "runs"


def test_smoke_submission_writes_a_complete_record(unet_runs, tmp_path):
    spec = resolve([*SMOKE_RUN, f"runs.dir={_copy_runs(unet_runs, tmp_path)}"])
    # a submission over a finished run (the fixture's) finds everything done and launches nothing
    res = submit(spec, echo=lambda s: None)
    assert res.launched == []
    rec = json.loads((res.run_dir / "record.json").read_text())
    assert rec["schema"] == "rtbench.run/1" and rec["status"] == "complete", rec["failures"]
    assert rec["config"]["config_hash"] == spec.config_hash
    prov = rec["config"]["method_provenance"]  # the run id depends on the method's code
    assert prov["module"] == "rtbench.methods.unet" and prov["package"] == "rtbench" and len(prov["source_sha256"]) == 64
    (cand,) = rec["candidates"]
    m = cand["metrics"]
    for key in ("dice_RV", "dice_MYO", "dice_LV", "dice_mean"):
        assert 0.0 <= m[key] <= 1.0
    lat = cand["measurement"]["latency"]
    assert 0 < lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"]
    assert cand["measurement"]["throughput"]["fps"] > 0
    assert cand["measurement"]["params"] > 0 and cand["measurement"]["flops"] > 0
    # how busy the machine was when this candidate was timed travels with its figures
    (unit,) = (res.run_dir / "units").glob("measure-*.json")
    env = json.loads(unit.read_text())["payload"]["environment"]
    assert cand["measurement"]["busy_cores_before"] == env["busy_cores_before"] is not None
    assert cand["measurement"]["load_avg_1m"] == env["load_avg_1m"]
    # the search's wall time, counted over its attempts (one here), is the record's
    clock = json.loads((res.run_dir / "search" / "clock.json").read_text())
    assert clock == {"seconds": rec["search"]["seconds"], "attempts": 1} and rec["search"]["attempts"] == 1
    assert set(cand["constraints"]["broken"]) <= {"latency", "throughput"}
    assert rec["environment"]["torch"] and rec["environment"]["cpu"]
    assert cand["folds"][0]["per_volume"], "per-volume rows are recorded"
    assert seal_state(json.loads((res.run_dir / "record.json").read_text())) == "ok"
    # a truncated unit file counts as not done: that trial, and only that one, runs again
    (measure,) = (res.run_dir / "units").glob("measure-*.json")
    measure.write_text(measure.read_text()[:100])
    third = submit(spec, echo=lambda s: None)
    assert third.launched == [measure.stem] and third.record["status"] == "complete"
    assert seal_state(json.loads(measure.read_text())) == "ok"


def test_interrupted_submission_resumes_without_rerunning_finished_trials(ray_session, tmp_path):
    spec = _spec(tmp_path, "method=plugin_method:TinyUNet", "method.widths=4,6")
    first = submit(spec, echo=lambda s: None, stop_after=2)  # the search and one training finish, then stop
    assert first.interrupted and first.record["status"] == "partial"
    units_dir = first.run_dir / "units"
    finished = {p.stem: json.loads(p.read_text()) for p in units_dir.glob("*.json")}
    finished = {k: v for k, v in finished.items() if v["status"] == "ok"}
    assert "search" in finished and len(finished) >= 2

    second = submit(spec, echo=lambda s: None)
    assert second.record["status"] == "complete"
    assert not set(second.launched) & set(finished), "a finished trial ran again"
    for unit, before in finished.items():
        after = load_unit(second.run_dir, unit)
        assert after["invocation"] == before["invocation"] and after["finished_at"] == before["finished_at"]
    assert len(second.record["candidates"]) == 2


def test_failed_trial_is_recorded_and_never_counted(ray_session, tmp_path):
    # depth 7 needs images divisible by 64; the smoke budget's 32 px makes building fail in the trial
    spec = _spec(tmp_path, "method=unet", "method.width=4", "method.depth=7")
    res = submit(spec, echo=lambda s: None)
    rec = res.record
    assert rec["status"] == "partial" and res.interrupted
    assert any("divisible by 64" in f["error"] for f in rec["failures"])
    (cand,) = rec["candidates"]
    assert not cand["complete"] and cand["metrics"] == {}


def test_cli_bad_key_stops_before_any_work(tmp_path, capsys):
    assert main(["submit", "method.widht=3", f"runs.dir={tmp_path}"]) == 2
    out = capsys.readouterr().out
    assert "unknown key 'method.widht'" in out and "method.width" in out
    assert not any(tmp_path.iterdir())


def test_cli_runs_and_leaderboard(unet_runs, tmp_path, capsys):
    tmp_path = _copy_runs(unet_runs, tmp_path)
    assert main(["submit", *SMOKE_RUN, f"runs.dir={tmp_path}"]) == 0
    assert main(["runs", f"runs.dir={tmp_path}"]) == 0
    assert main(["leaderboard", f"runs.dir={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "cine/synthetic-cine/local-cpu/smoke" in out and "U-Net(4)" in out
    assert "latency_p90_ms <= 50" in out
    # the record is sealed; edit one figure and it is shown as tampered and never ranked
    (path,) = tmp_path.glob("*/*/record.json")
    rec = json.loads(path.read_text())
    assert seal_state(rec) == "ok"
    rec["candidates"][0]["measurement"]["latency"]["p90_ms"] = 1.0
    path.write_text(json.dumps(rec))
    assert main(["runs", f"runs.dir={tmp_path}"]) == 0
    out, err = capsys.readouterr()
    assert "tampered" in out and f"run record {path} was modified" in err
    assert main(["leaderboard", f"runs.dir={tmp_path}"]) == 0
    out, err = capsys.readouterr()
    assert "U-Net(4)" not in out and "not ranked" in err


def test_methods_lists_builtin(capsys):
    assert main(["methods"]) == 0
    assert "unet" in capsys.readouterr().out


@pytest.mark.parametrize("cmd", [["runs", "foo=1"], ["leaderboard", "x"]])
def test_cli_listing_commands_reject_bad_args(cmd, tmp_path):
    assert main(cmd) == 2


@pytest.mark.acdc
def test_acdc_smoke_submission(ray_session, tmp_path, acdc_root):
    spec = resolve(
        [
            "budget=smoke",
            "dataset=acdc",
            f"dataset.root={acdc_root}",
            "method=unet",
            "method.width=4",
            "method.depth=3",
            f"runs.dir={tmp_path}",
        ]
    )
    res = submit(spec, echo=lambda s: None)
    rec = res.record
    assert rec["status"] == "complete", rec["failures"]
    assert rec["board"].startswith("cine/acdc") and rec["board"].endswith("/local-cpu/smoke")  # acdc@<data fingerprint>
    (cand,) = rec["candidates"]
    rows = cand["folds"][0]["per_volume"]
    assert rows and all(r["patient"].startswith("patient") for r in rows)
    assert {r["phase"] for r in rows} <= {"ED", "ES"}


def test_python_dash_m_submits(unet_runs, tmp_path):
    """``python -m rtbench.cli submit ...`` (and ``python -m rtbench``) complete a smoke run: run as
    ``__main__``, the CLI's functions were pickled by value for Ray and the submit died on a lock.

    The measurement unit of a copy of the shared run is removed, so this process launches a Ray
    trial of its own (what used to die) without repeating the search and the training.
    """
    import subprocess
    import sys

    tmp_path = _copy_runs(unet_runs, tmp_path)
    (measure,) = tmp_path.glob("*/*/units/measure-*.json")
    measure.unlink()
    args = ["submit", *SMOKE_RUN, f"runs.dir={tmp_path}"]
    done = subprocess.run([sys.executable, "-m", "rtbench.cli", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "== measure: 1 trial(s) to run" in done.stdout and measure.is_file()
    again = subprocess.run([sys.executable, "-m", "rtbench", "runs", f"runs.dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "unet" in again.stdout, again.stdout + again.stderr
