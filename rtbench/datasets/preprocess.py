"""Shared preprocessing: every cine dataset ends on the same grid with the same intensity scale.

The harness grid is ``budget.spacing_mm`` per pixel in-plane and ``budget.image_size`` pixels square
(see ``rtbench.datasets.base.Volume``). Real data (ACDC) is brought to it by
:func:`resample_to_grid`; the synthetic generator draws directly on it. Both then call
:func:`normalise_intensity`, so a network sees the same intensity statistics from either source.

Arrays are short-axis stacks ``(S, H, W)``: slices first, then the two in-plane axes. Each slice is
resampled in 2D only; slices are never interpolated across (ACDC slice spacing is 5 to 10 mm).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import ResizeWithPadOrCrop
from monai.utils import convert_to_numpy

PREPROCESS_VERSION = 1
"""Bump whenever any step below changes its output: it is part of the on-disk cache key of real datasets."""

CLIP_PERCENTILES = (0.5, 99.5)
"""Intensity percentiles each volume is clipped to before the z-score (bright flow artefacts, dark air)."""


def normalise_intensity(image: np.ndarray) -> np.ndarray:
    """Per-volume normalisation: clip to the :data:`CLIP_PERCENTILES`, then z-score over the whole stack.

    Written in numpy rather than with MONAI's ClipIntensityPercentiles + NormalizeIntensity: those run
    in torch, whose CPU reductions change in the last bit with the thread count (checked with torch
    2.13: ``mean`` at 16 threads differs from 1 thread), and every Ray trial may run with a different
    thread count. numpy's reductions (float64 here) give the same bits in every process.

    Args:
        image: any real array, typically (S, H, W).

    Returns:
        float32 array of the same shape, mean 0 and standard deviation 1 (all zeros for a constant image).
    """
    x = np.asarray(image, dtype=np.float64)
    lo, hi = np.percentile(x, CLIP_PERCENTILES)
    x = np.clip(x, lo, hi)
    x = x - x.mean()
    std = x.std()
    if std > 0:
        x = x / std
    return x.astype(np.float32)


def resample_to_grid(
    image: np.ndarray,
    label: np.ndarray,
    inplane_mm: tuple[float, float],
    spacing_mm: float,
    image_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample every slice to ``spacing_mm`` per pixel, then centre crop or pad to ``image_size`` square.

    The output size comes from the zoom factors ``inplane_mm / spacing_mm`` (rounded to whole
    pixels, so the result is on the target spacing to within half a pixel over the whole field of
    view). Images are bilinear, anti-aliased when downsampled; labels use ``nearest-exact``
    (pixel-centre aligned like bilinear, so labels stay registered to the image; torch's plain
    ``nearest`` is shifted by up to half a pixel). MONAI ``ResizeWithPadOrCrop`` then centre crops
    or zero pads.

    The resize is torch's ``interpolate`` rather than MONAI ``Resize``: MONAI's anti-aliasing is a
    Gaussian pre-filter that took 90 ms per ACDC volume on a 2-core CPU (18 s of a cold 100-patient
    load) against 3 ms for torch's built-in anti-aliased bilinear, and without anti-aliasing the
    0.7 mm scans alias when brought to 1.8 mm (and every scan at the smoke budget's 6 mm).

    Args:
        image: (S, X, Y) float array in the scanner's intensity units.
        label: (S, X, Y) integer label array, same shape as ``image``.
        inplane_mm: (X, Y) pixel spacing of the input in mm, from the NIfTI header zooms.
        spacing_mm: target in-plane spacing (``budget.spacing_mm``).
        image_size: target H = W (``budget.image_size``).

    Returns:
        (image, label): float32 and uint8 arrays of shape (S, image_size, image_size); the image
        is not yet normalised.
    """
    size = tuple(max(1, round(n * mm / spacing_mm)) for n, mm in zip(image.shape[1:], inplane_mm))
    img = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]  # (1, S, X, Y): slices as channels
    lab = torch.from_numpy(np.ascontiguousarray(label, dtype=np.float32))[None]
    img = F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    lab = F.interpolate(lab, size=size, mode="nearest-exact")[0]
    crop = ResizeWithPadOrCrop(spatial_size=(image_size, image_size), mode="constant")
    return convert_to_numpy(crop(img), dtype=np.float32), convert_to_numpy(crop(lab)).astype(np.uint8)
