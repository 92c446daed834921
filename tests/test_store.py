"""The run store survives bad files: misshapen, foreign-schema, truncated or modified records and
unit files, a run killed before its first record, runs.dir pointing at a file, two submissions of
the same run at once (the folder's lock). No Ray here: records are built by hand and sealed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rtbench.cli import main
from rtbench.jsonio import seal_state, write_json_sealed
from rtbench.records import SCHEMA, load_unit, save_unit, unit_done
from rtbench.runfolder import RunFolder
from rtbench.runlock import RunLocked, submission_lock

BOARD = "cine/synthetic-cine/local-cpu/smoke"


def _record(run_id: str, dice: float = 0.8, p90: float = 10.0) -> dict:
    """A minimal record of the harness's shape: one complete, feasible candidate."""
    return {
        "schema": SCHEMA,
        "run_id": run_id,
        "board": BOARD,
        "status": "complete",
        "updated": "2026-01-01T00:00:00",
        "config": {"method": "unet", "task": "cine", "seed": 0, "run_id": run_id, "board": BOARD},
        "environment": {},
        "search": {"seconds": 1.0, "n_candidates": 1},
        "candidates": [
            {
                "key": "k",
                "label": f"net-{run_id}",
                "complete": True,
                "metrics": {"dice_mean": dice, "dice_mean_std": 0.0, "hd95_mean": 5.0},
                "measurement": {"latency": {"p50_ms": p90 / 2, "p90_ms": p90, "p99_ms": p90}, "throughput": {"fps": 100.0}},
                "constraints": {"broken": [], "feasible": True, "checked": []},
            }
        ],
        "failures": [],
    }


def _folder(runs: Path, run_id: str) -> RunFolder:
    f = RunFolder.of(runs, BOARD, run_id)
    f.root.mkdir(parents=True, exist_ok=True)
    return f


def _put(runs: Path, run_id: str, content: str | None = None, **kw) -> RunFolder:
    """A run folder holding a sealed record (or ``content`` written verbatim as record.json)."""
    f = _folder(runs, run_id)
    if content is None:
        write_json_sealed(f.record, _record(run_id, **kw))
    else:
        f.record.write_text(content)
    return f


def _lines(text: str, needle: str) -> list[str]:
    return [ln for ln in text.splitlines() if needle in ln]


BAD_RECORDS = {
    "a-list": "[1, 2, 3]",
    "truncated": '{"schema": "rtbench.run/1", "run_id": "trunc',
    "missing-keys": json.dumps({"schema": SCHEMA, "run_id": "x"}),
    "old-schema": json.dumps({**_record("old-schema"), "schema": "rtbench.run/0"}),
    "bad-candidates": json.dumps({**_record("bad-candidates"), "candidates": {"a": 1}}),
}


@pytest.mark.parametrize("command", ["runs", "leaderboard"])
def test_bad_records_are_skipped_with_one_line_each(tmp_path, capsys, command):
    _put(tmp_path, "good")
    for run_id, content in BAD_RECORDS.items():
        _put(tmp_path, run_id, content)
    assert main([command, f"runs.dir={tmp_path}"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "net-good" in out or "good" in out
    for run_id in BAD_RECORDS:
        hits = _lines(err, f"/{run_id}/record.json")
        assert len(hits) == 1 and hits[0].startswith("warning: skipping run record"), (run_id, err)
    assert "not a JSON object (a JSON list)" in err and "missing key(s)" in err and "schema 'rtbench.run/0'" in err


def test_runs_lists_a_run_killed_before_its_first_record(tmp_path, capsys):
    f = _folder(tmp_path, "killed-early")
    f.spec.write_text(json.dumps({"run_id": "killed-early", "board": BOARD, "method": "rtdnas"}))
    assert main(["runs", f"runs.dir={tmp_path}"]) == 0
    (row,) = _lines(capsys.readouterr().out, "killed-early")
    assert "rtdnas" in row and "incomplete (stopped: search not finished" in row


def test_runs_shows_a_zero_dice_as_zero(tmp_path, capsys):
    _put(tmp_path, "zero", dice=0.0)
    assert main(["runs", f"runs.dir={tmp_path}"]) == 0
    (row,) = _lines(capsys.readouterr().out, "zero")
    assert "0.000" in row


def test_a_modified_record_is_tampered_and_never_ranked(tmp_path, capsys):
    _put(tmp_path, "honest", dice=0.5)
    f = _put(tmp_path, "edited", dice=0.5)
    rec = json.loads(f.record.read_text())
    assert seal_state(rec) == "ok"
    rec["candidates"][0]["metrics"]["dice_mean"] = 0.99  # a hand edit
    f.record.write_text(json.dumps(rec, indent=1))
    assert main(["runs", f"runs.dir={tmp_path}"]) == 0
    out, err = capsys.readouterr()
    (row,) = _lines(out, "edited")
    assert "tampered" in row and "0.990" not in row
    assert main(["leaderboard", f"runs.dir={tmp_path}"]) == 0
    out, err = capsys.readouterr()
    assert "net-honest" in out and "net-edited" not in out
    (warn,) = _lines(err, "/edited/record.json")
    assert "integrity hash mismatch" in warn and "not ranked" in warn


def test_an_unsealed_record_is_listed_but_not_ranked(tmp_path, capsys):
    f = _folder(tmp_path, "legacy")
    f.record.write_text(json.dumps(_record("legacy")))  # written before records were sealed
    assert main(["leaderboard", f"runs.dir={tmp_path}"]) == 0
    out, err = capsys.readouterr()
    assert "net-legacy" not in out and "no integrity hash" in err
    assert main(["runs", f"runs.dir={tmp_path}"]) == 0
    (row,) = _lines(capsys.readouterr().out, "legacy")
    assert "unsealed" in row


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda p: p.write_text(p.read_text()[:40]), "is unreadable"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "is unreadable"),
        (lambda p: p.write_text("[]"), "is not a unit record"),
        (lambda p: p.write_text(p.read_text().replace("0.5", "0.9")), "integrity hash mismatch"),
    ],
    ids=["truncated", "binary", "a-list", "edited"],
)
def test_a_damaged_unit_file_counts_as_not_done(tmp_path, capsys, damage, why):
    save_unit(tmp_path, "train-k-f0", "train", "ok", "inv-1", payload={"dice": 0.5})
    assert unit_done(tmp_path, "train-k-f0")
    path = RunFolder(tmp_path).unit("train-k-f0")
    damage(path)
    assert load_unit(tmp_path, "train-k-f0") is None and not unit_done(tmp_path, "train-k-f0")
    err = capsys.readouterr().err
    (line,) = _lines(err, str(path))
    assert line.startswith("warning: unit file") and why in line and "runs again" in line


def test_an_unsealed_unit_file_is_still_accepted(tmp_path):
    path = RunFolder(tmp_path).unit("search")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"unit": "search", "stage": "search", "status": "ok", "invocation": "old", "payload": {"candidates": []}}))
    assert unit_done(tmp_path, "search")


@pytest.mark.parametrize("command", [["submit", "method=unet", "budget=smoke"], ["runs"], ["leaderboard"]])
def test_runs_dir_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, command):
    store = tmp_path / "store"
    store.write_text("not a folder")
    assert main([*command, f"runs.dir={store}"]) == 2
    out = capsys.readouterr().out
    assert f"runs.dir={store} is a file" in out and len(out.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_runs_dir_below_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["submit", "method=unet", "budget=smoke", f"runs.dir={tmp_path / 'f' / 'runs'}"]) == 2
    assert f"{tmp_path / 'f'} is a file" in capsys.readouterr().out


HOLDER = """
import sys, time
from pathlib import Path
from rtbench.runlock import submission_lock
with submission_lock(Path(sys.argv[1]), "holder-invocation"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_the_lock_refuses_a_second_holder_and_is_freed_when_its_holder_dies(tmp_path):
    lock = tmp_path / "submit.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLocked, match=rf"pid {holder.pid} .*holder-invocation"):
            with submission_lock(lock, "second"):
                pass
    finally:
        holder.kill()  # like kill -9: the kernel drops the lock
        holder.wait()
    with submission_lock(lock, "third"):
        assert "third" in lock.read_text()


def test_bench_submit_refuses_while_another_process_holds_the_run(tmp_path):
    """A second `bench submit` of a run being submitted stops at once with one line naming the holder."""
    from rtbench.config import resolve

    args = ["method=unet", "method.width=4", "method.depth=3", "budget=smoke", f"runs.dir={tmp_path}"]
    lock = resolve(args).folder.lock
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.perf_counter()
        bench = Path(sys.executable).with_name("bench")
        second = subprocess.run([str(bench), "submit", *args], capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stdout + second.stderr
        assert second.stdout.strip().startswith(f"error: this run is being submitted by pid {holder.pid}")
        assert len(second.stdout.strip().splitlines()) == 1 and time.perf_counter() - t0 < 60
        assert not RunFolder(lock.parent).record.exists() and not RunFolder(lock.parent).units.exists()
    finally:
        holder.kill()
        holder.wait()
