"""BiX-NAS (``method=bixnas``) and its ``bionet`` space: genotypes, networks, FLOPs, both phases, resume, a submission."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rtbench.budgets import Budget, get_budget, with_overrides
from rtbench.config import resolve
from rtbench.datasets.synthetic_cine import SyntheticCine
from rtbench.errors import ConfigError, RTBenchError
from rtbench.hardware.measure import count_flops
from rtbench.hardware.profile import load_profile
from rtbench.methods import METHODS, SearchContext
from rtbench.methods.bixnas.evolution import gene_options, most_accurate, pareto_front, sample_stage
from rtbench.methods.bixnas.method import BiXNAS, auto_depth
from rtbench.methods.bixnas.phase1 import SelectionMatrices
from rtbench.methods.bixnas.phase2 import PROGRESS
from rtbench.runner import submit
from rtbench.spaces import SPACES
from rtbench.spaces.bionet import (
    MAIN,
    BiONetConfig,
    BiONetSupernet,
    BlockId,
    bionet_genes,
    canonical,
    full_genes,
    live_nodes,
    mean_merge,
    parse_genes,
    skip_id,
    to_genotype,
)
from rtbench.tasks import CINE

SPACE = SPACES.create("bionet")
SMOKE = with_overrides(get_budget("smoke"), ga_population=3)
"""The smoke budget with 3 offspring configurations per generation (keeps each search to a few seconds)."""
TINY = {"iterations": 2, "channels": 4, "stem_channels": 4}
"""Method options of the unit-test searches: T = 2, C = 4 (depth auto: 3 at the smoke budget's 32 px)."""


def tiny_config(**kw: int) -> BiONetConfig:
    return BiONetConfig(**{"iterations": 2, "depth": 3, "channels": 4, "stem_channels": 4, **kw})


@pytest.fixture(scope="module")
def volumes() -> list:
    return SyntheticCine(SyntheticCine.Config()).load(SMOKE, 0).volumes


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """Searches on one thread: faster than fighting other jobs for the cores, and the same on every machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def context(volumes: list, seed: int, path: Path, budget: Budget = SMOKE, report: Any = None) -> SearchContext:
    return SearchContext(
        task=CINE,
        budget=budget,
        hardware=load_profile("local-cpu"),
        space=SPACE,
        volumes=volumes,
        seed=seed,
        rng=np.random.default_rng(seed),
        device=torch.device("cpu"),
        checkpoint_dir=path,
        report=report or (lambda **m: None),
    )


def search(volumes: list, seed: int, path: Path, budget: Budget = SMOKE, report: Any = None, **options: Any) -> list[dict]:
    cfg = BiXNAS.Config(**{**TINY, **options})
    found = BiXNAS(cfg).search(context(volumes, seed, path, budget, report))
    return [{"label": c.label, "genotype": c.genotype, "predicted": c.predicted} for c in found]


# ----------------------------------------------------------------------------- the space


@pytest.mark.parametrize(("seed", "size", "config"), [(0, 32, {"depth": 3}), (1, 64, {}), (2, 64, {"depth": 2, "iterations": 1})])
def test_sampled_networks_build_run_and_count_their_flops(seed: int, size: int, config: dict) -> None:
    rng = np.random.default_rng(seed)
    shape = {"channels": 4, "stem_channels": 4, **config}
    instances = set(SPACE.op_instances(CINE, size, shape))
    for _ in range(3):
        genotype = SPACE.sample_genotype(rng, CINE, size, shape)
        SPACE.validate(genotype)
        net = SPACE.build(genotype, CINE, size)
        assert net(torch.randn(2, 1, size, size)).shape == (2, CINE.num_classes, size, size)
        graph = SPACE.op_graph(genotype, CINE, size)
        assert {n.inst for n in graph} <= instances, "the latency table would miss an op of this network"
        assert sum(SPACE.op_flops(n.inst) for n in graph) == count_flops(net, (1, size, size))


def test_every_op_instance_builds_and_runs() -> None:
    for inst in SPACE.op_instances(CINE, 64, {"channels": 4, "stem_channels": 4}):
        out = SPACE.build_op_instance(inst)(torch.zeros(1, inst.c_in, inst.h, inst.w))
        assert out.shape[1] == inst.c_out


def test_dead_blocks_are_neither_built_nor_counted() -> None:
    config = tiny_config()
    genes = bionet_genes(config)
    # the last decoder at level 1 drops its main input: decoder level 2 and the bridge of iteration 1 go dead
    genes[BlockId(3, 1)] = (skip_id(0),)
    live, bridges = live_nodes(config, genes)
    assert BlockId(3, 2) not in live and BlockId(3, 1) in live and [b.iteration for b in bridges] == [0]
    full, pruned = to_genotype(config, bionet_genes(config)), to_genotype(config, genes)
    net = SPACE.build(pruned, CINE, 32)
    assert "decoder1_2" not in net.norms and net(torch.zeros(1, 1, 32, 32)).shape[-1] == 32
    flops = [sum(SPACE.op_flops(n.inst) for n in SPACE.op_graph(g, CINE, 32)) for g in (full, pruned)]
    assert flops[1] < flops[0]
    # a dead block's gene changes nothing: canonical() gives both genotypes one form
    other = dict(genes)
    other[BlockId(3, 2)] = (MAIN, skip_id(1))
    assert canonical(to_genotype(config, other)) == canonical(pruned)
    assert pruned["decoder"][1][2] == [MAIN, skip_id(2)] and canonical(pruned)["decoder"][1][2] == [MAIN]


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("encoder", 0, 1), [0, 2], "encoder[0][1]=[0, 2] has candidate 2; expected only 0"),
        (("decoder", 1, 0), [], "decoder[1][0]=[] must be a non-empty list"),
        (("decoder", 0, 2), [2, 0], "decoder[0][2]=[2, 0] must be sorted"),
        (("encoder", 1, 2), [0, 9], "encoder[1][2]=[0, 9] has candidate 9; expected ids 0..3"),
    ],
)
def test_validate_names_the_bad_gene(where: tuple[str, int, int], value: list, message: str) -> None:
    genotype = to_genotype(tiny_config(), full_genes(tiny_config()))
    side, t, level = where
    genotype[side][t][level] = value
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        SPACE.validate(genotype)


def test_shape_and_image_size_are_checked() -> None:
    genotype = to_genotype(tiny_config(), full_genes(tiny_config()))
    with pytest.raises(ConfigError, match=r"'decoder' must be a list of 2 iterations"):
        SPACE.validate({**genotype, "decoder": genotype["decoder"][:1]})
    with pytest.raises(ConfigError, match="depth=3 needs an image size that is a multiple of 16 and at least 32"):
        SPACE.build(genotype, CINE, 24)
    assert [auto_depth(s) for s in (32, 48, 64, 128, 224)] == [3, 3, 4, 4, 4]


# ----------------------------------------------------------------------------- one numbering in both phases


def test_phase1_selection_of_a_skip_is_the_network_phase2_builds() -> None:
    """A selection matrix whose every column picks candidate k mixes exactly what the gene {0, k} averages."""
    torch.manual_seed(0)
    config = tiny_config()
    net = BiONetSupernet(config, CINE).eval()
    selection = SelectionMatrices(config)
    k = skip_id(2)
    with torch.no_grad():
        for alpha in selection.alpha.values():
            alpha.fill_(0.0)
            alpha[k] = 1e4
    assert all(genes == (MAIN, k) for b, genes in selection.retained().items() if b.stage > 0)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        mixed = net(x, selection.merge(tau=1.0))
        built = net(x, mean_merge(selection.retained()))
    assert torch.allclose(mixed, built, atol=1e-5)


# ----------------------------------------------------------------------------- Phase 2's evolutionary steps


def test_pareto_front_and_survivors() -> None:
    costs = [(0.2, 5.0), (0.1, 9.0), (0.3, 4.0), (0.25, 6.0), (0.1, 9.0)]
    front = pareto_front(costs)
    assert front == [0, 1, 2, 4]  # (0.25, 6) is dominated by (0.2, 5); equal points both stay
    assert most_accurate(front, costs, 2) == [1, 4]


def test_offspring_are_distinct_and_the_last_decoder_keeps_its_main_input() -> None:
    config = tiny_config()
    retained = {b: (MAIN, skip_id(0), skip_id(2)) for b in config.blocks() if b.stage == config.stages - 1}
    samples = sample_stage(np.random.default_rng(0), config, config.stages - 1, retained, 10)
    assert len(samples) == 10 and len({tuple(s.values()) for s in samples}) == 10
    assert all(MAIN in gene for s in samples for gene in s.values())
    assert len(gene_options((MAIN, 1, 3), keep_main=False)) == 7
    small = {b: (MAIN,) if b.level else (MAIN, 1) for b in config.blocks() if b.stage == 1}
    assert len(sample_stage(np.random.default_rng(0), config, 1, small, 10)) == 3  # all of them, not drawn


def test_a_phase2_step_gives_the_gradient_of_the_summed_loss_with_one_head_pass(tmp_path: Path) -> None:
    """Phase 2 trains every candidate on every batch: the head (stages < s) runs forward and backward
    once, each tail on detached copies of its outputs; the gradients equal those of sum_i loss_i / n."""
    from rtbench.methods.bixnas.phase2 import Phase2Settings, ProgressiveSearch

    config = tiny_config()
    torch.manual_seed(0)
    net = SPACE.supernet(config, CINE)
    hyper = full_genes(config)
    settings = Phase2Settings(epochs=1, search_batches=1, samples=3, survivors=(1,), generations=1, lr=1e-3)
    search = ProgressiveSearch(lambda: net, config, hyper, [0], [0], settings, lambda g: 0.0, tmp_path, 0)  # type: ignore[arg-type]
    stage = 2
    candidates = search.offspring(0, stage, [to_genotype(config, hyper)])
    head_live, tails = search._plan(stage, candidates)
    assert len(tails) >= 2
    x, y = torch.randn(2, 1, 32, 32), torch.randint(0, 4, (2, 1, 32, 32))
    net.eval()  # fixed BatchNorm statistics: both passes see the same function

    def grads() -> dict[str, torch.Tensor]:
        return {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}

    net.zero_grad(set_to_none=True)
    ours = search.train_step(net, stage, x, y, head_live, tails)
    got = grads()
    net.zero_grad(set_to_none=True)
    head = net.run_stages(net.start(x), range(stage), mean_merge(hyper), head_live)
    total = sum(
        search.loss(net.finish(net.run_stages(head.copy(), range(stage, config.stages), merge, live)), y) / len(tails)
        for merge, live in tails
    )
    total.backward()  # type: ignore[union-attr]
    want = grads()
    assert ours == pytest.approx(float(total.detach()))  # type: ignore[union-attr]
    assert got.keys() == want.keys() and any(k.startswith("stem") for k in got), "the head's parameters get their gradient"
    for k in want:
        assert torch.allclose(got[k], want[k], rtol=1e-4, atol=1e-6), k


# ----------------------------------------------------------------------------- the search


def test_search_returns_a_valid_entry(volumes: list, tmp_path: Path) -> None:
    (cand,) = search(volumes, 0, tmp_path)
    assert cand["label"] == "BiX-NAS"
    genotype = cand["genotype"]
    SPACE.validate(genotype)
    assert canonical(genotype) == genotype
    net = SPACE.build(genotype, CINE, SMOKE.image_size)
    assert net(torch.randn(3, 1, 32, 32)).shape == (3, CINE.num_classes, 32, 32)
    p = cand["predicted"]
    assert 0.0 <= p["val_dice"] <= 1.0 and p["entry"] == 1.0
    assert p["flops"] == 2 * p["macs"] == count_flops(net, (1, 32, 32))
    config, genes = parse_genes(genotype)
    assert config.iterations == 2 and config.depth == 3
    assert all(MAIN in genes[BlockId(config.stages - 1, level)] for level in range(config.depth))
    progress = json.loads((tmp_path / PROGRESS).read_text())
    stages = [g["stage"] for g in progress["generations"]]
    assert stages == [3, 2, 1], "one generation per stage, last stage first"
    # the shared head runs the hyper network's genes: every candidate carries them, dead or not, below its stage
    _, hyper = parse_genes(progress["fingerprint"]["hyper"])
    for generation in progress["generations"]:
        for c in generation["candidates"]:
            _, genes = parse_genes(c["genotype"])
            assert all(genes[b] == hyper[b] for b in hyper if b.stage < generation["stage"])


def test_search_is_deterministic_under_a_seed(volumes: list, tmp_path: Path) -> None:
    first = search(volumes, 3, tmp_path / "a", front="all")
    again = search(volumes, 3, tmp_path / "b", front="all")
    assert first == again
    assert [c["predicted"]["front_rank"] for c in first] == list(range(1, len(first) + 1))
    dice = [c["predicted"]["val_dice"] for c in first]
    assert dice == sorted(dice, reverse=True)


def test_an_interrupted_search_resumes_to_the_same_result(volumes: list, tmp_path: Path) -> None:
    straight = search(volumes, 1, tmp_path / "straight")

    class Stop(Exception):
        pass

    def stop_in_generation_2(**m: Any) -> None:
        if "generation 2 epoch 1/1" in str(m.get("message", "")):
            raise Stop

    with pytest.raises(Stop):
        search(volumes, 1, tmp_path / "resumed", report=stop_in_generation_2)
    assert len(json.loads((tmp_path / "resumed" / PROGRESS).read_text())["generations"]) == 1
    lines: list[str] = []
    resumed = search(volumes, 1, tmp_path / "resumed", report=lambda **m: lines.append(str(m.get("message", ""))))
    assert resumed == straight
    assert any("phase 1: resuming" in s for s in lines) and any("resuming after generation 1" in s for s in lines)
    with pytest.raises(RTBenchError, match="other settings"):
        search(volumes, 1, tmp_path / "resumed", lr=2e-3)


def test_joint_phase1_and_phase1_only_budget(volumes: list, tmp_path: Path) -> None:
    (joint,) = search(volumes, 0, tmp_path / "joint", phase1="joint")
    SPACE.validate(joint["genotype"])
    (hyper,) = search(volumes, 0, tmp_path / "p1", budget=with_overrides(SMOKE, ga_generations=0))
    assert hyper["label"] == "BiX-NAS" and "val_dice" not in hyper["predicted"] and hyper["predicted"]["macs"] > 0
    assert not (tmp_path / "p1" / PROGRESS).exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"iterations": 0}, "method.iterations=0 is out of range; expected >= 1"),
        ({"depth": 1}, r"method.depth=1 is out of range; expected 0 \(auto\) or >= 2"),
        ({"samples": 0}, "method.samples=0 is out of range"),
        ({"survivors": "3,x"}, "method.survivors='3,x' is not valid"),
        ({"survivors": "0"}, "method.survivors='0' is not valid"),
        ({"phase1": "darts"}, "method.phase1='darts' is not valid; expected one of: bilevel, joint"),
        ({"front": "knee"}, "method.front='knee' is not valid; expected one of: entry, all"),
        ({"tau": 0.0}, r"method.tau=0.0 is out of range; expected > 0"),
    ],
)
def test_bad_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        METHODS.get("bixnas").Config(**options)


def test_a_depth_the_image_cannot_hold_is_refused_before_searching(volumes: list, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="depth=4 needs an image size"):
        search(volumes, 0, tmp_path, depth=4)
    assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------- end to end


def test_smoke_submission_measures_the_bixnas_entry(ray_session: Any, tmp_path: Path) -> None:
    spec = resolve(
        [
            "budget=smoke",
            "dataset=synthetic-cine",
            "hardware=local-cpu",
            f"runs.dir={tmp_path}",
            "method=bixnas",
            "method.iterations=2",
            "method.channels=4",
            "method.stem_channels=4",
        ]
    )
    res = submit(spec, echo=lambda s: None)
    rec = json.loads((res.run_dir / "record.json").read_text())
    assert rec["status"] == "complete", rec["failures"]
    (cand,) = rec["candidates"]
    assert cand["label"] == "BiX-NAS" and cand["space"] == "bionet"
    assert 0.0 <= cand["metrics"]["dice_mean"] <= 1.0
    assert cand["measurement"]["latency"]["p90_ms"] > 0 and cand["measurement"]["flops"] == cand["predicted"]["flops"]
