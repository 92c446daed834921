"""The nifti-folder dataset (bring your own cine NIfTI): templates, label mapping, native grid, cache,
fingerprint, validation and every bad case, on tiny NIfTI files written here with nibabel."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rtbench.budgets import Budget
from rtbench.config import resolve
from rtbench.datasets import DATASETS, nifti_folder
from rtbench.datasets.nifti_folder import NiftiFolder, parse_labels, parse_template
from rtbench.errors import ConfigError, DataError

TINY = Budget(name="test", image_size=16, spacing_mm=2.0)
SHAPE = (20, 18, 3)
ZOOMS = (1.5, 1.25, 10.0)
OWN = {"RV": 3, "MYO": 2, "LV": 1}  # the files' own convention: 1 = LV, 2 = MYO, 3 = RV (rtbench: RV 1, MYO 2, LV 3)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("RTBENCH_CACHE", str(folder))
    return folder


def write_nifti(path: Path, data: np.ndarray, zooms: tuple[float, ...] = ZOOMS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_zooms(zooms)
    nib.save(img, path)
    return path


def rtbench_label() -> np.ndarray:
    """(X, Y, slices) square rings in rtbench classes: RV 1 outside, MYO 2, LV 3 inside."""
    label = np.zeros(SHAPE, np.uint8)
    cx, cy = SHAPE[0] // 2, SHAPE[1] // 2
    label[cx - 6 : cx + 6, cy - 6 : cy + 6] = 1
    label[cx - 4 : cx + 4, cy - 4 : cy + 4] = 2
    label[cx - 2 : cx + 2, cy - 2 : cy + 2] = 3
    return label


def write_case(root: Path, stem: str, label_stem: str | None = None, seed: int = 0) -> tuple[Path, Path]:
    """An image and its label map stored in the files' own convention (:data:`OWN`)."""
    label = rtbench_label()
    own = np.zeros_like(label)
    for i, name in enumerate(("RV", "MYO", "LV"), start=1):
        own[label == i] = OWN[name]
    image = (np.random.default_rng(seed).integers(0, 50, SHAPE) + 100 * label).astype(np.int16)
    return write_nifti(root / f"{stem}.nii.gz", image), write_nifti(root / f"{label_stem or stem + '_gt'}.nii.gz", own)


def make_folder(root: Path, patients: tuple[str, ...] = ("p01", "p02", "p03"), phases: tuple[str, ...] = ("ED", "ES")) -> Path:
    for i, patient in enumerate(patients):
        for phase in phases:
            write_case(root, f"{patient}_{phase}", seed=i)
    return root


def dataset(root: Path, **fields: str) -> NiftiFolder:
    return NiftiFolder(NiftiFolder.Config(root=str(root), labels="1=LV,2=MYO,3=RV", **fields))


def test_registered_as_cine_dataset() -> None:
    assert DATASETS.get("nifti-folder") is NiftiFolder and NiftiFolder.task == "cine"


def test_loads_patients_phases_and_maps_labels_to_task_classes(tmp_path: Path) -> None:
    vols = dataset(make_folder(tmp_path / "data")).load(TINY, 0).volumes
    assert [v.case_id for v in vols] == [f"p0{i}_{ph}" for i in (1, 2, 3) for ph in ("ED", "ES")]
    assert {v.group for v in vols} == {"NA"} and [v.phase for v in vols[:2]] == ["ED", "ES"]
    v = vols[0]
    assert v.image.shape == v.label.shape == (3, 16, 16) and v.spacing == pytest.approx((10.0, 2.0, 2.0))
    assert set(np.unique(v.label)) == {0, 1, 2, 3}
    assert v.native is not None and np.array_equal(v.native.label, np.moveaxis(rtbench_label(), 2, 0))  # mapped, uncropped
    assert v.native.spacing == pytest.approx((10.0, 1.5, 1.25)) and v.native.resized == (15, 11)
    # the LV (stored 1) is the innermost square, class 3 after mapping: 4 x 4 px at 1.5 x 1.25 mm -> about 3 x 2.5 px
    assert 3 <= int((v.label[0] == 3).sum()) <= 12


def test_groups_subfolders_lowercase_phases_and_underscored_ids(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for group, patient in (("DCM", "pat_01"), ("NOR", "pat_02")):
        for phase in ("ed", "es"):
            write_case(root / group, f"{patient}_{phase}", f"{patient}_{phase}_seg")
    ds = dataset(root, images="./{group}/{patient}_{phase}.nii.gz", label_files="./{group}/{patient}_{phase}_seg.nii.gz")
    vols = ds.load(TINY, 0).volumes
    assert [(v.patient, v.group, v.phase) for v in vols] == [
        ("pat_01", "DCM", "ED"),
        ("pat_01", "DCM", "ES"),
        ("pat_02", "NOR", "ED"),
        ("pat_02", "NOR", "ES"),
    ]


def test_layout_without_phase_gives_one_volume_per_patient(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for patient in ("a", "b"):
        write_case(root / patient, "image", "label")
    vols = dataset(root, images="./{patient}/image.nii.gz", label_files="./{patient}/label.nii.gz").load(TINY, 0).volumes
    assert [(v.case_id, v.phase) for v in vols] == [("a_NA", "NA"), ("b_NA", "NA")]


def test_cache_hit_is_identical_and_reads_no_nifti(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = dataset(make_folder(tmp_path / "data"))
    progress: list[str] = []
    cold = ds.load(TINY, 0, progress.append).volumes
    assert len(list(cache.glob("nifti-*.npz"))) == 1 and not list(cache.glob("*.tmp"))
    other = NiftiFolder(NiftiFolder.Config(root=str(tmp_path / "data"), labels="1=RV,2=MYO,3=LV"))
    assert other.load(TINY, 0).volumes[0].label.max() == 3  # another label map: another cache entry
    assert len(list(cache.glob("nifti-*.npz"))) == 2

    def no_reading(*args: object) -> None:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(nifti_folder, "read_pair", no_reading)
    warm = ds.load(TINY, 0, progress.append).volumes
    assert "read 3/3" in progress[0] and "from cache" in progress[-1]
    for x, y in zip(cold, warm, strict=True):
        assert (x.case_id, x.phase, x.spacing) == (y.case_id, y.phase, y.spacing)
        assert x.image.tobytes() == y.image.tobytes() and x.label.tobytes() == y.label.tobytes()
        assert x.native is not None and y.native is not None and np.array_equal(x.native.label, y.native.label)
        assert (x.native.resized, x.native.offset) == (y.native.resized, y.native.offset)


def test_fingerprint_follows_file_content_and_config_and_parses_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_folder(tmp_path / "data")
    ds = dataset(root)
    monkeypatch.setattr(nifti_folder, "read_pair", lambda *a: pytest.fail("fingerprint must not parse files"))
    first = ds.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", first) and dataset(root).fingerprint() == first
    path = root / "p02_ES.nii.gz"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched: same content, same data
    assert ds.fingerprint() == first
    path.write_bytes(path.read_bytes() + b"\0")  # changed
    touched = ds.fingerprint()
    assert touched != first
    write_case(root, "p02_ES", seed=9)  # replaced (a fixed file)
    assert ds.fingerprint() not in (first, touched)
    assert NiftiFolder(NiftiFolder.Config(root=str(root), labels="1=RV,2=MYO,3=LV")).fingerprint() != ds.fingerprint()


def test_validate_fills_the_cache_and_refuses_bad_data_without_one(tmp_path: Path, cache: Path) -> None:
    root = make_folder(tmp_path / "data")
    dataset(root).validate(TINY)
    assert len(list(cache.glob("nifti-*.npz"))) == 1
    image = root / "p03_ED.nii.gz"
    write_nifti(image, np.full(SHAPE, np.nan, np.float32))
    with pytest.raises(DataError, match="NaN"):
        dataset(root).validate(TINY)
    assert len(list(cache.glob("nifti-*.npz"))) == 1 and not list(cache.glob("*.tmp"))


def _unmatched_label(root: Path) -> Path:
    write_nifti(root / "p09_ED_gt.nii.gz", np.zeros(SHAPE, np.uint8))
    return root / "p09_ED_gt.nii.gz"


def _image_without_label(root: Path) -> Path:
    (root / "p02_ES_gt.nii.gz").unlink()
    return root / "p02_ES.nii.gz"


def _value_not_in_mapping(root: Path) -> Path:
    label = rtbench_label()
    label[1, 1, 1] = 4
    return write_nifti(root / "p01_ES_gt.nii.gz", label)


def _nan_voxel(root: Path) -> Path:
    image = np.ones(SHAPE, np.float32)
    image[3, 4, 1] = np.nan
    return write_nifti(root / "p02_ED.nii.gz", image)


def _inf_label(root: Path) -> Path:
    label = rtbench_label().astype(np.float32)
    label[0, 0, 0] = np.inf
    return write_nifti(root / "p03_ES_gt.nii.gz", label)


def _shape_mismatch(root: Path) -> Path:
    return write_nifti(root / "p01_ED_gt.nii.gz", np.zeros((20, 17, 3), np.uint8))


def _duplicate_case(root: Path) -> Path:
    write_case(root, "p01_ed")  # the same patient and phase as p01_ED
    return root / "p01_ed.nii.gz"


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (_unmatched_label, "has no image"),
        (_image_without_label, "has no label file"),
        (_value_not_in_mapping, r"label values \[4\] outside \{0, 1, 2, 3\} \(dataset.labels=1=LV,2=MYO,3=RV\)"),
        (_nan_voxel, "1 NaN/inf voxel"),
        (_inf_label, "1 NaN/inf voxel"),
        (_shape_mismatch, "shape"),
        (_duplicate_case, "are both patient p01, phase ED"),
    ],
)
def test_bad_files_are_one_line_data_errors_naming_the_file_and_nothing_is_cached(
    tmp_path: Path, cache: Path, damage: Callable[[Path], Path], match: str
) -> None:
    root = make_folder(tmp_path / "data")
    bad = damage(root)
    with pytest.raises(DataError, match=match) as err:
        dataset(root).validate(TINY)
    message = str(err.value)
    assert str(bad) in message and "\n" not in message and "same command" not in message
    assert not cache.exists() or not any(cache.iterdir())


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"labels": "1:LV,2:MYO,3:RV"}, r"dataset\.labels='1:LV,2:MYO,3:RV': '1:LV' is not VALUE=CLASS; expected VALUE=CLASS pairs"),
        ({"labels": "1=LV,2=MYO"}, r"dataset\.labels='1=LV,2=MYO' maps no value to RV; expected VALUE=CLASS"),
        ({"labels": "1=LV,2=MYO,3=RV,3=BG"}, r"dataset\.labels=.* maps value 3 twice"),
        ({"labels": "1=LV,2=MYO,3=PA"}, r"'3=PA' is not VALUE=CLASS"),
        ({"images": "./{id}.nii.gz"}, r"dataset\.images='\{id\}\.nii\.gz' has an unknown field \{id\}; expected a path"),
        ({"images": "*.nii.gz"}, r"dataset\.images='\*\.nii\.gz' has a wildcard"),
        ({"images": "./{phase}.nii.gz", "label_files": "./{phase}_gt.nii.gz"}, r"has no \{patient\} field"),
        ({"label_files": "./{patient}_gt.nii.gz"}, r"use different fields"),
    ],
)
def test_bad_config_is_a_config_error_naming_the_key_and_the_form(tmp_path: Path, fields: dict[str, str], match: str) -> None:
    args = {"labels": "1=LV,2=MYO,3=RV"} | fields
    with pytest.raises(ConfigError, match=match):
        NiftiFolder.Config(root=str(tmp_path), **args)
    if any(v.startswith("*") for v in args.values()):
        return  # the command line's YAML parser reads a leading * as an alias, before the dataset sees the value
    make_folder(tmp_path / "data")
    with pytest.raises(ConfigError, match=match):  # the same line from the command line
        resolve(["dataset=nifti-folder", f"dataset.root={tmp_path / 'data'}", *(f"dataset.{k}={v}" for k, v in args.items())])


def test_parse_helpers() -> None:
    assert parse_labels("1=LV, 2=myo,3=RV,4=BG", ("RV", "MYO", "LV")) == {1: 3, 2: 2, 3: 1, 4: 0}
    t = parse_template("images", "./{patient}/{patient}_frame{phase}.nii.gz")
    assert t.match("patient001/patient001_frame01.nii.gz") == {"patient": "patient001", "phase": "01"}
    assert t.match("patient001/patient002_frame01.nii.gz") is None  # a repeated field must repeat its value
    assert t.match("patient001/patient001_4d.nii.gz") is None


def test_missing_or_empty_root_and_unset_root(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dataset\.root=PATH"):
        NiftiFolder(NiftiFolder.Config()).load(TINY, 0)
    with pytest.raises(DataError, match="does not exist"):
        dataset(tmp_path / "nowhere").load(TINY, 0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no image matching"):
        dataset(tmp_path / "empty").fingerprint()


def test_max_patients_and_the_roots_protocol(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for group, patient in (("DCM", "a"), ("DCM", "b"), ("HCM", "c"), ("NOR", "d")):
        write_case(root / group, f"{patient}_ED")
    templates = {"images": "./{group}/{patient}_{phase}.nii.gz", "label_files": "./{group}/{patient}_{phase}_gt.nii.gz"}
    vols = dataset(root, **templates).load(Budget(name="t", image_size=16, spacing_mm=2.0, max_patients=3), 0).volumes
    assert sorted((v.patient, v.group) for v in vols) == [("a", "DCM"), ("c", "HCM"), ("d", "NOR")]
    make_folder(tmp_path / "test", patients=("t1",))
    roots = Budget(name="t", image_size=16, spacing_mm=2.0, protocol="roots")
    ds = NiftiFolder(NiftiFolder.Config(root=str(root), test_root=str(tmp_path / "test"), labels="1=LV,2=MYO,3=RV", **templates))
    with pytest.raises(DataError, match="test holds no image matching"):  # the test root must follow the same templates
        ds.load(roots, 0)
    ds = dataset(tmp_path / "test", test_root=str(make_folder(tmp_path / "test2", patients=("t2",))))
    bundle = ds.load(roots, 0)
    assert {v.patient for v in bundle.volumes} == {"t1"} and bundle.test_volumes is not None
    assert {v.patient for v in bundle.test_volumes} == {"t2"}
