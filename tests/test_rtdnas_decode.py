"""RT-DNAS network-level decoding (seed 000 §2.1, §2.3): path weights, Dijkstra decoding, the GA, its fitness."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
import torch

from rtbench.budgets import get_budget
from rtbench.config import resolve
from rtbench.errors import ConfigError
from rtbench.hardware.latency_model import LatencyModel
from rtbench.methods.rtdnas.decoder import PathDecoder
from rtbench.methods.rtdnas.dijkstra import POOL_SIZE, best_weight_paths, cell_log_weights, path_log_weight, pool_size
from rtbench.methods.rtdnas.fitness import Fitness, RealTimeBounds
from rtbench.methods.rtdnas.ga import crossover, evolve, mutate, random_individual
from rtbench.methods.rtdnas.options import parse_n_paths, parse_paths
from rtbench.spaces.base import OpInstance
from rtbench.spaces.msnas import MSNASConfig, MSNASSpace, MSNASSupernet, legal_paths
from rtbench.tasks import CINE

SPACE = MSNASSpace()
OP_MS = {"conv": 0.3, "dil_conv": 0.4, "sep_conv": 0.2, "identity": 0.01, "concat": 0.02, "add": 0.01}


def fake_latency(inst: OpInstance) -> float:
    """A deterministic stand-in for a latency table (ms): a per-op constant plus a FLOPs term."""
    return OP_MS.get(inst.op, 0.05) + 1e-7 * SPACE.op_flops(inst)


def searched_supernet(layers: int, scales: int, seed: int) -> MSNASSupernet:
    """A supernet whose architecture logits look searched (spread out, not near zero)."""
    torch.manual_seed(seed)
    net = MSNASSupernet(MSNASConfig(layers=layers, scales=scales, channels=4), CINE)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.normal_(0.0, 1.5)
    return net


def brute_force(weights: dict, layers: int, scales: int) -> list[tuple[float, tuple[int, ...]]]:
    return sorted(((path_log_weight(weights, p), p) for p in legal_paths(layers, scales)), key=lambda e: (-e[0], e[1]))


# ----------------------------------------------------------------------------- path weights, Dijkstra decoding


@pytest.mark.parametrize(("layers", "scales"), [(3, 2), (4, 3), (6, 3), (7, 4)])
def test_path_weights_are_a_distribution_over_legal_paths(layers: int, scales: int) -> None:
    """Sum of log transition probabilities: exp(weight) of all legal paths adds up to 1."""
    weights = cell_log_weights(searched_supernet(layers, scales, seed=layers))
    total = sum(math.exp(path_log_weight(weights, p)) for p in legal_paths(layers, scales))
    assert total == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize(("layers", "scales", "seed"), [(3, 2, 0), (4, 3, 1), (6, 3, 2), (7, 4, 3), (8, 4, 4)])
def test_dijkstra_decoding_returns_the_highest_weight_paths(layers: int, scales: int, seed: int) -> None:
    weights = cell_log_weights(searched_supernet(layers, scales, seed))
    expected = brute_force(weights, layers, scales)
    for k in (1, 3, 7, POOL_SIZE, len(expected), len(expected) + 5):
        got = best_weight_paths(weights, layers, scales, k)
        assert [(g.log_weight, g.path) for g in got] == expected[:k]


def test_dijkstra_decoding_breaks_ties_by_path() -> None:
    """Equal weights everywhere (uniform transitions per tile count): ties go to the lexicographically smaller path."""
    layers, scales = 5, 3
    weights = {c: -1.0 for c in cell_log_weights(searched_supernet(layers, scales, 0))}
    got = [g.path for g in best_weight_paths(weights, layers, scales, 6)]
    assert got == sorted(legal_paths(layers, scales))[:6]


def test_pool_size() -> None:
    assert pool_size(7, 500) == POOL_SIZE  # the paper: top 10
    assert pool_size(10, 500) == 11 and pool_size(12, 500) == 13  # room for mutation
    assert pool_size(3, 6) == 6  # a small grid holds fewer paths than the pool
    with pytest.raises(ConfigError, match="only 4 legal paths"):
        pool_size(5, 4)


def test_parse_n_paths() -> None:
    assert parse_n_paths("3,5,7") == (3, 5, 7) and parse_n_paths("7") == (7,)
    assert parse_paths("auto") == ((), True) and parse_paths("3,auto") == ((3,), True) and parse_paths("3,5") == ((3, 5), False)
    for bad in ("", "3,x", "0", "3,3", "auto,auto", "automatic"):
        with pytest.raises(ConfigError, match="method.paths"):
            parse_paths(bad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["method.paths=12", "method.layers=4", "method.scales=3"], "method.paths=12: N_l=12 .* only 9 legal paths"),
        (["method.paths=3,x"], "method.paths"),
        (["method.decoder=gaa"], "method.decoder='gaa'"),
        (["method.latency_bound_ms=-1"], "method.lambda_ and method.latency_bound_ms"),
        (["method.fitness=speed"], "method.fitness='speed'"),
        (["method.max_paths=0"], "method.max_paths=0"),
        (["method.estimate=exact"], "method.estimate='exact'"),
        (["method.search_paths=10", "method.layers=4", "method.scales=3"], "method.search_paths=10 is out of range; expected 0..9"),
        (["method.sharpness=0"], "method.sharpness=0"),
    ],
)
def test_bad_options_stop_at_config_time(args: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(["method=rtdnas", *args])


# ----------------------------------------------------------------------------- GA operators


def test_crossover_and_mutation_keep_individuals_sorted_and_free_of_duplicates() -> None:
    rng = np.random.default_rng(0)
    for pool, n in [(10, 3), (10, 7), (10, 9), (8, 8), (11, 10), (10, 1)]:
        for _ in range(300):
            a, b = random_individual(pool, n, rng), random_individual(pool, n, rng)
            for child in (*crossover(a, b, pool, rng), mutate(a, pool, rng)):
                assert len(child) == n and len(set(child)) == n
                assert list(child) == sorted(child) and all(0 <= g < pool for g in child)


def test_mutation_replaces_exactly_one_gene() -> None:
    rng = np.random.default_rng(1)
    for _ in range(100):
        a = random_individual(10, 5, rng)
        assert len(set(a) - set(mutate(a, 10, rng))) == 1


def test_ga_starts_from_its_seed_individuals_and_never_loses_them() -> None:
    """A seed that is the optimum stays the result (elitism), whatever the random individuals do."""
    best = (0, 1, 2)
    fitness = lambda ind: 0.0 if ind == best else 1.0 + rugged_fitness(ind)  # noqa: E731
    result = evolve(POOL_SIZE, 3, fitness, 6, 3, np.random.default_rng(0), seeds=[best])
    assert result.best == best and result.history[0] == 0.0
    for bad in ([(0, 1)], [(2, 1, 0)], [(0, 1, 10)]):
        with pytest.raises(ValueError, match="seed individual"):
            evolve(POOL_SIZE, 3, rugged_fitness, 6, 1, np.random.default_rng(0), seeds=bad)


def rugged_fitness(ind: tuple[int, ...]) -> float:
    """A fitness with many local optima: a hash of the individual."""
    return float(np.random.default_rng(list(ind)).random())


@pytest.mark.parametrize("n_genes", [3, 5, 7])
def test_ga_is_deterministic_elitist_and_duplicate_free(n_genes: int) -> None:
    runs = [evolve(POOL_SIZE, n_genes, rugged_fitness, 20, 30, np.random.default_rng(7)) for _ in range(2)]
    assert runs[0] == runs[1]  # same seed, same everything: best, fitness, history, last population
    result = runs[0]
    assert len(result.history) == 31
    assert all(b <= a for a, b in zip(result.history, result.history[1:])), "best fitness worsened"
    assert result.fitness == result.history[-1] == rugged_fitness(result.best)
    for ind in result.population:
        assert len(set(ind)) == n_genes and list(ind) == sorted(ind)


def test_ga_with_the_paper_settings_finds_the_optimum_of_a_small_pool() -> None:
    """Population 20, 100 generations, top-10 pool, N_l = 3: 120 individuals; the GA finds the best of them."""
    result = evolve(POOL_SIZE, 3, rugged_fitness, 20, 100, np.random.default_rng(0))
    assert result.fitness == min(rugged_fitness(c) for c in itertools.combinations(range(POOL_SIZE), 3))


# ----------------------------------------------------------------------------- fitness and the decoder


def test_bounds_of_the_cine_task_and_the_feasibility_order() -> None:
    bounds = RealTimeBounds.of(CINE)
    assert (bounds.latency_ms, bounds.min_fps) == (50.0, 22.0)
    assert RealTimeBounds.of(CINE, latency_bound_ms=30.0).latency_ms == 30.0
    fast, fps_bound, slow = bounds.fitness(40.0), bounds.fitness(48.0), bounds.fitness(55.0)
    assert fast.feasible and fast.fps == pytest.approx(25.0)
    # 48 ms meets the latency bound but gives 20.8 < 22 frames/s: 48 - 1000/22 ms over
    assert not fps_bound.feasible and fps_bound.violation_ms == pytest.approx(48.0 - 1000.0 / 22.0)
    assert slow.violation_ms == pytest.approx(5.0 + 55.0 - 1000.0 / 22.0)
    assert fast < fps_bound < slow
    assert Fitness(0.0, 45.0, 45.0, 22.2) < Fitness(0.1, 1.0, 1.0, 1000.0)  # any feasible network beats any infeasible one
    with pytest.raises(ConfigError, match="method.fitness"):
        bounds.fitness(40.0, objective="speed")


def test_weight_fitness_is_deb_rule_over_the_path_weight() -> None:
    """Feasible: heavier wins, then faster; infeasible: smaller violation wins, whatever the weight."""
    bounds = RealTimeBounds(latency_ms=50.0)
    heavy_slow, light_fast = bounds.fitness(49.0, -1.0, "weight"), bounds.fitness(20.0, -3.0, "weight")
    assert heavy_slow < light_fast
    assert bounds.fitness(30.0, -1.0, "weight") < heavy_slow  # equal weight: the faster
    assert light_fast < bounds.fitness(50.5, 0.0, "weight")  # feasible beats infeasible, however heavy
    assert bounds.fitness(51.0, -9.0, "weight") < bounds.fitness(52.0, 0.0, "weight")  # smaller violation first
    assert bounds.fitness(20.0, -3.0, "latency") < bounds.fitness(49.0, -1.0, "latency")  # the literal reading: faster wins


def test_decoder_dijkstra_is_the_head_of_the_gene_pool_and_ga_is_deterministic() -> None:
    layers, scales = 6, 3
    net = searched_supernet(layers, scales, seed=3)
    model = LatencyModel(SPACE, CINE, 32, "fake", fake_latency)
    flops = lambda g: float(sum(SPACE.op_flops(n.inst) for n in SPACE.op_graph(g, CINE, 32)))
    decoder = PathDecoder(net, model.table_sum_ms, flops, RealTimeBounds.of(CINE), fitness="latency")
    budget = get_budget("smoke")
    weights = cell_log_weights(net)
    for n in (3, 5, 7):
        dij = decoder.dijkstra(n)
        assert [g.path for g in dij] == [p for _, p in brute_force(weights, layers, scales)[:n]]
        ga = decoder.ga(n, budget, seed=0)
        assert ga == decoder.ga(n, budget, seed=0)  # deterministic under the seed
        assert len({g.path for g in ga}) == n
        assert [g.log_weight for g in ga] == sorted((g.log_weight for g in ga), reverse=True)  # kept sorted by weight
    cands = decoder.candidates((3, 5), ("dijkstra", "ga"), budget, 0, lambda **m: None)
    labels = [lab for c in cands for lab in c.label.split(" = ")]
    assert sorted(labels) == ["Dijkstra N_l=3", "Dijkstra N_l=5", "GA N_l=3", "GA N_l=5"]
    for c in cands:
        SPACE.validate(c.genotype)
        assert set(c.predicted) == {"latency_ms", "violation_ms", "flops", "log_weight"} and c.predicted["latency_ms"] > 0


MODEL = LatencyModel(SPACE, CINE, 32, "fake", fake_latency)
TABLE_SUM: dict[str, float] = {}


def table_sum_ms(genotype: dict) -> float:
    """``MODEL.table_sum_ms``, memoised across decoders (the tests below price the same networks many times)."""
    key = repr(genotype)
    if key not in TABLE_SUM:
        TABLE_SUM[key] = MODEL.table_sum_ms(genotype)
    return TABLE_SUM[key]


@functools.cache
def shared_supernet(layers: int, scales: int, seed: int) -> MSNASSupernet:
    """``searched_supernet``, built once (the decoders below only read it)."""
    return searched_supernet(layers, scales, seed)


def table_decoder(layers: int, scales: int, seed: int, bound_ms: float, fitness: str) -> PathDecoder:
    return PathDecoder(shared_supernet(layers, scales, seed), table_sum_ms, lambda g: 0.0, RealTimeBounds(bound_ms), fitness)


@pytest.mark.parametrize("seed", range(4))
def test_weight_fitness_returns_a_feasible_network_whenever_the_pool_holds_one(seed: int) -> None:
    """Brute force over the whole pool of a 4 x 3 grid (9 legal paths), at bounds met by the fastest subset(s)
    only up to all of them: with the paper's GA settings and with the smoke budget's tiny GA, the result meets
    the bounds whenever a subset of the pool does, and it is the Dijkstra network whenever that one does."""
    for n in (2, 3, 4, 5):
        probe = table_decoder(4, 3, seed, 1e9, "weight")
        pool = best_weight_paths(probe.weights, 4, 3, pool_size(n, probe.n_legal))
        subsets = [list(c) for c in itertools.combinations(pool, n)]
        latencies = sorted(probe.latency(genes) for genes in subsets)
        for quantile in (0.0, 0.1, 0.5, 0.9, 1.0):  # 0.0: only the fastest subset(s) meet the bound
            bound = latencies[min(int(quantile * len(latencies)), len(latencies) - 1)]
            for budget in (get_budget("quick"), get_budget("smoke")):
                decoder = table_decoder(4, 3, seed, bound, "weight")
                got = decoder.fitness(decoder.ga(n, budget, seed))
                assert any(decoder.fitness(genes).feasible for genes in subsets)
                assert got.feasible, (n, quantile, budget.name)
                dijkstra = decoder.fitness(decoder.dijkstra(n))
                if dijkstra.feasible:
                    assert got == dijkstra


@pytest.mark.parametrize("seed", range(5))
def test_latency_fitness_ga_is_never_slower_than_dijkstra(seed: int) -> None:
    """The Dijkstra individual is in the GA's initial population and elitism keeps the best: at equal N_l the
    latency-fitness GA's network is at most as slow as MS-NAS's, even with the smoke budget's tiny GA."""
    for budget in (get_budget("smoke"), get_budget("quick")):
        decoder = table_decoder(6, 3, seed, 1.0, "latency")
        for n in (2, 3, 5, 7):
            assert decoder.latency(decoder.ga(n, budget, seed)) <= decoder.latency(decoder.dijkstra(n))


def test_auto_picks_the_largest_n_whose_network_meets_the_bounds() -> None:
    """Stand-in latency 10 ms per path: with 45 ms and no throughput bound N_l = 4; with 22 frames/s
    (<= 45.5 ms) too; with 1000/35 frames/s (<= 35 ms) N_l = 3; with nothing feasible, N_l = 1, flagged."""
    net = searched_supernet(5, 3, seed=1)
    per_path = lambda g: 10.0 * len(g["paths"])  # noqa: E731
    budget = get_budget("smoke")
    for bounds, want in [
        (RealTimeBounds(45.0), 4),
        (RealTimeBounds(45.0, 22.0), 4),
        (RealTimeBounds(60.0, 1000.0 / 35.0), 3),
        (RealTimeBounds(5.0), 1),
    ]:
        seen: list[dict] = []
        decoder = PathDecoder(net, per_path, lambda g: 0.0, bounds, "weight")
        cands = decoder.candidates((), ("ga",), budget, 0, lambda seen=seen, **m: seen.append(m), auto_paths=tuple(range(1, 9)))
        assert [c.label for c in cands] == [f"GA N_l={want} (auto)"]
        entry = cands[0]
        assert len(entry.genotype["paths"]) == want and entry.predicted["entry"] == 1.0
        assert (entry.predicted["violation_ms"] == 0.0) == (want > 1 or bounds.latency_ms > 10.0)
        assert any(f"N_l={want}" in m.get("message", "") and "auto N_l (GA)" in m["message"] for m in seen)
    # explicit N_l and auto together: the entry is marked, and merges with an equal explicit network
    decoder = PathDecoder(net, per_path, lambda g: 0.0, RealTimeBounds(45.0), "weight")
    cands = decoder.candidates((2, 4), ("dijkstra", "ga"), budget, 0, lambda **m: None, auto_paths=tuple(range(1, 9)))
    entries = [c for c in cands if c.predicted.get("entry")]
    assert len(entries) == 1 and "GA N_l=4 (auto)" in entries[0].label.split(" = ")
    assert "GA N_l=4" in entries[0].label.split(" = ")  # feasible Dijkstra = heaviest = GA's pick under fitness=weight
