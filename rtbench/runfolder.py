"""The layout of a run folder, in one place: every path of a submission's files comes from here.

``runs/<board with / as __>/<run-id>/``::

    spec.json          the resolved config (RunSpec.to_dict()), written first
    submit.lock        held (fcntl.flock) by the one ``bench submit`` running this run (``rtbench.runlock``)
    units/<unit>.json  one file per finished or failed trial (search, train x fold, measure)
    search/checkpoints/  the method's own checkpoints (``SearchContext.checkpoint_dir``; its parent
                       holds nothing else of the run, so the spec is not next door to the method)
    search/clock.json  the search's wall time over all its attempts (``rtbench.stageclock``)
    tune/              Ray Tune's experiment folders
    reproduce/         tables a ``bench reproduce`` wrote from this run
    train/checkpoints/<key>-f<fold>.pt  a training trial's per-epoch state while it trains
                       (``rtbench.train.resume``; deleted once the trial finished)
    weights/<key>-f<fold>.pt  the trained weights (state_dict) of each (candidate, fold), written by its
                       training trial (runs trained before weights were kept have none: ``bench export``
                       says so and how to re-train)
    export/            ONNX files ``bench export`` wrote, each with its fidelity report beside it
    runtimes/          the tables ``bench runtimes`` wrote
    record.json        the assembled run record (``rtbench.records``), sealed with an integrity hash

A unit file is the unit of resume: a trial whose file says ``"status": "ok"`` never runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rtbench.errors import ConfigError


def board_folder(board: str) -> str:
    """A board (``task/dataset/hardware/budget``) as one folder name."""
    return board.replace("/", "__")


@dataclass(frozen=True)
class RunFolder:
    """Paths of one run's files (see the module docstring). ``root`` is absolute."""

    root: Path

    @classmethod
    def of(cls, runs_dir: str | Path, board: str, run_id: str) -> RunFolder:
        """The folder of run ``run_id`` on ``board`` in the run store ``runs_dir``."""
        return cls((Path(runs_dir) / board_folder(board) / run_id).resolve())

    @property
    def spec(self) -> Path:
        return self.root / "spec.json"

    @property
    def record(self) -> Path:
        return self.root / "record.json"

    @property
    def lock(self) -> Path:
        return self.root / "submit.lock"

    @property
    def units(self) -> Path:
        return self.root / "units"

    def unit(self, unit: str) -> Path:
        return self.units / f"{unit}.json"

    @property
    def search_checkpoints(self) -> Path:
        return self.root / "search" / "checkpoints"

    @property
    def search_clock(self) -> Path:
        return self.root / "search" / "clock.json"

    @property
    def tune(self) -> Path:
        return self.root / "tune"

    @property
    def reproduce(self) -> Path:
        return self.root / "reproduce"

    @property
    def train_checkpoints(self) -> Path:
        """The folder of the per-epoch training states of trainings still going (``rtbench.train.resume``)."""
        return self.root / "train" / "checkpoints"

    def train_checkpoint(self, key: str, fold: int) -> Path:
        """The per-epoch training state of candidate ``key`` on fold ``fold`` (``rtbench.train.resume``)."""
        return self.train_checkpoints / f"{key}-f{fold}.pt"

    def weights(self, key: str, fold: int) -> Path:
        """The trained weights of candidate ``key`` on fold ``fold`` (a torch ``state_dict``)."""
        return self.root / "weights" / f"{key}-f{fold}.pt"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def runtimes(self) -> Path:
        return self.root / "runtimes"


def record_paths(runs_dir: Path) -> list[Path]:
    """Every ``record.json`` of the run store ``runs_dir``, sorted."""
    return sorted(runs_dir.glob("*/*/record.json")) if runs_dir.is_dir() else []


def run_folders(runs_dir: Path) -> list[RunFolder]:
    """Every run folder of the run store ``runs_dir`` (one holding a ``spec.json`` or a ``record.json``), sorted."""
    if not runs_dir.is_dir():
        return []
    found = {p.parent for pattern in ("*/*/spec.json", "*/*/record.json") for p in runs_dir.glob(pattern)}
    return [RunFolder(p.resolve()) for p in sorted(found)]


def check_store(runs_dir: str | Path) -> Path:
    """``runs_dir`` as a Path, or ConfigError naming it when it (or a folder above it) is not a folder."""
    path = Path(runs_dir)
    for p in (path, *path.absolute().parents):
        if p.exists() and not p.is_dir():
            what = f"runs.dir={runs_dir}" if p == path else f"runs.dir={runs_dir}: {p}"
            raise ConfigError(f"{what} is a file, not a folder: point runs.dir at a folder (it is created if missing)")
        if p.exists():
            break
    return path
