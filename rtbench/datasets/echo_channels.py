"""How an echo frame becomes the network input of the ``echo`` task: greyscale repeated to 3 channels.

Echo datasets (``synthetic-echo``, ``camus``) hand the harness one greyscale frame per volume,
``Volume.image`` float32 ``(1, H, W)`` (a 2D frame is a one-slice stack, like every volume of the
data contract), normalised like every other dataset. The ``echo`` task's networks take
``task.in_channels`` = 3 channels because seed 003's segmentation network "takes RGB contrast
echocardiography as the input": the frames exported from the scanner are RGB video frames, and a
contrast echo frame is grey, so its three channels are equal. :func:`as_channels` repeats the
frame into them.

Why not adjacent frames as the channels: that would put a temporal window (and, centred on frame
t, a future frame) into the input of every network without the network asking for it. A network
that wants several frames declares a causal window (``Space.frames``) and gets frames t-n+1..t
from ``Volume.cine`` (:mod:`rtbench.datasets.windows`), each frame then being 3 channels.
Storing the three equal channels would triple the data in memory and in the cache for no
information, so volumes keep one and the copy is made at the network's input (``expand`` on a
torch tensor: a view, no copy).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)


def as_channels(batch: ArrayOrTensor, channels: int) -> ArrayOrTensor:
    """Greyscale frames ``(B, 1, H, W)`` -> ``(B, channels, H, W)``, the one channel repeated.

    A torch tensor is expanded (a view, no copy); a numpy array is broadcast (read-only view).
    ``channels == 1`` returns ``batch`` itself.

    Raises:
        ValueError: ``batch`` is not 4D with one channel, or ``channels < 1``.
    """
    if batch.ndim != 4 or batch.shape[1] != 1 or channels < 1:
        raise ValueError(
            f"as_channels expects (B, 1, H, W) greyscale frames and channels >= 1; got shape {tuple(batch.shape)}, channels={channels}"
        )
    if channels == 1:
        return batch
    shape = (batch.shape[0], channels, *batch.shape[2:])
    if isinstance(batch, torch.Tensor):
        return batch.expand(*shape)
    return np.broadcast_to(batch, shape)
