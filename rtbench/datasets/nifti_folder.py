"""Bring your own data: any labelled cine short-axis stacks in NIfTI, found by file-name templates.

A folder (``dataset.root``) holds image stacks and their label maps, 3D NIfTI files ``(X, Y,
slices)`` with the spacing in the header zooms. Two templates name them, relative to the root, with
``{field}`` placeholders:

* ``dataset.images``, default ``{patient}_{phase}.nii.gz``;
* ``dataset.label_files``, default ``{patient}_{phase}_gt.nii.gz``: the label map of the image with
  the same field values. Both templates must use the same fields.

Fields: ``{patient}`` (required; any characters but ``/``, underscores included), ``{phase}``
(optional; letters and digits; ``ed`` / ``es`` in any case become ``ED`` / ``ES``, other values
are kept; without it every patient has one volume, phase ``NA``) and ``{group}`` (optional;
letters and digits; the stratification group of splits, ``NA`` without it). A template may name
subfolders (``{group}/{patient}/{patient}_{phase}.nii.gz``); it has no other wildcard. A leading
``./`` is allowed and ignored: on the command line a value that starts with ``{`` is read as YAML
by the config parser, so write ``dataset.images=./{patient}/{patient}_{phase}.nii.gz``. A file
that matches the label template is never an image, so ``p01_ED_gt.nii.gz`` is not read as
patient ``p01_ED``, phase ``gt``. Example: ACDC's own layout is
``images=./{patient}/{patient}_frame{phase}.nii.gz label_files=./{patient}/{patient}_frame{phase}_gt.nii.gz``
(phases are then the frame numbers).

``dataset.labels`` maps the stored label values to the task's classes, e.g. ``1=LV,2=MYO,3=RV``
(rtbench's cine classes are RV = 1, MYO = 2, LV = 3; the default ``1=RV,2=MYO,3=LV`` is ACDC's own
convention). Every class must be mapped; ``BG`` maps a value to background. Value 0 is always
background, and any other value in a label file is an error naming the file.

Everything else is ACDC's (:mod:`rtbench.datasets.acdc`, :mod:`rtbench.datasets.nifti`): the same
checks (unreadable file, image/label shape or zoom mismatch, NaN/inf voxels: a DataError naming
the file), the same resampling to the harness grid with the native grid kept for scoring, the same
patient-level splits (``budget.max_patients`` a group-stratified subset; ``budget.protocol=roots``
with ``dataset.test_root``) and the same atomic cache, keyed on the templates, the label map, the
stats of every file read, the grid and the preprocessing version.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rtbench.budgets import Budget
from rtbench.datasets.base import DatasetBundle, Volume, register_dataset
from rtbench.datasets.nifti import (
    bundle_from_roots,
    content_stats,
    file_stats,
    location_free,
    make_volume,
    map_labels,
    read_pair,
    select_patients,
    sha256_of,
)
from rtbench.datasets.preprocess import PREPROCESS_VERSION
from rtbench.datasets.volume_cache import cache_path, load_or_build
from rtbench.errors import ConfigError, DataError
from rtbench.tasks import get_task

FIELDS = {"patient": r"[^/]+", "phase": r"[A-Za-z0-9]+", "group": r"[A-Za-z0-9]+"}
"""Template fields and the characters each matches in a file's relative path."""

LABELS_FORM = "VALUE=CLASS pairs separated by commas, CLASS one of {classes} or BG, each class at least once, e.g. {example}"


@dataclass(frozen=True)
class Template:
    """A parsed file-name template: its text, the regex a relative path must match, and the glob that lists candidates."""

    key: str
    text: str
    regex: re.Pattern[str]
    glob: str
    fields: frozenset[str]

    def match(self, relative: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(relative)
        return m.groupdict() if m else None

    def format(self, values: dict[str, str]) -> str:
        return self.text.format(**values)


def parse_template(key: str, text: str) -> Template:
    """Parse ``dataset.<key>`` (a leading ``./`` is dropped); a ConfigError names the key and the expected form."""
    form = f"expected a path relative to dataset.root with {{patient}} and optionally {{phase}}, {{group}}, e.g. dataset.{key}=./"
    form += "{patient}_{phase}.nii.gz" if key == "images" else "{patient}_{phase}_gt.nii.gz"
    text = text.removeprefix("./")
    if text.startswith("/") or ".." in text.split("/"):
        raise ConfigError(f"dataset.{key}='{text}' is an absolute path or has '..'; {form}")
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as err:
        raise ConfigError(f"dataset.{key}='{text}' is not a valid template ({err}); {form}") from None
    regex, glob, seen = "", "", set()
    for literal, name, spec, conversion in parts:
        if any(ch in literal for ch in "*?[]"):
            raise ConfigError(f"dataset.{key}='{text}' has a wildcard ({literal}); {form}")
        regex += re.escape(literal)
        glob += literal
        if name is None:
            continue
        if name not in FIELDS or spec or conversion:
            raise ConfigError(f"dataset.{key}='{text}' has an unknown field {{{name}}}; {form}")
        regex += f"(?P={name})" if name in seen else f"(?P<{name}>{FIELDS[name]})"
        glob += "*"
        seen.add(name)
    if "patient" not in seen:
        raise ConfigError(f"dataset.{key}='{text}' has no {{patient}} field; {form}")
    return Template(key=key, text=text, regex=re.compile(regex), glob=glob, fields=frozenset(seen))


def parse_labels(text: str, classes: tuple[str, ...]) -> dict[int, int]:
    """``"1=LV,2=MYO,3=RV"`` -> {stored value: task class index} (``classes[i]`` is i + 1, BG is 0).

    Raises:
        ConfigError: naming ``dataset.labels``, the problem and the expected form.
    """
    example = ",".join(f"{i + 1}={c}" for i, c in enumerate(classes))
    form = LABELS_FORM.format(classes=", ".join(classes), example=f"dataset.labels={example}")
    index = {c.upper(): i + 1 for i, c in enumerate(classes)} | {"BG": 0, "BACKGROUND": 0}
    mapping: dict[int, int] = {}
    for pair in text.split(","):
        value, sep, name = (s.strip() for s in pair.partition("="))
        if not sep or not value.isdigit() or name.upper() not in index:
            raise ConfigError(f"dataset.labels='{text}': '{pair}' is not VALUE=CLASS; expected {form}")
        if int(value) in mapping:
            raise ConfigError(f"dataset.labels='{text}' maps value {int(value)} twice; expected {form}")
        mapping[int(value)] = index[name.upper()]
    missing = [c for i, c in enumerate(classes) if i + 1 not in mapping.values()]
    if missing:
        raise ConfigError(f"dataset.labels='{text}' maps no value to {', '.join(missing)}; expected {form}")
    if 0 in mapping and mapping[0] != 0:
        raise ConfigError(f"dataset.labels='{text}' maps 0 to a class; 0 is background. Expected {form}")
    return mapping


@dataclass(frozen=True)
class Pair:
    """One labelled frame found on disk."""

    patient: str
    group: str
    phase: str
    image: Path
    label: Path


@dataclass(frozen=True)
class PatientFiles:
    """Every labelled frame of one patient (the unit of splits and of ``budget.max_patients``)."""

    patient: str
    group: str
    pairs: tuple[Pair, ...]


def _phase(values: dict[str, str]) -> str:
    raw = values.get("phase")
    if raw is None:
        return "NA"
    return raw.upper() if raw.upper() in ("ED", "ES") else raw


def scan_folder(root: Path, images: Template, labels: Template) -> list[PatientFiles]:
    """Every (image, label) pair under ``root``, grouped by patient, sorted; each file name checked.

    Raises:
        DataError: a missing or empty root, an image without its label file, a label file without
            its image, one (patient, phase) in two files, or one patient in two groups.
    """
    hint = f"dataset.images='{images.text}' and dataset.label_files='{labels.text}'"
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataError(f"nifti-folder root {root} {what}; expected a folder of NIfTI files")
    label_files = {p: v for p in sorted(root.glob(labels.glob)) if p.is_file() and (v := labels.match(p.relative_to(root).as_posix()))}
    found: dict[str, list[Pair]] = {}
    seen: dict[tuple[str, str], Path] = {}
    for path in sorted(root.glob(images.glob)):
        values = images.match(path.relative_to(root).as_posix())
        if values is None or path in label_files or not path.is_file():
            continue
        label = root / labels.format(values)
        if label not in label_files:
            raise DataError(f"{path} has no label file {label}; expected one for each image ({hint})")
        pair = Pair(values["patient"], values.get("group", "NA"), _phase(values), path, label)
        if (pair.patient, pair.phase) in seen:
            other = seen[pair.patient, pair.phase]
            raise DataError(f"{path} and {other} are both patient {pair.patient}, phase {pair.phase}; expected one file each")
        seen[pair.patient, pair.phase] = path
        found.setdefault(pair.patient, []).append(pair)
    for label, values in label_files.items():
        image = root / images.format(values)
        if not image.is_file():
            raise DataError(f"label file {label} has no image {image}; expected an image for each label file ({hint})")
    if not found:
        raise DataError(f"nifti-folder root {root} holds no image matching dataset.images='{images.text}'")
    out = []
    for patient in sorted(found):
        groups = sorted({p.group for p in found[patient]})
        if len(groups) > 1:
            where = found[patient][0].image
            raise DataError(f"patient {patient} is in groups {', '.join(groups)} ({where}); expected one group per patient")
        out.append(PatientFiles(patient, groups[0], tuple(sorted(found[patient], key=lambda p: p.phase))))
    return out


@register_dataset("nifti-folder")
class NiftiFolder:
    """Cine short-axis stacks in NIfTI from any folder layout (see the module docstring), labelled RV / MYO / LV."""

    name: ClassVar[str]
    task: ClassVar[str] = "cine"

    @dataclass
    class Config:
        """``dataset.<field>=value`` options.

        Attributes:
            root: the folder of NIfTI files (the development pool). Required.
            images: template of an image file's path relative to ``root``: ``{patient}`` (required),
                ``{phase}``, ``{group}`` (optional), e.g. ``./{patient}_{phase}.nii.gz`` or
                ``./{group}/{patient}/{patient}_{phase}.nii.gz``. No other wildcard; a leading
                ``./`` is ignored.
            label_files: template of the label file of an image, same fields as ``images``,
                e.g. ``{patient}_{phase}_gt.nii.gz``.
            labels: stored label value -> task class, ``VALUE=CLASS`` pairs separated by commas,
                every class of the task (RV, MYO, LV) at least once, ``BG`` for background: e.g.
                ``1=LV,2=MYO,3=RV``. Value 0 is background; any unmapped value is an error.
            test_root: a second folder with the same layout, the test set; only with
                ``budget.protocol=roots``, and then required.
        """

        root: str = ""
        images: str = "{patient}_{phase}.nii.gz"
        label_files: str = "{patient}_{phase}_gt.nii.gz"
        labels: str = "1=RV,2=MYO,3=LV"
        test_root: str = ""

        def __post_init__(self) -> None:
            images, labels = parse_template("images", self.images), parse_template("label_files", self.label_files)
            if images.fields != labels.fields:
                raise ConfigError(
                    f"dataset.images='{self.images}' and dataset.label_files='{self.label_files}' use different fields; "
                    "expected the same {patient}/{phase}/{group} fields in both"
                )
            parse_labels(self.labels, get_task("cine").classes)

    def __init__(self, config: NiftiFolder.Config | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.images = parse_template("images", self.config.images)
        self.label_files = parse_template("label_files", self.config.label_files)
        self.mapping = parse_labels(self.config.labels, get_task(self.task).classes)

    def _scan(self, root: str) -> tuple[Path, list[PatientFiles]]:
        folder = Path(root).expanduser().resolve()
        return folder, scan_folder(folder, self.images, self.label_files)

    @staticmethod
    def _files(patients: list[PatientFiles]) -> list[Path]:
        return [path for p in patients for pair in p.pairs for path in (pair.image, pair.label)]

    @staticmethod
    def _stats(folder: Path, patients: list[PatientFiles]) -> list[list[Any]]:
        return file_stats(folder, NiftiFolder._files(patients))

    def fingerprint(self) -> str:
        """sha256 of the config (less ``root`` / ``test_root``) and of the relative path, size and
        content sha256 of every image and label file matched under ``root`` (and ``test_root``;
        ``content_stats``). Every patient counts, whatever ``budget.max_patients`` later selects.
        The same files elsewhere give the same fingerprint."""
        c = self.config
        if not c.root:
            raise ConfigError("dataset=nifti-folder needs its data folder: set dataset.root=PATH")
        blob: dict[str, Any] = {"dataset": "nifti-folder", "config": location_free(c)}
        for key, root in (("root", c.root), ("test_root", c.test_root)):
            if root:
                folder, patients = self._scan(root)
                blob[key] = content_stats(folder, self._files(patients))
        return sha256_of(blob)

    def validate(self, budget: Budget) -> None:
        """Everything :meth:`load` checks, by loading: every file is read and checked before the
        cache file is written (atomically), so an error leaves no cache behind."""
        self.load(budget, 0)

    def load(self, budget: Budget, seed: int, progress: Callable[[str], None] | None = None) -> DatasetBundle:
        """Read (or fetch from the cache) ``root`` and, under ``budget.protocol=roots``, ``test_root``. ``seed`` is not used."""
        c = self.config
        return bundle_from_roots(
            "nifti-folder",
            c.root,
            c.test_root,
            budget,
            lambda root, test: self._load_root(root, budget, progress),
            root_example="PATH/TO/NIFTI",
            test_example="a second folder with the same layout",
        )

    def _load_root(self, root: str, budget: Budget, progress: Callable[[str], None] | None) -> list[Volume]:
        folder, patients = self._scan(root)
        patients = select_patients(patients, budget.max_patients)
        c = self.config
        blob = {
            "version": PREPROCESS_VERSION,
            "root": str(folder),
            "templates": [c.images, c.label_files],
            "labels": sorted(self.mapping.items()),
            "files": self._stats(folder, patients),
            "spacing_mm": float(budget.spacing_mm),
            "image_size": int(budget.image_size),
        }
        path = cache_path("nifti", blob)
        values = sorted({0, *self.mapping})
        meaning = "(dataset.labels=" + c.labels + ")"

        def build() -> list[Volume]:
            volumes: list[Volume] = []
            for i, p in enumerate(patients):
                for pair in p.pairs:
                    image, label, zooms = read_pair(pair.image, pair.label, values, meaning)
                    meta = {"source": str(pair.image), "source_spacing": [zooms[2], zooms[0], zooms[1]]}
                    volumes.append(
                        make_volume(
                            image,
                            map_labels(label, self.mapping),
                            zooms,
                            budget,
                            case_id=f"{p.patient}_{pair.phase}",
                            patient=p.patient,
                            group=p.group,
                            phase=pair.phase,
                            meta=meta,
                        )
                    )
                if progress is not None and ((i + 1) % 10 == 0 or i + 1 == len(patients)):
                    progress(f"nifti-folder: read {i + 1}/{len(patients)} patients from {folder}")
            return volumes

        volumes, from_cache = load_or_build(path, build)
        if from_cache and progress is not None:
            progress(f"nifti-folder: {len(patients)} patients from cache {path}")
        return volumes
