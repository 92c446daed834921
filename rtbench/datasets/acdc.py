"""The ACDC cine MRI dataset (2017 MICCAI Automated Cardiac Diagnosis Challenge), read from its official layout.

What this module relies on, from ``../shared/data/acdc/README.md``:

* ``patientNNN/Info.cfg`` gives the ED and ES frame numbers and the group (NOR, MINF, DCM, HCM,
  RV; 20 patients per group in training, so the development pool is stratified by group).
* ``patientNNN/patientNNN_frameYY.nii.gz`` is a short-axis stack (X, Y, slices) and
  ``patientNNN_frameYY_gt.nii.gz`` its labels (0 background, 1 RV cavity, 2 myocardium, 3 LV
  cavity); two labelled frames per patient (ED and ES). ``patientNNN_4d.nii.gz`` (X, Y, slices,
  time) is the full cine sequence where present (only patient090 here; :func:`read_cine`); it is
  not part of the labelled volumes.
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

Preprocessed arrays are cached (``$RTBENCH_CACHE`` or ``~/.cache/rtbench``) under a key made of the
resolved root, the size and mtime of every file read, the grid, and
:data:`~rtbench.datasets.preprocess.PREPROCESS_VERSION`; every file is validated before anything
is written, and the cache file appears atomically.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import nibabel as nib
import numpy as np
import numpy.typing as npt

from rtbench.budgets import Budget
from rtbench.datasets.base import DatasetBundle, Volume, register_dataset
from rtbench.datasets.preprocess import PREPROCESS_VERSION, normalise_intensity, resample_to_grid
from rtbench.datasets.volume_cache import cache_dir, load_cache, save_cache
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


def select_patients(records: list[PatientRecord], max_patients: int) -> list[PatientRecord]:
    """A group-stratified subset of at most ``max_patients`` (0: all), sorted by patient id.

    Round-robin over the groups (sorted by name), taking each group's patients in id order. The
    subset does not depend on the submission seed, so every submission on a board sees the same
    patients (and shares one cache entry).
    """
    if max_patients <= 0 or max_patients >= len(records):
        return records
    by_group: dict[str, list[PatientRecord]] = {}
    for rec in records:
        by_group.setdefault(rec.group, []).append(rec)
    queues = [by_group[g] for g in sorted(by_group)]
    chosen: list[PatientRecord] = []
    depth = 0
    while len(chosen) < max_patients:
        chosen += [q[depth] for q in queues if depth < len(q)][: max_patients - len(chosen)]
        depth += 1
    return sorted(chosen, key=lambda rec: rec.patient)


def _read_nifti(path: Path, dtype: npt.DTypeLike) -> tuple[np.ndarray, tuple[float, ...]]:
    """(array, header zooms) of one NIfTI file; any read failure is a DataError naming the file."""
    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj, dtype=dtype)
        zooms = tuple(float(z) for z in img.header.get_zooms())
    except Exception as err:  # nibabel raises ImageFileError, OSError, EOFError, zlib.error, ValueError...
        raise DataError(f"cannot read NIfTI file {path}: {type(err).__name__}: {err}") from err
    return data, zooms


def read_frame(image_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """One labelled frame as (image float32 (S, X, Y), label uint8 (S, X, Y), zooms (X, Y, slice) in mm).

    Raises:
        DataError: unreadable file, not a 3D stack, non-positive zooms, image and label shapes or
            zooms that differ, or label values outside {0, 1, 2, 3}.
    """
    image, zooms = _read_nifti(image_path, np.float32)
    label, label_zooms = _read_nifti(label_path, np.float64)
    for path, arr, z in ((image_path, image, zooms), (label_path, label, label_zooms)):
        if arr.ndim != 3 or len(z) < 3 or min(z[:3]) <= 0:
            raise DataError(f"{path} has shape {arr.shape} and zooms {z}; expected a 3D stack (X, Y, slices) with positive zooms")
    if image.shape != label.shape:
        raise DataError(f"{label_path} has shape {label.shape} but its image {image_path.name} has {image.shape}; expected equal")
    if not np.allclose(zooms[:3], label_zooms[:3], rtol=1e-3):
        raise DataError(f"{label_path} has zooms {label_zooms[:3]} but its image {image_path.name} {zooms[:3]}; expected equal")
    bad = np.setdiff1d(np.unique(label), LABELS)
    if bad.size:
        raise DataError(f"{label_path} has label values {bad[:5].tolist()} outside {{0, 1, 2, 3}} (0 bg, 1 RV, 2 MYO, 3 LV)")
    return np.moveaxis(image, 2, 0), np.moveaxis(label, 2, 0).astype(np.uint8), (zooms[0], zooms[1], zooms[2])


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
    data, zooms = _read_nifti(path, np.float32)
    if data.ndim != 4 or len(zooms) < 3 or min(zooms[:3]) <= 0:
        raise DataError(f"{path} has shape {data.shape} and zooms {zooms}; expected a 4D sequence (X, Y, slices, time)")
    return np.ascontiguousarray(np.transpose(data, (3, 2, 0, 1))), (zooms[2], zooms[0], zooms[1])


def preprocess_patient(record: PatientRecord, budget: Budget) -> list[Volume]:
    """The ED and ES volumes of one patient at the budget's grid."""
    volumes = []
    for phase in PHASES:
        image_path = record.image_path(phase)
        image, label, (zx, zy, zs) = read_frame(image_path, record.label_path(phase))
        image, label = resample_to_grid(image, label, (zx, zy), budget.spacing_mm, budget.image_size)
        volumes.append(
            Volume(
                case_id=f"{record.patient}_{phase}",
                patient=record.patient,
                group=record.group,
                phase=phase,
                image=normalise_intensity(image),
                label=label,
                spacing=(zs, float(budget.spacing_mm), float(budget.spacing_mm)),
                meta={"source": str(image_path), "frame": record.frames[phase], "source_spacing": [zs, zx, zy]},
            )
        )
    return volumes


def cache_key(patient_root: Path, records: list[PatientRecord], budget: Budget) -> str:
    """Hash of everything the preprocessed arrays depend on (see the module docstring); ``patient_root`` is resolved."""
    files = []
    for rec in records:
        for path in rec.files():
            st = path.stat()
            files.append([str(path.relative_to(patient_root)), st.st_size, st.st_mtime_ns])
    blob = {
        "version": PREPROCESS_VERSION,
        "root": str(patient_root),
        "files": files,
        "spacing_mm": float(budget.spacing_mm),
        "image_size": int(budget.image_size),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:24]


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
    patient_root = find_patient_root(Path(root).expanduser(), subfolder).resolve()
    records = select_patients(scan_patients(patient_root), budget.max_patients)
    path = cache_dir() / f"acdc-{cache_key(patient_root, records, budget)}.npz"
    if path.is_file():
        cached = load_cache(path)
        if cached is not None:
            if progress is not None:
                progress(f"acdc: {len(records)} patients from cache {path}")
            return cached
    volumes: list[Volume] = []
    for i, rec in enumerate(records):
        volumes += preprocess_patient(rec, budget)
        if progress is not None and ((i + 1) % 10 == 0 or i + 1 == len(records)):
            progress(f"acdc: read {i + 1}/{len(records)} patients from {patient_root}")
    try:
        save_cache(path, volumes)
    except OSError as err:  # a read-only or full cache folder costs speed, not correctness
        warnings.warn(f"could not write the ACDC cache {path}: {err}", stacklevel=2)
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
        if not c.root:
            raise ConfigError("dataset=acdc needs its data folder: set dataset.root=PATH (e.g. dataset.root=../shared/data/acdc)")
        roots = budget.protocol == "roots"
        if roots and not c.test_root:
            raise ConfigError("budget.protocol=roots with dataset=acdc needs dataset.test_root=PATH (the release's testing/)")
        if c.test_root and not roots:
            raise ConfigError(f"dataset.test_root is set but budget.protocol={budget.protocol}; use budget.protocol=roots")
        volumes = load_root(c.root, "training", budget, progress)
        if not roots:
            return DatasetBundle(volumes=volumes)
        test_volumes = load_root(c.test_root, "testing", budget, progress)
        shared = sorted({v.patient for v in volumes} & {v.patient for v in test_volumes})
        if shared:
            raise ConfigError(
                f"dataset.root and dataset.test_root share patients ({', '.join(shared[:5])}...); the test set must be unseen"
            )
        return DatasetBundle(volumes=volumes, test_volumes=test_volumes)
