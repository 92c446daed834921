"""The ``qcnet`` space (seed 003 §III-C) and the joint ``echonas`` space / supernet (003 Fig. 1)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rtbench.errors import ConfigError
from rtbench.spaces import SPACES
from rtbench.spaces.cells.cell import CONTRACTING, NON_SCALING
from rtbench.spaces.cells.echonas import EchoNASSpace, EchoOutput
from rtbench.spaces.cells.graph import MixedNode
from rtbench.spaces.cells.qcnet import qc_channels, quality_control_input
from rtbench.spaces.ops import DOWN_OPS, NORMAL_OPS
from rtbench.tasks import ECHO

SIZE = 32
SMALL_SEG = {"depth": 2}
SMALL_QC = {"stages": 2}


@pytest.fixture(scope="module")
def space():
    return SPACES.create("qcnet")


@pytest.fixture(scope="module")
def echo():
    return EchoNASSpace()


def counted_flops(net: torch.nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net.eval()(x)
    return int(counter.get_total_flops())


def qc_genotype(space, seed: int = 0, **config):
    return space.sample_genotype(np.random.default_rng(seed), ECHO, SIZE, {**SMALL_QC, **config})


def echo_genotype(echo, seed: int = 0):
    return echo.sample_genotype(np.random.default_rng(seed), ECHO, SIZE, {"seg": SMALL_SEG, "qc": SMALL_QC})


def test_quality_control_input_concatenates_image_softmax_uncertainty():
    image, logits = torch.randn(2, 3, SIZE, SIZE), torch.randn(2, 2, SIZE, SIZE)
    x = quality_control_input(image, logits)
    assert x.shape == (2, qc_channels(ECHO), SIZE, SIZE) == (2, 6, SIZE, SIZE)
    assert torch.equal(x[:, :3], image)
    assert torch.allclose(x[:, 3:5].sum(dim=1), torch.ones(2, SIZE, SIZE))
    assert float(x[:, 5:].min()) >= 0.0 and float(x[:, 5:].max()) <= 1.0 + 1e-6


@pytest.mark.parametrize("size", [SIZE, 30])
def test_dice_shape_and_range(space, size):
    g = space.sample_genotype(np.random.default_rng(1), ECHO, size)
    dice = space.build(g, ECHO, size)(torch.randn(3, qc_channels(ECHO), size, size))
    assert dice.shape == (3, 1)
    assert bool(((dice >= 0) & (dice <= 1)).all())


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_edge_count_per_cell(space, m):
    """A QC cell reads one input: m + m(m-1)/2 = m(m+1)/2 searched edges."""
    for cell in (CONTRACTING, NON_SCALING):
        assert len(cell.edges(m)) == m * (m + 1) // 2
    supernet = space.supernet(ECHO, SIZE, {"nodes": m, "stages": 1})
    for cell in ("contracting1", "nonscaling1"):
        mixed = [n for n in supernet.net.graph if isinstance(n, MixedNode) and n.id.startswith(f"{cell}/")]
        assert len(mixed) == m * (m + 1) // 2


def test_edge_families(space):
    for e in CONTRACTING.edges(3):
        assert e.candidates == (DOWN_OPS if e.src == 0 else NORMAL_OPS)
    assert all(e.candidates == NORMAL_OPS for e in NON_SCALING.edges(3))
    g = space.sample_genotype(np.random.default_rng(0), ECHO, SIZE)
    assert (g["filters"], g["nodes"]) == (8, 3)


def test_genotype_json_round_trip_and_determinism(space):
    g = qc_genotype(space, 2)
    back = json.loads(json.dumps(g))
    assert back == g
    x = torch.randn(1, qc_channels(ECHO), SIZE, SIZE)
    outs = []
    for genotype in (g, back):
        torch.manual_seed(0)
        outs.append(space.build(genotype, ECHO, SIZE).eval()(x))
    assert torch.equal(*outs)


@pytest.mark.parametrize("seed", range(3))
def test_op_graph_flops_equal_flop_counter(space, seed):
    g = qc_genotype(space, seed)
    analytic = sum(space.op_flops(n.inst) for n in space.op_graph(g, ECHO, SIZE))
    assert analytic == counted_flops(space.build(g, ECHO, SIZE), torch.zeros(1, qc_channels(ECHO), SIZE, SIZE))


def test_all_zero_non_scaling_cell_is_its_residual(space):
    g = qc_genotype(space, 3)
    g["non_scaling"] = ["zero"] * len(g["non_scaling"])
    graph = space.op_graph(g, ECHO, SIZE)
    assert not any(n.id.startswith("nonscaling") for n in graph)
    net = space.build(g, ECHO, SIZE)
    assert net(torch.randn(2, qc_channels(ECHO), SIZE, SIZE)).shape == (2, 1)
    assert sum(space.op_flops(n.inst) for n in graph) == counted_flops(net, torch.zeros(1, qc_channels(ECHO), SIZE, SIZE))


def test_validate_names_the_bad_gene(space):
    g = qc_genotype(space)
    g["contracting"][0] = "identity"
    with pytest.raises(ConfigError, match=r"contracting\[0\]='identity'"):
        space.validate(g)


def test_echonas_outputs_logits_and_dice(echo):
    net = echo.build(echo_genotype(echo), ECHO, SIZE)
    out = net(torch.randn(2, 3, SIZE, SIZE))
    assert isinstance(out, EchoOutput)
    assert out.logits.shape == (2, 2, SIZE, SIZE) and out.dice.shape == (2, 1)
    assert bool(((out.dice >= 0) & (out.dice <= 1)).all())


def test_echonas_op_graph_flops_and_json(echo):
    g = echo_genotype(echo, 1)
    assert json.loads(json.dumps(g)) == g
    graph = echo.op_graph(g, ECHO, SIZE)
    ids = [n.id for n in graph]
    assert len(set(ids)) == len(ids)
    join = ids.index("qc_input")
    assert graph[join].inputs == ("seg/head",) and graph[join + 1].inputs == ("qc_input",)
    insts = set(echo.op_instances(ECHO, SIZE, {"seg": SMALL_SEG, "qc": SMALL_QC}))
    assert all(n.inst in insts for n in graph)
    analytic = sum(echo.op_flops(n.inst) for n in graph)
    assert analytic == counted_flops(echo.build(g, ECHO, SIZE), torch.zeros(1, 3, SIZE, SIZE))


def test_echonas_validate_and_config_errors(echo):
    g = echo_genotype(echo)
    with pytest.raises(ConfigError, match="needs keys seg, qc"):
        echo.validate({"seg": g["seg"]})
    g["qc"]["non_scaling"][0] = "max_pool"
    with pytest.raises(ConfigError, match=r"non_scaling\[0\]='max_pool'"):
        echo.validate(g)
    with pytest.raises(ConfigError, match="unknown keys"):
        echo.supernet(ECHO, SIZE, {"segmentation": {}})


def test_echo_supernet_parameters_and_derive(echo):
    torch.manual_seed(0)
    supernet = echo.supernet(ECHO, SIZE, {"seg": SMALL_SEG, "qc": SMALL_QC})
    out = supernet(torch.randn(2, 3, SIZE, SIZE))
    assert out.logits.shape == (2, 2, SIZE, SIZE) and out.dice.shape == (2, 1)
    for part in (supernet.seg, supernet.qc, supernet):
        arch = {id(p) for p in part.arch_parameters()}
        weights = {id(p) for p in part.weight_parameters()}
        assert arch and weights and not arch & weights
        assert arch | weights == {id(p) for p in part.parameters()}
    derived = supernet.derive()
    echo.validate(derived)
    assert derived["seg"]["depth"] == 2 and derived["qc"]["stages"] == 2
    assert echo.build(derived, ECHO, SIZE)(torch.randn(1, 3, SIZE, SIZE)).dice.shape == (1, 1)


def test_qc_loss_reaches_segmentation_alphas(echo):
    """The QC network reads the softmax, so its loss trains the segmentation supernet too (003 eq. 3)."""
    supernet = echo.supernet(ECHO, SIZE, {"seg": SMALL_SEG, "qc": SMALL_QC})
    supernet(torch.randn(2, 3, SIZE, SIZE)).dice.sum().backward()
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in supernet.seg.arch_parameters())


def test_every_op_instance_runs_alone_as_a_latency_table_times_it(echo):
    """``build_op_instance(inst)`` on one (1, c_in, h, w) input, then argmax over dim 1 (the LUT's query)."""
    for inst in echo.op_instances(ECHO, 16, {"seg": {"depth": 1, "nodes": 2}, "qc": {"stages": 1, "nodes": 2}}):
        with torch.no_grad():
            out = echo.build_op_instance(inst).eval()(torch.randn(1, inst.c_in, inst.h, inst.w))
        assert out.shape[:2] == (1, inst.c_out)
        out.max(dim=1)
