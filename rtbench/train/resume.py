"""Per-epoch checkpoints of the shared recipe, so an interrupted training trial resumes where it stopped.

A quick-budget candidate trains for a quarter of an hour on a 2-core CPU; without a checkpoint, a
``bench submit`` interrupted mid-training (Ctrl-C, a session that ends) starts that candidate again
from epoch 1. :func:`train_model` (``rtbench.train.recipe``) writes a :class:`TrainingState` after
every epoch and, when it finds one, continues after that epoch.

A resumed training is the uninterrupted one, bit for bit on a CPU at the same thread count: the
checkpoint holds everything a later epoch reads, namely the weights, Adam's moments and step counts,
the cosine schedule's position, the loader's ``torch.Generator`` (the shuffling: MONAI's
``DataLoader`` draws each epoch's order from it), the NumPy ``RandomState`` of every random MONAI
transform (the augmentation; found by walking the transform tree, since MONAI has no call that
gathers them) and the global Python / NumPy / torch generators. A checkpoint is only used by the
training it was written for: its ``signature`` (epochs, batch size, learning rate, slices, seed)
must match, else it is set aside with a clear error rather than silently mixed in.

The file is written atomically (temporary file, then ``os.replace``), so an interruption during the
write leaves the previous epoch's checkpoint.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from rtbench.errors import RTBenchError

__all__ = ["TrainingState", "checkpoint_epochs", "random_states"]


def random_states(transform: Any) -> list[np.random.RandomState]:
    """Every distinct NumPy ``RandomState`` (MONAI's ``Randomizable.R``) in a transform tree, in a fixed order.

    Walks ``Compose.transforms`` and the transforms' attributes depth-first (a ``RandAffined``
    holds a ``RandAffine`` that holds a ``RandAffineGrid``, each with its own ``R``)."""
    found: list[np.random.RandomState] = []
    seen: set[int] = set()

    def walk(obj: Any, depth: int) -> None:
        if depth > 6 or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, np.random.RandomState):
            found.append(obj)
            return
        if isinstance(obj, list | tuple):
            for item in obj:
                walk(item, depth + 1)
            return
        if type(obj).__module__.startswith("monai.") and hasattr(obj, "__dict__"):
            for value in vars(obj).values():
                walk(value, depth + 1)

    walk(transform, 0)
    return found


@dataclass
class TrainingState:
    """Where a training stands after ``epoch`` epochs (see the module docstring for what it holds)."""

    path: Path
    signature: dict[str, Any]

    def save(
        self,
        epoch: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        loader: DataLoader,
        losses: list[float],
        seconds: float,
    ) -> None:
        """Write the state after ``epoch`` epochs atomically."""
        state = {
            "signature": self.signature,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": loader.generator.get_state(),
            "transform": [r.get_state() for r in random_states(getattr(loader.dataset, "transform", None))],
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "losses": list(losses),
            "seconds": float(seconds),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)

    def load(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, loader: DataLoader
    ) -> tuple[int, list[float], float]:
        """Restore the saved state into the given objects; ``(epochs done, their losses, their seconds)``.

        ``(0, [], 0.0)`` when there is no checkpoint. RTBenchError, naming the file, when it was written
        for another training (a different signature)."""
        if not self.path.exists():
            return 0, [], 0.0
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if state.get("signature") != self.signature:
            raise RTBenchError(
                f"training checkpoint {self.path} was written for another training ({state.get('signature')}, "
                f"this one is {self.signature}); delete it to start this training from epoch 1"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        loader.generator.set_state(state["generator"])
        rngs = random_states(getattr(loader.dataset, "transform", None))
        if len(rngs) != len(state["transform"]):
            raise RTBenchError(
                f"training checkpoint {self.path} holds {len(state['transform'])} augmentation random states, "
                f"the transform has {len(rngs)}; delete it to start this training from epoch 1"
            )
        for rng, saved in zip(rngs, state["transform"], strict=True):
            rng.set_state(saved)
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
        torch.set_rng_state(state["torch"])
        return int(state["epoch"]), list(state["losses"]), float(state["seconds"])

    def remove(self) -> None:
        """Delete the checkpoint (the training finished and its weights are kept elsewhere)."""
        self.path.unlink(missing_ok=True)


def checkpoint_epochs(path: Path) -> tuple[int, int] | None:
    """``(epochs done, epochs planned)`` of the training checkpoint at ``path``; None if it cannot be read.

    For progress reports (``bench runs``): it restores nothing, and memory-maps the file so the weights
    and optimiser moments beside the two integers are not read in."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        return int(state["epoch"]), int(state["signature"]["epochs"])
    except Exception:  # any unreadable, truncated or foreign file: the report says so instead of failing
        return None
