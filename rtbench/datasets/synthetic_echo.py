"""Synthetic contrast echocardiography: the embedded default dataset of the ``echo`` task (seed 003).

Seed 003 segments the LV myocardium in myocardial contrast echocardiography (MCE), apical
four-chamber view, 30 frames per patient at 256 x 256, and trains a quality-control (QC) network to
predict each frame's segmentation Dice. Their data are private; this generator stands in for them.
Each patient is one cardiac cycle of procedurally drawn frames (see :mod:`rtbench.datasets.echo_render`
for the geometry and the signal chain), every frame labelled:

* a sector field of view (exactly 0 outside), multiplicative Rayleigh speckle correlated in space
  and over frames, depth attenuation with an imperfect time-gain compensation, contrast shadowing,
  electronic noise, log compression with a random gain and dynamic range;
* a contrast-filled bright LV cavity (and RV, atria), a grey myocardial horseshoe (label 1, the
  task's MYO; everything else is background 0) whose brightness follows perfusion, with a regional
  perfusion defect (darker, hypokinetic segment) in every other patient (round-robin);
* wall motion over the cycle (end-diastole -> end-systole -> end-diastole, the cine contraction
  curve of :func:`rtbench.datasets.synthetic_cine.contraction`) with wall thickening, and a random
  pose, size, gain and noise per patient;
* hard patients, a share ``dataset.hard_fraction`` (default 0.3) spread evenly over the patient
  list: each gets one or two of ``low_contrast`` (myocardium nearly as bright as a poorly
  opacified cavity, strong apical swirl), ``dropout`` (the lateral wall's echo lost in a band of
  beams), ``off_axis`` (a foreshortened LV and an elevation blur) and ``noise`` (electronic noise
  several times stronger and near-field clutter over the apex). They make segmentation quality
  vary, which is what a QC network predicts.

Groups (the stratification key of splits): ``normal`` / ``defect`` (round-robin) and ``easy`` /
``hard``, e.g. ``defect-hard``, so every split keeps both shares. Each volume's ``meta`` holds
``hard``, ``difficulties``, ``defect``, ``frame``, ``cycle_fraction`` and ``cnr``, the frame's
contrast-to-noise ratio between the LV cavity and the myocardium on the rendered frame
(``(mean cavity - mean myocardium) / sqrt((var cavity + var myocardium) / 2)``).

Volumes: one per frame, ``image`` float32 (1, H, W) (a 2D frame is a one-slice stack) and
``label`` uint8 (1, H, W) in {0, 1}, drawn in millimetres on the harness grid
(``budget.spacing_mm`` per pixel, ``budget.image_size`` square; the transducer at the top centre),
so a heart has its physical size on any grid. The rendered frame (values in [0, 1], 0 outside the
sector) is normalised like every other dataset (:func:`~rtbench.datasets.preprocess.normalise_intensity`,
an affine map after a percentile clip: outside the sector becomes one constant, the frame's
minimum). The network input has ``task.in_channels`` = 3 channels: the greyscale frame repeated,
as a scanner's RGB video frame holds it (:func:`rtbench.datasets.echo_channels.as_channels`).
Each volume carries the patient's sequence (``Volume.cine``, cyclic: one periodic cycle), so a
network with a temporal window gets real causal windows.

Field of view. At budget=quick (128 px at 1.5 mm) and smoke (32 px at 6 mm) the 192 mm field holds
the 140-170 mm deep sector. Seed 003 resizes its frames to 256 px; at budget=paper (224 px at
1.25 mm today) the sector fills the upper 60% of the frame; ``budget.image_size=256
budget.spacing_mm=0.65`` reproduces a sector-filling 256 px frame.

Determinism as ``synthetic-cine``: the data depend only on (config, budget), never on ``load``'s
``seed``; ``dataset.data_seed`` draws another population; patient i has its own random stream
(``SeedSequence([data_seed, i])``), so the first patients do not depend on the patient count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rtbench.budgets import Budget
from rtbench.datasets.base import CineSequence, DatasetBundle, Volume, register_dataset
from rtbench.datasets.echo_render import Heart, Scan, lv_point, render
from rtbench.datasets.nifti import generated_fingerprint
from rtbench.datasets.preprocess import normalise_intensity
from rtbench.datasets.synthetic_cine import contraction, cycle_frames
from rtbench.errors import ConfigError

GENERATOR_VERSION = 1
"""Bump whenever the generator draws different data for the same inputs: part of :meth:`SyntheticEcho.fingerprint`."""

DIFFICULTIES = ("low_contrast", "dropout", "off_axis", "noise")
ELEVATION_MM = 3.0  # nominal slice thickness (elevation beam width) in Volume.spacing[0]; a 2D frame has one slice


def is_hard(index: int, share: float) -> bool:
    """Whether patient ``index`` is hard: every prefix of n patients holds round(n * share) hard ones."""
    return math.floor((index + 1) * share + 0.5) > math.floor(index * share + 0.5)


def group_of(index: int, hard: bool) -> str:
    """``normal`` / ``defect`` round-robin, then ``-easy`` / ``-hard``."""
    return ("normal", "defect")[index % 2] + ("-hard" if hard else "-easy")


def draw_heart(rng: np.random.Generator, defect: bool, kinds: tuple[str, ...], t_es: float) -> Heart:
    """One patient's heart (pose, size, motion, perfusion): every draw in a fixed order."""
    size = rng.uniform(0.9, 1.1)
    width = 22.5 * size * rng.uniform(0.9, 1.1)
    base = 84.0 * size * rng.uniform(0.92, 1.08)
    apex = (rng.uniform(-10.0, 4.0), rng.uniform(22.0, 34.0))
    axis = math.radians(rng.uniform(-4.0, 12.0))
    walls = rng.uniform(8.5, 11.0), rng.uniform(7.5, 10.0), rng.uniform(5.5, 8.0)
    fs, ls, shift = rng.uniform(0.25, 0.35), rng.uniform(0.10, 0.16), rng.uniform(1.0, 3.0)
    chambers = rng.uniform(13.0, 18.0), rng.uniform(18.0, 24.0), rng.uniform(16.0, 21.0)
    myo, rv, atria = rng.uniform(0.12, 0.22), rng.uniform(0.6, 0.9), rng.uniform(0.65, 0.9)
    tissue, peri, swirl = rng.uniform(0.015, 0.035), rng.uniform(0.08, 0.16), rng.uniform(0.0, 0.3)
    lad = rng.uniform() < 0.6  # LAD territory (apex and septum) or circumflex (lateral wall)
    centre = rng.uniform(-0.5, 0.3) if lad else rng.uniform(0.4, 0.85)
    d_width, d_depth, hypo = rng.uniform(0.15, 0.3), rng.uniform(0.5, 0.85), rng.uniform(0.4, 0.9)
    contrast = rng.uniform(0.5, 0.7), rng.uniform(0.5, 0.8)  # low_contrast: myo ratio, apical swirl
    shorten = rng.uniform(0.7, 0.82)  # off_axis: foreshortened long axis
    if "low_contrast" in kinds:
        myo, swirl = contrast
    if "off_axis" in kinds:
        base, width = base * shorten, width * 1.08
    return Heart(
        apex=(float(apex[0]), float(apex[1])),
        axis=axis,
        width=float(width),
        base=float(base),
        t_septal=float(walls[0]),
        t_lateral=float(walls[1]),
        t_apical=float(walls[2]),
        fs=float(fs),
        ls=float(ls),
        apex_shift=float(shift),
        rv_width=float(chambers[0]),
        la_length=float(chambers[1]),
        ra_length=float(chambers[2]),
        t_es=t_es,
        myo_ratio=float(myo),
        rv_ratio=float(rv),
        atria_ratio=float(atria),
        tissue=float(tissue),
        pericardium=float(peri),
        swirl=float(swirl),
        defect_centre=float(centre),
        defect_width=float(d_width),
        defect_depth=float(d_depth) if defect else 0.0,
        hypokinesis=float(hypo) if defect else 0.0,
    )


def draw_scan(rng: np.random.Generator, heart: Heart, kinds: tuple[str, ...], fov: float) -> Scan:
    """One acquisition (sector, TGC, noise, display, artefacts of ``kinds``): every draw in a fixed order."""
    depth = min(rng.uniform(140.0, 170.0), 0.97 * fov)
    half_angle = math.radians(rng.uniform(36.0, 42.0))
    attenuation, mismatch = rng.uniform(0.015, 0.025), rng.uniform(-0.2, 0.15)
    knots = tuple(float(k) for k in rng.normal(0.0, 1.5, 6))
    shadow, noise = rng.uniform(0.004, 0.012), rng.uniform(0.5e-3, 2e-3)
    rho, gain, dr, gamma = rng.uniform(0.2, 0.6), rng.uniform(-4.0, 4.0), rng.uniform(42.0, 52.0), rng.uniform(1.3, 1.9)
    blur = rng.uniform(4.0, 6.5)
    drop_s, drop_width, floor = rng.uniform(0.45, 0.75), math.radians(rng.uniform(10.0, 18.0)), rng.uniform(0.02, 0.1)
    loud, haze = rng.uniform(6.0, 12.0), rng.uniform(0.1, 0.3)
    wall = heart.width + heart.t_lateral
    x, y = lv_point(heart, wall, drop_s * heart.base)
    return Scan(
        depth=float(depth),
        half_angle=half_angle,
        attenuation=float(attenuation),
        tgc_mismatch=float(mismatch),
        tgc_knots=knots,
        shadow=float(shadow),
        noise=float(noise * loud) if "noise" in kinds else float(noise),
        haze=float(haze) if "noise" in kinds else 0.0,
        blur=float(blur) if "off_axis" in kinds else 0.0,
        dropout_angle=math.atan2(x, y),
        dropout_width=drop_width if "dropout" in kinds else 0.0,
        dropout_floor=float(floor),
        speckle_rho=float(rho),
        gain_db=float(gain),
        dynamic_range_db=float(dr) - (8.0 if "low_contrast" in kinds else 0.0),
        gamma=float(gamma),
    )


def contrast_to_noise(frame: np.ndarray, cavity: np.ndarray, myo: np.ndarray) -> float:
    """(mean cavity - mean myocardium) / sqrt((var cavity + var myocardium) / 2) on one rendered frame."""
    if not cavity.any() or not myo.any():
        return float("nan")
    cav, wall = frame[cavity].astype(np.float64), frame[myo].astype(np.float64)
    spread = math.sqrt(max((cav.var() + wall.var()) / 2, 1e-12))
    return float((cav.mean() - wall.mean()) / spread)


@register_dataset("synthetic-echo")
class SyntheticEcho:
    """Procedural contrast-echo apical four-chamber sequences, the myocardium labelled on every frame (see the module docstring)."""

    name: ClassVar[str]
    task: ClassVar[str] = "echo"

    @dataclass
    class Config:
        """``dataset.<field>=value`` options.

        Attributes:
            frames: frames per patient over one cardiac cycle (seed 003 samples 30 per patient).
            patients: number of patients; 0 takes ``budget.synthetic_patients``.
            hard_fraction: share of hard patients (see the module docstring), in [0, 1].
            data_seed: seed of the synthetic population (not the submission seed).
        """

        frames: int = 30
        patients: int = 0
        hard_fraction: float = 0.3
        data_seed: int = 0

    def __init__(self, config: SyntheticEcho.Config | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def fingerprint(self) -> str:
        """sha256 of the config, :data:`GENERATOR_VERSION` and the shared preprocessing version (no file is read)."""
        return generated_fingerprint("synthetic-echo", self.config, GENERATOR_VERSION)

    def validate(self, budget: Budget) -> None:
        """The config checks of :meth:`load` (ConfigError); generated data have no file to check."""
        self._patient_count(budget)

    def _patient_count(self, budget: Budget) -> int:
        c = self.config
        for key, value, least in (("frames", c.frames, 2), ("patients", c.patients, 0)):
            if value < least:
                raise ConfigError(f"dataset.{key}={value} is not valid for synthetic-echo; expected an integer >= {least}")
        if not 0.0 <= c.hard_fraction <= 1.0:
            raise ConfigError(f"dataset.hard_fraction={c.hard_fraction} is not valid for synthetic-echo; expected a number in [0, 1]")
        count = c.patients or budget.synthetic_patients
        if count < 1:
            raise ConfigError(f"budget.synthetic_patients={count}: synthetic-echo needs at least one patient")
        return count

    def load(self, budget: Budget, seed: int, progress: Callable[[str], None] | None = None) -> DatasetBundle:
        """Generate the patients at the budget's grid. ``seed`` is not used (see the module docstring)."""
        c = self.config
        count = self._patient_count(budget)
        volumes: list[Volume] = []
        for i in range(count):
            rng = np.random.default_rng(np.random.SeedSequence([c.data_seed, i]))
            hard = is_hard(i, c.hard_fraction)
            volumes += synthesize_patient(f"echo{i:03d}", i, hard, rng, c.frames, budget)
            if progress is not None and ((i + 1) % 10 == 0 or i + 1 == count):
                progress(f"synthetic-echo: generated {i + 1}/{count} patients")
        return DatasetBundle(volumes=volumes)


def synthesize_patient(patient: str, index: int, hard: bool, rng: np.random.Generator, frames: int, budget: Budget) -> list[Volume]:
    """Draw one patient: one :class:`Volume` per frame, each (1, image_size, image_size).

    Args:
        patient: patient id.
        index: the patient's position in the population (its perfusion group, round-robin).
        hard: draw one or two of :data:`DIFFICULTIES`.
        rng: the patient's own random stream (every draw comes from it, in a fixed order).
        frames: frames over one cycle.
        budget: gives the grid (``image_size``, ``spacing_mm``).
    """
    n, px = budget.image_size, float(budget.spacing_mm)
    first = int(rng.integers(len(DIFFICULTIES)))
    second = (first + 1 + int(rng.integers(len(DIFFICULTIES) - 1))) % len(DIFFICULTIES)
    both = rng.uniform() < 0.4
    kinds = tuple(DIFFICULTIES[k] for k in sorted({first, second} if both else {first})) if hard else ()
    defect = index % 2 == 1
    t, t_es, phases = cycle_frames(frames)
    heart = draw_heart(rng, defect, kinds, t_es)
    scan = draw_scan(rng, heart, kinds, n * px)
    raw, label, cav = render(heart, scan, contraction(t, t_es), n, px, rng)
    meta: dict[str, Any] = {"hard": hard, "difficulties": list(kinds), "defect": defect}
    volumes = [
        Volume(
            case_id=f"{patient}_{phase}",
            patient=patient,
            group=group_of(index, hard),
            phase=phase,
            image=normalise_intensity(raw[k][None]),
            label=np.ascontiguousarray(label[k][None]),
            spacing=(ELEVATION_MM, px, px),
            meta={**meta, "frame": k, "cycle_fraction": float(t[k]), "cnr": contrast_to_noise(raw[k], cav[k], label[k] == 1)},
            native=None,  # drawn on the harness grid: it is the native grid
        )
        for k, phase in enumerate(phases)
    ]
    sequence = tuple(v.image for v in volumes)
    for k, v in enumerate(volumes):
        v.cine = CineSequence(frames=sequence, index=k, cyclic=True)
    return volumes
