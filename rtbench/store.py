"""Reading the run store: every run folder, its record checked for shape, schema and integrity.

What ``bench runs`` and ``bench leaderboard`` see of a run folder (``RunEntry.state``):

* ``ok``: a record of the right shape whose integrity hash matches its content;
* ``tampered``: the content no longer matches the hash the harness wrote (edited since);
* ``unsealed``: no hash (written before records were sealed, or the hash was removed);
* ``bad record``: ``record.json`` is unreadable, not a JSON object, of another schema or missing
  keys (a one-line warning names it);
* ``no record``: ``spec.json`` but no ``record.json`` (a submission killed before its first record).

Only ``ok`` records are ranked. Resubmitting the same command rebuilds and re-seals the record from
the unit files without re-running a finished trial.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtbench.errors import RTBenchError
from rtbench.jsonio import read_json, seal_state
from rtbench.records import SCHEMA, warn_once
from rtbench.runfolder import RunFolder, board_folder, run_folders
from rtbench.tasks import get_task

Warn = Callable[[str], None]
RECORD_KEYS = ("schema", "run_id", "board", "status", "updated", "config", "candidates")
CONFIG_KEYS = ("method", "task", "seed")


@dataclass
class RunEntry:
    """One run folder as the store sees it (see the module docstring for ``state``)."""

    folder: RunFolder
    state: str
    record: dict[str, Any] | None = None
    spec: dict[str, Any] | None = None

    @property
    def trusted(self) -> bool:
        return self.state == "ok"

    def field(self, key: str, default: str = "?") -> Any:
        """A top-level field from the record, else from ``spec.json``."""
        for src in (self.record, self.spec):
            if isinstance(src, dict) and key in src:
                return src[key]
        return default

    @property
    def method(self) -> str:
        cfg = (self.record or {}).get("config") if self.record else self.spec
        return str(cfg.get("method", "?")) if isinstance(cfg, dict) else "?"

    def best_dice(self) -> float | None:
        """The best candidate's mean Dice of a trusted record (0.0 is a score, not a missing one); None if none."""
        if not self.trusted or not self.record:
            return None
        values = [c.get("metrics", {}).get("dice_mean") for c in self.record["candidates"]]
        finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        return max(finite) if finite else None


def _json_type(x: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}.get(type(x), type(x).__name__)


def record_problem(rec: Any) -> str | None:
    """What is wrong with the shape of a parsed record (None when nothing is)."""
    if not isinstance(rec, dict):
        return f"not a JSON object (a JSON {_json_type(rec)})"
    if rec.get("schema") != SCHEMA:
        return f"schema {rec.get('schema')!r}, expected {SCHEMA!r}"
    missing = [k for k in RECORD_KEYS if k not in rec]
    if missing:
        return f"missing key(s) {', '.join(missing)}"
    cfg = rec["config"]
    if not isinstance(cfg, dict) or any(k not in cfg for k in CONFIG_KEYS):
        return f"'config' is not an object with {', '.join(CONFIG_KEYS)}"
    try:
        get_task(str(cfg["task"]))
    except RTBenchError:
        return f"unknown task {cfg['task']!r}"
    cands = rec["candidates"]
    if not isinstance(cands, list) or not all(isinstance(c, dict) and "label" in c for c in cands):
        return "'candidates' is not a list of candidate objects"
    for c in cands:
        if not isinstance(c.get("metrics", {}), dict) or not isinstance(c.get("measurement") or {}, dict):
            return f"candidate {c['label']!r} has misshapen metrics or measurement"
        cons = c.get("constraints")
        if cons is not None and not (isinstance(cons, dict) and "feasible" in cons and isinstance(cons.get("broken"), list)):
            return f"candidate {c['label']!r} has misshapen constraints"
    return None


def read_entry(folder: RunFolder, warn: Warn = warn_once) -> RunEntry:
    """The run folder ``folder`` as a RunEntry; a bad record is reported by ``warn`` in one line naming it."""
    spec = None
    if folder.spec.is_file():
        try:
            spec = read_json(folder.spec)
        except (OSError, ValueError):
            spec = None
        spec = spec if isinstance(spec, dict) else None
    if not folder.record.is_file():
        return RunEntry(folder, "no record", spec=spec)
    try:
        rec = read_json(folder.record)
    except (OSError, ValueError) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        warn(f"skipping run record {folder.record}: unreadable ({why})")
        return RunEntry(folder, "bad record", spec=spec)
    problem = record_problem(rec)
    if problem:
        warn(f"skipping run record {folder.record}: {problem}")
        return RunEntry(folder, "bad record", spec=spec)
    state = seal_state(rec)
    if state == "tampered":
        warn(f"run record {folder.record} was modified after the harness wrote it (integrity hash mismatch): not ranked")
    elif state == "unsealed":
        warn(f"run record {folder.record} has no integrity hash: not ranked; run its submission again to re-seal it (nothing re-runs)")
    return RunEntry(folder, state, record=rec, spec=spec)


def scan_runs(runs_dir: Path, warn: Warn = warn_once) -> list[RunEntry]:
    """Every run folder of the run store ``runs_dir``, sorted by path."""
    return [read_entry(f, warn) for f in run_folders(runs_dir)]


def iter_records(runs_dir: Path, warn: Warn = warn_once) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every trusted record (right shape and schema, integrity hash matching) under ``runs_dir``; the rest are warned about."""
    for entry in scan_runs(runs_dir, warn):
        if entry.trusted and entry.record is not None:
            yield entry.folder.record, entry.record


def board_of(entry: RunEntry) -> str:
    """The entry's board: from its record or spec, else its folder name."""
    board = entry.field("board", "")
    return str(board) if board else entry.folder.root.parent.name.replace(board_folder("/"), "/")
