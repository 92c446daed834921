"""The data contract between datasets, splits, the training recipe and methods.

A dataset yields :class:`Volume` objects: one labelled short-axis stack (one time frame of one
patient) already resampled to the budget's in-plane spacing, cropped or padded to the budget's
image size, and intensity-normalised. Everything downstream (splits, training, scoring, search)
works on lists of volumes and never touches files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from rtbench.budgets import Budget
from rtbench.registry import Registry


@dataclass
class Volume:
    """One short-axis stack at the harness grid.

    Attributes:
        case_id: unique id, e.g. ``"patient001_ED"``.
        patient: patient id; splits are made over patients, never over frames or slices.
        group: stratification key (ACDC pathology group: NOR, MINF, DCM, HCM, RV).
        phase: ``"ED"``, ``"ES"`` or ``"tNN"`` for other cine frames.
        image: float32 array, shape (S, H, W) with H = W = budget.image_size, normalised per volume.
        label: uint8 array, shape (S, H, W), values in {0: background, 1: RV, 2: MYO, 3: LV}
            for the cine task (task class i is label i).
        spacing: (slice, row, col) spacing in mm of ``image`` and ``label``.
    """

    case_id: str
    patient: str
    group: str
    phase: str
    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, float, float]
    meta: dict[str, Any] = field(default_factory=dict)

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
    """A dataset plug-in: a name, a task family, a Config dataclass and a loader."""

    name: ClassVar[str]
    task: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, config: Any) -> None: ...

    def load(self, budget: Budget, seed: int, progress: Callable[[str], None] | None = None) -> DatasetBundle:
        """Read or generate the data at the budget's grid. Deterministic given (config, budget, seed)."""
        ...


DATASETS: Registry[type] = Registry("dataset", "dataset", "rtbench.datasets")
"""Datasets by name; third-party datasets register in the ``rtbench.datasets`` entry-point group."""

register_dataset = DATASETS.register


def build_dataset(name: str, config: dict[str, Any]) -> Dataset:
    """The dataset ``name`` with its ``Config`` rebuilt from a resolved config dict (a RunSpec's ``dataset_config``)."""
    cls = DATASETS.get(name)
    return cls(cls.Config(**config))
