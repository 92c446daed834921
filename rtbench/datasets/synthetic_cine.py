"""Synthetic short-axis cine MRI: the embedded default dataset, for tests, demos and CPU-only runs.

Each synthetic patient is a stack of short-axis slices from base to apex over the cardiac cycle,
drawn directly on the harness grid (``budget.spacing_mm`` per pixel, ``budget.image_size`` square)
in physical millimetres, so a heart has a plausible size on any grid:

* LV blood pool (bright, label 3) inside a myocardial ring (dark grey, label 2) of realistic
  thickness, slightly elliptical, with two papillary muscles inside the cavity (dark, labelled LV
  as in ACDC); RV blood pool (bright, label 1) as a crescent wrapped around the septal side, with
  a thin unlabelled free wall, and patches of bright epicardial fat around the heart.
* Long axis: the LV is a half ellipsoid (cavity and epicardium shrink toward the apex, the wall
  thins less than the cavity); the RV is shorter and vanishes in the apical slices.
* Cycle: frame t (fraction of the R-R interval) contracts the cavities with a raised-cosine curve,
  largest at end-diastole (t = 0), smallest at end-systole (t = ES). The myocardium keeps its area
  in every slice, so it thickens at ES (incompressible wall).
* Groups (round-robin over patients, so splits can stratify) loosely follow the ACDC group
  definitions (Bernard et al. 2018): NOR; DCM (dilated LV, thin wall, low ejection fraction); HCM
  (thick wall, small cavity, high ejection fraction); MINF (a thinned, akinetic infarct sector,
  low ejection fraction); RV (dilated, poorly contracting RV).
* Appearance (bSSFP-like): tissue texture at two scales, air outside an elliptical body outline,
  bright subcutaneous fat, dark lungs beside the heart, partial-volume edges one pixel wide, a
  smooth multiplicative coil-sensitivity field, and Rician noise (magnitude of complex Gaussian
  noise). Per-patient random pose (rotation, translation), size and contrast.

Images are normalised per volume exactly as ACDC's (:func:`~rtbench.datasets.preprocess.normalise_intensity`).

Sequence: every frame of the cycle is labelled, and each volume carries the patient's cine
(``Volume.cine``: the frames of the cycle in order, cyclic, since the cycle is periodic), so a
network with a temporal window gets real causal windows (:mod:`rtbench.datasets.windows`). The
default ``frames=2`` is a two-frame cine (ED, ES); ``dataset.frames=25`` samples the cycle at a
cine rate. The sequence is a view of the same arrays: the data, and the fingerprint, are unchanged.

Native grid: the data are drawn on the harness grid, so that grid *is* their native grid. Volumes
carry ``native=None``, which the scoring reads as "the native-grid scores are the grid scores"
(:func:`rtbench.train.metrics.evaluate`); there is nothing to resample back.

The data depend only on (config, budget): ``load``'s ``seed`` (the submission seed) is deliberately
not used, so every submission on a board trains and is scored on the same patients and seeds
measure training variance only. ``dataset.data_seed=N`` draws a different population. Patient i is
drawn from its own random stream, so the first patients are the same whatever the patient count.
Outputs are bitwise identical for the same inputs on the same machine and numpy build.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rtbench.budgets import Budget
from rtbench.datasets.base import CineSequence, DatasetBundle, Volume, register_dataset
from rtbench.datasets.nifti import generated_fingerprint
from rtbench.datasets.preprocess import normalise_intensity
from rtbench.errors import ConfigError

GENERATOR_VERSION = 1
"""Bump whenever :func:`synthesize_patient` draws different data for the same inputs: part of :meth:`SyntheticCine.fingerprint`."""

GROUPS = ("NOR", "DCM", "HCM", "MINF", "RV")
ES_FRACTION = 0.35  # end-systole as a fraction of the R-R interval (ED is t = 0), rounded to a frame


@dataclass(frozen=True)
class _Anatomy:
    """Group mean of one heart at end-diastole, basal slice (mm; fractions for ejection)."""

    lv_radius: float  # LV cavity radius
    wall: float  # myocardial wall thickness
    lv_ef: float  # LV ejection fraction; the cavity area ratio ES/ED is 1 - ef
    rv_width: float  # RV cavity width, septum to free wall
    rv_ef: float  # RV ejection fraction
    rv_span: float  # half the angle (rad) the RV crescent wraps around the LV
    infarct: bool = False


ANATOMY: dict[str, _Anatomy] = {
    "NOR": _Anatomy(lv_radius=24.0, wall=8.0, lv_ef=0.62, rv_width=16.0, rv_ef=0.50, rv_span=1.25),
    "DCM": _Anatomy(lv_radius=32.0, wall=6.0, lv_ef=0.22, rv_width=16.0, rv_ef=0.35, rv_span=1.15),
    "HCM": _Anatomy(lv_radius=19.0, wall=14.0, lv_ef=0.72, rv_width=14.0, rv_ef=0.55, rv_span=1.25),
    "MINF": _Anatomy(lv_radius=28.0, wall=8.0, lv_ef=0.35, rv_width=16.0, rv_ef=0.45, rv_span=1.2, infarct=True),
    "RV": _Anatomy(lv_radius=22.0, wall=7.0, lv_ef=0.55, rv_width=28.0, rv_ef=0.25, rv_span=1.55),
}

LV_LENGTH_MM = 85.0  # base-to-apex length of the LV cavity at ED (before the per-patient size factor)
RV_WALL_MM = 3.0  # RV free wall thickness (unlabelled, myocardium-like intensity)


def _ramp(inside_mm: np.ndarray, pixel_mm: float) -> np.ndarray:
    """Partial-volume membership from a signed distance (mm, positive inside): a one-pixel linear edge."""
    return np.minimum(np.maximum(0.5 + inside_mm / pixel_mm, 0.0), 1.0)


def _lerp(image: np.ndarray, value: float | np.ndarray, weight: np.ndarray) -> np.ndarray:
    return image + (value - image) * weight


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angle difference wrapped to [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def contraction(t: np.ndarray, t_es: float) -> np.ndarray:
    """Contraction state over the cycle: 0 at ED (t = 0), 1 at ES (t = t_es), raised-cosine in between.

    Args:
        t: fraction of the R-R interval, in [0, 1).
        t_es: end-systole as a fraction of the R-R interval.
    """
    systole = 0.5 * (1.0 - np.cos(np.pi * np.clip(t / t_es, 0.0, 1.0)))
    diastole = 0.5 * (1.0 + np.cos(np.pi * np.clip((t - t_es) / (1.0 - t_es), 0.0, 1.0)))
    return np.where(t <= t_es, systole, diastole)


def cycle_frames(frames: int) -> tuple[np.ndarray, float, list[str]]:
    """Evenly spaced frames over one cycle: (t per frame, t of ES, phase names).

    Frame k is at t = k / frames. Frame 0 is ED; frame ``round(ES_FRACTION * frames)`` is ES, and
    the contraction peaks there; the others are ``"tNN"`` (NN the frame index). Two frames are
    exactly (ED, ES).
    """
    es = max(1, math.floor(ES_FRACTION * frames + 0.5))
    phases = ["ED" if k == 0 else "ES" if k == es else f"t{k:02d}" for k in range(frames)]
    return np.arange(frames) / frames, es / frames, phases


@register_dataset("synthetic-cine")
class SyntheticCine:
    """Procedural short-axis cine stacks with RV/MYO/LV labels on every frame (see the module docstring)."""

    name: ClassVar[str]
    task: ClassVar[str] = "cine"

    @dataclass
    class Config:
        """``dataset.<field>=value`` options.

        Attributes:
            frames: frames per patient over one cycle; 2 gives ED and ES.
            slices: short-axis slices per stack, base to apex.
            noise: Rician noise level, relative to the LV blood signal.
            patients: number of patients; 0 takes ``budget.synthetic_patients``.
            data_seed: seed of the synthetic population (not the submission seed).
        """

        frames: int = 2
        slices: int = 8
        noise: float = 0.06
        patients: int = 0
        data_seed: int = 0

    def __init__(self, config: SyntheticCine.Config | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def fingerprint(self) -> str:
        """sha256 of the config, :data:`GENERATOR_VERSION` and the shared preprocessing version (no file is read)."""
        return generated_fingerprint("synthetic-cine", self.config, GENERATOR_VERSION)

    def validate(self, budget: Budget) -> None:
        """The config checks of :meth:`load` (ConfigError); generated data have no file to check."""
        self._patient_count(budget)

    def _patient_count(self, budget: Budget) -> int:
        c = self.config
        for key, value, least in (("frames", c.frames, 2), ("slices", c.slices, 1), ("patients", c.patients, 0)):
            if value < least:
                raise ConfigError(f"dataset.{key}={value} is not valid for synthetic-cine; expected an integer >= {least}")
        if c.noise < 0:
            raise ConfigError(f"dataset.noise={c.noise} is not valid for synthetic-cine; expected a number >= 0")
        count = c.patients or budget.synthetic_patients
        if count < 1:
            raise ConfigError(f"budget.synthetic_patients={count}: synthetic-cine needs at least one patient")
        return count

    def load(self, budget: Budget, seed: int, progress: Callable[[str], None] | None = None) -> DatasetBundle:
        """Generate the patients at the budget's grid. ``seed`` is not used (see the module docstring)."""
        c = self.config
        count = self._patient_count(budget)
        volumes: list[Volume] = []
        for i in range(count):
            rng = np.random.default_rng(np.random.SeedSequence([c.data_seed, i]))
            volumes += synthesize_patient(f"syn{i:03d}", GROUPS[i % len(GROUPS)], rng, c.frames, c.slices, c.noise, budget)
            if progress is not None and ((i + 1) % 10 == 0 or i + 1 == count):
                progress(f"synthetic-cine: generated {i + 1}/{count} patients")
        return DatasetBundle(volumes=volumes)


def synthesize_patient(
    patient: str,
    group: str,
    rng: np.random.Generator,
    frames: int,
    slices: int,
    noise: float,
    budget: Budget,
) -> list[Volume]:
    """Draw one patient: one :class:`Volume` per frame, each (slices, image_size, image_size).

    Args:
        patient: patient id.
        group: one of :data:`GROUPS`; picks the :data:`ANATOMY` the patient is drawn around.
        rng: the patient's own random stream (every draw comes from it, in a fixed order).
        frames, slices, noise: as in :class:`SyntheticCine.Config`.
        budget: gives the grid (``image_size``, ``spacing_mm``).
    """
    n, px = budget.image_size, float(budget.spacing_mm)
    fov = n * px
    a = ANATOMY[group]
    f32 = np.float32

    # --- per-patient draws: pose, size, shape, contrast -------------------------------------------
    theta = rng.uniform(0.0, 2 * np.pi)
    shift = rng.uniform(-1.0, 1.0, 2) * min(15.0, 0.08 * fov)
    size = rng.uniform(0.9, 1.1)
    ri0 = a.lv_radius * size * rng.uniform(0.92, 1.08)
    wall0 = a.wall * size * rng.uniform(0.9, 1.1)
    lv_ef = float(np.clip(a.lv_ef + rng.uniform(-0.05, 0.05), 0.05, 0.85))
    rv_w0 = a.rv_width * size * rng.uniform(0.85, 1.15)
    rv_ef = float(np.clip(a.rv_ef + rng.uniform(-0.05, 0.05), 0.05, 0.85))
    rv_dir = np.pi + rng.uniform(-0.3, 0.3)  # RV on the -u side of the heart frame
    rv_span = a.rv_span * rng.uniform(0.9, 1.1)
    ecc, ecc_dir = rng.uniform(0.0, 0.08), rng.uniform(0.0, np.pi)
    infarct_dir = rng.uniform(0.0, 2 * np.pi)
    z_apex, z_rv = rng.uniform(0.85, 0.95), rng.uniform(0.7, 0.85)
    lv_length = LV_LENGTH_MM * size * rng.uniform(0.92, 1.08)
    pm_dir = rng.uniform(0.0, 2 * np.pi)
    pm_gap = rng.uniform(1.6, 2.2)
    fat_mm, fat_phase = rng.uniform(1.5, 4.0), rng.uniform(0.0, 2 * np.pi)
    blood, myo = rng.uniform(0.85, 1.1), rng.uniform(0.22, 0.32)
    tissue, fat = rng.uniform(0.22, 0.36), rng.uniform(0.6, 0.8)
    field_coef = [float(k) for k in rng.uniform(-0.25, 0.25, 3)]

    # --- grid in mm, heart frame (u toward the LV's free wall away from the RV, v across) ----------
    coords = ((np.arange(n) - (n - 1) / 2) * px).astype(f32)
    y, x = np.meshgrid(coords, coords, indexing="ij")
    cos, sin = f32(np.cos(theta)), f32(np.sin(theta))
    u = cos * (x - f32(shift[0])) + sin * (y - f32(shift[1]))
    v = -sin * (x - f32(shift[0])) + cos * (y - f32(shift[1]))
    r = np.hypot(u, v)
    psi = np.arctan2(v, u)

    # --- background (per slice, static over the cycle) ---------------------------------------------
    body = np.hypot((u - 40.0) / 115.0, (v - 20.0) / 165.0)  # elliptical chest, heart left-anterior
    lung_v = ri0 + wall0 + 38.0  # lungs flank the heart, slightly posterior
    lungs = np.minimum(np.hypot((u - 25.0) / 65.0, (v - lung_v) / 32.0), np.hypot((u - 25.0) / 65.0, (v + lung_v) / 32.0))
    background = tissue * (1.0 + 0.25 * _texture(rng, slices, n, fov, 12.0) + 0.1 * _texture(rng, slices, n, fov, 4.0))
    background = _lerp(background, fat, _ramp((body - 0.93) * 115.0, px))  # subcutaneous fat
    background = _lerp(background, 0.05 * tissue, _ramp((1.0 - lungs) * 32.0, px))
    background = (background * _ramp((1.0 - body) * 115.0, px)).astype(f32)  # air outside the body

    # --- heart geometry: slices (S) x frames (F), broadcast to (F, S, H, W) ------------------------
    z = np.linspace(0.0, z_apex, slices, dtype=f32) if slices > 1 else np.zeros(1, dtype=f32)
    f_endo = np.sqrt(1.0 - z**2)
    f_epi = np.sqrt(1.0 - (z / 1.12) ** 2)
    f_rv = np.sqrt(np.clip(1.0 - (z / z_rv) ** 2, 0.0, None))
    t, t_es, phases = cycle_frames(frames)
    c = contraction(t, t_es).astype(f32)[:, None, None, None]  # (F, 1, 1, 1)

    shape = 1.0 + ecc * np.cos(2.0 * (psi - ecc_dir))  # (H, W) slight ellipticity
    infarct = np.exp(-(_wrap(psi - infarct_dir) ** 2) / (2 * 0.45**2)) if a.infarct else np.zeros_like(psi)
    ri_ed = (ri0 * f_endo)[:, None, None] * shape  # (S, H, W)
    thick = ((ri0 + wall0) * f_epi - ri0 * f_endo)[:, None, None] * (1.0 - 0.5 * infarct)
    ro_ed = ri_ed + thick
    shrink = 1.0 - math.sqrt(1.0 - lv_ef)  # cavity radius ES/ED = sqrt(1 - EF)
    ri = ri_ed * (1.0 - c * shrink * (1.0 - 0.85 * infarct))  # (F, S, H, W); the infarct is akinetic
    ro = np.sqrt(ri**2 + (ro_ed**2 - ri_ed**2))  # constant wall area: thickens at ES
    rv_shrink = 1.0 - math.sqrt(1.0 - rv_ef)
    rv_profile = np.clip(np.cos(0.5 * np.pi * _wrap(psi - rv_dir) / rv_span), 0.0, None) ** 0.7  # crescent, (H, W)
    rv_w = (rv_w0 * f_rv)[:, None, None] * (1.0 - c * rv_shrink) * rv_profile  # (F, S, H, W)
    rv_out = ro + rv_w
    rv_wall_out = rv_out + RV_WALL_MM * np.clip(rv_w / 2.0, 0.0, 1.0)
    fat_th = fat_mm * np.clip(np.sin(2.0 * psi + fat_phase) + 0.3, 0.0, 1.0)

    # papillary muscles: two blobs in the mid-ventricular cavity, labelled LV as in ACDC
    ri_mean = (ri0 * f_endo)[None, :] * (1.0 - c[:, :, 0, 0] * shrink)  # (F, S)
    pm_on = ((z > 0.2) & (z < 0.7)).astype(f32)[None, :, None, None]
    pm = np.zeros_like(ri)
    for direction in (pm_dir, pm_dir + pm_gap):
        ctr = 0.6 * ri_mean[:, :, None, None]
        du = u - ctr * f32(np.cos(direction))
        dv = v - ctr * f32(np.sin(direction))
        pm = np.maximum(pm, _ramp(0.17 * ri0 * f_endo[None, :, None, None] - np.hypot(du, dv), px))
    pm *= pm_on

    # --- compose image and labels ---------------------------------------------------------------------
    img = np.broadcast_to(background, ri.shape)
    img = _lerp(img, fat, _ramp(rv_wall_out + fat_th - r, px))
    img = _lerp(img, myo, _ramp(rv_wall_out - r, px))
    img = _lerp(img, 0.95 * blood, _ramp(rv_out - r, px))
    img = _lerp(img, myo, _ramp(ro - r, px))
    endo = _ramp(ri - r, px)
    img = _lerp(img, blood, endo)
    img = _lerp(img, myo, pm * endo)
    scale = f32(fov / 2)
    img = img * np.exp(field_coef[0] * x / scale + field_coef[1] * y / scale + field_coef[2] * (x**2 + y**2) / scale**2)
    sigma = noise * blood
    img = np.hypot(img + sigma * rng.standard_normal(img.shape, dtype=f32), sigma * rng.standard_normal(img.shape, dtype=f32))

    label = np.zeros(ri.shape, dtype=np.uint8)
    label[r < rv_out] = 1
    label[r < ro] = 2
    label[r < ri] = 3

    slice_mm = float(lv_length * z_apex / (slices - 1)) if slices > 1 else float(lv_length)
    spacing = (slice_mm, px, px)
    volumes = [
        Volume(
            case_id=f"{patient}_{phase}",
            patient=patient,
            group=group,
            phase=phase,
            image=normalise_intensity(img[k]),
            label=np.ascontiguousarray(label[k]),
            spacing=spacing,
            meta={"frame": k, "cycle_fraction": float(t[k]), "lv_ef": lv_ef, "rv_ef": rv_ef},
            native=None,  # drawn on the harness grid: it is the native grid (see the module docstring)
        )
        for k, phase in enumerate(phases)
    ]
    cycle = tuple(v.image for v in volumes)  # the patient's cine: one periodic cycle, shared, not copied
    for k, v in enumerate(volumes):
        v.cine = CineSequence(frames=cycle, index=k, cyclic=True)
    return volumes


def _texture(rng: np.random.Generator, slices: int, n: int, fov_mm: float, scale_mm: float) -> np.ndarray:
    """Smooth zero-mean tissue texture, (slices, n, n): Gaussian noise on a ``scale_mm`` grid, bilinearly upsampled.

    The upsampling is two explicit weighted sums rather than scipy's ``zoom`` (5x slower here) or a
    matrix product (BLAS may change the last bit with its thread count).
    """
    g = max(2, round(fov_mm / scale_mm))
    coarse = rng.standard_normal((slices, g, g), dtype=np.float32)
    pos = np.clip((np.arange(n) + 0.5) * g / n - 0.5, 0.0, g - 1.0)
    lo = np.minimum(pos.astype(np.int64), g - 2)
    w = (pos - lo).astype(np.float32)
    rows = coarse[:, lo, :] * (1.0 - w)[None, :, None] + coarse[:, lo + 1, :] * w[None, :, None]
    return rows[:, :, lo] * (1.0 - w) + rows[:, :, lo + 1] * w
