"""A submission killed at random points (SIGKILL to its whole process group, Ray included) resumes
without re-running a finished unit and ends complete; Ctrl-C stops the whole submission.

Each test runs real ``bench submit`` processes, each in its own session (so a kill reaches the
local Ray it started and nothing else).
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtbench.config import resolve
from rtbench.jsonio import seal_state

BENCH = str(Path(sys.executable).with_name("bench"))
RTDNAS = ["method=rtdnas", "budget=smoke", "method.layers=4", "method.scales=3", "method.channels=4", "method.paths=2"]
SEED = int(os.environ.get("RTBENCH_KILL_SEED", "20261130"))
STAGES = ["== search:", "== train:", "== measure:"]
DELAY_S = (0.0, 8.0)
"""One kill per stage, in an order drawn from the seeded RNG: attempt k waits for its stage's first
line, then a delay drawn uniformly from DELAY_S, then kills. Anchoring each delay on a stage keeps
every kill inside the run's span on any machine (on the 2-core dev box this smoke run takes
60-95 s; each stage lasts longer than 8 s, so a kill lands in its stage or early in the next)."""


def _start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """``bench submit`` in its own session, its output to ``log`` (a file: a pipe nobody drains would stall it)."""
    with open(log, "w") as out:
        return subprocess.Popen([BENCH, "submit", *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process's whole group (the bench process and the local Ray it started), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # Ray's processes in the group go too
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def _units(run_dir: Path) -> dict[str, str]:
    """Every unit file's text (all must parse and match their integrity hash: never half-written)."""
    out = {}
    for p in sorted((run_dir / "units").glob("*.json")):
        text = p.read_text()
        assert seal_state(json.loads(text)) == "ok", f"{p} is damaged after a kill"
        out[p.stem] = text
    return out


def _ok(units: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in units.items() if json.loads(v)["status"] == "ok"}


def _lock_is_free(lock: Path) -> bool:
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
        return True


def _wait_for(log: Path, needle: str, proc: subprocess.Popen, timeout_s: float = 300) -> bool:
    """Whether ``needle`` appears in ``log`` while ``proc`` runs, within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if needle in log.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return needle in log.read_text(errors="replace")
        time.sleep(0.05)
    return False


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen]]:
    """Submissions a test started; any still running at its end (a failed wait) is killed with its Ray."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            _kill_group(proc)


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_reruns_no_finished_unit(tmp_path, started):
    args = [*RTDNAS, f"runs.dir={tmp_path / 'runs'}"]
    run_dir = resolve(args).folder.root
    rng = random.Random(SEED)
    plan = [(stage, rng.uniform(*DELAY_S)) for stage in rng.sample(STAGES, len(STAGES))]
    ever_ok: dict[str, str] = {}  # unit -> its file's text when first seen ok: it must never change
    kills = []
    for attempt, (stage, delay) in enumerate(plan):
        t0 = time.monotonic()
        log = tmp_path / f"attempt{attempt}.log"
        proc = _start(args, tmp_path, log)
        started.append(proc)
        if attempt == 0:  # meanwhile, a second `bench submit` of the same run is refused: the lock
            assert _wait_for(log, "folder:", proc), log.read_text()
            second = subprocess.run([BENCH, "submit", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
            print(f"first submission (pid {proc.pid}) printed: {log.read_text().strip()}")
            print(f"second submission (exit {second.returncode}) printed: {second.stdout.strip()}")
            assert second.returncode == 2 and f"being submitted by pid {proc.pid} " in second.stdout, second.stdout + second.stderr
        if not _wait_for(log, stage, proc):
            pytest.fail(f"attempt {attempt} ended before '{stage}':\n{log.read_text()[-3000:]}")
        t_stage = time.monotonic()
        while proc.poll() is None and time.monotonic() - t_stage < delay:
            time.sleep(0.05)
        if proc.poll() is not None:  # it finished before this kill
            break
        _kill_group(proc)
        kills.append(f"{stage.strip('= :')} +{delay:.1f} s (at {time.monotonic() - t0:.1f} s)")
        assert _lock_is_free(run_dir / "submit.lock"), "the kernel releases the lock of a killed submission"
        units = _units(run_dir)
        for unit, text in ever_ok.items():
            assert units[unit] == text, f"unit {unit}, finished before a kill, was re-run or rewritten"
        ever_ok.update({k: v for k, v in _ok(units).items() if k not in ever_ok})
        if (run_dir / "record.json").exists():
            assert seal_state(json.loads((run_dir / "record.json").read_text())) == "ok"
    print(f"seed {SEED}: killed {kills}; units finished before a kill: {sorted(ever_ok)}")
    assert len(kills) >= 2 and ever_ok, "too few kills landed inside the run"

    final = subprocess.run([BENCH, "submit", *args], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "complete" and seal_state(record) == "ok", record["failures"]
    units = _units(run_dir)
    for unit, text in ever_ok.items():
        assert units[unit] == text, f"unit {unit}, finished before a kill, was re-run"
    assert all(json.loads(v)["status"] == "ok" for v in units.values())


def test_ctrl_c_stops_the_whole_submission_and_releases_the_lock(tmp_path):
    """SIGINT to the process group, as a terminal's Ctrl-C sends it, during training: no later stage starts."""
    args = ["method=unet", "method.width=4", "method.depth=3", "budget=smoke", f"runs.dir={tmp_path / 'runs'}"]
    run_dir = resolve(args).folder.root
    log = tmp_path / "submit.log"
    proc = _start(args, tmp_path, log)
    try:
        assert _wait_for(log, "== train:", proc), log.read_text()
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    out = log.read_text()
    assert proc.returncode == 130, out
    assert "Ctrl-C: stopping the running trials" in out and "== measure: not started (Ctrl-C)" in out, out
    assert "interrupted (Ctrl-C): run the same command again to resume" in out and "Traceback" not in out, out
    assert _lock_is_free(run_dir / "submit.lock")
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "partial" and not (run_dir / "units" / "measure").exists()
    assert not any(p.name.startswith("measure-") for p in (run_dir / "units").glob("*.json"))
