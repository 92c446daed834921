"""Per-epoch training checkpoints (``rtbench.train.resume``): an interrupted training resumes bit for bit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_train import make_volumes, tiny_unet

from rtbench.budgets import get_budget
from rtbench.errors import RTBenchError
from rtbench.train import seed_everything, train_model
from rtbench.train.data import train_transforms
from rtbench.train.resume import random_states

BUDGET = replace(get_budget("smoke"), epochs=3, batch_size=4, lr=1e-2)


class Interrupted(Exception):
    """Raised from ``on_epoch`` to stop a training after a given epoch (as a Ctrl-C would)."""


def _train(checkpoint: Path | None, stop_after: int | None = None, seed: int = 0) -> tuple[torch.nn.Module, dict, list[int]]:
    seed_everything(seed)
    model = tiny_unet()
    epochs: list[int] = []

    def on_epoch(m: dict) -> None:
        epochs.append(m["epoch"])
        if stop_after is not None and m["epoch"] == stop_after:
            raise Interrupted

    return model, train_model(model, make_volumes(), BUDGET, seed, torch.device("cpu"), on_epoch, checkpoint=checkpoint), epochs


def test_a_resumed_training_equals_the_uninterrupted_one(tmp_path: Path) -> None:
    straight, full, _ = _train(None)
    path = tmp_path / "ckpt" / "cand-f0.pt"
    with pytest.raises(Interrupted):
        _train(path, stop_after=1)
    assert path.is_file()
    resumed, result, epochs = _train(path)
    assert epochs == [2, 3] and result["resumed_after"] == 1  # epoch 1 was not trained again
    assert result["losses"] == full["losses"]  # epoch 1's loss comes from the checkpoint, 2-3 match the straight run
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert full["resumed_after"] == 0


def test_a_finished_checkpoint_trains_no_further_epoch(tmp_path: Path) -> None:
    path = tmp_path / "cand-f0.pt"
    first, _, _ = _train(path)
    again, result, epochs = _train(path)
    assert epochs == [] and result["resumed_after"] == BUDGET.epochs
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True))


def test_a_checkpoint_of_another_training_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cand-f0.pt"
    with pytest.raises(Interrupted):
        _train(path, stop_after=1, seed=0)
    with pytest.raises(RTBenchError, match=r"cand-f0\.pt was written for another training.*delete it"):
        _train(path, seed=1)


def test_every_augmentation_random_state_is_found() -> None:
    states = random_states(train_transforms(32))
    # Compose + 5 random transforms, RandAffined's RandAffine and its RandAffineGrid
    assert len(states) >= 6 and len({id(s) for s in states}) == len(states)
    assert random_states(None) == []
