"""The ``unet-resnet18`` baselines of seed 003 Table II: space (vanilla U-Net + ResNet18 QC, an EchoNet) and method."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.networks.nets import BasicUNet
from torch import nn

from rtbench.budgets import get_budget
from rtbench.config import resolve
from rtbench.errors import ConfigError
from rtbench.hardware.measure import count_flops
from rtbench.hardware.profile import load_profile
from rtbench.methods import METHODS, SearchContext
from rtbench.runner import submit
from rtbench.spaces import SPACES
from rtbench.spaces.cells.echonas import EchoNet, EchoOutput
from rtbench.spaces.cells.qcnet import qc_channels
from rtbench.spaces.unetresnet import flops_formula
from rtbench.tasks import ECHO

SMOKE = get_budget("smoke")
SPACE = SPACES.create("unet-resnet18")


def search(tmp_path: Path, seed: int = 0, **config: int) -> list[dict]:
    cls = METHODS.get("unet-resnet18")
    ctx = SearchContext(
        task=ECHO,
        budget=SMOKE,
        hardware=load_profile("local-cpu"),
        space=SPACE,
        volumes=[],
        seed=seed,
        rng=np.random.default_rng(seed),
        device=torch.device("cpu"),
        checkpoint_dir=tmp_path,
    )
    return [c.to_dict() for c in cls(cls.Config(**config)).search(ctx)]


# ----------------------------------------------------------------------------- genotype and options


@pytest.mark.parametrize(
    ("genotype", "words"),
    [
        ({"width": 1}, r"'width'=1 must be an integer >= 2"),
        ({"width": "8"}, r"'width'='8' must be an integer >= 2"),
        ({"width": True}, r"'width'=True must be an integer >= 2"),
        ({"width": 8.0}, r"'width'=8.0 must be an integer >= 2"),
        ({}, r"'width'=None must be an integer >= 2"),
        ({"width": 8, "depth": 5}, r"unknown gene\(s\) \['depth'\]; valid genes: width"),
        ([8], r"must be a dict"),
    ],
)
def test_bad_genotypes_are_refused_naming_the_gene(genotype: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        SPACE.validate(genotype)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=words):
        SPACE.build(genotype, ECHO, 32)  # type: ignore[arg-type]


def test_too_small_an_image_is_refused() -> None:
    with pytest.raises(ConfigError, match="image size >= 16.*got 8"):
        SPACE.build({"width": 2}, ECHO, 8)


@pytest.mark.parametrize("value", [1, 0, -8])
def test_bad_width_option_is_refused_with_the_key(value: int) -> None:
    with pytest.raises(ConfigError, match=f"method.width={value} is out of range; expected an integer >= 2"):
        METHODS.get("unet-resnet18").Config(width=value)
    with pytest.raises(ConfigError, match=f"method.width={value}"):
        resolve(["method=unet-resnet18", f"method.width={value}", "budget=smoke"])


# ----------------------------------------------------------------------------- the network


@pytest.mark.parametrize("size", [32, 40])
def test_build_is_an_echonet_giving_logits_and_a_dice_in_0_1(size: int) -> None:
    torch.manual_seed(0)
    net = SPACE.build({"width": 4}, ECHO, size)
    assert isinstance(net, EchoNet)
    out = net.eval()(5.0 * torch.randn(3, ECHO.in_channels, size, size))
    assert isinstance(out, EchoOutput)
    assert out.logits.shape == (3, ECHO.num_classes, size, size)
    assert out.dice.shape == (3, 1)
    assert bool(((out.dice >= 0) & (out.dice <= 1)).all())
    net.train()(torch.randn(2, ECHO.in_channels, size, size)).dice.sum().backward()  # trainable, both parts
    assert net.seg.final_conv.weight.grad is not None and net.qc.resnet.fc.weight.grad is not None


def test_the_networks_are_the_classic_unet_and_the_imagenet_resnet18() -> None:
    net = SPACE.build({"width": 8}, ECHO, 32)
    assert isinstance(net.seg, BasicUNet)
    convs = [m for m in net.seg.modules() if isinstance(m, nn.Conv2d)]
    assert sum(m.kernel_size == (3, 3) for m in convs) == 18  # two per level: 5 encoder + 4 decoder levels
    assert [m.out_channels for m in convs[:10:2]] == [8, 16, 32, 64, 128]
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.seg.modules()) == 4
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in net.seg.modules()) == 4
    resnet = net.qc.resnet
    assert resnet.conv1.in_channels == qc_channels(ECHO) == 6 and resnet.conv1.stride == (2, 2)
    assert [len(layer) for layer in (resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4)] == [2, 2, 2, 2]
    assert resnet.fc.in_features == 512 and resnet.fc.out_features == 1


def test_build_is_deterministic_under_a_seed() -> None:
    def state(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return SPACE.build({"width": 4}, ECHO, 32).state_dict()

    a, b, c = state(0), state(0), state(1)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


# ----------------------------------------------------------------------------- FLOPs


@pytest.mark.parametrize("size", [32, 64])
def test_counted_flops_match_the_formula_and_scale_as_width_squared(size: int) -> None:
    counted = {}
    for width in (8, 16):
        net = SPACE.build({"width": width}, ECHO, size)
        counted[width] = (count_flops(net, (ECHO.in_channels, size, size)), count_flops(net.seg, (ECHO.in_channels, size, size)))
        assert counted[width][0] == flops_formula(width, ECHO, size)
    (total8, seg8), (total16, seg16) = counted[8], counted[16]
    assert 3.9 < seg16 / seg8 < 4.0  # 190 f^2 + 29 f: quadratic up to the first conv and the head
    assert total16 - seg16 == total8 - seg8  # the ResNet18 QC does not depend on the width


def test_the_documented_256_px_figures() -> None:
    """docs/methods/unet-resnet18.md and the space's docstring quote these (and Table II's 1045 M / 3635 M beside them)."""
    assert round(flops_formula(8, ECHO, 256) / 1e6) == 6670
    assert round(flops_formula(16, ECHO, 256) / 1e6) == 11482
    # Table II solved as a + x = 1045, 4a + x = 3635: a U-Net part of 863 M, a constant of 182 M
    a = (3635 - 1045) / 3
    assert round(a) == 863 and round(1045 - a) == 182


# ----------------------------------------------------------------------------- the method


def test_search_returns_the_fixed_candidate_whatever_the_seed(tmp_path: Path) -> None:
    (cand,) = search(tmp_path)
    assert cand == {"space": "unet-resnet18", "genotype": {"width": 16}, "label": "U-Net(16)+ResNet18", "predicted": {}}
    assert search(tmp_path, seed=3) == [cand]
    (eight,) = search(tmp_path, width=8)
    assert eight["label"] == "U-Net(8)+ResNet18" and eight["genotype"] == {"width": 8}
    SPACE.validate(eight["genotype"])
    assert METHODS.get("unet-resnet18").space == "unet-resnet18" and METHODS.get("unet-resnet18").description
    assert resolve(["method=unet-resnet18", "method.width=8", "budget=smoke"]).method_config == {"width": 8}


# ----------------------------------------------------------------------------- end to end


def test_smoke_submission_trains_scores_and_times_both_networks(ray_session, tmp_path: Path) -> None:
    spec = resolve(["task=echo", "method=unet-resnet18", "method.width=8", "budget=smoke", "hardware=local-cpu", f"runs.dir={tmp_path}"])
    assert spec.dataset == "synthetic-echo"
    res = submit(spec, echo=lambda s: None)
    rec = json.loads((res.run_dir / "record.json").read_text())
    assert rec["status"] == "complete", rec["failures"]
    (cand,) = rec["candidates"]
    assert cand["label"] == "U-Net(8)+ResNet18" and cand["complete"]
    metrics = cand["metrics"]
    assert 0.0 <= metrics["dice_mean"] <= 1.0 and 0.0 <= metrics["qc_mae"] <= 1.0 and "qc_mae_baseline" in metrics
    rows = cand["folds"][0]["per_volume"]
    assert rows and all(0.0 <= r["qc_pred"] <= 1.0 and 0.0 <= r["qc_true"] <= 1.0 for r in rows)
    meas = cand["measurement"]
    assert meas["latency"]["p50_ms"] > 0 and meas["throughput"]["fps"] > 0
    assert meas["flops"] == flops_formula(8, ECHO, SMOKE.image_size)  # both networks, end to end
