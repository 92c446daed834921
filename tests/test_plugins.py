"""Third-party methods and spaces: entry points through Ray workers, `bench methods` with a broken plug-in,
Config errors, search errors with tracebacks, provenance in the run id, and a method's isolation from the test fold."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PLUGINS

from rtbench.budgets import get_budget
from rtbench.cli import main
from rtbench.config import resolve
from rtbench.datasets.synthetic_cine import SyntheticCine
from rtbench.hardware.latency_model import LatencyModel
from rtbench.hardware.profile import load_profile
from rtbench.methods import METHODS, SearchContext
from rtbench.registry import source_files
from rtbench.spaces import SPACES
from rtbench.tasks import CINE

SMOKE = ["budget=smoke", "dataset=synthetic-cine", "hardware=local-cpu"]
GOOD, BROKEN = PLUGINS / "good", PLUGINS / "broken"
RANDOM_SEARCH = GOOD / "rtbench_demo_plugin" / "method.py"


@pytest.fixture
def plugin_installed(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The good plug-in on the driver's sys.path (Ray workers have it on PYTHONPATH, see conftest)."""
    monkeypatch.syspath_prepend(str(GOOD))
    return GOOD


def _record(tmp_path: Path) -> dict:
    (path,) = list(tmp_path.glob("*/*/record.json"))
    return json.loads(path.read_text())


def test_a_plugin_method_and_its_own_space_run_end_to_end_through_ray_workers(ray_session, plugin_installed, tmp_path) -> None:
    assert "demo-random" in METHODS.names() and "demo-stack" in SPACES.names()
    assert main(["submit", "method=demo-random", *SMOKE, f"runs.dir={tmp_path}"]) == 0
    rec = _record(tmp_path)
    assert rec["status"] == "complete", rec["failures"]
    assert rec["candidates"] and {c["space"] for c in rec["candidates"]} == {"demo-stack"}
    for cand in rec["candidates"]:  # trained, scored and timed by the harness in Ray workers
        assert cand["complete"] and cand["measurement"]["latency"]["p90_ms"] > 0 and cand["folds"][0]["per_volume"]
        assert cand["predicted"]["latency_ms"] <= CINE.latency_bound_ms
    prov = rec["config"]["method_provenance"]
    assert (prov["package"], prov["version"], prov["module"]) == ("rtbench-demo-plugin", "0.1", "rtbench_demo_plugin.method")
    assert len(prov["source_sha256"]) == 64


def test_the_latency_aware_random_search_uses_only_the_context() -> None:
    source = RANDOM_SEARCH.read_text()
    assert len(source.splitlines()) < 60
    imported = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "dataclasses", "rtbench.errors", "rtbench.methods"}, imported


def test_the_random_search_keeps_only_networks_predicted_under_the_bound(plugin_installed, tmp_path) -> None:
    cls = METHODS.get("demo-random")
    space = SPACES.create("demo-stack")
    budget = get_budget("smoke")
    # a stand-in latency model: 12.5 ms per op instance, so stem + k ops + head costs 12.5 (k + 2) ms
    model = LatencyModel(space, CINE, budget.image_size, "stand-in", lambda inst: 12.5)
    ctx = SearchContext(
        task=CINE,
        budget=budget,
        hardware=load_profile("local-cpu"),
        space=space,
        volumes=SyntheticCine(SyntheticCine.Config()).load(budget, 0).volumes,
        seed=0,
        rng=np.random.default_rng(0),
        device=torch.device("cpu"),
        checkpoint_dir=tmp_path,
        latency_source=lambda sp, options: model,
    )
    cands = cls(cls.Config(samples=40, keep=3)).search(ctx)
    assert 1 <= len(cands) <= 3
    assert all(len(c.genotype["ops"]) <= 2 for c in cands)  # only 1- and 2-op stacks fit under the 50 ms bound
    assert [c.predicted["latency_ms"] for c in cands] == sorted(c.predicted["latency_ms"] for c in cands)


def test_bench_methods_lists_every_method_that_loads_and_names_the_broken_one() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(GOOD), str(BROKEN)])}
    out = subprocess.run([sys.executable, "-m", "rtbench.cli", "methods"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    names = {line.split()[0] for line in lines}
    assert {"unet", "msnas", "rtdnas", "demo-random", "broken-nas"} <= names
    (broken,) = [line for line in lines if line.startswith("broken-nas")]
    assert "BROKEN" in broken and "rtbench_broken_plugin" in broken
    assert not any("BROKEN" in line for line in lines if not line.startswith("broken-nas"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["method=demo-random", "method.keep=0"], "need 1 <= keep <= samples"),  # ConfigError in __post_init__
        (["method=plugin_method:Checked", "method.width=0"], "width must be >= 1, got 0"),  # a plain ValueError
    ],
)
def test_a_method_config_check_stops_with_one_line_before_any_work(plugin_installed, tmp_path, capsys, args, needle) -> None:
    assert main(["submit", *args, *SMOKE, f"runs.dir={tmp_path}"]) == 2
    err = capsys.readouterr()
    lines = [line for line in (err.out + err.err).splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("error:"), lines
    assert not any(tmp_path.iterdir())  # nothing written


def test_an_exception_in_search_is_recorded_with_its_traceback(ray_session, tmp_path) -> None:
    assert main(["submit", "method=plugin_method:Exploding", *SMOKE, f"runs.dir={tmp_path}"]) == 1
    (failure,) = _record(tmp_path)["failures"]
    assert failure["unit"] == "search" and failure["error"] == "RuntimeError: the search exploded on purpose"
    assert 'plugin_method.py", line' in failure["trace"] and "in search" in failure["trace"]


def test_editing_a_methods_source_gives_a_new_run_id(tmp_path, monkeypatch) -> None:
    module = tmp_path / "editable_nas.py"
    module.write_text((Path(__file__).parent / "plugin_method.py").read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    before = resolve([*SMOKE, "method=editable_nas:TinyUNet"])
    assert before.method_provenance["source_sha256"] and before.run_id == resolve([*SMOKE, "method=editable_nas:TinyUNet"]).run_id
    module.write_text(module.read_text() + "\n# an edit\n")
    after = resolve([*SMOKE, "method=editable_nas:TinyUNet"])
    assert after.method_provenance["source_sha256"] != before.method_provenance["source_sha256"]
    assert after.run_id != before.run_id


def test_editing_a_methods_space_gives_a_new_run_id(tmp_path, monkeypatch) -> None:
    """The space's code defines the networks as much as the method's: a space edit must not reuse old results."""
    (tmp_path / "editable_space.py").write_text((GOOD / "rtbench_demo_plugin" / "space.py").read_text())
    (tmp_path / "on_editable_space.py").write_text(
        "from plugin_method import TinyUNet\n\n\nclass OnStack(TinyUNet):\n    space = 'editable_space:StackSpace'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    before = resolve([*SMOKE, "method=on_editable_space:OnStack"])
    assert before.space_provenance["module"] == "editable_space" and before.space_provenance["source_sha256"]
    (tmp_path / "editable_space.py").write_text((tmp_path / "editable_space.py").read_text() + "\n# an edit\n")
    after = resolve([*SMOKE, "method=on_editable_space:OnStack"])
    assert after.method_provenance == before.method_provenance  # the method did not change, its space did
    assert after.space_provenance["source_sha256"] != before.space_provenance["source_sha256"]
    assert after.run_id != before.run_id


def test_a_space_family_hashes_its_folder_and_a_single_file_space_itself() -> None:
    msnas = {p.name for p in source_files(SPACES.get("msnas"))}
    assert {"space.py", "cell.py", "net.py", "supernet.py"} <= msnas  # every file of rtbench/spaces/msnas/
    assert [p.name for p in source_files(SPACES.get("unet"))] == ["unet.py"]  # not every module of rtbench/spaces/
    assert [p.name for p in source_files(METHODS.get("unet"))] == ["unet.py"]


def test_the_search_pool_holds_no_test_patient(ray_session, tmp_path) -> None:
    assert main(["submit", "method=plugin_method:PoolProbe", *SMOKE, f"runs.dir={tmp_path}"]) == 0
    rec = _record(tmp_path)
    (cand,) = rec["candidates"]
    pool = set(cand["label"].removeprefix("pool:").split(","))
    tested = {row["patient"] for fold in cand["folds"] for row in fold["per_volume"]}
    assert pool and tested and not pool & tested
    assert cand["predicted"]["leaked"] == 0.0
