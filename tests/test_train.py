"""The shared recipe's data side and training loop: patient splits, loaders, augmentation, determinism."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from rtbench.budgets import get_budget
from rtbench.datasets.base import Volume
from rtbench.errors import RTBenchError
from rtbench.methods import SearchContext
from rtbench.spaces import SPACES
from rtbench.tasks import CINE
from rtbench.train import TrainingDiverged, seed_everything, slice_loader, split_patients, train_model

SIZE = 32


def make_volumes(patients: int = 3, frames: int = 2, slices: int = 2, groups: tuple[str, ...] = ("NOR",)) -> list[Volume]:
    """Tiny cine-like stacks: an LV disc, a MYO ring around it and an RV crescent to its left, with
    class-dependent intensity plus noise, so a network can learn the pattern in a few epochs."""
    rng = np.random.default_rng(123)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    volumes = []
    for p in range(patients):
        for f in range(frames):
            label = np.zeros((slices, SIZE, SIZE), np.uint8)
            for s in range(slices):
                cy, cx, r = 16 + p % 3 - 1, 18 + f, 5 + s % 2
                d = np.hypot(yy - cy, xx - cx)
                label[s][(np.hypot(yy - cy, xx - cx + 9) < r + 2) & (d >= r + 2)] = 1
                label[s][(d >= r) & (d < r + 2)] = 2
                label[s][d < r] = 3
            image = np.array([-1.0, 0.3, -0.3, 1.0], np.float32)[label] + 0.2 * rng.standard_normal(label.shape)
            volumes.append(
                Volume(
                    case_id=f"p{p}_f{f}",
                    patient=f"p{p}",
                    group=groups[p % len(groups)],
                    phase=("ED", "ES")[f % 2],
                    image=image.astype(np.float32),
                    label=label,
                    spacing=(10.0, 1.5, 1.5),
                )
            )
    return volumes


def tiny_unet() -> torch.nn.Module:
    return SPACES.create("unet").build({"width": 4, "depth": 3, "res_units": 0}, CINE, SIZE)


def patients(volumes: list[Volume]) -> set[str]:
    return {v.patient for v in volumes}


def test_split_keeps_patients_whole_stratified_and_deterministic() -> None:
    vols = make_volumes(patients=6, groups=("NOR", "DCM"))
    train, val = split_patients(vols, 0.34, seed=0)
    assert patients(train).isdisjoint(patients(val))
    assert patients(train) | patients(val) == patients(vols)
    assert len(train) + len(val) == len(vols)
    # whole patients: every frame of a val patient is in val
    for p in patients(val):
        assert sum(v.patient == p for v in val) == 2
    # 2 of 6 patients, one from each group of 3
    assert len(patients(val)) == 2
    assert sorted(v.group for v in val[::2]) == ["DCM", "NOR"]
    again = split_patients(vols, 0.34, seed=0)
    assert [v.case_id for v in again[0]] == [v.case_id for v in train]
    assert [v.case_id for v in again[1]] == [v.case_id for v in val]
    assert len({tuple(sorted(patients(split_patients(vols, 0.34, seed=s)[1]))) for s in range(10)}) > 1


@pytest.mark.parametrize(("n", "fraction", "n_val"), [(1, 0.5, 0), (2, 0.0, 1), (2, 1.0, 1), (3, 0.5, 2), (5, 0.2, 1)])
def test_split_sizes(n: int, fraction: float, n_val: int) -> None:
    vols = make_volumes(patients=n, frames=1, slices=1)
    train, val = split_patients(vols, fraction, seed=3)
    assert len(patients(val)) == n_val
    assert len(patients(train)) == n - n_val


def test_loader_shapes_and_dtypes() -> None:
    vols = make_volumes()
    batches = list(slice_loader(vols, batch_size=5, shuffle=False, augment=False, seed=0))
    assert [b["image"].shape[0] for b in batches] == [5, 5, 2]  # 3 patients x 2 frames x 2 slices
    for b in batches:
        assert b["image"].dtype == torch.float32 and b["image"].shape[1:] == (1, SIZE, SIZE)
        assert b["label"].dtype == torch.int64 and b["label"].shape[1:] == (1, SIZE, SIZE)
    assert torch.equal(batches[0]["image"][0, 0], torch.from_numpy(vols[0].image[0]))
    assert torch.equal(batches[0]["label"][1, 0], torch.from_numpy(vols[0].label[1]).long())
    assert list(slice_loader([], batch_size=4, shuffle=True, augment=True, seed=0)) == []


def _epochs(seed: int, n: int = 2) -> list[dict[str, torch.Tensor]]:
    loader = slice_loader(make_volumes(), batch_size=4, shuffle=True, augment=True, seed=seed)
    return [b for _ in range(n) for b in loader]


def test_augmentation_keeps_labels_and_is_deterministic() -> None:
    a, b, c = _epochs(0), _epochs(0), _epochs(1)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["label"], y["label"])
    assert any(not torch.equal(x["image"], y["image"]) for x, y in zip(a, c, strict=True))
    labels = torch.cat([x["label"] for x in a])
    assert set(labels.unique().tolist()) <= {0, 1, 2, 3}
    # augmentation does change the slices (the raw slices are all in the set of label maps otherwise)
    raw = {tuple(v.label[s].ravel()) for v in make_volumes() for s in range(v.num_slices)}
    assert any(tuple(m.ravel().tolist()) not in raw for m in labels[:, 0].numpy())


def _train(seed: int, epochs: int, lr: float = 1e-3) -> tuple[torch.nn.Module, dict, list[dict]]:
    budget = replace(get_budget("smoke"), epochs=epochs, batch_size=4, lr=lr)
    seed_everything(seed)
    model = tiny_unet()
    progress: list[dict] = []
    result = train_model(model, make_volumes(), budget, seed, torch.device("cpu"), on_epoch=progress.append)
    return model, result, progress


def test_train_model_is_deterministic_and_reports_progress() -> None:
    m1, r1, p1 = _train(seed=0, epochs=2)
    m2, r2, p2 = _train(seed=0, epochs=2)
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.equal(v1, v2), k
    assert r1["losses"] == r2["losses"] and r1["final_loss"] == r2["final_loss"]
    assert [p["loss"] for p in p1] == [p["loss"] for p in p2] == r1["losses"]
    assert r1["epochs"] == 2 and r1["slices"] == 12 and r1["train_seconds"] > 0
    assert [p["epoch"] for p in p1] == [1, 2]
    assert set(p1[0]) == {"epoch", "epochs", "loss", "lr", "seconds"}
    # cosine over 2 epochs x 3 steps; "lr" is the epoch's last step: 1e-3 * (1 + cos(pi * 2 / 6)) / 2
    assert p1[0]["lr"] == pytest.approx(0.75e-3) and p1[1]["lr"] == pytest.approx(1e-3 * (1 + math.cos(math.pi * 5 / 6)) / 2)
    m3, _, _ = _train(seed=1, epochs=1)
    assert any(not torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m3.state_dict().values(), strict=True))


def test_loss_decreases_on_easy_pattern() -> None:
    _, result, _ = _train(seed=0, epochs=6, lr=1e-2)
    losses = result["losses"]
    assert losses[-1] < 0.8 * losses[0], losses


def test_search_context_loaders_split_by_patient(tmp_path) -> None:
    vols = make_volumes(patients=4)
    ctx = SearchContext(
        task=CINE,
        budget=get_budget("smoke"),
        hardware=None,  # type: ignore[arg-type]  (not used by loaders)
        space=SPACES.create("unet"),
        volumes=vols,
        seed=0,
        rng=np.random.default_rng(0),
        device=torch.device("cpu"),
        checkpoint_dir=tmp_path,
    )
    train, val = ctx.loaders(val_fraction=0.5, batch_size=4)
    assert len(train.dataset) == len(val.dataset) == 8
    assert next(iter(train))["image"].shape == (4, 1, SIZE, SIZE)


class NaNAfter(torch.nn.Module):
    """A 1x1 conv whose output turns NaN from its ``bad``-th call on (a network that has diverged)."""

    def __init__(self, bad: int) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 1)
        self.bad, self.calls = bad, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self.conv(x)
        return out * float("nan") if self.calls >= self.bad else out


def test_nan_loss_stops_training_naming_epoch_step_and_loss() -> None:
    budget = replace(get_budget("smoke"), epochs=3, batch_size=4, lr=1e-3)  # 12 slices: 3 steps per epoch
    epochs: list[dict] = []
    with pytest.raises(TrainingDiverged, match=r"epoch 2/3, step 2/3: loss nan") as err:
        train_model(NaNAfter(bad=5), make_volumes(), budget, 0, torch.device("cpu"), on_epoch=epochs.append)
    assert isinstance(err.value, RTBenchError) and "budget.lr=0.001" in str(err.value)
    assert [e["epoch"] for e in epochs] == [1]  # the diverged epoch is not reported as a finished one


def test_a_huge_learning_rate_diverges_into_an_error() -> None:
    """Adam moves each weight by about lr per step: at 1e20 a network without normalisation overflows to NaN.
    (At lr=1e6 the loss of this network reaches 1e19 but stays finite: only NaN/inf is refused.)"""
    budget = replace(get_budget("smoke"), epochs=4, batch_size=4, lr=1e20)
    seed_everything(0)
    conv = torch.nn.Conv2d
    model = torch.nn.Sequential(conv(1, 8, 3, padding=1), torch.nn.ReLU(), conv(8, 8, 3, padding=1), torch.nn.ReLU(), conv(8, 4, 1))
    with pytest.raises(TrainingDiverged, match=r"training diverged at epoch \d/4, step \d/3: loss (nan|inf)"):
        train_model(model, make_volumes(), budget, 0, torch.device("cpu"))


def test_nan_input_is_a_diverged_training() -> None:
    vols = make_volumes()
    vols[0].image[0, 3, 3] = np.nan
    budget = replace(get_budget("smoke"), epochs=1, batch_size=16)
    seed_everything(0)
    with pytest.raises(TrainingDiverged, match="epoch 1/1, step 1/1"):
        train_model(tiny_unet(), vols, budget, 0, torch.device("cpu"))
