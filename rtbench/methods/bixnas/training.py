"""What both BiX-NAS phases share: the search loss, validation Dice, seeded data order and atomic checkpoints.

* Loss: MONAI ``DiceCELoss`` with the harness recipe's settings (softmax, one-hot labels, no
  background Dice, batch Dice). BiX-NAS's code uses BCE for its binary nuclei masks (class-weighted
  cross-entropy for several classes); the cine task has four classes and the harness trains the
  final networks with this loss, so the search ranks networks by the objective they will be
  trained on.
* Validation Dice: foreground Dice per class from true/false positives and false negatives summed
  over every validation slice (MONAI ``get_confusion_matrix``), averaged over the classes present
  in labels or prediction. Pooled counts, not a mean of per-slice Dice: slices that miss a
  structure would otherwise score 0 or be undefined.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.data.utils import set_rnd
from monai.losses import DiceCELoss
from monai.metrics import get_confusion_matrix
from torch.utils.data import DataLoader

from rtbench.errors import RTBenchError

Batch = dict[str, torch.Tensor]


def search_loss() -> DiceCELoss:
    """The loss both phases minimise (module docstring)."""
    return DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=True)


def reseed(loader: DataLoader, *key: int) -> None:
    """Seed ``loader``'s shuffling and augmentation from ``key`` (e.g. seed, phase, epoch)."""
    s = int(np.random.SeedSequence(list(key)).generate_state(1)[0])
    if loader.generator is not None:
        loader.generator.manual_seed(s)
    set_rnd(loader.dataset, s)


def cycle(loader: DataLoader) -> Iterator[Batch]:
    while True:
        yield from loader


def steps_per_epoch(loader: DataLoader, search_batches: int) -> int:
    """``search_batches`` steps (0: one pass over ``loader``), at most one pass."""
    if len(loader) == 0:
        raise RTBenchError("the search-train split has no slices")
    return len(loader) if search_batches <= 0 else min(search_batches, len(loader))


def dice_counts(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """``(classes - 1, 3)`` true positives, false positives, false negatives per foreground class.

    ``logits`` ``(B, classes, H, W)``, ``label`` ``(B, 1, H, W)`` int64.
    """
    classes = logits.shape[1]
    pred = F.one_hot(logits.argmax(1), classes).permute(0, 3, 1, 2)
    truth = F.one_hot(label[:, 0].long(), classes).permute(0, 3, 1, 2)
    cm = get_confusion_matrix(pred, truth, include_background=False).sum(0)  # (classes - 1, [tp, fp, tn, fn])
    return torch.stack([cm[:, 0], cm[:, 1], cm[:, 3]], dim=1).double().cpu()


def mean_dice(counts: torch.Tensor) -> float:
    """Mean foreground Dice of pooled ``dice_counts`` over the classes seen in labels or prediction (0.0 if none)."""
    tp, fp, fn = counts[:, 0], counts[:, 1], counts[:, 2]
    denom = 2 * tp + fp + fn
    seen = denom > 0
    if not bool(seen.any()):
        return 0.0
    return float((2 * tp[seen] / denom[seen]).mean())


def validation_batches(loader: DataLoader, seed: int, limit: int) -> list[Batch]:
    """The first ``limit`` batches of ``loader`` (0: all) in an order fixed by ``seed``: the same for every candidate."""
    reseed(loader, seed, 7)
    out = []
    for batch in loader:
        if limit and len(out) >= limit:
            break
        out.append(batch)
    return out


def save_atomic(obj: Any, path: Path, writer: Callable[[Any, str], None] = torch.save) -> None:
    """Write ``obj`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checked(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if there is one; RTBenchError if it was written by a search with other settings."""
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("fingerprint") != fingerprint:
        raise RTBenchError(
            f"{path} holds a search with other settings ({state.get('fingerprint')}); this search has {fingerprint}; "
            "delete it to start over"
        )
    return state
