"""Causal temporal windows: what the harness feeds a network that consumes several cine frames.

The door. A space declares how many frames its network consumes through an optional method
``frames(genotype) -> n`` (``rtbench.trials.window_of`` reads it; a space without one consumes a
single frame, n = 1, and everything below is skipped, so single-frame networks are fed, trained,
scored and timed exactly as before). A network of window n takes ``(B, n * C, H, W)``: the n frames
``t - n + 1 .. t`` of one slice, oldest first, the current frame last, each with the task's C
channels (C = 1 for cine MRI). It segments the current frame, frame t.

Causality. Frame t's window holds only frame t and frames acquired before it, never a later one,
so a window network's latency is per frame as it arrives: ``rtbench.hardware.measure`` feeds one
new frame per query into a host ring buffer of the last n frames (:class:`FrameRing`) and hands
the network the assembled (n, H, W) stack, so the clock covers the stack's assembly and its whole
transfer to the device (:class:`StreamWindows` does the same for the throughput stream).

Where the frames come from (:class:`~rtbench.datasets.base.CineSequence`, ``Volume.cine``):

* ``synthetic-cine`` labels every frame of its cycle: the window is cut from the patient's own
  frames, cyclically (the sequence covers exactly one periodic cycle, so before frame 0 come the
  last frames of the cycle, as in a continuous acquisition). Its temporal resolution is the
  dataset's: the default ``dataset.frames=2`` is a two-frame cine (ED and ES, half a cycle apart);
  ``dataset.frames=25`` samples the cycle at a cine rate.
* A non-cyclic sequence pads the start of the stream: the window of an early frame repeats frame 0
  in place of the frames before it (kind ``padded``).
* **Fallback** where the dataset has no cine (``acdc``, ``nifti-folder``: only the labelled ED and
  ES frames are read; ACDC ships the 4D cine of patient090 alone): the labelled frame repeated n
  times (kind ``repeated``). The network then sees no motion: an ICA-style temporal layer gets
  zero temporal components, and the row measures the network's single-frame accuracy at its full
  window latency. Every row that used it says so (``temporal_fallback`` in the training record,
  a marker in the candidate label). Patient090's 4D file is not used: one patient of 100 with real
  motion would make windows inconsistent within a fold, and reading it would change the ACDC
  fingerprint (and so the board) of every existing ACDC run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rtbench.datasets.base import Volume

__all__ = [
    "FALLBACK",
    "FrameRing",
    "StreamWindows",
    "WINDOW_CINE",
    "WINDOW_KINDS",
    "WINDOW_PADDED",
    "WINDOW_REPEATED",
    "causal_window",
    "fallback_marker",
    "stack_window",
    "temporal_record",
    "window_counts",
]

WINDOW_CINE = "cine"
"""Every frame of the window is an acquired frame of the volume's sequence."""
WINDOW_PADDED = "padded"
"""Start of a non-cyclic sequence: the frames before frame 0 are frame 0 repeated."""
WINDOW_REPEATED = "repeated"
"""No sequence (the fallback): the labelled frame repeated n times, no motion."""
WINDOW_KINDS = (WINDOW_CINE, WINDOW_PADDED, WINDOW_REPEATED)

FALLBACK = "the labelled frame repeated n times: the dataset has no cine for these volumes, so the network sees no motion"
"""What the fallback is, in the words the training record keeps."""


def causal_window(volume: Volume, n: int) -> tuple[tuple[np.ndarray, ...], str]:
    """The causal window of ``n`` frames ending at ``volume``'s frame: ``(frames, kind)``.

    ``frames`` are n arrays (S, H, W), oldest first, the last one ``volume.image`` itself (no copy
    is made: they are the sequence's own arrays). ``kind`` is one of :data:`WINDOW_KINDS` (see the
    module docstring); with ``n == 1`` the window is the frame alone, kind ``cine``.
    """
    if n < 1:
        raise ValueError(f"a temporal window holds at least one frame, got n={n}")
    cine = volume.cine
    if n == 1:
        return (volume.image,), WINDOW_CINE
    if cine is None:
        return (volume.image,) * n, WINDOW_REPEATED
    count = len(cine.frames)
    wanted = range(cine.index - n + 1, cine.index)
    if cine.cyclic:
        earlier, kind = [i % count for i in wanted], WINDOW_CINE
    else:
        earlier, kind = [max(i, 0) for i in wanted], WINDOW_PADDED if cine.index < n - 1 else WINDOW_CINE
    return (*(cine.frames[i] for i in earlier), volume.image), kind


def stack_window(frames: Sequence[np.ndarray], start: int = 0, stop: int | None = None) -> np.ndarray:
    """Slices ``start:stop`` of a window as the network input: float32 (slices, n, H, W), oldest frame first."""
    return np.stack([np.asarray(f[start:stop], dtype=np.float32) for f in frames], axis=1)


def window_counts(volumes: Sequence[Volume], n: int) -> dict[str, int]:
    """How many of ``volumes`` get each kind of window of ``n`` frames (every kind listed, zeros included)."""
    counts = Counter(causal_window(v, n)[1] for v in volumes)
    return {kind: int(counts.get(kind, 0)) for kind in WINDOW_KINDS}


def temporal_record(n: int, train: Sequence[Volume], test: Sequence[Volume]) -> dict[str, Any]:
    """What a (candidate, fold) training record keeps about its windows.

    ``{"frames": n, "window": "causal ...", "train_windows": counts, "test_windows": counts,
    "temporal_fallback": bool, "fallback": FALLBACK or None}``; ``temporal_fallback`` is true when
    any training or test volume got the repeated-frame fallback.
    """
    train_counts, test_counts = window_counts(train, n), window_counts(test, n)
    fallback = bool(train_counts[WINDOW_REPEATED] or test_counts[WINDOW_REPEATED])
    return {
        "frames": n,
        "window": f"causal: frames t-{n - 1}..t of the same slice, oldest first",
        "train_windows": train_counts,
        "test_windows": test_counts,
        "temporal_fallback": fallback,
        "fallback": FALLBACK if fallback else None,
    }


def fallback_marker(volumes: Sequence[Volume], n: int) -> str:
    """The label suffix of a window-``n`` candidate on these volumes: ``""`` when every window is
    real, else ``" [fallback: frame repeated]"`` (all volumes) or ``" [fallback: frame repeated in k/N]"``."""
    if n == 1 or not volumes:
        return ""
    repeated = window_counts(volumes, n)[WINDOW_REPEATED]
    if repeated == 0:
        return ""
    return " [fallback: frame repeated]" if repeated == len(volumes) else f" [fallback: frame repeated in {repeated}/{len(volumes)}]"


class FrameRing:
    """The host-side ring buffer of a live stream's last ``n`` frames, as a deployed window network keeps it.

    :meth:`push` takes the frame that just arrived, ``(1, C, H, W)``, and returns the causal window
    the network is given, ``(1, n * C, H, W)``, oldest frame first, the new frame last: a fresh
    contiguous array assembled from the ring. The ring starts full of the first frame pushed (the
    start of a stream is padded by repeating its first frame).
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.ring: np.ndarray | None = None
        self.pushed = 0

    def push(self, frame: np.ndarray) -> np.ndarray:
        if self.ring is None:
            self.ring = np.repeat(frame[:1], self.n, axis=0)
        self.ring[self.pushed % self.n] = frame[0]
        self.pushed += 1
        order = (self.pushed + np.arange(self.n)) % self.n  # the oldest slot first, the new frame's slot last
        return self.ring[order].reshape(1, -1, *frame.shape[2:])


class StreamWindows:
    """Causal windows of ``n`` frames over a stream that arrives in batches (the throughput stream).

    :meth:`push` takes the next ``(B, C, H, W)`` frames and returns their B windows, ``(B, n * C, H, W)``,
    each oldest frame first; the last ``n - 1`` frames are kept for the next batch, and the stream's
    start is padded by repeating its first frame.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.history: np.ndarray | None = None

    def push(self, batch: np.ndarray) -> np.ndarray:
        if self.history is None:
            self.history = np.repeat(batch[:1], self.n - 1, axis=0)
        stream = np.concatenate([self.history, batch])
        self.history = stream[len(stream) - (self.n - 1) :]
        windows = np.lib.stride_tricks.sliding_window_view(stream, self.n, axis=0)  # (B, C, H, W, n)
        return np.ascontiguousarray(np.moveaxis(windows, -1, 1)).reshape(len(batch), -1, *batch.shape[2:])
