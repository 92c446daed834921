"""The ``nasunet`` space (seed 003 §III-B): shapes, cell edge counts, genotypes, determinism, FLOPs, supernet."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rtbench.errors import ConfigError
from rtbench.spaces import SPACES
from rtbench.spaces.base import OpNode
from rtbench.spaces.cells.cell import DOWN, UP
from rtbench.spaces.cells.graph import MixedNode
from rtbench.spaces.cells.nasunet import uncertainty_map
from rtbench.spaces.ops import DOWN_OPS, NORMAL_OPS, UP_OPS
from rtbench.tasks import CINE, ECHO

SIZE = 32


@pytest.fixture(scope="module")
def space():
    return SPACES.create("nasunet")


def genotype(space, seed: int = 0, **config):
    return space.sample_genotype(np.random.default_rng(seed), ECHO, SIZE, config or None)


def counted_flops(net: torch.nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net.eval()(x)
    return int(counter.get_total_flops())


@pytest.mark.parametrize("task", [ECHO, CINE])
def test_shapes_logits_and_uncertainty(space, task):
    g = space.sample_genotype(np.random.default_rng(1), task, SIZE)
    net = space.build(g, task, SIZE)
    with torch.no_grad():
        logits = net(torch.randn(2, task.in_channels, SIZE, SIZE))
    assert logits.shape == (2, task.num_classes, SIZE, SIZE)
    u = uncertainty_map(logits)
    assert u.shape == (2, 1, SIZE, SIZE)
    assert float(u.min()) >= 0.0 and float(u.max()) <= 1.0 + 1e-6


def test_uncertainty_is_normalised_entropy():
    certain = torch.tensor([[100.0, -100.0]]).reshape(1, 2, 1, 1)
    even = torch.zeros(1, 3, 1, 1)
    assert float(uncertainty_map(certain)) == pytest.approx(0.0, abs=1e-6)
    assert float(uncertainty_map(even)) == pytest.approx(1.0)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_edge_count_per_cell(space, m):
    """2m + m(m-1)/2 searched edges; with the m fixed identity edges to the output, 003's 2m + m(m+1)/2."""
    for cell in (DOWN, UP):
        edges = cell.edges(m)
        assert len(edges) == 2 * m + m * (m - 1) // 2
        assert len(edges) + m == 2 * m + m * (m + 1) // 2
    supernet = space.supernet(ECHO, SIZE, {"nodes": m, "depth": 2})
    for cell in ("down1", "down2", "up2", "up1"):
        mixed = [n for n in supernet.net.graph if isinstance(n, MixedNode) and n.id.startswith(f"{cell}/")]
        assert len(mixed) == 2 * m + m * (m - 1) // 2


def test_edge_families_follow_table_one():
    for cell, scaling in ((DOWN, DOWN_OPS), (UP, UP_OPS)):
        for e in cell.edges(3):
            assert e.candidates == (scaling if e.src < 2 else NORMAL_OPS)


def test_genotype_json_round_trip_builds_the_same_network(space):
    g = genotype(space, 2)
    back = json.loads(json.dumps(g))
    assert back == g
    torch.manual_seed(0)
    a = space.build(g, ECHO, SIZE).state_dict()
    torch.manual_seed(0)
    b = space.build(back, ECHO, SIZE).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_build_is_deterministic(space):
    g = genotype(space, 3)
    x = torch.randn(1, 3, SIZE, SIZE)
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        outs.append(space.build(g, ECHO, SIZE).eval()(x))
    assert torch.equal(*outs)


@pytest.mark.parametrize("seed", range(4))
def test_op_graph_flops_equal_flop_counter(space, seed):
    g = genotype(space, seed)
    graph = space.op_graph(g, ECHO, SIZE)
    analytic = sum(space.op_flops(n.inst) for n in graph)
    assert analytic == counted_flops(space.build(g, ECHO, SIZE), torch.zeros(1, 3, SIZE, SIZE))


def test_op_graph_is_topological_and_covered_by_op_instances(space):
    g = genotype(space, 4, nodes=2)
    graph = space.op_graph(g, ECHO, SIZE)
    insts = set(space.op_instances(ECHO, SIZE, {"nodes": 2}))
    seen: set[str] = set()
    for n in graph:
        assert isinstance(n, OpNode) and n.inst in insts
        assert all(i in seen for i in n.inputs)
        seen.add(n.id)
    assert graph[-1].id == "head"


def test_zero_edges_are_pruned(space):
    g = genotype(space, 5)
    g["down"] = [op if e.src < 2 else "zero" for op, e in zip(g["down"], DOWN.edges(3), strict=True)]
    graph = space.op_graph(g, ECHO, SIZE)
    assert not any(n.inst.op == "zero" for n in graph)
    between_nodes = [n for n in graph if n.id.startswith("down1/n") and "-n" in n.id and not n.id.startswith("down1/in")]
    assert between_nodes == []
    assert space.build(g, ECHO, SIZE)(torch.randn(1, 3, SIZE, SIZE)).shape == (1, 2, SIZE, SIZE)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda g: g["down"].__setitem__(0, "conv"), r"down\[0\]='conv'"),
        (lambda g: g["up"].__setitem__(8, "max_pool"), r"up\[8\]='max_pool'"),
        (lambda g: g["up"].pop(), "'up' must list 9 ops"),
        (lambda g: g.__setitem__("filters", 0), "'filters'=0"),
        (lambda g: g.pop("depth"), "missing keys \\['depth'\\]"),
        (lambda g: g.__setitem__("width", 8), "unknown keys \\['width'\\]"),
    ],
)
def test_validate_names_the_bad_gene(space, mutate, message):
    g = genotype(space)
    mutate(g)
    with pytest.raises(ConfigError, match=message):
        space.validate(g)


def test_image_size_must_fit_depth(space):
    with pytest.raises(ConfigError, match="divisible by 8"):
        space.build(genotype(space), ECHO, 36)


def test_default_filters_follow_the_paper(space):
    g = space.sample_genotype(np.random.default_rng(0), ECHO, SIZE)
    assert (g["filters"], g["nodes"]) == (4, 3)
    assert space.op_graph(g, ECHO, SIZE)[0].inst.c_out == 4


def test_supernet_forward_and_parameter_split(space):
    supernet = space.supernet(ECHO, SIZE, {"depth": 2})
    assert supernet(torch.randn(2, 3, SIZE, SIZE)).shape == (2, 2, SIZE, SIZE)
    arch = {id(p) for p in supernet.arch_parameters()}
    weights = {id(p) for p in supernet.weight_parameters()}
    assert arch and weights and not arch & weights
    assert arch | weights == {id(p) for p in supernet.parameters()}
    assert len(arch) == len(DOWN.edges(3)) + len(UP.edges(3))  # one alpha per edge of a cell type, shared by its cells


def test_derive_takes_the_top_op_per_edge(space):
    supernet = space.supernet(ECHO, SIZE, {"depth": 2})
    target = genotype(space, 6, depth=2)
    with torch.no_grad():
        for cell in ("down", "up"):
            for alpha, edge, op in zip(supernet.cell_alphas(cell), supernet.edges[cell], target[cell], strict=True):
                alpha.zero_()
                alpha[edge.candidates.index(op)] = 1.0
    derived = supernet.derive()
    assert derived == target
    space.validate(derived)


def test_supernet_build_is_deterministic(space):
    x = torch.randn(1, 3, SIZE, SIZE)
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        outs.append(space.supernet(ECHO, SIZE, {"depth": 2}).eval()(x))
    assert torch.equal(*outs)
