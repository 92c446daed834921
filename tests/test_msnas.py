"""The ``msnas`` space: grid and paths, supernet, derivation, derived networks, genotypes, op graph."""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from rtbench.errors import ConfigError
from rtbench.spaces import SPACES
from rtbench.spaces.msnas import (
    MSNASConfig,
    MSNASNet,
    MSNASSpace,
    MSNASSupernet,
    cell_probabilities,
    derive_cells,
    legal_cells,
    legal_paths,
    path_cells,
    path_counts,
)
from rtbench.spaces.msnas.cell import DerivedCell
from rtbench.spaces.msnas.ops import ScalingOp
from rtbench.spaces.msnas.paths import union_cells
from rtbench.tasks import CINE, ECHO

TINY = {"layers": 4, "scales": 3, "channels": 4}
SIZE = 32
SPACE = MSNASSpace()


def tiny_genotype(seed: int = 0, paths: int | None = 3) -> dict:
    return SPACE.sample_genotype(np.random.default_rng(seed), CINE, SIZE, {**TINY, "paths": paths})


def brute_force_paths(layers: int, scales: int) -> list[tuple[int, ...]]:
    inner = itertools.product(range(scales), repeat=layers - 1)
    paths = [(0, *mid, 0) for mid in inner]
    return [p for p in paths if all(abs(a - b) <= 1 for a, b in zip(p, p[1:]))]


# ---------------------------------------------------------------- grid, paths, k_c (supp. Fig. 3)


@pytest.mark.parametrize("layers,scales", [(1, 1), (2, 3), (4, 3), (5, 2), (6, 4), (7, 3)])
def test_legal_paths_match_brute_force_and_counts(layers: int, scales: int) -> None:
    expected = brute_force_paths(layers, scales)
    assert legal_paths(layers, scales) == sorted(expected)
    arriving, leaving = path_counts(layers, scales)
    assert arriving[layers][0] == leaving[0][0] == len(expected)
    for layer in range(layers + 1):
        for s in range(scales):
            assert arriving[layer][s] * leaving[layer][s] == sum(p[layer] == s for p in expected)


def test_default_grid_size() -> None:
    # 10 layers, 4 scales (1 to 1/8), both ends at scale 0
    assert len(legal_paths(10, 4)) == path_counts(10, 4)[0][10][0] == 2135


@pytest.mark.parametrize("layers,scales", [(4, 3), (6, 4), (10, 4)])
def test_k_c_is_the_share_of_paths_and_sums_to_one_per_layer(layers: int, scales: int) -> None:
    k = cell_probabilities(layers, scales)
    paths = legal_paths(layers, scales)
    through = Counter(c for p in paths for c in path_cells(p))
    assert set(k) == set(through) == set(legal_cells(layers, scales))
    for cell, n in through.items():
        assert k[cell] == pytest.approx(n / len(paths))
    for layer in range(layers):
        assert sum(v for (l_, _, _), v in k.items() if l_ == layer) == pytest.approx(1.0)


# ---------------------------------------------------------------- supernet and derivation


def test_supernet_forward_shape_and_gradients() -> None:
    torch.manual_seed(0)
    net = MSNASSupernet(MSNASConfig(**TINY), CINE)
    out = net(torch.randn(2, 1, SIZE, SIZE))
    assert out.shape == (2, CINE.num_classes, SIZE, SIZE)
    out.square().mean().backward()
    for p in net.arch_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    arch = {id(p) for p in net.arch_parameters()}
    assert not arch & {id(p) for p in net.weight_parameters()}
    assert len(net.weight_parameters()) + len(arch) == len(list(net.parameters()))


def test_supernet_without_partial_channels_runs() -> None:
    net = MSNASSupernet(MSNASConfig(**TINY, partial_k=1), ECHO)
    assert net(torch.randn(1, 3, SIZE, SIZE)).shape == (1, ECHO.num_classes, SIZE, SIZE)


def test_block_and_cell_weights_are_normalised() -> None:
    net = MSNASSupernet(MSNASConfig(**TINY), CINE).requires_grad_(False)
    for i, w in enumerate(net.block_weights(), start=1):
        assert w.shape == (i, len(net.config.ops)) and float(w.sum()) == pytest.approx(1.0)
    logp = net.cell_weights()
    assert set(logp) == set(legal_cells(4, 3))
    for tile in {(l_, a) for l_, a, _ in logp}:
        assert float(sum(v.exp() for c, v in logp.items() if c[:2] == tile)) == pytest.approx(1.0)


def test_derive_cells_keeps_top_pairs_with_distinct_inputs() -> None:
    net = MSNASSupernet(MSNASConfig(**TINY), CINE)
    ops = net.config.ops
    with torch.no_grad():
        for a in net.alphas:
            a.zero_()
        net.alphas[1][1, ops.index("conv")] = 3.0  # block 2: best pair from X_1 ...
        net.alphas[1][1, ops.index("sep_conv")] = 2.0  # ... second best also from X_1: skipped
        net.alphas[1][0, ops.index("identity")] = 1.0  # so X_0's best pair is kept
        net.alphas[2][2, ops.index("dil_conv")] = 2.0
        net.alphas[2][0, ops.index("sep_conv")] = 1.0
    cells = derive_cells(net)
    assert cells["cell"][1] == [[0, "identity"], [1, "conv"]]
    assert cells["cell"][2] == [[0, "sep_conv"], [2, "dil_conv"]]
    assert len(cells["cell"][0]) == 1 and cells["cell"][0][0][0] == 0  # block 1 has only X_0
    genotype = {**cells, "paths": [list(p) for p in legal_paths(4, 3)[:2]]}
    SPACE.validate(genotype)


@pytest.mark.parametrize("cap", [0, 1, 2, 5])
def test_derive_cells_caps_identity_edges_keeping_the_strongest(cap: int) -> None:
    """Identity dominates every pair (the collapse seen on ACDC): the cap keeps the ``cap`` identity
    edges strongest by eq. 1 weight and gives each other edge the best non-identity op of the same input."""
    net = MSNASSupernet(MSNASConfig(**TINY), CINE)
    ops = net.config.ops
    ident, conv, dil = ops.index("identity"), ops.index("conv"), ops.index("dil_conv")
    with torch.no_grad():
        for b, a in enumerate(net.alphas):
            a.zero_()
            for j in range(a.shape[0]):
                a[j, ident] = 5.0 + b + 0.1 * j  # later blocks and later inputs: stronger identity
                a[j, conv if (b + j) % 2 else dil] = 1.0  # the runner-up differs per edge
    uncapped = derive_cells(net)
    assert all(op == "identity" for block in uncapped["cell"] for _, op in block)
    cells = derive_cells(net, cap)
    edges = [(b, j, op) for b, block in enumerate(cells["cell"]) for j, op in block]
    with torch.no_grad():
        weight = {(b, j): float(w[j, ident]) for b, w in enumerate(net.block_weights()) for j in range(w.shape[0])}  # eq. 1
    kept = sorted(((b, j) for b, j, op in edges if op == "identity"), key=weight.__getitem__, reverse=True)
    assert len(kept) == min(cap, len(edges))
    assert kept == sorted(((b, j) for b, j, _ in edges), key=weight.__getitem__, reverse=True)[: len(kept)]
    for b, j, op in edges:
        if (b, j) not in kept:
            assert op == ("conv" if (b + j) % 2 else "dil_conv")
    assert [[j for j, _ in block] for block in cells["cell"]] == [[j for j, _ in block] for block in uncapped["cell"]]
    SPACE.validate({**cells, "paths": [list(p) for p in legal_paths(4, 3)[:2]]})


# ---------------------------------------------------------------- genotypes and derived networks


def test_genotype_json_round_trip_and_registry() -> None:
    assert isinstance(SPACES.create("msnas"), MSNASSpace)
    for seed in range(5):
        g = tiny_genotype(seed, paths=None)
        assert json.loads(json.dumps(g)) == g
        SPACE.validate(g)
        assert 1 <= len(g["paths"]) <= 8


def test_derived_network_output_shape() -> None:
    for task in (CINE, ECHO):
        net = SPACE.build(tiny_genotype(1), task, SIZE)
        assert isinstance(net, MSNASNet)
        out = net(torch.randn(2, task.in_channels, SIZE, SIZE))
        assert out.shape == (2, task.num_classes, SIZE, SIZE)


def test_build_is_deterministic_under_manual_seed() -> None:
    g = tiny_genotype(2)
    torch.manual_seed(7)
    a = SPACE.build(g, CINE, SIZE).state_dict()
    torch.manual_seed(7)
    b = SPACE.build(copy.deepcopy(g), CINE, SIZE).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_shared_path_segments_are_computed_once() -> None:
    paths = [[0, 1, 2, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 0, 0], [0, 0, 1, 0, 0]]
    g = {**tiny_genotype(3), "paths": paths}
    union = union_cells(paths)
    assert len(union) < sum(len(path_cells(p)) for p in paths)  # the paths do overlap
    net = SPACE.build(g, CINE, SIZE)
    cells = [m for m in net.modules() if isinstance(m, DerivedCell)]
    scaling = [m for m in net.modules() if isinstance(m, ScalingOp)]
    assert len(cells) == len({(l_, a) for l_, a, _ in union})  # one block DAG per source tile
    assert len(scaling) == len(union)  # one scaling op per distinct cell
    calls: Counter[int] = Counter()
    for m in (*cells, *scaling):
        m.register_forward_hook(lambda mod, args, out: calls.update([id(mod)]))
    net(torch.randn(1, 1, SIZE, SIZE))
    assert len(calls) == len(cells) + len(scaling) and set(calls.values()) == {1}


class _CountOps(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


CONVS_PER_NODE = {"conv": 1, "dil_conv": 1, "sep_conv": 2, "msnas_stem": 1, "msnas_head": 1}
CONVS_PER_NODE.update(dict.fromkeys(("msnas_contract", "msnas_keep", "msnas_expand"), 1))


@pytest.mark.parametrize("seed", range(4))
def test_op_graph_matches_the_built_network(seed: int) -> None:
    g = tiny_genotype(seed, paths=seed + 1)
    graph = SPACE.op_graph(g, CINE, SIZE)
    ids = [n.id for n in graph]
    assert len(set(ids)) == len(ids)
    seen: set[str] = set()
    for node in graph:  # topological order
        assert set(node.inputs) <= seen
        seen.add(node.id)
    net = SPACE.build(g, CINE, SIZE).eval()
    counter, ops = FlopCounterMode(display=False), _CountOps()
    with torch.no_grad(), counter, ops:
        net(torch.zeros(1, 1, SIZE, SIZE))
    assert counter.get_total_flops() == sum(SPACE.op_flops(n.inst) for n in graph)
    kinds = Counter(n.inst.op for n in graph)
    assert ops.counts["convolution"] == sum(CONVS_PER_NODE.get(op, 0) * k for op, k in kinds.items())
    assert ops.counts["add"] == kinds["add"]
    assert ops.counts["cat"] == kinds["concat"]


def test_op_instances_cover_every_derived_graph() -> None:
    insts = set(SPACE.op_instances(CINE, SIZE, TINY))
    assert len(insts) == len(SPACE.op_instances(CINE, SIZE, TINY))
    for seed in range(6):
        for node in SPACE.op_graph(tiny_genotype(seed, paths=8), CINE, SIZE):
            assert node.inst in insts, node


def test_fixed_op_instances_build_and_count_flops() -> None:
    for inst in SPACE.op_instances(CINE, SIZE, TINY):
        module = SPACE.build_op_instance(inst).eval()
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            out = module(torch.zeros(1, inst.c_in, inst.h, inst.w))
        assert out.shape[1] == inst.c_out, inst
        assert counter.get_total_flops() == SPACE.op_flops(inst), inst


def test_sample_respects_config() -> None:
    g = SPACE.sample_genotype(np.random.default_rng(0), CINE, SIZE, {**TINY, "ops": ["sep_conv"], "paths": 100})
    assert {op for block in g["cell"] for _, op in block} == {"sep_conv"}
    assert len(g["paths"]) == len(legal_paths(4, 3))  # all 9 legal paths when more are asked for
    assert [len(b) for b in g["cell"]] == [1, 2, 2]


# ---------------------------------------------------------------- validation


def _with(**changes: object) -> dict:
    return {**tiny_genotype(0), **changes}


@pytest.mark.parametrize(
    "genotype,message",
    [
        (_with(layers=0), "'layers'=0"),
        (_with(extra=1), "unknown key(s) ['extra']"),
        (_with(cell=[]), "'cell'=[]"),
        (_with(cell=[[[1, "conv"]]]), "cell[0] (block X_1): input 1"),
        (_with(cell=[[[0, "conv"]], [[0, "conv"], [0, "sep_conv"]]]), "cell[1] (block X_2): input 0 appears twice"),
        (_with(cell=[[[0, "zero"]]]), "op 'zero' is not a cell op"),
        (_with(cell=[[[0, "conv", 1]]]), "edge [0, 'conv', 1]"),
        (_with(paths=[]), "'paths'=[]"),
        (_with(paths=[[0, 1, 0]]), "paths[0]=[0, 1, 0] must be a list of 5"),
        (_with(paths=[[0, 1, 1, 1, 1]]), "paths[0]=[0, 1, 1, 1, 1] must start at the stem"),
        (_with(paths=[[0, 1, 2, 1, 0], [0, 0, 2, 1, 0]]), "paths[1] jumps from scale 0 to 2"),
        (_with(scales=2, paths=[[0, 1, 2, 1, 0]]), "paths[0][2]=2 is outside"),
        (_with(paths=[[0, 1, 1, 1, 0], [0, 1, 1, 1, 0]]), "paths[1] repeats paths[0]"),
    ],
)
def test_validate_names_the_bad_gene(genotype: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        SPACE.validate(genotype)
    assert message in str(err.value)


def test_config_and_image_size_errors() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        SPACE.op_instances(CINE, SIZE, {"layer": 3})
    with pytest.raises(ConfigError, match="partial_k=3 must divide"):
        MSNASConfig(channels=8, partial_k=3)
    with pytest.raises(ConfigError, match="ops="):
        MSNASConfig(ops=("zero",))
    g = {**tiny_genotype(0), "paths": [[0, 1, 2, 1, 0]]}
    with pytest.raises(ConfigError, match="divisible by 2\\^2"):
        SPACE.build(g, CINE, 30)
    with torch.no_grad():
        assert math.isfinite(float(SPACE.build(g, CINE, 28)(torch.zeros(1, 1, 28, 28)).sum()))
