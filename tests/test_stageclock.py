"""``rtbench.stageclock``: a stage's wall time adds up over its attempts, a killed one included."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rtbench.stageclock import StageClock


def test_attempts_add_up_and_a_killed_attempt_still_counts(tmp_path: Path) -> None:
    path = tmp_path / "search" / "clock.json"
    with StageClock(path, interval_s=0.05) as first:
        time.sleep(0.2)
    assert first.attempts == 1 and first.total == pytest.approx(first.this) and first.this >= 0.2
    assert json.loads(path.read_text()) == {"seconds": first.total, "attempts": 1}

    killed = StageClock(path, interval_s=0.05).__enter__()  # a kill: the block never exits, only the ticks were written
    time.sleep(0.3)
    killed._stop.set()  # noqa: SLF001  (stop the ticking as the process's death would)
    ticked = json.loads(path.read_text())
    assert ticked["attempts"] == 2 and ticked["seconds"] >= first.total + 0.2

    with StageClock(path, interval_s=0.05) as third:
        time.sleep(0.1)
    assert third.attempts == 3 and third.before == pytest.approx(ticked["seconds"])
    assert third.total == pytest.approx(ticked["seconds"] + third.this) and third.this >= 0.1


def test_an_unreadable_clock_restarts_the_count(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    path.write_text("{not json")
    with StageClock(path, interval_s=10) as clock:
        pass
    assert clock.attempts == 1 and clock.before == 0.0
