"""Random search (``method=random``): Optuna draws every gene, the journaled study resumes, options, a submission."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import FixedTrial, TrialState

from rtbench.budgets import get_budget
from rtbench.cli import main
from rtbench.config import resolve
from rtbench.errors import ConfigError, RTBenchError
from rtbench.hardware.profile import load_profile
from rtbench.methods import METHODS, SearchContext
from rtbench.methods.randomsearch import RandomSearch
from rtbench.methods.randomsearch.genes import suggest_genotype
from rtbench.methods.randomsearch.study import STUDY_FILE, STUDY_NAME, SampleStudy, genotype_key
from rtbench.runner import submit
from rtbench.spaces.msnas import MSNASConfig, MSNASSpace, legal_paths
from rtbench.tasks import CINE

SMALL = {"layers": 4, "scales": 3, "channels": 4}
SPACE = MSNASSpace()


def no_latency(space: Any, options: Any) -> Any:
    raise AssertionError("random asked for the latency model")


def make_ctx(folder: Path, seed: int = 0) -> SearchContext:
    return SearchContext(
        task=CINE,
        budget=get_budget("smoke"),
        hardware=load_profile("local-cpu"),
        space=SPACE,
        volumes=[],  # random search reads no data
        seed=seed,
        rng=np.random.default_rng(seed),
        device=torch.device("cpu"),
        checkpoint_dir=folder,
        latency_source=no_latency,
    )


def sample(folder: Path, seed: int = 0, **options: Any) -> list[dict[str, Any]]:
    method = RandomSearch(RandomSearch.Config(**{**SMALL, **options}))
    return [c.to_dict() for c in method.search(make_ctx(folder, seed))]


def study_of(folder: Path) -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / STUDY_FILE)))
    return optuna.load_study(study_name=STUDY_NAME, storage=storage)


def test_samples_are_valid_buildable_distinct_and_within_the_n_l_range(tmp_path: Path) -> None:
    cands = sample(tmp_path, samples=12, min_paths=2, max_paths=4)
    ctx = make_ctx(tmp_path)
    assert len(cands) == 12 and len({json.dumps(c["genotype"], sort_keys=True) for c in cands}) == 12
    for k, c in enumerate(cands, start=1):
        SPACE.validate(c["genotype"])
        n = len(c["genotype"]["paths"])
        assert 2 <= n <= 4 and c["label"] == f"random #{k} N_l={n}"
        assert c["predicted"] == {"flops": ctx.flops(c["genotype"]), "n_paths": float(n)}
        assert {k: c["genotype"][k] for k in SMALL} == SMALL
        assert all(len(block) == min(2, i) for i, block in enumerate(c["genotype"]["cell"], start=1))
    net = SPACE.build(cands[0]["genotype"], CINE, 32)
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, CINE.num_classes, 32, 32)
    assert {len(c["genotype"]["paths"]) for c in cands} == {2, 3, 4}  # the range is drawn from, not one value


def test_the_budget_gives_k_when_samples_is_zero(tmp_path: Path) -> None:
    assert len(sample(tmp_path)) == get_budget("smoke").random_samples


def test_optuna_draws_every_gene_and_the_study_records_it(tmp_path: Path) -> None:
    cands = sample(tmp_path, samples=4)
    trials = study_of(tmp_path).get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 4
    cfg = MSNASConfig(**SMALL)
    legal = legal_paths(cfg.layers, cfg.scales)
    for trial, cand in zip(sorted(trials, key=lambda t: t.user_attrs["sample"]), cands):
        assert {"n_paths", "block1_input0", "block1_op0", "block3_op1", "path0"} <= set(trial.params)
        assert trial.value == cand["predicted"]["flops"]
        # replaying the recorded suggestions rebuilds the candidate: Optuna drew it, not another generator
        assert suggest_genotype(FixedTrial(trial.params), cfg, 1, 8, legal) == cand["genotype"] == trial.user_attrs["genotype"]


def test_same_seed_same_samples_other_seed_other_samples(tmp_path: Path) -> None:
    a = sample(tmp_path / "a", seed=0, samples=4)
    assert a == sample(tmp_path / "b", seed=0, samples=4)
    assert [c["genotype"] for c in a] != [c["genotype"] for c in sample(tmp_path / "c", seed=1, samples=4)]


def test_resume_keeps_finished_samples_and_draws_only_new_ones(tmp_path: Path) -> None:
    first = sample(tmp_path / "run", samples=3)
    again = sample(tmp_path / "run", samples=5)
    assert again[:3] == first
    assert all(c["genotype"] not in [f["genotype"] for f in first] for c in again[3:])
    trials = study_of(tmp_path / "run").get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 5, "a finished sample was drawn again"
    assert again == sample(tmp_path / "straight", samples=5)  # resumed == uninterrupted
    assert sample(tmp_path / "run", samples=2) == first[:2]  # fewer than finished: the first K


def test_a_trial_left_running_by_an_interruption_is_drawn_again_identically(tmp_path: Path) -> None:
    sample(tmp_path / "run", samples=2)
    study = study_of(tmp_path / "run")
    killed = study.ask()  # as if the process died between ask and tell
    killed.set_user_attr("sample", 2)
    killed.suggest_int("n_paths", 1, 8)
    assert sample(tmp_path / "run", samples=3) == sample(tmp_path / "straight", samples=3)
    assert study_of(tmp_path / "run").trials[killed.number].state == TrialState.FAIL


def test_repeated_genotypes_are_redrawn_and_recorded_until_the_space_runs_out(tmp_path: Path) -> None:
    # the real spaces repeat rarely (a 2 x 2 grid still has 9216 genotypes), so a space of 3 genotypes drives the study
    def suggest(trial: Any) -> dict[str, Any]:
        return {"x": trial.suggest_int("x", 0, 2)}

    study = SampleStudy(tmp_path, 0, {"toy": 3})
    taken: dict[str, int] = {}
    for k in range(3):
        drawn = study.draw(k, suggest, lambda g: float(g["x"]), taken, "the toy space")
        taken[genotype_key(drawn.genotype)] = k
    assert sorted(s.genotype["x"] for s in study.samples()) == [0, 1, 2]
    pruned = study_of(tmp_path).get_trials(states=(TrialState.PRUNED,))
    assert pruned and all(t.user_attrs["duplicate_of"] < t.user_attrs["sample"] for t in pruned)
    assert SampleStudy(tmp_path, 0, {"toy": 3}).samples() == study.samples()  # redraws resume too
    with pytest.raises(RTBenchError, match="the toy space has too few distinct genotypes"):
        study.draw(3, suggest, lambda g: 0.0, taken, "the toy space")


def test_a_study_of_other_settings_is_refused(tmp_path: Path) -> None:
    sample(tmp_path, samples=2)
    with pytest.raises(RTBenchError, match="other settings"):
        sample(tmp_path, samples=2, min_paths=2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"samples": -1}, "method.samples=-1"),
        ({"min_paths": 0}, "method.min_paths=0"),
        ({"min_paths": 5, "max_paths": 4}, "method.max_paths=4 is out of range; expected >= method.min_paths (5)"),
        ({"max_paths": 99, **SMALL}, "method.max_paths=99 is out of range; a grid of 4 layers x 3 scales has only"),
        ({"layers": 0}, "method.layers=0"),
        ({"channels": 6}, "method.channels=6"),
    ],
)
def test_bad_options_are_refused_naming_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        RandomSearch.Config(**options)


def test_defaults_and_listing(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = RandomSearch.Config()
    assert (cfg.samples, cfg.min_paths, cfg.max_paths, cfg.layers, cfg.scales, cfg.channels) == (0, 1, 8, 10, 4, 8)
    assert METHODS.get("random") is RandomSearch and RandomSearch.space == "msnas"
    assert main(["methods"]) == 0
    assert "random" in capsys.readouterr().out


def test_smoke_submission_trains_and_times_every_sample(ray_session: Any, tmp_path: Path) -> None:
    spec = resolve(
        ["budget=smoke", "dataset=synthetic-cine", "hardware=local-cpu", f"runs.dir={tmp_path}", "method=random"]
        + [f"method.{k}={v}" for k, v in {**SMALL, "samples": 2, "max_paths": 2}.items()]
    )
    res = submit(spec, echo=lambda s: None)
    rec = json.loads((res.run_dir / "record.json").read_text())
    assert rec["status"] == "complete", rec["failures"]
    assert sorted(c["label"].split(" N_l=")[0] for c in rec["candidates"]) == ["random #1", "random #2"]
    for cand in rec["candidates"]:
        assert cand["complete"] and cand["predicted"]["flops"] > 0
        assert 0.0 <= cand["metrics"]["dice_mean"] <= 1.0
        assert cand["measurement"]["latency"]["p90_ms"] > 0
