"""The ACDC cine MRI dataset (2017 MICCAI Automated Cardiac Diagnosis Challenge), read from its official layout.

What this module relies on, from ``../shared/data/acdc/README.md``:

* ``patientNNN/Info.cfg`` gives the ED and ES frame numbers and the group (NOR, MINF, DCM, HCM,
  RV; 20 patients per group in training, so the development pool is stratified by group).
* ``patientNNN/patientNNN_frameYY.nii.gz`` is a short-axis stack (X, Y, slices) and
  ``patientNNN_frameYY_gt.nii.gz`` its labels (0 background, 1 RV cavity, 2 myocardium, 3 LV
  cavity); two labelled frames per patient (ED and ES). ``patientNNN_4d.nii.gz`` (X, Y, slices,
  time) is the full cine sequence where present (only patient090 here; :func:`read_cine`); it is
  not part of the labelled volumes, which carry no cine (``Volume.cine`` is None): a network with
  a temporal window gets the repeated-frame fallback of :mod:`rtbench.datasets.windows`.
* In-plane spacing varies (about 1.2 to 1.9 mm), slice spacing 5 to 10 mm, 6 to 21 slices, matrix
  sizes vary; read the spacing from the header zooms, not the affine.
* Split by patient, never by frame or slice (:mod:`rtbench.datasets.splits`).

Checked on the data here: ``Info.cfg`` is ``key: value`` lines, frame numbers are 1-based (frame
YY of the 4D file is index YY - 1), every affine is the identity (hence the header zooms), and two
scans are finer than the README range (0.70 and 0.83 mm). The official release puts the training
set in ``training/`` and the test set (patient101..150) in ``testing/``; a root may name either the
folder of ``patientNNN/`` folders or that release folder.

Each labelled frame becomes one :class:`~rtbench.datasets.base.Volume` (``case_id`` like
``"patient001_ED"``), resampled slice by slice to ``budget.spacing_mm``, centre cropped or padded
to ``budget.image_size`` and normalised (:mod:`rtbench.datasets.preprocess`).

Field of view. The crop is centred on the image centre, never on the labels (a deployed network
has none). At the budgets' default 1.8 mm a 128 px crop spans 230 mm; over all 200 labelled frames
only patient046, whose heart sits near the image corner, loses labelled area to it (16% of its RV
at ED, 6% at ES); every other frame keeps each structure's area to within resampling error.
Smaller fields of view cut more hearts: by the same survey, 4 frames at 1.7 mm and 23 at 1.5 mm.

Each volume keeps its native grid (the original label map, uncropped, and the geometry back to it;
:class:`~rtbench.datasets.base.NativeGrid`), so predictions are scored on the scanner's own grid.

Preprocessed arrays are cached (``$RTBENCH_CACHE`` or ``~/.cache/rtbench``) under a key made of the
resolved root, the size and mtime of every file read, the grid, and
:data:`~rtbench.datasets.preprocess.PREPROCESS_VERSION`; every file is validated before anything
is written, and the cache file appears atomically; it supersedes (removes) the entry of an older
state of the same files (``rtbench.datasets.volume_cache.cache_path``). Reading and checking a frame, the volume it
becomes and the file stats are shared with ``nifti-folder`` (:mod:`rtbench.datasets.nifti`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rtbench.budgets import Budget
from rtbench.datasets.base import DatasetBundle, Volume, register_dataset
from rtbench.datasets.nifti import (
    bundle_from_roots,
    content_stats,
    file_stats,
    location_free,
    make_volume,
    read_nifti,
    read_pair,
    select_patients,
    sha256_of,
)
from rtbench.datasets.preprocess import PREPROCESS_VERSION
from rtbench.datasets.volume_cache import cache_path, load_or_build
from rtbench.errors import ConfigError, DataError

PATIENT_DIR = re.compile(r"^patient\d{3}$")
LABELS = (0, 1, 2, 3)
PHASES = ("ED", "ES")


@dataclass(frozen=True)
class PatientRecord:
    """One patient folder as listed by ``Info.cfg``: its group and the files of its labelled frames."""

    patient: str
    group: str
    frames: dict[str, int]  # phase ("ED", "ES") -> frame number
    folder: Path

    def image_path(self, phase: str) -> Path:
        return self.folder / f"{self.patient}_frame{self.frames[phase]:02d}.nii.gz"

    def label_path(self, phase: str) -> Path:
        return self.folder / f"{self.patient}_frame{self.frames[phase]:02d}_gt.nii.gz"

    def files(self) -> list[Path]:
        """Every file this patient's volumes are made from (Info.cfg first)."""
        return [self.folder / "Info.cfg"] + [p for ph in PHASES for p in (self.image_path(ph), self.label_path(ph))]


def find_patient_root(root: Path, subfolder: str) -> Path:
    """The folder holding the ``patientNNN/`` folders: ``root`` itself or ``root/<subfolder>``.

    Args:
        root: the user's ``dataset.root`` (or ``dataset.test_root``).
        subfolder: ``"training"`` or ``"testing"``, the official release's split folders.

    Raises:
        DataError: the root does not exist, is not a folder, is empty, or holds no ``patientNNN`` folder.
    """
    if not root.exists():
        raise DataError(f"ACDC root {root} does not exist; expected a folder with patientNNN/ folders or a {subfolder}/ folder")
    if not root.is_dir():
        raise DataError(f"ACDC root {root} is not a folder; expected a folder with patientNNN/ folders or a {subfolder}/ folder")
    for candidate in (root, root / subfolder):
        if candidate.is_dir() and any(PATIENT_DIR.match(p.name) and p.is_dir() for p in candidate.iterdir()):
            return candidate
    if not any(root.iterdir()):
        raise DataError(f"ACDC root {root} is empty; expected patientNNN/ folders (or {subfolder}/patientNNN/)")
    raise DataError(f"ACDC root {root} holds no patientNNN/ folders, nor does {root / subfolder}")


def read_info(path: Path) -> dict[str, str]:
    """Parse an ``Info.cfg`` (``key: value`` lines) into a dict; a missing file raises DataError."""
    if not path.is_file():
        raise DataError(f"missing {path}; every ACDC patient folder needs an Info.cfg with ED, ES and Group")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path}: {err}") from err
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def read_patient(folder: Path) -> PatientRecord:
    """Read one ``patientNNN/`` folder's Info.cfg and check that its ED/ES image and label files exist."""
    info_path = folder / "Info.cfg"
    info = read_info(info_path)
    missing = [k for k in ("ED", "ES", "Group") if not info.get(k)]
    if missing:
        raise DataError(f"{info_path} has no {', '.join(missing)}; expected lines like 'ED: 1', 'ES: 12', 'Group: NOR'")
    frames: dict[str, int] = {}
    for phase in PHASES:
        try:
            frames[phase] = int(info[phase])
        except ValueError:
            raise DataError(f"{info_path}: '{phase}: {info[phase]}' is not a frame number") from None
    record = PatientRecord(patient=folder.name, group=info["Group"], frames=frames, folder=folder)
    for path in record.files()[1:]:
        if not path.is_file():
            raise DataError(f"missing {path}; {info_path} lists ED frame {frames['ED']} and ES frame {frames['ES']}")
    return record


def scan_patients(patient_root: Path) -> list[PatientRecord]:
    """Every ``patientNNN/`` folder under ``patient_root``, sorted by patient id."""
    return [read_patient(p) for p in sorted(patient_root.iterdir()) if PATIENT_DIR.match(p.name) and p.is_dir()]


def read_frame(image_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """One labelled frame as (image float32 (S, X, Y), label uint8 (S, X, Y), zooms (X, Y, slice) in mm).

    Raises:
        DataError: unreadable file, not a 3D stack, non-positive zooms, a NaN/inf voxel, image and
            label shapes or zooms that differ, or label values outside {0, 1, 2, 3}
            (:func:`rtbench.datasets.nifti.read_pair`).
    """
    image, label, zooms = read_pair(image_path, label_path, LABELS, "(0 bg, 1 RV, 2 MYO, 3 LV)")
    return image, label.astype(np.uint8), zooms


def read_cine(patient_dir: Path | str) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The full cine sequence ``patientNNN_4d.nii.gz`` of one patient folder, at its own grid.

    Returns:
        (cine, spacing): float32 array (T, S, X, Y) and (slice, X, Y) spacing in mm from the header zooms.

    Raises:
        DataError: no 4D file in the folder (the README: only patient090's is shipped), unreadable,
            or not 4D.
    """
    folder = Path(patient_dir)
    path = folder / f"{folder.name}_4d.nii.gz"
    if not path.is_file():
        raise DataError(f"missing {path}; expected the patient's 4D cine file (X, Y, slices, time)")
    data, zooms = read_nifti(path, np.float32)
    if data.ndim != 4 or len(zooms) < 3 or min(zooms[:3]) <= 0:
        raise DataError(f"{path} has shape {data.shape} and zooms {zooms}; expected a 4D sequence (X, Y, slices, time)")
    return np.ascontiguousarray(np.transpose(data, (3, 2, 0, 1))), (zooms[2], zooms[0], zooms[1])


def preprocess_patient(record: PatientRecord, budget: Budget) -> list[Volume]:
    """The ED and ES volumes of one patient at the budget's grid, each with its native grid."""
    volumes = []
    for phase in PHASES:
        image_path = record.image_path(phase)
        image, label, zooms = read_frame(image_path, record.label_path(phase))
        meta = {"source": str(image_path), "frame": record.frames[phase], "source_spacing": [zooms[2], zooms[0], zooms[1]]}
        volumes.append(
            make_volume(
                image,
                label,
                zooms,
                budget,
                case_id=f"{record.patient}_{phase}",
                patient=record.patient,
                group=record.group,
                phase=phase,
                meta=meta,
            )
        )
    return volumes


def scan_root(root: str, subfolder: str) -> tuple[Path, list[PatientRecord]]:
    """The resolved folder of ``patientNNN/`` folders under ``root`` and every patient in it (Info.cfg read, files checked)."""
    patient_root = find_patient_root(Path(root).expanduser(), subfolder).resolve()
    return patient_root, scan_patients(patient_root)


def record_stats(patient_root: Path, records: list[PatientRecord]) -> list[list[Any]]:
    """Relative path, size and mtime_ns of every file the records' volumes are read from."""
    return file_stats(patient_root, [path for rec in records for path in rec.files()])


def cache_blob(patient_root: Path, records: list[PatientRecord], budget: Budget) -> dict[str, Any]:
    """Everything the preprocessed arrays depend on (see the module docstring); ``patient_root`` is resolved."""
    return {
        "version": PREPROCESS_VERSION,
        "root": str(patient_root),
        "files": record_stats(patient_root, records),
        "spacing_mm": float(budget.spacing_mm),
        "image_size": int(budget.image_size),
    }


def load_root(
    root: str,
    subfolder: str,
    budget: Budget,
    progress: Callable[[str], None] | None = None,
) -> list[Volume]:
    """All labelled volumes of one ACDC root (capped by ``budget.max_patients``), through the cache.

    Args:
        root: folder holding ``patientNNN/`` folders, or their parent holding ``subfolder``.
        subfolder: ``"training"`` or ``"testing"``.
        budget: gives the grid and the patient cap.
        progress: called with a line of text every 10 patients read.
    """
    patient_root, records = scan_root(root, subfolder)
    records = select_patients(records, budget.max_patients)
    path = cache_path("acdc", cache_blob(patient_root, records, budget))

    def build() -> list[Volume]:
        volumes: list[Volume] = []
        for i, rec in enumerate(records):
            volumes += preprocess_patient(rec, budget)
            if progress is not None and ((i + 1) % 10 == 0 or i + 1 == len(records)):
                progress(f"acdc: read {i + 1}/{len(records)} patients from {patient_root}")
        return volumes

    volumes, from_cache = load_or_build(path, build)
    if from_cache and progress is not None:
        progress(f"acdc: {len(records)} patients from cache {path}")
    return volumes


@register_dataset("acdc")
class ACDC:
    """ACDC cine MRI (real data): the ED and ES frames of each patient, labelled RV / MYO / LV."""

    name: ClassVar[str]
    task: ClassVar[str] = "cine"

    @dataclass
    class Config:
        """``dataset.<field>=value`` options.

        Attributes:
            root: the training data: a folder of ``patientNNN/`` folders, or the release folder
                holding ``training/`` (e.g. ``../shared/data/acdc``). Required.
            test_root: the test data (``testing/`` of the release, or its parent); only with
                ``budget.protocol=roots``, and then required.
        """

        root: str = ""
        test_root: str = ""

    def __init__(self, config: ACDC.Config | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def fingerprint(self) -> str:
        """sha256 of the config (less ``root`` / ``test_root``) and of the relative path, size and
        content sha256 of every file of every patient of ``root`` (and ``test_root``): Info.cfg and
        the ED/ES images and labels (``content_stats``). Every patient counts, whatever
        ``budget.max_patients`` later selects. The same files elsewhere give the same fingerprint.

        Raises:
            ConfigError / DataError: as :meth:`load`, for an unset or unusable root.
        """
        c = self.config
        if not c.root:
            raise ConfigError("dataset=acdc needs its data folder: set dataset.root=PATH (e.g. dataset.root=../shared/data/acdc)")
        blob: dict[str, Any] = {"dataset": "acdc", "config": location_free(c)}
        for key, root, subfolder in (("root", c.root, "training"), ("test_root", c.test_root, "testing")):
            if root:
                patient_root, records = scan_root(root, subfolder)
                blob[key] = content_stats(patient_root, [path for rec in records for path in rec.files()])
        return sha256_of(blob)

    def validate(self, budget: Budget) -> None:
        """Everything :meth:`load` checks, by loading: every file is read and checked before the
        cache file is written (atomically), so an error leaves no cache behind and a clean pass
        leaves the cache the trials then read."""
        self.load(budget, 0)

    def load(self, budget: Budget, seed: int, progress: Callable[[str], None] | None = None) -> DatasetBundle:
        """Read (or fetch from the cache) the development pool and, under protocol ``roots``, the test set.

        ``budget.max_patients`` caps each root separately. ``seed`` is not used: the data of a board
        are the same for every submission.

        Raises:
            ConfigError: ``dataset.root`` not set; ``dataset.test_root`` missing under protocol
                ``roots``, set under another protocol, or sharing patients with ``dataset.root``.
            DataError: a missing, empty or malformed folder or file (the message names it).
        """
        c = self.config
        return bundle_from_roots(
            "acdc",
            c.root,
            c.test_root,
            budget,
            lambda root, test: load_root(root, "testing" if test else "training", budget, progress),
            root_example="../shared/data/acdc",
            test_example="the release's testing/",
        )
