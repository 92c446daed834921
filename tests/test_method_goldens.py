"""Built-in methods propose the same candidates for the same seed at budget=smoke as when the golden file was written.

``tests/golden/smoke_candidates.json`` was captured from the code before the method-interface refactor
(issue 10: registries, SearchContext, folders), with a deterministic stand-in latency table. A change
that is *meant* to alter a method's candidates (e.g. a new GA fitness) rewrites the file on purpose:
``RTBENCH_UPDATE_GOLDEN=1 pytest tests/test_method_goldens.py``, and says so in its commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rtbench.budgets import get_budget
from rtbench.datasets.synthetic_cine import SyntheticCine
from rtbench.hardware.latency_model import LatencyModel
from rtbench.hardware.profile import load_profile
from rtbench.methods import METHODS, SearchContext
from rtbench.spaces import SPACES, OpInstance
from rtbench.tasks import CINE

GOLDEN = Path(__file__).parent / "golden" / "smoke_candidates.json"
MSNAS = SPACES.create("msnas")
OP_MS = {"conv": 0.3, "dil_conv": 0.4, "sep_conv": 0.2, "identity": 0.01, "concat": 0.02, "add": 0.01}
SMALL = {"paths": "2,3", "layers": 4, "scales": 3, "channels": 4}
CASES = {
    "unet": ("unet", {}),
    "rtdnas-default": ("rtdnas", {}),
    "msnas": ("msnas", SMALL),
    "rtdnas": ("rtdnas", {**SMALL, "decoder": "both", "latency_bound_ms": 3.0}),
}
# Tolerance per predicted figure. ``log_weight`` sums log-softmaxes of float32 architecture weights that
# were trained for a few steps, so its last bits follow the torch build's CPU kernels (CI drifted by up
# to 5e-8 relative from the file written here while choosing the same genotypes); float32 carries ~7
# digits, so 1e-5 still catches a changed weight or path. The other figures are float64 sums over the
# stand-in table and stay exact.
PREDICTED_REL = {"log_weight": 1e-5}


def stand_in_ms(inst: OpInstance) -> float:
    """A deterministic stand-in for a latency table (ms): a per-op constant plus a FLOPs term."""
    return OP_MS.get(inst.op, 0.05) + 1e-7 * MSNAS.op_flops(inst)


def candidates(case: str, seed: int, tmp_path: Path) -> list[dict[str, Any]]:
    name, config = CASES[case]
    cls = METHODS.get(name)
    budget = get_budget("smoke")
    ctx = SearchContext(
        task=CINE,
        budget=budget,
        hardware=load_profile("local-cpu"),
        space=SPACES.create(cls.space),
        volumes=SyntheticCine(SyntheticCine.Config()).load(budget, 0).volumes,
        seed=seed,
        rng=np.random.default_rng(seed),
        device=torch.device("cpu"),
        checkpoint_dir=tmp_path,
        latency_source=lambda space, options: LatencyModel(space, CINE, budget.image_size, "stand-in", stand_in_ms),
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        found = cls(cls.Config(**config)).search(ctx)
    finally:
        torch.set_num_threads(threads)
    return [{"label": c.label, "space": c.space, "genotype": c.genotype, "predicted": c.predicted} for c in found]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", list(CASES))
def test_same_candidates_as_the_golden_file(case: str, seed: int, tmp_path: Path) -> None:
    key = f"{CASES[case][0]}-s{seed}" + ("-default" if case == "rtdnas-default" else "")
    got = candidates(case, seed, tmp_path)
    golden = json.loads(GOLDEN.read_text())
    if os.environ.get("RTBENCH_UPDATE_GOLDEN") == "1":
        golden[key] = got
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True))
    want = golden[key]
    assert [(c["label"], c["space"], c["genotype"]) for c in got] == [(c["label"], c["space"], c["genotype"]) for c in want]
    for g, w in zip(got, want):
        assert g["predicted"].keys() == w["predicted"].keys()
        for key_name, value in g["predicted"].items():
            assert value == pytest.approx(w["predicted"][key_name], rel=PREDICTED_REL.get(key_name, 1e-9)), key_name
