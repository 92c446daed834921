"""The data contract between datasets, splits, the training recipe and methods.

A dataset yields :class:`Volume` objects: one labelled short-axis stack (one time frame of one
patient) already resampled to the budget's in-plane spacing, cropped or padded to the budget's
image size, and intensity-normalised. Everything downstream (splits, training, scoring, search)
works on lists of volumes and never touches files.

A volume read from a file also carries its :class:`NativeGrid`: the original label map and the
geometry that took it to the harness grid, so predictions can be sent back and scored where the
literature scores them (the ACDC challenge and nnU-Net score each volume on its own acquisition
grid, with the header spacing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from rtbench.budgets import Budget
from rtbench.registry import Registry


@dataclass
class NativeGrid:
    """Where a :class:`Volume` came from: its original label map and the way back from the harness grid.

    The forward transform (:func:`rtbench.datasets.preprocess.resample_to_grid`) maps a native
    slice of ``shape[1:] = (X, Y)`` pixels to ``resized = (round(X * zoom_x), round(Y * zoom_y))``
    pixels (zoom = native mm / harness mm), then centre crops or pads that to the harness size.
    Harness pixel ``(i, j)`` is resized pixel ``(i + offset[0], j + offset[1])``: a positive offset
    is a crop (those first rows were cut), a negative one a pad. The inverse is
    :func:`rtbench.datasets.preprocess.to_native`.

    Attributes:
        label: uint8 (S, X, Y), the original label map in task classes (0 background, i + 1 for
            ``task.classes[i]``), never cropped: structures outside the harness field of view stay
            in it, so a prediction scored against it misses them.
        spacing: (slice, row, col) spacing in mm of ``label``, from the NIfTI header zooms.
        resized: in-plane size (rows, cols) after resampling, before the crop or pad.
        offset: (rows, cols) crop (> 0) or pad (< 0) offset of the harness grid in the resized grid.
    """

    label: np.ndarray
    spacing: tuple[float, float, float]
    resized: tuple[int, int]
    offset: tuple[int, int]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(S, X, Y) of the native label map."""
        s, x, y = self.label.shape
        return int(s), int(x), int(y)

    @property
    def zoom(self) -> tuple[float, float]:
        """In-plane zoom factors native -> harness actually applied: ``resized / (X, Y)``."""
        return self.resized[0] / self.shape[1], self.resized[1] / self.shape[2]


@dataclass(eq=False)
class CineSequence:
    """The acquired cine a :class:`Volume` is one frame of, for networks that consume a temporal window.

    A network with a window of n frames segments frame t from frames t - n + 1 .. t, the current
    frame and the ones acquired before it (causal: never a later frame);
    :func:`rtbench.datasets.windows.causal_window` cuts that window from here.

    Attributes:
        frames: every frame of the sequence in acquisition order, each float32 (S, H, W) on the
            harness grid and normalised like ``Volume.image``; ``frames[index]`` is the volume's
            own image. Volumes of one patient share the tuple (no copy).
        index: the volume's frame in ``frames``.
        cyclic: the frames cover exactly one periodic cardiac cycle, so the frame before frame 0
            is the last one (a continuous acquisition of a periodic heart); otherwise the window of
            an early frame is padded by repeating frame 0 (the start of a stream).
    """

    frames: tuple[np.ndarray, ...]
    index: int
    cyclic: bool = True


@dataclass
class Volume:
    """One short-axis stack at the harness grid.

    Attributes:
        case_id: unique id, e.g. ``"patient001_ED"``.
        patient: patient id; splits are made over patients, never over frames or slices.
        group: stratification key (ACDC pathology group: NOR, MINF, DCM, HCM, RV).
        phase: ``"ED"``, ``"ES"``, ``"tNN"`` for other cine frames, or the name a file-based dataset
            reads from the file name (``"NA"`` when it has none).
        image: float32 array, shape (S, H, W) with H = W = budget.image_size, normalised per volume.
        label: uint8 array, shape (S, H, W), values in {0: background, 1: RV, 2: MYO, 3: LV}
            for the cine task (task class i is label i).
        spacing: (slice, row, col) spacing in mm of ``image`` and ``label``.
        native: the native label map and the way back to it (:class:`NativeGrid`); ``None`` when
            the harness grid *is* the native grid (generated data such as synthetic-cine, drawn
            directly on the harness grid): native-grid scores are then the grid scores.
        meta: free-form provenance (source file, frame number); nothing downstream depends on it.
        cine: the acquired sequence this volume is one frame of (:class:`CineSequence`), or ``None``
            when the dataset has none (ACDC and nifti-folder: only labelled frames are read); a
            network with a temporal window then gets the fallback of :mod:`rtbench.datasets.windows`.
    """

    case_id: str
    patient: str
    group: str
    phase: str
    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, float, float]
    meta: dict[str, Any] = field(default_factory=dict)
    native: NativeGrid | None = None
    cine: CineSequence | None = None

    @property
    def num_slices(self) -> int:
        return int(self.image.shape[0])


@dataclass
class DatasetBundle:
    """What a dataset hands the harness.

    ``volumes`` is the development pool (splits are made over its patients). ``test_volumes`` is
    set only when the data come with their own test set (protocol ``roots``: train on
    ``dataset.root``, test on ``dataset.test_root``).
    """

    volumes: list[Volume]
    test_volumes: list[Volume] | None = None

    def patients(self) -> dict[str, str]:
        """patient id -> group, for the development pool."""
        return {v.patient: v.group for v in self.volumes}


class Dataset(Protocol):
    """A dataset plug-in: a name, a task family, a Config dataclass, a loader and two checks.

    The driver calls :meth:`validate` (and :meth:`fingerprint`) before any trial starts, so a bad
    file stops a submission at once with one line naming it instead of failing inside a trial.
    """

    name: ClassVar[str]
    task: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, config: Any) -> None: ...

    def load(self, budget: Budget, seed: int, progress: Callable[[str], None] | None = None) -> DatasetBundle:
        """Read or generate the data at the budget's grid. Deterministic given (config, budget, seed)."""
        ...

    def fingerprint(self) -> str:
        """A 64-hex sha256 of the data this dataset reads: it changes when any of them changes.

        File datasets hash the relative path, size and ``mtime_ns`` of every file they read (file
        stats only, nothing is read) with their config; generated datasets hash their config and
        a generator version. Raises ConfigError / DataError like :meth:`load` for a missing root.
        """
        ...

    def validate(self, budget: Budget) -> None:
        """A full validation pass on the driver: raise ConfigError / DataError (one line, naming
        the file and what was expected) for a missing root, an unreadable or mismatched file, a
        bad label value, a missing Info.cfg field or a NaN/inf voxel. Never leaves a partial cache
        file behind (a file dataset may fill its cache, which the trials then read)."""
        ...


DATASETS: Registry[type] = Registry("dataset", "dataset", "rtbench.datasets")
"""Datasets by name; third-party datasets register in the ``rtbench.datasets`` entry-point group."""

register_dataset = DATASETS.register


def build_dataset(name: str, config: dict[str, Any]) -> Dataset:
    """The dataset ``name`` with its ``Config`` rebuilt from a resolved config dict (a RunSpec's ``dataset_config``)."""
    cls = DATASETS.get(name)
    return cls(cls.Config(**config))
