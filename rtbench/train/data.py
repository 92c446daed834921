"""Slice-level data for the shared recipe: patient splits, MONAI augmentation and loaders.

Networks are 2D: every short-axis slice of every :class:`~rtbench.datasets.base.Volume` is one
training item, ``{"image": float32 (1, H, W), "label": int64 (1, H, W)}``. A network with a temporal
window of n frames gets the slice's causal window instead, ``"image": (n, H, W)``, oldest frame first
(:mod:`rtbench.datasets.windows`); the label is the current frame's, and the augmentation moves all
n frames alike (one affine and one intensity draw per item). Splits are always made
over patients (never over frames or slices), so the two ED/ES frames of a patient, and all their
slices, fall on the same side.

Randomness is owned by the seed: ``slice_loader`` gives the loader a ``torch.Generator`` seeded
with ``seed``. MONAI's ``DataLoader`` draws the augmentation random state from that generator
(``monai.data.utils.set_rnd`` at construction when ``num_workers == 0``; ``worker_init_fn`` per
worker and epoch otherwise), and the shuffling sampler uses the same generator, so the slice order
and every augmentation are a function of the seed alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from math import floor
from typing import TYPE_CHECKING

import numpy as np
import torch
from monai.data import DataLoader
from monai.transforms import (
    Compose,
    EnsureTyped,
    RandAdjustContrastd,
    RandAffined,
    RandGaussianNoised,
    RandScaleIntensityd,
    RandShiftIntensityd,
)
from torch.utils.data import Dataset

from rtbench.datasets.echo_channels import as_channels
from rtbench.datasets.windows import causal_window

if TYPE_CHECKING:
    from rtbench.datasets.base import Volume

__all__ = ["SliceDataset", "slice_loader", "split_patients", "train_transforms"]

KEYS = ("image", "label")


def train_transforms(image_size: int = 128) -> Compose:
    """MONAI dictionary augmentation for 2D short-axis cine MRI slices (keys ``image``, ``label``).

    * ``RandAffined`` (p=0.5): rotation within +-15 degrees, isotropic-ish scaling within +-10 %,
      translation within +-6 % of ``image_size`` pixels; bilinear for the image, nearest for the
      label (label values stay in the label set); output size kept; zero padding (background).
    * ``RandScaleIntensityd`` (p=0.3, factor +-10 %), ``RandShiftIntensityd`` (p=0.3, offset +-0.1),
      ``RandAdjustContrastd`` (p=0.3, gamma in [0.7, 1.5]): scanner and coil intensity variation
      on the per-volume-normalised image.
    * ``RandGaussianNoised`` (p=0.15, std 0.05): acquisition noise.

    No flips: a left-right (or up-down) flip puts the right ventricle on the wrong side of the
    left ventricle, an anatomy the test data never show. The last transform returns plain tensors
    (no MetaTensor): image float32, label int64.
    """
    shift = 0.06 * image_size
    return Compose(
        [
            RandAffined(
                keys=KEYS,
                prob=0.5,
                rotate_range=np.deg2rad(15.0),
                scale_range=(0.1, 0.1),
                translate_range=(shift, shift),
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),
            RandScaleIntensityd(keys="image", factors=0.1, prob=0.3),
            RandShiftIntensityd(keys="image", offsets=0.1, prob=0.3),
            RandAdjustContrastd(keys="image", gamma=(0.7, 1.5), prob=0.3),
            RandGaussianNoised(keys="image", prob=0.15, mean=0.0, std=0.05),
            EnsureTyped(keys="image", data_type="tensor", dtype=torch.float32, track_meta=False),
            EnsureTyped(keys="label", data_type="tensor", dtype=torch.int64, track_meta=False),
        ]
    )


class SliceDataset(Dataset):
    """Every slice of every volume as one item ``{"image": (1, H, W) float32, "label": (1, H, W) int64}``.

    Items are views of the volumes' arrays (no copy of the data set is made); with a ``transform``
    the image is copied before augmentation so the volumes are never modified. With ``frames`` = n
    > 1 an item's image is the slice's causal window, ``(n, H, W)``, stacked when the item is read.
    With ``channels`` = C > 1 (the echo task's 3-channel input) the one greyscale channel is
    repeated after augmentation (:func:`rtbench.datasets.echo_channels.as_channels`), ``(C, H, W)``.

    Args:
        volumes: volumes of equal in-plane size (H, W).
        transform: a MONAI dictionary transform applied to each item (``None``: no augmentation).
        frames: the network's temporal window (1: the frame alone).
        channels: input channels of the task's networks (``Task.in_channels``).
    """

    def __init__(self, volumes: Sequence[Volume], transform: Compose | None = None, frames: int = 1, channels: int = 1) -> None:
        if frames > 1 and channels > 1:
            raise ValueError(f"a temporal window of {frames} frames with {channels} channels per frame is not supported")
        self.images = [np.ascontiguousarray(v.image, dtype=np.float32) for v in volumes]
        self.labels = [np.ascontiguousarray(v.label, dtype=np.uint8) for v in volumes]
        shapes = {im.shape[1:] for im in self.images}
        if len(shapes) > 1:
            raise ValueError(f"all volumes must share one in-plane size, got {sorted(shapes)}")
        self.index = [(v, s) for v, im in enumerate(self.images) for s in range(im.shape[0])]
        self.transform = transform
        self.frames = frames
        self.windows = [causal_window(v, frames)[0] for v in volumes] if frames > 1 else []
        self.channels = channels

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        v, s = self.index[i]
        if self.frames > 1:
            image = torch.from_numpy(np.stack([np.asarray(f[s], dtype=np.float32) for f in self.windows[v]]))
        else:
            image = torch.from_numpy(self.images[v][s : s + 1])
        label = torch.from_numpy(self.labels[v][s : s + 1]).long()
        if self.transform is not None:
            item = self.transform({"image": image.clone(), "label": label})
            image, label = item["image"], item["label"]
        if self.channels > 1:  # the echo task's greyscale frame repeated (rtbench.datasets.echo_channels)
            image = as_channels(image[None], self.channels)[0]
        return {"image": image, "label": label}


def slice_loader(
    volumes: Sequence[Volume],
    batch_size: int,
    shuffle: bool,
    augment: bool,
    seed: int,
    num_workers: int = 0,
    frames: int = 1,
    channels: int = 1,
) -> DataLoader:
    """A MONAI ``DataLoader`` over the slices of ``volumes``; order and augmentation fixed by ``seed``.

    Batches are ``{"image": (B, 1, H, W) float32, "label": (B, 1, H, W) int64}`` (``(B, frames, H, W)``
    images for a network with a temporal window, ``(B, channels, H, W)`` for a task of several input
    channels, see :class:`SliceDataset`). The last, smaller
    batch is kept (every slice is seen once per epoch). An empty ``volumes`` gives a loader that
    yields nothing. The augmentation stream depends on ``num_workers`` (each worker gets its own
    seed from the generator), so runs compare bit for bit only at the same ``num_workers``.
    """
    transform = train_transforms(int(volumes[0].image.shape[-1])) if augment and volumes else None
    dataset = SliceDataset(volumes, transform, frames, channels)
    generator = torch.Generator().manual_seed(int(seed))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and len(dataset) > 0,
        num_workers=num_workers,
        generator=generator,
        persistent_workers=num_workers > 0,
        pin_memory=False,
    )


def split_patients(volumes: Sequence[Volume], val_fraction: float, seed: int) -> tuple[list[Volume], list[Volume]]:
    """Split ``volumes`` into (train, val) by patient, stratified by ``Volume.group``.

    ``round(val_fraction * P)`` of the P patients go to val, clamped to [1, P - 1] so both sides are
    non-empty when P >= 2 (with P < 2 everything is train). The val count is shared across groups in
    proportion to their size (largest-remainder rounding, ties to the larger group, then by name),
    and within a group the patients are drawn by a ``numpy.random.default_rng(seed)`` shuffle of the
    sorted patient ids. Deterministic given (patients, groups, val_fraction, seed); the input order
    of volumes is kept on each side.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    group_of: dict[str, str] = {}
    for v in volumes:
        if group_of.setdefault(v.patient, v.group) != v.group:
            raise ValueError(f"patient '{v.patient}' has volumes in two groups: '{group_of[v.patient]}' and '{v.group}'")
    n = len(group_of)
    if n < 2:
        return list(volumes), []
    n_val = min(max(round(val_fraction * n), 1), n - 1)

    members: dict[str, list[str]] = defaultdict(list)
    for patient in sorted(group_of):
        members[group_of[patient]].append(patient)
    groups = sorted(members)
    quota = {g: n_val * len(members[g]) / n for g in groups}
    take = {g: floor(quota[g]) for g in groups}
    by_remainder = sorted(groups, key=lambda g: (-(quota[g] - take[g]), -len(members[g]), g))
    for g in by_remainder[: n_val - sum(take.values())]:
        take[g] += 1

    rng = np.random.default_rng(seed)
    val_patients: set[str] = set()
    for g in groups:
        order = rng.permutation(len(members[g]))
        val_patients.update(members[g][i] for i in order[: take[g]])
    train = [v for v in volumes if v.patient not in val_patients]
    val = [v for v in volumes if v.patient in val_patients]
    return train, val
