"""The CAMUS loader: its layout in NIfTI and MetaImage, the myocardium label, every bad-input error, the cache, the fingerprint.

The tests write tiny CAMUS-like folders (``patientNNNN/patientNNNN_{2CH,4CH}_{ED,ES}[_gt]`` in
``.nii.gz`` with nibabel, or ``.mhd`` + ``.raw`` written by hand from the MetaImage format), so the
MetaImage reader is checked against files it did not write.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rtbench.budgets import Budget
from rtbench.config import resolve
from rtbench.datasets import DATASETS
from rtbench.datasets.base import Volume
from rtbench.datasets.camus import CAMUS
from rtbench.datasets.metaimage import read_metaimage
from rtbench.errors import ConfigError, DataError

TINY = Budget(name="test", image_size=24, spacing_mm=1.0)
SHAPE = (20, 30)  # (X lateral, Y depth) as stored: x first
SPACING = (0.9, 0.6)  # (x, y) mm


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("RTBENCH_CACHE", str(folder))
    return folder


def frame_arrays(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(image, label) of shape SHAPE (x, y): a horseshoe-ish layering of CAMUS labels 1/2/3 and a gradient image."""
    label = np.zeros(SHAPE, dtype=np.uint8)
    label[4:16, 5:22] = 2  # myocardium
    label[7:13, 8:22] = 1  # LV cavity
    label[6:14, 22:28] = 3  # left atrium
    rng = np.random.default_rng(seed)
    image = (rng.integers(0, 40, SHAPE) + 60 * label + np.arange(SHAPE[1])[None, :]).astype(np.uint8)
    return image, label


def write_nifti(path: Path, data: np.ndarray, spacing: tuple[float, ...]) -> None:
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_zooms(spacing)
    nib.save(img, path)


def write_mhd(path: Path, data: np.ndarray, spacing: tuple[float, ...], compressed: bool = False) -> None:
    """An ITK-style MetaImage: ``data`` indexed (x, y[, z]), written x fastest, 3D with one slice like CAMUS's."""
    volume = data[..., None] if data.ndim == 2 else data
    blob = np.ascontiguousarray(volume.transpose(2, 1, 0)).astype("<u1" if data.dtype == np.uint8 else "<f4").tobytes()
    raw = path.with_suffix(".zraw" if compressed else ".raw")
    raw.write_bytes(zlib.compress(blob) if compressed else blob)
    etype = "MET_UCHAR" if data.dtype == np.uint8 else "MET_FLOAT"
    dims = " ".join(str(d) for d in volume.shape)
    lines = [
        "ObjectType = Image",
        "NDims = 3",
        "BinaryData = True",
        "BinaryDataByteOrderMSB = False",
        f"CompressedData = {compressed}",
        "TransformMatrix = 1 0 0 0 1 0 0 0 1",
        "Offset = 0 0 0",
        f"ElementSpacing = {spacing[0]} {spacing[1]} 1.54",
        f"DimSize = {dims}",
        f"ElementType = {etype}",
        f"ElementDataFile = {raw.name}",
    ]
    path.write_text("\n".join(lines) + "\n")


def make_patient(root: Path, number: int, fmt: str = ".nii.gz", quality: str | None = "Good") -> Path:
    folder = root / f"patient{number:04d}"
    folder.mkdir(parents=True)
    for v, view in enumerate(("2CH", "4CH")):
        if quality is not None:
            (folder / f"Info_{view}.cfg").write_text(f"ED: 1\nES: 14\nNbFrame: 15\nSex: F\nAge: 60\nImageQuality: {quality}\n")
        for p, phase in enumerate(("ED", "ES")):
            image, label = frame_arrays(100 * number + 10 * v + p)
            for suffix, data in (("", image), ("_gt", label)):
                path = folder / f"patient{number:04d}_{view}_{phase}{suffix}{fmt}"
                (write_nifti if fmt == ".nii.gz" else write_mhd)(path, data, SPACING)
    return folder


def make_root(root: Path, fmt: str = ".nii.gz", qualities: tuple[str, ...] = ("Good", "Medium", "Poor")) -> Path:
    for i, quality in enumerate(qualities, start=1):
        make_patient(root, i, fmt, quality)
    return root


def load(root: Path | str, budget: Budget = TINY, progress: list[str] | None = None, **config: str) -> list[Volume]:
    ds = CAMUS(CAMUS.Config(root=str(root), **config))
    return ds.load(budget, 0, progress.append if progress is not None else None).volumes


def test_registered_as_an_echo_dataset() -> None:
    assert DATASETS.get("camus") is CAMUS and CAMUS.task == "echo"


@pytest.mark.parametrize("fmt", [".nii.gz", ".mhd"])
def test_loads_the_layout_myocardium_only_at_the_budget_grid(tmp_path: Path, fmt: str) -> None:
    root = make_root(tmp_path / "camus", fmt)
    vols = load(root)
    assert len(vols) == 3 * 4
    assert vols[0].case_id == "patient0001_2CH_ED" and {v.phase for v in vols} == {"ED", "ES"}
    assert [v.group for v in vols[::4]] == ["Good", "Medium", "Poor"] and vols[0].meta["view"] == "2CH"
    for v in vols:
        assert v.image.shape == v.label.shape == (1, 24, 24) and v.image.dtype == np.float32 and v.label.dtype == np.uint8
        assert set(np.unique(v.label)) == {0, 1}
        assert v.spacing[1:] == (1.0, 1.0)
        # the native grid: rows along y (depth, 30 px at 0.6 mm), columns along x (20 px at 0.9 mm)
        assert v.native is not None and v.native.shape == (1, 30, 20) and v.native.spacing[1:] == pytest.approx((0.6, 0.9))
        _, label = frame_arrays(0)
        assert np.array_equal(v.native.label[0], (label == 2).T.astype(np.uint8))  # CAMUS 2 -> class 1, the rest background
    assert len(load(root, views="4CH")) == 3 * 2


def test_nifti_and_metaimage_give_the_same_volumes(tmp_path: Path) -> None:
    a = load(make_root(tmp_path / "nii", ".nii.gz"))
    b = load(make_root(tmp_path / "mhd", ".mhd"))
    for x, y in zip(a, b, strict=True):
        assert x.case_id == y.case_id
        assert np.array_equal(x.image, y.image) and np.array_equal(x.label, y.label) and np.array_equal(x.native.label, y.native.label)


def test_metaimage_reader_reads_compressed_data_and_checks_the_size(tmp_path: Path) -> None:
    image, _ = frame_arrays(3)
    write_mhd(tmp_path / "a.mhd", image, SPACING, compressed=True)
    data, spacing = read_metaimage(tmp_path / "a.mhd")
    assert data.shape == (1, 30, 20) and np.array_equal(data[0], image.T) and spacing == (0.9, 0.6, 1.54)
    write_mhd(tmp_path / "b.mhd", image, SPACING)
    (tmp_path / "b.raw").write_bytes(b"\0" * 10)
    with pytest.raises(DataError, match=r"b\.raw holds 10 bytes; .*b\.mhd expects 600 \(DimSize 20 30 1, MET_UCHAR\)"):
        read_metaimage(tmp_path / "b.mhd")


def test_root_may_be_the_release_folder_and_roots_protocol_reads_testing(tmp_path: Path) -> None:
    make_root(tmp_path / "release" / "training")
    make_patient(tmp_path / "release" / "testing", 7)
    ds = CAMUS(CAMUS.Config(root=str(tmp_path / "release"), test_root=str(tmp_path / "release")))
    bundle = ds.load(Budget(name="t", image_size=24, spacing_mm=1.0, protocol="roots"), 0)
    assert len(bundle.volumes) == 12 and bundle.test_volumes is not None and {v.patient for v in bundle.test_volumes} == {"patient0007"}


def test_group_is_na_without_info_and_max_patients_stratifies(tmp_path: Path) -> None:
    root = make_root(tmp_path / "camus", qualities=("Good", "Good", "Poor"))
    make_patient(root, 4, quality=None)
    vols = load(root)
    assert {v.patient: v.group for v in vols}["patient0004"] == "NA"
    picked = {v.group for v in load(root, Budget(name="t", image_size=24, spacing_mm=1.0, max_patients=3))}
    assert picked == {"Good", "Poor", "NA"}


def test_cache_hit_and_validate_fill_the_cache(tmp_path: Path, cache: Path) -> None:
    root = make_root(tmp_path / "camus", ".mhd")
    CAMUS(CAMUS.Config(root=str(root))).validate(TINY)
    assert len(list(cache.glob("camus-*.npz"))) == 1
    progress: list[str] = []
    again = load(root, progress=progress)
    assert "from cache" in progress[0] and len(again) == 12


def test_fingerprint_follows_content_not_location(tmp_path: Path) -> None:
    root = make_root(tmp_path / "a" / "camus", ".mhd")
    first = CAMUS(CAMUS.Config(root=str(root))).fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    moved = tmp_path / "b" / "camus"
    moved.parent.mkdir()
    root.rename(moved)
    assert CAMUS(CAMUS.Config(root=str(moved))).fingerprint() == first
    raw = moved / "patient0002" / "patient0002_4CH_ES_gt.raw"
    blob = bytearray(raw.read_bytes())
    blob[0] ^= 1
    raw.write_bytes(bytes(blob))  # the pixel data of a header counts too
    assert CAMUS(CAMUS.Config(root=str(moved))).fingerprint() != first
    assert CAMUS(CAMUS.Config(root=str(moved), views="4CH")).fingerprint() != first
    with pytest.raises(ConfigError, match=r"dataset=camus needs its data folder: set dataset\.root=PATH"):
        CAMUS().fingerprint()


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"dataset\.root=PATH"):
        CAMUS().load(TINY, 0)
    with pytest.raises(ConfigError, match=r"dataset\.views='3CH' is not valid for camus; expected one or both of 2CH, 4CH"):
        CAMUS.Config(views="3CH")


def test_camus_resolves_to_the_echo_task(tmp_path: Path) -> None:
    root = make_root(tmp_path / "camus")
    spec = resolve(["dataset=camus", f"dataset.root={root}", "budget=smoke"])
    assert (spec.task, spec.dataset) == ("echo", "camus")


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "holds no patientNNNN/ folders"),
        (lambda p: (p / "notes").mkdir(parents=True), "holds no patientNNNN/ folders"),
        (lambda p: p.write_text("x"), "is not a folder"),
    ],
)
def test_bad_root_is_a_data_error_naming_it(tmp_path: Path, setup: Callable[[Path], object], match: str) -> None:
    root = tmp_path / "camus"
    setup(root)
    with pytest.raises(DataError, match=match) as err:
        load(root)
    assert str(root) in str(err.value)


def _missing_label(folder: Path) -> Path:
    path = folder / "patient0001_4CH_ES_gt.nii.gz"
    path.unlink()
    return folder / "patient0001_4CH_ES_gt"


def _missing_raw(folder: Path) -> Path:
    write_mhd(folder / "patient0001_2CH_ED.mhd", frame_arrays(0)[0], SPACING)
    (folder / "patient0001_2CH_ED.nii.gz").unlink()
    path = folder / "patient0001_2CH_ED.raw"
    path.unlink()
    return path


def _shape_mismatch(folder: Path) -> Path:
    path = folder / "patient0001_4CH_ED_gt.nii.gz"
    write_nifti(path, np.zeros((20, 29), dtype=np.uint8), SPACING)
    return path


def _spacing_mismatch(folder: Path) -> Path:
    path = folder / "patient0001_4CH_ED_gt.nii.gz"
    write_nifti(path, frame_arrays(0)[1], (0.9, 0.3))
    return path


def _corrupt_nifti(folder: Path) -> Path:
    path = folder / "patient0001_2CH_ES.nii.gz"
    path.write_bytes(path.read_bytes()[:90])
    return path


def _corrupt_mhd(folder: Path) -> Path:
    (folder / "patient0001_2CH_ES.nii.gz").unlink()
    path = folder / "patient0001_2CH_ES.mhd"
    path.write_text("NDims = 3\nthis is not a header line\nElementDataFile = x.raw\n")
    return path


def _bad_element_type(folder: Path) -> Path:
    (folder / "patient0001_2CH_ES.nii.gz").unlink()
    path = folder / "patient0001_2CH_ES.mhd"
    write_mhd(path, frame_arrays(0)[0], SPACING)
    path.write_text(path.read_text().replace("MET_UCHAR", "MET_RGB"))
    return path


def _label_out_of_range(folder: Path) -> Path:
    path = folder / "patient0001_2CH_ED_gt.nii.gz"
    label = frame_arrays(0)[1]
    label[0, 0] = 5
    write_nifti(path, label, SPACING)
    return path


def _nan_image(folder: Path) -> Path:
    path = folder / "patient0001_4CH_ED.nii.gz"
    image = frame_arrays(0)[0].astype(np.float32)
    image[1, 2] = np.nan
    write_nifti(path, image, SPACING)
    return path


def _not_2d(folder: Path) -> Path:
    path = folder / "patient0001_4CH_ED.nii.gz"
    write_nifti(path, np.zeros((20, 30, 4), dtype=np.uint8), (*SPACING, 1.0))
    return path


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (_missing_label, r"missing .*patient0001_4CH_ES_gt\.nii\.gz \(or \.mhd\); expected an image and a _gt label file"),
        (_missing_raw, r"missing .*patient0001_2CH_ED\.raw, the pixel data named by the MetaImage header"),
        (_shape_mismatch, r"has shape \(29, 20\) but its image patient0001_4CH_ED\.nii\.gz has \(30, 20\); expected equal"),
        (_spacing_mismatch, r"has spacing .* but its image patient0001_4CH_ED\.nii\.gz .*; expected equal"),
        (_corrupt_nifti, "cannot read NIfTI file"),
        (_corrupt_mhd, r"header line 'this is not a header line' is not 'key = value'"),
        (_bad_element_type, r"ElementType = 'MET_RGB'; expected one of MET_UCHAR"),
        (_label_out_of_range, r"has label values \[5\] outside \{0, 1, 2, 3\} \(CAMUS: 0 background, 1 LV cavity, 2 LV myocardium"),
        (_nan_image, r"has 1 NaN/inf voxel"),
        (_not_2d, r"expected a 2D frame \(X, Y\) or \(X, Y, 1\)"),
    ],
)
def test_bad_files_are_one_line_data_errors_naming_the_file_and_nothing_is_cached(
    tmp_path: Path, cache: Path, damage: Callable[[Path], Path], match: str
) -> None:
    root = make_root(tmp_path / "camus")
    bad = damage(root / "patient0001")
    for check in (lambda: load(root), lambda: CAMUS(CAMUS.Config(root=str(root))).validate(TINY)):
        with pytest.raises(DataError, match=match) as err:
            check()
        assert str(bad.resolve()) in str(err.value) or str(bad) in str(err.value), str(err.value)
        assert "\n" not in str(err.value)
        assert not cache.exists() or not any(cache.iterdir())
