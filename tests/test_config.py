"""Config resolution: typed overrides, clear one-line errors, stable hashing."""

from __future__ import annotations

import os
import shutil

import pytest
from test_datasets_acdc import make_root

from rtbench.config import parse_overrides, resolve, spec_from_dict
from rtbench.errors import ConfigError


def test_defaults_resolve_to_synthetic_local_cpu():
    spec = resolve([])
    assert (spec.method, spec.dataset, spec.hardware.name, spec.budget.name, spec.task) == (
        "unet",
        "synthetic-cine",
        "local-cpu",
        "quick",
        "cine",
    )
    assert spec.board == "cine/synthetic-cine/local-cpu/quick"


def test_method_override_is_typed():
    spec = resolve(["method=unet", "method.width=8", "seed=3"])
    assert spec.method_config["width"] == 8 and spec.seed == 3


def test_hash_is_stable_and_sensitive():
    a, b = resolve(["seed=1"]), resolve(["seed=1"])
    assert a.config_hash == b.config_hash and a.run_id == b.run_id
    assert resolve(["seed=2"]).config_hash != a.config_hash
    assert resolve(["seed=1", "method.width=8"]).run_id != a.run_id
    # where it runs is not part of the identity
    assert resolve(["seed=1", "ray.address=127.0.0.1:6379", "runs.dir=/tmp/x"]).config_hash == a.config_hash


def test_budget_override_is_a_different_board():
    plain, tweaked = resolve(["budget=smoke"]), resolve(["budget=smoke", "budget.epochs=2"])
    assert plain.board.endswith("/smoke")
    assert tweaked.board != plain.board and tweaked.budget_label.startswith("smoke+")
    assert tweaked.budget.epochs == 2


def test_plugin_method_by_module_path():
    spec = resolve(["method=plugin_method:TinyUNet", "method.widths=4"])
    assert spec.method_config == {"widths": "4"}


def test_parse_overrides_keeps_equals_in_values():
    assert parse_overrides(["dataset.root=/a=b"]) == {"dataset.root": "/a=b"}


def test_dataset_root_is_made_absolute_and_checked(tmp_path, monkeypatch):
    make_root(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    spec = resolve(["dataset=acdc", "dataset.root=data"])
    assert spec.dataset_config["root"] == str((tmp_path / "data").resolve())
    assert spec.board.startswith(f"cine/acdc@{spec.data_fingerprint[:6]}/")


def test_fixing_a_data_file_gives_a_new_run_id_moving_the_data_does_not(tmp_path):
    root = make_root(tmp_path / "data")
    before = resolve(["dataset=acdc", f"dataset.root={root}"])
    assert resolve(["dataset=acdc", f"dataset.root={root}"]).run_id == before.run_id
    image = sorted(root.glob("patient*/patient*_frame01.nii.gz"))[0]
    image.write_bytes(image.read_bytes())  # the same bytes, rewritten: a new mtime, same data
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    assert resolve(["dataset=acdc", f"dataset.root={root}"]).run_id == before.run_id
    moved = tmp_path / "elsewhere" / "acdc"  # the same files on another path (another machine, a new copy)
    shutil.copytree(root, moved)
    there = resolve(["dataset=acdc", f"dataset.root={moved}"])
    assert (there.board, there.run_id, there.data_fingerprint) == (before.board, before.run_id, before.data_fingerprint)
    assert there.dataset_config["root"] == str(moved.resolve())  # the run still reads from where it was told
    assert spec_from_dict(there.to_dict()).dataset_config["root"] == str(moved.resolve())  # and so do its trials
    image.write_bytes(image.read_bytes() + b"\0")  # a fixed (changed) file
    after = resolve(["dataset=acdc", f"dataset.root={root}"])
    assert after.data_fingerprint != before.data_fingerprint and after.run_id != before.run_id
    with pytest.raises(ConfigError, match=r"dataset.root='nowhere' does not exist"):
        resolve(["dataset=acdc", "dataset.root=nowhere"])


@pytest.mark.parametrize("value", ["{patient}_img.nii.gz", "*.nii", "%x", "@home", "${not_an_interpolation}"])
def test_a_string_option_is_taken_as_typed(value):
    spec = resolve(["method=plugin_method:TinyUNet", f"method.widths={value}"])
    assert spec.method_config["widths"] == value


@pytest.mark.parametrize("method", ["echonas", "unet-resnet18"])
def test_a_method_of_an_echo_space_is_on_the_echo_task_and_refuses_others(method: str) -> None:
    spec = resolve([f"method={method}", "budget=smoke"])
    assert (spec.task, spec.dataset) == ("echo", "synthetic-echo")
    for args in (["task=cine"], ["dataset=synthetic-cine"]):
        with pytest.raises(ConfigError, match=rf"method '{method}' builds .* for task echo; got task=cine .*add task=echo"):
            resolve([f"method={method}", *args])
    assert resolve(["method=rtdnas"]).task == "cine"  # a space without tasks keeps the cine default
