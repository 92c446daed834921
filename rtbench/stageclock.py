"""The wall time of a stage that may take several attempts (a search interrupted and resumed).

A method's search resumes from its own checkpoints, so the search trial that finishes may be the
third attempt of it; timing that trial alone reports a fraction of what the search cost (issue 13:
an ACDC HW-NAS search that ran over two sessions reported its last 345 s). :class:`StageClock`
keeps a small JSON file beside the stage's checkpoints, rewritten every ``interval_s`` seconds by a
daemon thread while the stage runs, so a kill (Ctrl-C, SIGKILL, a session that ends) loses at most
``interval_s`` of the count; the next attempt adds its time to what the file holds.

The total is wall time spent, across attempts, including work an attempt redid after an
interruption (the part of an epoch after its last checkpoint), not an estimate of an uninterrupted
run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["StageClock"]


class StageClock:
    """``with StageClock(path) as clock: ...``; then ``clock.total`` (s, all attempts), ``clock.attempts``, ``clock.this`` (s)."""

    def __init__(self, path: Path, interval_s: float = 10.0) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self.before, self.attempts, self.this = 0.0, 1, 0.0
        self._t0 = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def total(self) -> float:
        return self.before + self.this

    def __enter__(self) -> StageClock:
        saved = self._read()
        self.before = float(saved.get("seconds", 0.0))
        self.attempts = int(saved.get("attempts", 0)) + 1
        self._t0 = time.perf_counter()
        self._write()
        self._thread = threading.Thread(target=self._tick, name="rtbench-stage-clock", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._write()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._write()

    def _read(self) -> dict[str, Any]:
        """What an earlier attempt left; an unreadable file counts as none (the count restarts, the stage does not fail)."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self) -> None:
        """Record the elapsed time so far atomically (temporary file, then ``os.replace``)."""
        self.this = time.perf_counter() - self._t0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"seconds": self.total, "attempts": self.attempts}))
        os.replace(tmp, self.path)
