"""The ACDC dataset: layout detection, header spacing, validation errors, the cache, and (marked acdc) the real data.

Most tests write tiny fake ACDC folders (official layout, a few pixels) with nibabel; the
``acdc``-marked tests read the real training set at ../shared/data/acdc and skip when it is absent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rtbench.budgets import Budget
from rtbench.datasets import DATASETS, acdc
from rtbench.datasets.acdc import ACDC, read_cine, read_frame, read_info
from rtbench.datasets.base import Volume
from rtbench.errors import ConfigError, DataError

REAL_ACDC = Path(__file__).resolve().parents[2] / "shared" / "data" / "acdc"
TINY = Budget(name="test", image_size=16, spacing_mm=2.0)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("RTBENCH_CACHE", str(folder))
    return folder


def write_nifti(path: Path, data: np.ndarray, zooms: tuple[float, ...]) -> None:
    """Like the ACDC release: identity affine, the spacing only in the header zooms."""
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_zooms(zooms)
    nib.save(img, path)


def make_patient(
    root: Path,
    number: int,
    group: str = "NOR",
    shape: tuple[int, int, int] = (20, 18, 3),
    zooms: tuple[float, float, float] = (1.5, 1.5, 10.0),
    ed: int = 1,
    es: int = 4,
) -> Path:
    """One fake patient folder: Info.cfg, and an image + label for ED and ES, labels a square ring of 1/2/3."""
    folder = root / f"patient{number:03d}"
    folder.mkdir(parents=True)
    (folder / "Info.cfg").write_text(f"ED: {ed}\nES: {es}\nGroup: {group}\nHeight: 180.0\nNbFrame: 10\nWeight: 80.0\n")
    rng = np.random.default_rng(number)
    for frame in (ed, es):
        label = np.zeros(shape, dtype=np.uint8)
        cx, cy = shape[0] // 2, shape[1] // 2
        label[cx - 6 : cx + 6, cy - 6 : cy + 6] = 1
        label[cx - 4 : cx + 4, cy - 4 : cy + 4] = 2
        label[cx - 2 : cx + 2, cy - 2 : cy + 2] = 3
        image = (rng.integers(0, 50, shape) + 100 * label).astype(np.int16)
        write_nifti(folder / f"patient{number:03d}_frame{frame:02d}.nii.gz", image, zooms)
        write_nifti(folder / f"patient{number:03d}_frame{frame:02d}_gt.nii.gz", label, zooms)
    return folder


def make_root(root: Path, groups: tuple[str, ...] = ("DCM", "HCM", "NOR")) -> Path:
    for i, group in enumerate(groups, start=1):
        make_patient(root, i, group)
    return root


def load(root: Path | str, budget: Budget = TINY, test_root: str = "", progress: list[str] | None = None) -> list[Volume]:
    ds = ACDC(ACDC.Config(root=str(root), test_root=test_root))
    return ds.load(budget, 0, progress.append if progress is not None else None).volumes


def test_registered_as_cine_dataset() -> None:
    assert DATASETS.get("acdc") is ACDC and ACDC.task == "cine"


def test_loads_official_layout_at_the_budget_grid(tmp_path: Path) -> None:
    root = make_root(tmp_path / "acdc")
    vols = load(root)
    assert [v.case_id for v in vols] == [f"patient00{i}_{ph}" for i in (1, 2, 3) for ph in ("ED", "ES")]
    assert [v.group for v in vols[::2]] == ["DCM", "HCM", "NOR"]
    v = vols[0]
    assert v.image.shape == v.label.shape == (3, 16, 16) and v.image.dtype == np.float32 and v.label.dtype == np.uint8
    assert v.spacing == (10.0, 2.0, 2.0)
    assert v.meta["frame"] == 1 and v.meta["source_spacing"] == [10.0, 1.5, 1.5]
    assert abs(float(v.image.mean())) < 1e-4 and abs(float(v.image.std()) - 1.0) < 1e-3
    # resampled by the header zooms (1.5 mm -> 2 mm; the affine is the identity): a 12 x 12 px = 18 mm square is 9 x 9 px
    assert abs(int((v.label[0] > 0).sum()) - 81) <= 18
    assert set(np.unique(v.label)) == {0, 1, 2, 3}


def test_root_may_be_the_release_folder_holding_training(tmp_path: Path) -> None:
    make_root(tmp_path / "release" / "training")
    progress: list[str] = []
    a = load(tmp_path / "release", progress=progress)
    b = load(tmp_path / "release" / "training", progress=progress)  # same folder: the cache is shared
    assert [v.case_id for v in a] == [v.case_id for v in b]
    assert "read 3/3" in progress[0] and "from cache" in progress[1]


def test_cache_hit_is_identical_and_reads_no_nifti(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path / "acdc")
    cold = load(root)
    assert len(list(cache.glob("acdc-*.npz"))) == 1 and not list(cache.glob("*.tmp"))

    def no_reading(*args: object) -> None:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(acdc, "read_frame", no_reading)
    warm = load(root)
    for x, y in zip(cold, warm, strict=True):
        for field in ("case_id", "patient", "group", "phase", "spacing", "meta"):
            assert getattr(x, field) == getattr(y, field)
        assert x.image.tobytes() == y.image.tobytes() and x.label.tobytes() == y.label.tobytes()
        assert y.image.dtype == np.float32 and y.label.dtype == np.uint8


def test_cache_key_follows_files_grid_and_a_corrupt_cache_is_rebuilt(tmp_path: Path, cache: Path) -> None:
    root = make_root(tmp_path / "acdc")
    load(root)
    (first,) = cache.glob("acdc-*.npz")
    load(root, Budget(name="t", image_size=12, spacing_mm=2.0))  # another grid: another entry
    other_grid = set(cache.glob("acdc-*.npz")) - {first}
    assert len(other_grid) == 1
    info = root / "patient001" / "Info.cfg"
    info.write_text(info.read_text() + "\n")  # a changed file: another entry, which supersedes the first
    load(root)
    entries = sorted(cache.glob("acdc-*.npz"))
    assert len(entries) == 2 and not first.exists(), "the entry of the files' old state is removed"
    assert other_grid < set(entries), "another grid's entry is not superseded"
    load(root, Budget(name="t2", image_size=16, spacing_mm=2.0, max_patients=2))  # other files read: their own slot
    assert len(list(cache.glob("acdc-*.npz"))) == 3, "another patient selection supersedes nothing"
    entries = sorted(cache.glob("acdc-*.npz"))
    for entry in entries:
        entry.write_bytes(b"not a zip file")
    vols = load(root)
    assert len(vols) == 6 and vols[0].image.shape == (3, 16, 16)


def test_max_patients_takes_a_group_stratified_subset(tmp_path: Path) -> None:
    root = make_root(tmp_path / "acdc", groups=("DCM", "DCM", "DCM", "HCM", "HCM", "NOR"))
    vols = load(root, Budget(name="t", image_size=16, spacing_mm=2.0, max_patients=3))
    assert sorted({(v.patient, v.group) for v in vols}) == [("patient001", "DCM"), ("patient004", "HCM"), ("patient006", "NOR")]


def test_empty_root_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"dataset\.root=PATH"):
        ACDC().load(TINY, 0)


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is empty"),
        (lambda p: (p / "notes").mkdir(parents=True), "holds no patientNNN"),
    ],
)
def test_bad_root_is_a_data_error(tmp_path: Path, setup: Callable[[Path], object], match: str) -> None:
    root = tmp_path / "acdc"
    setup(root)
    with pytest.raises(DataError, match=match) as err:
        load(root)
    assert str(root) in str(err.value)


def _drop_info(folder: Path) -> Path:
    (folder / "Info.cfg").unlink()
    return folder / "Info.cfg"


def _info_without_group(folder: Path) -> Path:
    (folder / "Info.cfg").write_text("ED: 1\nES: 4\n")
    return folder / "Info.cfg"


def _label_shape_mismatch(folder: Path) -> Path:
    path = folder / "patient001_frame04_gt.nii.gz"
    write_nifti(path, np.zeros((20, 17, 3), dtype=np.uint8), (1.5, 1.5, 10.0))
    return path


def _label_out_of_range(folder: Path) -> Path:
    path = folder / "patient001_frame01_gt.nii.gz"
    label = np.zeros((20, 18, 3), dtype=np.uint8)
    label[5, 5, 1] = 4
    write_nifti(path, label, (1.5, 1.5, 10.0))
    return path


def _corrupt_image(folder: Path) -> Path:
    path = folder / "patient001_frame04.nii.gz"
    path.write_bytes(path.read_bytes()[:100])  # truncated gzip
    return path


def _nan_image(folder: Path) -> Path:
    path = folder / "patient001_frame01.nii.gz"
    image = np.ones((20, 18, 3), dtype=np.float32)
    image[2, 3, 1] = np.nan
    image[4, 3, 1] = np.inf
    write_nifti(path, image, (1.5, 1.5, 10.0))
    return path


def _missing_label(folder: Path) -> Path:
    path = folder / "patient001_frame04_gt.nii.gz"
    path.unlink()
    return path


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (_drop_info, "missing"),
        (_info_without_group, "has no Group"),
        (_label_shape_mismatch, "shape"),
        (_label_out_of_range, "outside"),
        (_corrupt_image, "cannot read NIfTI"),
        (_missing_label, "missing"),
        (_nan_image, "has 2 NaN/inf voxel"),
    ],
)
def test_bad_files_are_data_errors_naming_the_file_and_nothing_is_cached(
    tmp_path: Path, cache: Path, damage: Callable[[Path], Path], match: str
) -> None:
    root = make_root(tmp_path / "acdc")
    bad = damage(root / "patient001")
    with pytest.raises(DataError, match=match) as err:
        load(root)
    assert str(bad.resolve()) in str(err.value) or str(bad) in str(err.value)
    assert not cache.exists() or not any(cache.iterdir())
    with pytest.raises(DataError, match=match) as err:  # the driver's validation pass: the same one line
        ACDC(ACDC.Config(root=str(root))).validate(TINY)
    assert "\n" not in str(err.value) and "same command" not in str(err.value)
    assert not cache.exists() or not any(cache.iterdir())


def test_validate_fills_the_cache_the_trials_then_read(tmp_path: Path, cache: Path) -> None:
    root = make_root(tmp_path / "acdc")
    ACDC(ACDC.Config(root=str(root))).validate(TINY)
    assert len(list(cache.glob("acdc-*.npz"))) == 1
    progress: list[str] = []
    load(root, progress=progress)
    assert "from cache" in progress[0]


def test_fingerprint_follows_every_file_read_and_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path / "acdc")
    ds = ACDC(ACDC.Config(root=str(root)))
    monkeypatch.setattr(acdc, "read_frame", lambda *a: pytest.fail("fingerprint must not parse NIfTI files"))
    first = ds.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", first) and ACDC(ACDC.Config(root=str(root))).fingerprint() == first
    label = root / "patient002" / "patient002_frame04_gt.nii.gz"
    st = label.stat()
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched: same content, same data
    assert ds.fingerprint() == first
    label.write_bytes(label.read_bytes()[:-1] + bytes([label.read_bytes()[-1] ^ 1]))  # one byte changed, same size
    touched = ds.fingerprint()
    assert touched != first
    (root / "notes.txt").write_text("not read by the dataset")  # a file it does not read changes nothing
    assert ds.fingerprint() == touched
    make_patient(root, 4, "RV")  # a new patient
    assert ds.fingerprint() != touched
    with pytest.raises(ConfigError, match=r"dataset\.root=PATH"):
        ACDC().fingerprint()


def test_roots_protocol_reads_the_test_root(tmp_path: Path) -> None:
    make_root(tmp_path / "release" / "training")
    make_patient(tmp_path / "release" / "testing", 101, "RV")
    roots = Budget(name="t", image_size=16, spacing_mm=2.0, protocol="roots")
    bundle = ACDC(ACDC.Config(root=str(tmp_path / "release"), test_root=str(tmp_path / "release"))).load(roots, 0)
    assert {v.patient for v in bundle.volumes} == {"patient001", "patient002", "patient003"}
    assert bundle.test_volumes is not None and {v.patient for v in bundle.test_volumes} == {"patient101"}
    with pytest.raises(ConfigError, match="test_root"):
        ACDC(ACDC.Config(root=str(tmp_path / "release"))).load(roots, 0)
    with pytest.raises(ConfigError, match="protocol=roots"):
        load(tmp_path / "release", test_root=str(tmp_path / "release"))
    with pytest.raises(ConfigError, match="share patients"):
        ACDC(ACDC.Config(root=str(tmp_path / "release"), test_root=str(tmp_path / "release" / "training"))).load(roots, 0)


def test_read_cine_gives_time_slices_rows_cols(tmp_path: Path) -> None:
    folder = make_patient(tmp_path, 90)
    write_nifti(folder / "patient090_4d.nii.gz", np.zeros((20, 18, 3, 7), dtype=np.int16), (1.5, 1.5, 10.0, 1.0))
    cine, spacing = read_cine(folder)
    assert cine.shape == (7, 3, 20, 18) and cine.dtype == np.float32 and spacing == (10.0, 1.5, 1.5)
    with pytest.raises(DataError, match="patient001_4d.nii.gz"):
        read_cine(make_patient(tmp_path, 1))


def test_read_info_parses_key_value_lines(tmp_path: Path) -> None:
    path = tmp_path / "Info.cfg"
    path.write_text("ED: 1\nES: 12\nGroup: DCM\nHeight: 184.0\n")
    assert read_info(path) == {"ED": "1", "ES": "12", "Group": "DCM", "Height": "184.0"}


# --- the real ACDC training set ------------------------------------------------------------------------

needs_acdc = pytest.mark.skipif(not (REAL_ACDC / "training").is_dir(), reason=f"real ACDC data not found at {REAL_ACDC}")


@pytest.mark.acdc
@needs_acdc
def test_real_acdc_few_patients_at_128px_1p8mm() -> None:
    budget = Budget(name="quick", image_size=128, spacing_mm=1.8, max_patients=5)
    vols = load(REAL_ACDC, budget)
    assert len(vols) == 10
    assert sorted({v.group for v in vols}) == ["DCM", "HCM", "MINF", "NOR", "RV"]  # one patient per group
    for v in vols:
        assert v.image.shape == v.label.shape and v.image.shape[1:] == (128, 128) and 6 <= v.num_slices <= 21
        assert set(np.unique(v.label)) == {0, 1, 2, 3}
        info = read_info(REAL_ACDC / "training" / v.patient / "Info.cfg")
        assert v.meta["frame"] == int(info[v.phase]) and v.group == info["Group"]
        header = nib.load(v.meta["source"]).header
        zx, zy, zs = (float(z) for z in header.get_zooms()[:3])
        assert v.meta["source_spacing"] == [zs, zx, zy] and v.spacing == (zs, 1.8, 1.8)
        # resampled with the header zooms and nothing cropped: labelled area in mm^2 is preserved
        gt = np.asarray(nib.load(v.meta["source"].replace(".nii.gz", "_gt.nii.gz")).dataobj)
        area_src = float((gt > 0).sum()) * zx * zy
        area_out = float((v.label > 0).sum()) * 1.8 * 1.8
        assert abs(area_out - area_src) < 0.05 * area_src, v.case_id
        # the native grid is the file's own label map, uncropped, at the header spacing
        assert v.native is not None and np.array_equal(v.native.label, np.moveaxis(gt, 2, 0))
        assert v.native.spacing == (zs, zx, zy)


@pytest.mark.acdc
@needs_acdc
def test_real_acdc_cine_sequence_of_patient090() -> None:
    """The 4D file holds every frame; frame numbers are 1-based, so the ED frame is cine[ED - 1]."""
    folder = REAL_ACDC / "training" / "patient090"
    cine, spacing = read_cine(folder)
    info = read_info(folder / "Info.cfg")
    for phase in ("ED", "ES"):
        frame = int(info[phase])
        stem = folder / f"patient090_frame{frame:02d}"
        image, _, (zx, zy, zs) = read_frame(Path(f"{stem}.nii.gz"), Path(f"{stem}_gt.nii.gz"))
        assert cine.shape == (int(info["NbFrame"]), *image.shape) and spacing == (zs, zx, zy)
        assert np.array_equal(cine[frame - 1], image)
