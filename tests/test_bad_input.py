"""The bad-input catalogue: every mistake a user can make on `bench submit` stops before any work.

One parametrized case per mistake. Each asserts exit status 2, exactly one printed line (``error:
...``) naming the key, value or file and what was expected, and an unchanged run store (nothing
written under ``runs.dir``). Data mistakes are found by the validation pass on the driver before
Ray starts, so no case here starts Ray.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_datasets_acdc import (
    _corrupt_image,
    _drop_info,
    _info_without_group,
    _label_out_of_range,
    _label_shape_mismatch,
    _missing_label,
    _nan_image,
    make_root,
)

from rtbench.cli import main

SMOKE = ["budget=smoke", "hardware=local-cpu"]

CASES: list[tuple[str, list[str], str]] = [
    # keys and names
    ("not key=value", ["method"], "'method' is not key=value"),
    ("key twice", ["seed=1", "seed=2"], "key 'seed' is given twice"),
    ("unknown key", ["colour=red"], "unknown key 'colour'"),
    ("unknown method key", ["method.widht=8"], "unknown key 'method.widht' for method 'unet'; valid keys: method.width"),
    ("unknown ray key", ["ray.cpus=3"], "unknown key 'ray.cpus'; valid keys: ray.address"),
    ("unknown method", ["method=nope"], "unknown method 'nope'; valid methods: "),
    ("unknown dataset", ["dataset=nope"], "unknown dataset 'nope'; valid datasets: "),
    ("unknown profile", ["hardware=tpu"], "unknown hardware profile 'tpu'; valid profiles: cpu-4t, cuda, local-cpu"),
    ("unknown budget", ["budget=huge"], "unknown budget 'huge'; valid budgets: smoke, quick, paper"),
    ("profile file not found", ["hardware=/no/such/profile.yaml"], "hardware='/no/such/profile.yaml': file not found"),
    ("method not a Method", ["method=os:path"], "is not a subclass of rtbench.methods.Method"),
    ("method not importable", ["method=no_such_module:X"], "cannot import it"),
    ("hardware.name", ["hardware.name=x"], "hardware.name cannot be overridden"),
    # types and choices
    ("method type", ["method.width=wide"], "method.width='wide' is not a valid int"),
    ("budget type", ["budget.epochs=2.5"], "budget.epochs='2.5' is not a valid int"),
    ("seed type", ["seed=x"], "seed='x' is not a valid int"),
    ("protocol choice", ["budget.protocol=loo"], "budget.protocol='loo' is not valid"),
    ("device choice", ["device=gpu"], "device='gpu' is not valid"),
    ("profile device choice", ["hardware.device=tpu"], "device='tpu' is not valid"),
    # ranges
    ("negative epochs", ["budget.epochs=-3"], "budget.epochs=-3 is out of range; expected >= 1"),
    ("zero batch size", ["budget.batch_size=0"], "budget.batch_size=0 is out of range; expected >= 1"),
    ("zero image size", ["budget.image_size=0"], "budget.image_size=0 is out of range; expected >= 8"),
    ("test fraction above 1", ["budget.test_fraction=1.5"], "budget.test_fraction=1.5 is out of range; expected strictly between 0 and 1"),
    ("zero width", ["method.width=0"], "method.width=0 is out of range; expected >= 1"),
    ("zero min queries", ["hardware.min_queries=0"], "hardware.min_queries=0 is out of range; expected >= 1"),
    ("rtdnas channels", ["method=rtdnas", "method.channels=6"], "method.channels=6 is out of range; expected a multiple of 4"),
    ("YAML-like value", ["method=rtdnas", "method.paths={3}"], "method.paths='{3}' must be a comma list of integers"),
    ("rtdnas paths", ["method=rtdnas", "method.paths=0"], "method.paths='0' must list distinct numbers of paths N_l >= 1"),
    ("plug-in ValueError", ["method=plugin_method:Checked", "method.width=0"], "width must be >= 1, got 0"),
    # data roots
    ("acdc without root", ["dataset=acdc"], "dataset=acdc needs its data folder: set dataset.root=PATH"),
    ("root does not exist", ["dataset=acdc", "dataset.root=/no/such/folder"], "dataset.root='/no/such/folder' does not exist"),
    ("test_root without roots", ["dataset=acdc", "dataset.root={root}", "dataset.test_root={root}"], "dataset.test_root is set"),
]


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    out = tmp_path / "runs"
    out.mkdir()
    return out


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize(("case", "args", "needle"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_argument_stops_with_one_line_and_writes_nothing(case, args, needle, runs, tmp_path, capsys) -> None:
    root = make_root(tmp_path / "acdc")
    args = [a.replace("{root}", str(root)) for a in args]
    given = {a.split("=")[0] for a in args}
    defaults = [a for a in SMOKE if a.split("=")[0] not in given]
    assert main(["submit", *defaults, *args, f"runs.dir={runs}"]) == 2
    assert needle in _one_error_line(capsys)
    assert not any(runs.iterdir())


def test_runs_dir_that_is_a_file_is_refused(tmp_path, capsys) -> None:
    not_a_folder = tmp_path / "runs.txt"
    not_a_folder.write_text("my notes\n")
    assert main(["submit", *SMOKE, f"runs.dir={not_a_folder}"]) == 2
    line = _one_error_line(capsys)
    assert str(not_a_folder) in line and "not a folder" in line
    assert not_a_folder.read_text() == "my notes\n"


DATA_CASES: list[tuple[Callable[[Path], Path], str]] = [
    (_drop_info, "missing"),
    (_info_without_group, "has no Group"),
    (_label_shape_mismatch, "shape"),
    (_label_out_of_range, "outside"),
    (_corrupt_image, "cannot read NIfTI"),
    (_missing_label, "missing"),
    (_nan_image, "NaN/inf voxel"),
]


@pytest.mark.parametrize(("damage", "needle"), DATA_CASES, ids=[d.__name__.strip("_") for d, _ in DATA_CASES])
def test_bad_data_is_found_before_any_trial_naming_the_file(damage, needle, runs, tmp_path, capsys) -> None:
    root = make_root(tmp_path / "acdc")
    bad = damage(root / "patient001")
    assert main(["submit", *SMOKE, "dataset=acdc", f"dataset.root={root}", f"runs.dir={runs}"]) == 2
    line = _one_error_line(capsys)
    assert needle in line and bad.name in line, line
    assert "again" not in line  # no advice to run the same command again
    assert not any(runs.iterdir())  # no partial record, no run folder
