"""CAMUS echocardiography (Leclerc et al., IEEE TMI 38(9):2198-2210, 2019), read from its release layout, for the ``echo`` task.

Layout (the folder of ``patientNNNN/`` folders, or its parent holding ``training/``; ``testing/``
for ``dataset.test_root``)::

    patient0001/patient0001_{2CH,4CH}_{ED,ES}.{nii.gz,mhd}      the image (an .mhd names its .raw)
    patient0001/patient0001_{2CH,4CH}_{ED,ES}_gt.{nii.gz,mhd}   its label map
    patient0001/Info_{2CH,4CH}.cfg                              optional: 'ImageQuality: Good'

CAMUS labels 0 background, 1 LV cavity, 2 LV myocardium, 3 left atrium; the echo task segments
the myocardium, so label 2 becomes the task's class 1 and every other label background. Each
(view, phase) pair of each patient becomes one :class:`~rtbench.datasets.base.Volume`
(``case_id`` like ``"patient0001_4CH_ED"``, ``phase`` ED or ES, ``meta["view"]``); which views are
read is ``dataset.views`` (both by default; seed 003 uses the apical four-chamber view: ``4CH``).
The group (the stratification key of splits) is the ``ImageQuality`` of the patient's 4CH Info file
(else its first view's; ``NA`` without one): the quality CAMUS's experts graded, which is what a QC
network must cope with.

Orientation: arrays are ``(1, rows, cols)`` with rows along the image's second axis (ITK ``y``:
depth, the sector apex at the top) and columns along its first (``x``), for NIfTI (nibabel's
``(X, Y)`` transposed) and MetaImage (numpy's ``(Y, X)`` as read) alike, so both formats give the
same array and it looks like ``synthetic-echo``'s frames. The spacing comes from the header
(NIfTI zooms, MetaImage ``ElementSpacing``); MetaImage is read by :mod:`rtbench.datasets.metaimage`
(no installed library reads it). Where a frame exists in both formats, the NIfTI file is read.

Everything else is ACDC's (:mod:`rtbench.datasets.acdc`, :mod:`rtbench.datasets.nifti`): one-line
errors naming the file and what was expected (missing root, missing image or label file, missing
.raw, unreadable file, not a 2D frame, NaN/inf, image/label shape or spacing mismatch, label values
outside {0, 1, 2, 3}), resampling to the harness grid with the native grid kept for scoring,
``budget.max_patients`` as a group-stratified subset, ``budget.protocol=roots`` with
``dataset.test_root``, the atomic preprocessing cache keyed on the stats of every file read, the
views, the grid and the preprocessing version, and a fingerprint of the files' content. Network
input: the frame repeated to 3 channels (:mod:`rtbench.datasets.echo_channels`).
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
from rtbench.datasets.metaimage import data_file, read_metaimage
from rtbench.datasets.nifti import (
    bundle_from_roots,
    check_finite,
    content_stats,
    file_stats,
    location_free,
    make_volume,
    read_nifti,
    select_patients,
    sha256_of,
)
from rtbench.datasets.preprocess import PREPROCESS_VERSION
from rtbench.datasets.volume_cache import cache_path, load_or_build
from rtbench.errors import ConfigError, DataError

PATIENT_DIR = re.compile(r"^patient\d{4}$")
VIEWS = ("2CH", "4CH")
PHASES = ("ED", "ES")
FORMATS = (".nii.gz", ".mhd")  # tried in this order
LABELS = (0, 1, 2, 3)
MEANING = "(CAMUS: 0 background, 1 LV cavity, 2 LV myocardium, 3 left atrium)"
MYOCARDIUM = 2  # the CAMUS label that is the echo task's class 1 (MYO)


def parse_views(text: str) -> tuple[str, ...]:
    """``"2CH,4CH"`` -> ``("2CH", "4CH")``; a ConfigError names ``dataset.views`` and the valid views."""
    views = tuple(v.strip().upper() for v in text.split(",") if v.strip())
    if not views or any(v not in VIEWS for v in views) or len(set(views)) != len(views):
        raise ConfigError(f"dataset.views='{text}' is not valid for camus; expected one or both of {', '.join(VIEWS)}, comma-separated")
    return views


@dataclass(frozen=True)
class Frame:
    """One labelled frame on disk: (view, phase) of one patient, its image and label files."""

    view: str
    phase: str
    image: Path
    label: Path

    def files(self) -> list[Path]:
        """Every file the frame is read from: each header and, for MetaImage, its data file."""
        out = []
        for path in (self.image, self.label):
            out.append(path)
            if path.name.endswith(".mhd") and (raw := data_file(path)) is not None:
                out.append(raw)
        return out


@dataclass(frozen=True)
class PatientFiles:
    """One ``patientNNNN/`` folder: its group and its labelled frames (the unit of splits)."""

    patient: str
    group: str
    frames: tuple[Frame, ...]
    info: Path | None

    def files(self) -> list[Path]:
        return ([self.info] if self.info else []) + [p for f in self.frames for p in f.files()]


def find_patient_root(root: Path, subfolder: str) -> Path:
    """The folder holding the ``patientNNNN/`` folders: ``root`` itself or ``root/<subfolder>``; DataError otherwise."""
    expected = f"expected a folder with patientNNNN/ folders or a {subfolder}/ folder holding them"
    if not root.exists():
        raise DataError(f"CAMUS root {root} does not exist; {expected}")
    if not root.is_dir():
        raise DataError(f"CAMUS root {root} is not a folder; {expected}")
    for candidate in (root, root / subfolder):
        if candidate.is_dir() and any(PATIENT_DIR.match(p.name) and p.is_dir() for p in candidate.iterdir()):
            return candidate
    raise DataError(f"CAMUS root {root} holds no patientNNNN/ folders, nor does {root / subfolder}; {expected}")


def _existing(folder: Path, stem: str, views: tuple[str, ...]) -> Path:
    for ext in FORMATS:
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    wanted = f"dataset.views={','.join(views)} at ED and ES"
    raise DataError(f"missing {folder / stem}.nii.gz (or .mhd); expected an image and a _gt label file for each of {wanted}")


def read_quality(path: Path) -> str:
    """``ImageQuality`` of an ``Info_<view>.cfg`` (``key: value`` lines), ``NA`` when it has none."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path}: {err}") from err
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "ImageQuality" and value.strip():
            return value.strip()
    return "NA"


def scan_patient(folder: Path, views: tuple[str, ...]) -> PatientFiles:
    """One patient folder: every (view, phase) image and label file found (else a DataError naming the missing one)."""
    patient = folder.name
    frames = []
    for view in views:
        for phase in PHASES:
            stem = f"{patient}_{view}_{phase}"
            frames.append(Frame(view, phase, _existing(folder, stem, views), _existing(folder, f"{stem}_gt", views)))
    for header in (path for frame in frames for path in (frame.image, frame.label) if path.name.endswith(".mhd")):
        raw = data_file(header)
        if raw is not None and not raw.is_file():
            raise DataError(f"missing {raw}, the pixel data named by the MetaImage header {header}")
    order = sorted(views, key=lambda v: v != "4CH")  # the 4CH Info file first, if 4CH is read
    info = next((folder / f"Info_{v}.cfg" for v in order if (folder / f"Info_{v}.cfg").is_file()), None)
    return PatientFiles(patient, read_quality(info) if info else "NA", tuple(frames), info)


def scan_root(root: str, subfolder: str, views: tuple[str, ...]) -> tuple[Path, list[PatientFiles]]:
    """The resolved folder of ``patientNNNN/`` folders under ``root`` and every patient in it, files checked."""
    patient_root = find_patient_root(Path(root).expanduser(), subfolder).resolve()
    folders = sorted(p for p in patient_root.iterdir() if PATIENT_DIR.match(p.name) and p.is_dir())
    return patient_root, [scan_patient(p, views) for p in folders]


def read_image(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """One 2D frame as (float64 (1, rows, cols), spacing (row, col, slice) mm); see the module docstring for the axes.

    Raises:
        DataError: unreadable, not a 2D frame (a 3D file may have one slice), a non-positive spacing, NaN/inf.
    """
    if path.name.endswith(".mhd"):
        data, spacing = read_metaimage(path)
        data = data.astype(np.float64)
        frame = data[0] if data.ndim == 3 and data.shape[0] == 1 else data
        shape = data.shape[::-1]
    else:
        data, spacing = read_nifti(path, np.float64)
        frame = (data[..., 0] if data.ndim == 3 and data.shape[2] == 1 else data).T
        shape = data.shape
    if frame.ndim != 2 or len(spacing) < 2 or min(spacing[:2]) <= 0:
        raise DataError(
            f"{path} has shape {shape} (x first) and spacing {spacing}; expected a 2D frame (X, Y) or (X, Y, 1) with positive spacing"
        )
    check_finite(path, frame)
    thickness = float(spacing[2]) if len(spacing) > 2 and spacing[2] > 0 else 1.0
    return np.ascontiguousarray(frame)[None], (float(spacing[1]), float(spacing[0]), thickness)


def read_frame(frame: Frame) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(image float32 (1, rows, cols), label uint8 in task classes (1 = CAMUS myocardium), spacing (row, col, slice)).

    Raises:
        DataError: as :func:`read_image`, image and label shapes or spacings that differ, or a
            label value (or a non-integer one) outside {0, 1, 2, 3}.
    """
    image, spacing = read_image(frame.image)
    label, label_spacing = read_image(frame.label)
    if image.shape != label.shape:
        raise DataError(f"{frame.label} has shape {label.shape[1:]} but its image {frame.image.name} has {image.shape[1:]}; expected equal")
    if not np.allclose(spacing[:2], label_spacing[:2], rtol=1e-3):
        raise DataError(f"{frame.label} has spacing {label_spacing[:2]} but its image {frame.image.name} {spacing[:2]}; expected equal")
    values = np.unique(label)
    bad = values[(values != np.round(values)) | ~np.isin(values, np.asarray(LABELS, dtype=np.float64))]
    if bad.size:
        shown = [int(v) if v == round(v) else float(v) for v in bad[:5]]
        raise DataError(f"{frame.label} has label values {shown} outside {{0, 1, 2, 3}} {MEANING}")
    return image.astype(np.float32), (label == MYOCARDIUM).astype(np.uint8), spacing


@register_dataset("camus")
class CAMUS:
    """CAMUS 2D echocardiography (real data): ED and ES of the 2- and 4-chamber views, the LV myocardium labelled."""

    name: ClassVar[str]
    task: ClassVar[str] = "echo"

    @dataclass
    class Config:
        """``dataset.<field>=value`` options.

        Attributes:
            root: the development pool: a folder of ``patientNNNN/`` folders, or the release folder
                holding ``training/``. Required.
            test_root: the test set (``testing/``, or its parent); only with
                ``budget.protocol=roots``, and then required.
            views: which views to read, ``2CH``, ``4CH`` or both (comma-separated).
        """

        root: str = ""
        test_root: str = ""
        views: str = "2CH,4CH"

        def __post_init__(self) -> None:
            parse_views(self.views)

    def __init__(self, config: CAMUS.Config | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.views = parse_views(self.config.views)

    def fingerprint(self) -> str:
        """sha256 of the config (less ``root`` / ``test_root``) and the relative path, size and content
        sha256 of every file of every patient of ``root`` (and ``test_root``); the same files elsewhere
        give the same fingerprint. Raises ConfigError / DataError as :meth:`load` for an unusable root."""
        c = self.config
        if not c.root:
            raise ConfigError("dataset=camus needs its data folder: set dataset.root=PATH (the folder of patientNNNN/ folders)")
        blob: dict[str, Any] = {"dataset": "camus", "config": location_free(c)}
        for key, root, subfolder in (("root", c.root, "training"), ("test_root", c.test_root, "testing")):
            if root:
                patient_root, patients = scan_root(root, subfolder, self.views)
                blob[key] = content_stats(patient_root, [path for p in patients for path in p.files()])
        return sha256_of(blob)

    def validate(self, budget: Budget) -> None:
        """Everything :meth:`load` checks, by loading: every file is read and checked before the cache
        file is written (atomically), so an error leaves no cache behind."""
        self.load(budget, 0)

    def load(self, budget: Budget, seed: int, progress: Callable[[str], None] | None = None) -> DatasetBundle:
        """Read (or fetch from the cache) ``root`` and, under ``budget.protocol=roots``, ``test_root``. ``seed`` is not used."""
        c = self.config
        return bundle_from_roots(
            "camus",
            c.root,
            c.test_root,
            budget,
            lambda root, test: self._load_root(root, "testing" if test else "training", budget, progress),
            root_example="PATH/TO/CAMUS",
            test_example="the release's testing/ folder, or its parent",
        )

    def _load_root(self, root: str, subfolder: str, budget: Budget, progress: Callable[[str], None] | None) -> list[Volume]:
        patient_root, patients = scan_root(root, subfolder, self.views)
        patients = select_patients(patients, budget.max_patients)
        blob = {
            "version": PREPROCESS_VERSION,
            "root": str(patient_root),
            "views": list(self.views),
            "files": file_stats(patient_root, [path for p in patients for path in p.files()]),
            "spacing_mm": float(budget.spacing_mm),
            "image_size": int(budget.image_size),
        }
        path = cache_path("camus", blob)

        def build() -> list[Volume]:
            volumes: list[Volume] = []
            for i, p in enumerate(patients):
                for frame in p.frames:
                    image, label, spacing = read_frame(frame)
                    meta = {"source": str(frame.image), "view": frame.view, "source_spacing": [spacing[2], spacing[0], spacing[1]]}
                    zooms = (spacing[0], spacing[1], spacing[2])
                    volumes.append(
                        make_volume(
                            image,
                            label,
                            zooms,
                            budget,
                            case_id=f"{p.patient}_{frame.view}_{frame.phase}",
                            patient=p.patient,
                            group=p.group,
                            phase=frame.phase,
                            meta=meta,
                        )
                    )
                if progress is not None and ((i + 1) % 10 == 0 or i + 1 == len(patients)):
                    progress(f"camus: read {i + 1}/{len(patients)} patients from {patient_root}")
            return volumes

        volumes, from_cache = load_or_build(path, build)
        if from_cache and progress is not None:
            progress(f"camus: {len(patients)} patients from cache {path}")
        return volumes
