"""Contrast-echo rendering for ``synthetic-echo``: an apical four-chamber heart and the ultrasound signal chain.

:mod:`rtbench.datasets.synthetic_echo` draws the per-patient numbers (:class:`Heart`, :class:`Scan`);
this module turns them into frames and labels. Everything is in millimetres on the harness grid:
``x`` lateral (positive to the image right), ``y`` depth (0 at the top edge), the transducer (the
sector's apex) at the top centre.

Geometry (apical four-chamber, seen from the LV apex, which sits near the transducer). In the LV
frame ``s`` runs along the long axis from the endocardial apex toward the mitral plane and ``a``
across it, positive toward the lateral wall (image right), negative toward the septum and the RV:

* LV cavity: the part ``s <= base`` of an ellipse of half-width ``width`` and half-length
  ``Lc = base / BASE_CUT`` centred at ``s = Lc``, so the mitral annulus (``0.71 * 2 * width``) is
  narrower than the mid cavity, as in a four-chamber view.
* Myocardium (the label): the epicardial ellipse (half-width ``width`` plus the septal or lateral
  wall thickness, blended across the apex; half-length ``Lc`` plus the apical thickness) less the
  cavity, cut at the mitral plane: a horseshoe open toward the atria.
* RV: a crescent on the septal side, inside an envelope ellipse and outside the LV epicardium,
  with a thin unlabelled free wall; left and right atria below the mitral and tricuspid planes; a
  mitral leaflet line while the valve is closed (systole); a faint pericardial line.
* Motion (frame contraction ``c`` in [0, 1], 0 at end-diastole): a point of frame t maps to
  end-diastolic coordinates ``a / (1 - fs * c)``, ``(s - apex_shift * c) / (1 - ls * c)``: the
  apex stays put, the base moves toward it (longitudinal shortening ``ls``), the walls move inward
  (fractional shortening ``fs``; the epicardium by ``EPI_SHARE`` of it, so the wall thickens).
  A perfusion defect's segment moves less (``hypokinesis``).
* ``xi`` in [-1, 1] is the position along the horseshoe: -1 basal septum, 0 apex, +1 basal lateral.

Signal chain, on a polar raster (depth x beam angle) of about 0.8 pixel per cell, then
scan-converted (bilinear) to the grid; outside the sector the frame is exactly 0:

1. Echogenicity ``E`` (linear amplitude): contrast-filled cavities bright (LV 1, RV and atria a
   little less; apical swirl darkens the near-field cavity), myocardium grey at ``myo_ratio`` of
   the cavity, lowered in a perfusion defect and by 12% at end-systole (intramyocardial blood
   volume falls in systole), tissue nearly black (contrast-specific imaging suppresses it).
2. Off-axis patients: an elevation blur of ``E`` (partial volume of a foreshortened cut).
3. Shadowing by the contrast agent: ``exp(-shadow * cumulative E along the beam)``.
4. Multiplicative speckle: a complex Gaussian field smoothed along and across the beam (so its
   amplitude is Rayleigh distributed and spatially correlated; the lateral cell widens with depth
   as the beams diverge), AR(1) over frames (bubbles move, the pattern decorrelates).
5. Electronic noise (complex white) added before the time-gain compensation, near-field clutter
   haze, depth attenuation ``exp(-attenuation * r)`` compensated by a TGC curve that misses it by
   ``tgc_mismatch`` and wiggles by a few dB at its slider knots.
6. Log compression to ``dynamic_range_db`` with ``gain_db``, and a grey map (power ``gamma``).

The speckle cell is tied to the grid (about one raster cell, i.e. one pixel): at the budgets'
1.5 mm and 6 mm pixels the scanner's resolution cell is finer than a pixel, so a grain smaller
than a pixel could not be drawn anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

BASE_CUT = 1.7  # mitral plane at s = BASE_CUT * Lc: annulus width sqrt(1 - 0.7^2) = 0.71 of the widest cavity
PSI_BASE = math.atan2(math.sqrt(1.0 - (BASE_CUT - 1.0) ** 2), -(BASE_CUT - 1.0))  # the basal end of the horseshoe
EPI_SHARE = 0.4  # the epicardium moves inward by this share of the endocardium's fractional shortening
CELL_PX = 0.8  # polar raster cell size, in pixels


@dataclass(frozen=True)
class Heart:
    """One patient's heart at end-diastole (mm, radians, fractions) and its tissue brightness."""

    apex: tuple[float, float]  # LV endocardial apex (x, y)
    axis: float  # long-axis angle from the vertical, positive: base toward the image right
    width: float  # LV cavity half-width at its widest
    base: float  # apex-to-mitral-plane length
    t_septal: float  # wall thickness, septum
    t_lateral: float  # wall thickness, lateral wall
    t_apical: float  # wall thickness at the apex
    fs: float  # fractional shortening (cavity half-width, ED -> ES)
    ls: float  # longitudinal shortening (base toward apex)
    apex_shift: float  # endocardial apex moves this far toward the base at ES (apical thickening)
    rv_width: float  # RV crescent width at mid level
    la_length: float  # left atrium half-length
    ra_length: float  # right atrium half-length
    t_es: float  # end-systole as a fraction of the cycle
    myo_ratio: float  # myocardium / LV cavity echogenicity (perfusion)
    rv_ratio: float
    atria_ratio: float
    tissue: float  # echogenicity outside the heart
    pericardium: float
    swirl: float  # apical cavity darkening (bubble destruction in the near field)
    defect_centre: float  # xi of the perfusion defect
    defect_width: float  # in xi
    defect_depth: float  # fractional loss of myocardial brightness at its centre (0: no defect)
    hypokinesis: float  # fractional loss of wall motion at the defect centre


@dataclass(frozen=True)
class Scan:
    """One acquisition: sector, attenuation and TGC, noise, display and the hard-case artefacts."""

    depth: float  # sector depth (mm)
    half_angle: float  # sector half-angle (rad)
    attenuation: float  # round-trip attenuation (Np/mm)
    tgc_mismatch: float  # TGC slope = attenuation * (1 + mismatch)
    tgc_knots: tuple[float, ...]  # TGC slider offsets (dB), evenly spaced over the depth
    shadow: float  # attenuation by contrast agent per mm of unit echogenicity
    noise: float  # electronic noise amplitude before TGC
    haze: float  # near-field clutter amplitude
    blur: float  # elevation blur (mm, off-axis cut; 0: none)
    dropout_angle: float  # beam angle (rad) of the lateral-wall dropout band
    dropout_width: float  # its half-width (rad; 0: no dropout)
    dropout_floor: float  # the wall's remaining echo at the band centre
    speckle_rho: float  # frame-to-frame speckle correlation
    gain_db: float
    dynamic_range_db: float
    gamma: float


def ramp(inside_mm: np.ndarray, edge_mm: float) -> np.ndarray:
    """Soft membership from a signed distance (mm, positive inside): a linear edge ``edge_mm`` wide."""
    return np.clip(0.5 + inside_mm / edge_mm, 0.0, 1.0)


def lv_coordinates(heart: Heart, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, s): across (toward the lateral wall) and along (apex to base) the LV long axis, mm."""
    dx, dy = x - heart.apex[0], y - heart.apex[1]
    ca, sa = math.cos(heart.axis), math.sin(heart.axis)
    return dx * ca - dy * sa, dx * sa + dy * ca


def lv_point(heart: Heart, a: float, s: float) -> tuple[float, float]:
    """(x, y) of the LV-frame point (a, s): the inverse of :func:`lv_coordinates`."""
    ca, sa = math.cos(heart.axis), math.sin(heart.axis)
    return heart.apex[0] + a * ca + s * sa, heart.apex[1] - a * sa + s * ca


def _ellipse(a: np.ndarray, s: np.ndarray, half_width: float | np.ndarray, half_length: float, centre: float) -> np.ndarray:
    """Approximate signed distance (mm, positive inside) to an ellipse centred at (0, centre)."""
    ds = s - centre
    q = np.sqrt((a / half_width) ** 2 + (ds / half_length) ** 2)
    return (1.0 - q) * np.hypot(a, ds) / np.maximum(q, 1e-3)


def anatomy(heart: Heart, x: np.ndarray, y: np.ndarray, c: float, lv_only: bool = False) -> dict[str, np.ndarray]:
    """Signed distances (mm, positive inside) of every structure at contraction ``c``, and ``xi``, ``s``.

    Keys: ``endo`` (LV cavity ellipse), ``epi`` (LV epicardium), ``base`` (on the apex side of the
    mitral plane), ``xi`` (position along the horseshoe), ``s``, ``defect`` (the defect's weight,
    0..1); unless ``lv_only`` (enough for the label), also ``rv``, ``rv_env`` (the RV envelope, for
    its wall), ``septal`` (left of the LV axis), ``la``, ``ra``, ``valve``.
    """
    h = heart
    a, s = lv_coordinates(h, x, y)
    lc = h.base / BASE_CUT
    base_now = h.base * (1.0 - h.ls * c)
    s_ref = (s - h.apex_shift * c) / (1.0 - h.ls * c)
    psi = np.arctan2(a / (1.0 - h.fs * c) / h.width, (lc - s_ref) / lc)
    xi = np.clip(psi / PSI_BASE, -1.0, 1.0)
    defect = np.exp(-0.5 * ((xi - h.defect_centre) / h.defect_width) ** 2) if h.defect_depth > 0 else np.zeros_like(xi)
    fs = h.fs * (1.0 - h.hypokinesis * defect)
    endo = _ellipse(a / (1.0 - fs * c), s_ref, h.width, lc, lc) * (1.0 - fs * c)
    wall = h.t_septal + (h.t_lateral - h.t_septal) / (1.0 + np.exp(-a / 4.0))
    s_epi = np.where(s > 0, s / (1.0 - h.ls * c), s)
    epi = _ellipse(a / (1.0 - EPI_SHARE * fs * c), s_epi, h.width + wall, lc + h.t_apical, lc)
    lv = {"endo": endo, "epi": epi, "base": base_now - s, "xi": xi, "s": s, "defect": defect}
    if lv_only:
        return lv
    rv_half = h.width + h.t_septal + h.rv_width * (1.0 - 0.3 * c)
    rv_env = _ellipse(a, s, rv_half, 0.62 * base_now, 0.75 * base_now)
    la = _ellipse(a - 0.1 * h.width, s, 0.72 * h.width, h.la_length, base_now + 4.0 + h.la_length)
    ra_centre = -(h.width + h.t_septal + 0.5 * h.rv_width)
    ra = _ellipse(a - ra_centre, s, 0.4 * h.rv_width + 6.0, h.ra_length, base_now + 4.0 + h.ra_length)
    valve = np.minimum(1.2 - np.abs(s - base_now - 2.0), 0.7 * h.width - np.abs(a - 0.1 * h.width))
    return lv | {"rv": np.minimum(rv_env, -epi), "rv_env": rv_env, "septal": -a - 0.2 * h.width, "la": la, "ra": ra, "valve": valve}


def myocardium(m: dict[str, np.ndarray]) -> np.ndarray:
    """The label: LV myocardium (inside the epicardium, outside the cavity, apical of the mitral plane)."""
    return (m["epi"] >= 0) & ~((m["endo"] >= 0) & (m["base"] >= 0)) & (m["base"] >= 0)


def cavity(m: dict[str, np.ndarray]) -> np.ndarray:
    """The LV cavity (for contrast figures; not a label)."""
    return (m["endo"] >= 0) & (m["base"] >= 0)


def echogenicity(
    heart: Heart, m: dict[str, np.ndarray], c: float, edge: float, perfusion: np.ndarray, cavity_texture: np.ndarray, dropout: np.ndarray
) -> np.ndarray:
    """Linear echo amplitude of every raster point (see the module docstring, step 1).

    Args:
        m: :func:`anatomy` at the raster points.
        edge: partial-volume edge width (mm).
        perfusion: static multiplicative perfusion heterogeneity (about 1).
        cavity_texture: this frame's bubble-cloud heterogeneity of the cavities (about 1).
        dropout: the lateral-wall dropout multiplier per raster point (1 outside the band).
    """
    h = heart
    base, septal = ramp(m["base"], edge), ramp(m["septal"], edge)
    epi = ramp(m["epi"], edge)
    rv_in = ramp(m["rv"], edge) * septal * base
    rv_wall = (ramp(m["rv_env"] + 3.0, edge) - ramp(m["rv_env"], edge)) * septal * base * (1.0 - epi)
    peri = (ramp(m["epi"] + 4.5, edge) - ramp(m["epi"] + 1.5, edge)) * ramp(-m["septal"] - 0.3 * h.width, edge)
    atria = np.maximum(ramp(m["la"], edge), ramp(m["ra"], edge))
    atria_wall = np.maximum(ramp(m["la"] + 2.5, edge), ramp(m["ra"] + 2.5, edge)) - atria
    lateral = np.where(m["xi"] > 0.1, dropout, 1.0)
    myo_level = h.myo_ratio * (1.0 - h.defect_depth * m["defect"]) * (1.0 - 0.12 * c) * perfusion * lateral
    cav_level = (1.0 - h.swirl * np.exp(-np.maximum(m["s"], 0.0) / 15.0)) * cavity_texture
    closed = min(max((c - 0.15) / 0.2, 0.0), 1.0)

    e = np.full(m["s"].shape, h.tissue, dtype=np.float32)
    e += (h.pericardium * lateral - e) * peri
    e += (0.8 * h.myo_ratio - e) * np.clip(rv_wall, 0.0, 1.0)
    e += (0.5 * h.myo_ratio - e) * np.clip(atria_wall, 0.0, 1.0)
    e += (h.rv_ratio * cavity_texture - e) * rv_in
    e += (h.atria_ratio * cavity_texture - e) * atria
    e += (myo_level - e) * epi * base
    e += (cav_level - e) * ramp(m["endo"], edge) * base
    e += (0.7 * h.myo_ratio - e) * ramp(m["valve"], edge) * closed
    return e.astype(np.float32)


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: tuple[float, ...]) -> np.ndarray:
    """Zero-mean, unit-std Gaussian noise smoothed by ``sigma`` (cells per axis)."""
    f = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma, mode="wrap")
    return (f / max(float(f.std()), 1e-6)).astype(np.float32)


def speckle(rng: np.random.Generator, shape: tuple[int, int], sigma: tuple[float, float]) -> np.ndarray:
    """Complex Gaussian field, spatially correlated by ``sigma`` (cells), normalised to E|z|^2 = 1."""
    re = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma, mode="wrap")
    im = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma, mode="wrap")
    z = re + 1j * im
    return (z / math.sqrt(max(float(np.mean(np.abs(z) ** 2)), 1e-12))).astype(np.complex64)


@dataclass(frozen=True)
class Raster:
    """The polar raster (depth x beam angle) of a sector and the scan conversion to the grid."""

    r: np.ndarray  # (R,) depths, mm
    phi: np.ndarray  # (P,) beam angles, rad
    x: np.ndarray  # (R, P) raster point positions, mm
    y: np.ndarray
    dr: float  # mm per depth cell
    index: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # bilinear gather: r0, p0, wr, wp (H, W)
    inside: np.ndarray  # (H, W) bool: the pixel is inside the sector


def make_raster(scan: Scan, n: int, px: float) -> tuple[Raster, np.ndarray, np.ndarray]:
    """The raster of ``scan`` for an ``n`` x ``n`` grid of ``px`` mm pixels, and the pixel centres (x, y)."""
    cell = CELL_PX * px
    r = np.arange(0.0, scan.depth + cell, cell, dtype=np.float32)
    count = max(8, math.ceil(2 * scan.half_angle * scan.depth / cell) + 1)
    phi = np.linspace(-scan.half_angle, scan.half_angle, count, dtype=np.float32)
    x = r[:, None] * np.sin(phi)[None, :]
    y = r[:, None] * np.cos(phi)[None, :]
    gx = ((np.arange(n) - (n - 1) / 2) * px).astype(np.float32)
    gy = ((np.arange(n) + 0.5) * px).astype(np.float32)
    xx, yy = np.meshgrid(gx, gy)  # rows: depth, columns: lateral
    rr, pp = np.hypot(xx, yy), np.arctan2(xx, yy)
    inside = (rr <= scan.depth) & (np.abs(pp) <= scan.half_angle)
    fr = np.clip(rr / cell, 0.0, len(r) - 1.001)
    fp = np.clip((pp + scan.half_angle) / (phi[1] - phi[0]), 0.0, count - 1.001)
    r0, p0 = fr.astype(np.int64), fp.astype(np.int64)
    index = (r0, p0, (fr - r0).astype(np.float32), (fp - p0).astype(np.float32))
    return Raster(r=r, phi=phi, x=x, y=y, dr=cell, index=index, inside=inside), xx, yy


def scan_convert(frames: np.ndarray, raster: Raster) -> np.ndarray:
    """(F, R, P) raster frames -> (F, H, W) grid frames, bilinear; exactly 0 outside the sector."""
    r0, p0, wr, wp = raster.index
    out = (
        frames[:, r0, p0] * (1 - wr) * (1 - wp)
        + frames[:, r0 + 1, p0] * wr * (1 - wp)
        + frames[:, r0, p0 + 1] * (1 - wr) * wp
        + frames[:, r0 + 1, p0 + 1] * wr * wp
    )
    return np.where(raster.inside, out, 0.0).astype(np.float32)


def acquire(scan: Scan, raster: Raster, echo: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The displayed frames on the raster, (F, R, P) in [0, 1], from each frame's echogenicity (steps 2-6)."""
    shape = echo[0].shape
    sigma = (1.0, 1.6)  # speckle cell: along the beam, across it (cells; the lateral cell widens with depth)
    r = raster.r[:, None]
    knots = np.interp(raster.r, np.linspace(0.0, scan.depth, len(scan.tgc_knots)), np.asarray(scan.tgc_knots, dtype=np.float32))
    log_tgc = (scan.attenuation * scan.tgc_mismatch * raster.r + knots * math.log(10) / 20)[:, None]
    lift = np.exp(scan.attenuation * r)  # noise and clutter are not attenuated on the way in: TGC lifts them
    haze_profile = scan.haze * np.exp(-r / 45.0)
    z = speckle(rng, shape, sigma)
    out = []
    for k, e in enumerate(echo):
        if k:
            z = scan.speckle_rho * z + math.sqrt(1 - scan.speckle_rho**2) * speckle(rng, shape, sigma)
        if scan.blur > 0:
            e = ndimage.gaussian_filter(e, scan.blur / raster.dr, mode="nearest")
        shade = np.exp(-scan.shadow * np.cumsum(e, axis=0) * raster.dr)
        noise = (rng.standard_normal(shape, dtype=np.float32) + 1j * rng.standard_normal(shape, dtype=np.float32)) * (
            scan.noise / math.sqrt(2)
        )
        clutter = haze_profile * speckle(rng, shape, (1.5, 3.0)) if scan.haze > 0 else 0.0
        amplitude = np.abs(e * shade * z + (noise + clutter) * lift) * np.exp(log_tgc)
        db = 20.0 * np.log10(amplitude + 1e-6) + scan.gain_db
        out.append(np.clip((db + scan.dynamic_range_db) / scan.dynamic_range_db, 0.0, 1.0) ** scan.gamma)
    return np.stack(out).astype(np.float32)


def render(
    heart: Heart, scan: Scan, contraction: np.ndarray, n: int, px: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every frame of one patient on the ``n`` x ``n`` grid of ``px`` mm pixels.

    Args:
        contraction: (F,) contraction state per frame (0 at ED, 1 at ES).
        rng: the patient's stream; textures, speckle and noise are drawn from it in a fixed order.

    Returns:
        (frames, label, cavity): float32 (F, n, n) displayed frames in [0, 1] (0 outside the
        sector), uint8 (F, n, n) myocardium label (1) clipped to the sector, bool (F, n, n) LV cavity.
    """
    raster, gx, gy = make_raster(scan, n, px)
    edge = max(px, 1.0)
    shape = raster.x.shape
    perfusion = 1.0 + 0.12 * smooth_field(rng, shape, (6.0 / raster.dr, 6.0 / raster.dr))
    if scan.dropout_width > 0:
        band = np.exp(-0.5 * ((raster.phi - scan.dropout_angle) / scan.dropout_width) ** 2)[None, :]
        dropout = np.broadcast_to(1.0 - (1.0 - scan.dropout_floor) * band, shape)
    else:
        dropout = np.ones(shape, dtype=np.float32)
    echo = []
    labels, cavities = [], []
    for c in contraction.astype(float):
        texture = 1.0 + 0.12 * smooth_field(rng, shape, (8.0 / raster.dr, 8.0 / raster.dr))
        echo.append(echogenicity(heart, anatomy(heart, raster.x, raster.y, c), c, edge, perfusion, texture, dropout))
        grid = anatomy(heart, gx, gy, c, lv_only=True)
        labels.append(myocardium(grid) & raster.inside)
        cavities.append(cavity(grid) & raster.inside)
    frames = scan_convert(acquire(scan, raster, echo, rng), raster)
    return frames, np.stack(labels).astype(np.uint8), np.stack(cavities)
