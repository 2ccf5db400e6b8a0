"""Shape measures of learnt filters: a 2-D Gabor fit and the spectrum's orientation.

A filter is a small image ``[h, w]`` (one hidden unit's input weights). For each one:

* **Gabor fit** (``fit``): ``scipy.optimize.least_squares`` of

      G(x, y) = a exp(-(u^2 / (2 sx^2) + v^2 / (2 sy^2))) cos(2 pi f u + phi) + c,
      u = (x - x0) cos(theta) + (y - y0) sin(theta),  v = -(x - x0) sin(theta) + (y - y0) cos(theta)

  (pixels; ``theta`` the direction of the carrier's wave vector, ``f`` cycles per pixel),
  started from the spectrum's peak (frequency, orientation) and the energy centroid (centre),
  with two carrier phases; the better fit is kept. ``r2``: the fraction of the filter's variance
  it explains.
* **Orientation concentration** (``orientation``): the power spectrum (zero-padded to
  ``PAD x PAD``, DC removed, the mean subtracted first) as a distribution over orientation
  angles; its concentration is the length of the mean doubled-angle vector, ``|sum P e^{2 i
  angle}| / sum P``: 1 for a single orientation (a grating, an elongated edge), ~0 for an
  isotropic blob, a dot or white noise. Its angle (halved) is the filter's orientation.

The class of a filter (``classify``), with thresholds fixed in advance, not fitted to results:

* Gabor-like: ``r2 >= R2_MIN`` (a Gabor explains most of its variance; white noise of 144
  pixels gets ~0.1);
* oriented: orientation concentration ``>= ORIENTED_MIN``;
* local: the fitted envelope's half-maximum ellipse (axes ``2.355 sx`` and ``2.355 sy``) covers
  at most ``LOCAL_AREA_OF_PATCH`` of the patch's area, and its centre lies in the patch. (An
  edge detector's envelope is longer along the edge than across it: on 12x12 patches a typical
  one has sx ~2, sy ~4 pixels, a quarter of the patch; a grating or a global pattern fills it.)

Locality is read off the fit, so it says something only of a filter the fit explains: a noise
filter's "envelope" is whatever blob best matches a few pixels, often small. Hence the
fraction with all three properties, ``gabor``, is the figure's number.

``summarize`` gives the fractions, the fraction with all three ("gabor"), and how many of
``N_ORIENTATION_BINS`` orientation bins (22.5 degrees each) the oriented filters cover, a bin
counting when it holds at least ``BIN_MIN_FRACTION`` of all filters.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize

R2_MIN = 0.7
ORIENTED_MIN = 0.5
LOCAL_AREA_OF_PATCH = 0.25
N_ORIENTATION_BINS = 8
BIN_MIN_FRACTION = 0.02
PAD = 32
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

PARAM_NAMES = ("a", "x0", "y0", "sx", "sy", "theta", "f", "phi", "c")


def gabor(p: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
  """The Gabor ``G`` of the module docstring with parameters ``p`` (``PARAM_NAMES``) on a grid
  of ``shape`` [h, w] (x the column, y the row, in pixels)."""
  a, _, _, _, _, _, f, phi, c = p
  _, _, u, _, env = _frame(p, shape)
  return a * env * np.cos(2 * math.pi * f * u + phi) + c


def _frame(p: np.ndarray, shape: tuple[int, int]):
  """(dx, dy, u, v, envelope) on a grid of ``shape``: offsets from the centre (x0, y0), the
  rotated coordinates (u along the carrier) and the Gaussian envelope, all [h, w]."""
  _, x0, y0, sx, sy, theta = p[:6]
  y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
  dx, dy = x - x0, y - y0
  ct, st = math.cos(theta), math.sin(theta)
  u = dx * ct + dy * st
  v = -dx * st + dy * ct
  env = np.exp(-(u * u / (2 * sx * sx) + v * v / (2 * sy * sy)))
  return dx, dy, u, v, env


def jacobian(p: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
  """``d gabor(p, shape) / d p`` as [h * w, 9] (analytic: one evaluation per iteration of the
  fit instead of ten for finite differences)."""
  a, _, _, sx, sy, theta, f, phi, _ = p
  _, _, u, v, env = _frame(p, shape)
  ct, st = math.cos(theta), math.sin(theta)
  arg = 2 * math.pi * f * u + phi
  cos, sin = np.cos(arg), np.sin(arg)
  d_u = a * env * (-(u / (sx * sx)) * cos - 2 * math.pi * f * sin)
  d_v = a * env * (-(v / (sy * sy)) * cos)
  cols = [env * cos,
          -ct * d_u + st * d_v,                       # x0
          -st * d_u - ct * d_v,                       # y0
          a * env * cos * u * u / sx ** 3,            # sx
          a * env * cos * v * v / sy ** 3,            # sy
          v * d_u - u * d_v,                          # theta
          -a * env * sin * 2 * math.pi * u,           # f
          -a * env * sin,                             # phi
          np.ones_like(u)]                            # c
  return np.stack([c.ravel() for c in cols], axis=1)


def spectrum(filt: np.ndarray, pad: int = PAD):
  """(power [pad, pad] with DC zeroed, fx, fy [pad, pad] in cycles per pixel) of the
  mean-subtracted filter, zero-padded to ``pad x pad`` (finer frequency sampling)."""
  f = np.asarray(filt, np.float64)
  f = f - f.mean()
  pad = max(pad, *f.shape)
  power = np.abs(np.fft.fft2(f, (pad, pad))) ** 2
  power[0, 0] = 0.0
  fy, fx = np.meshgrid(np.fft.fftfreq(pad), np.fft.fftfreq(pad), indexing="ij")
  return power, fx, fy


def orientation(filt: np.ndarray) -> tuple[float, float]:
  """(concentration in [0, 1], angle in [0, pi) of the wave vector) of the filter's spectrum."""
  power, fx, fy = spectrum(filt)
  total = power.sum()
  if total <= 0:
    return 0.0, 0.0
  angle = np.arctan2(fy, fx)
  z = (power * np.exp(2j * angle)).sum() / total
  return float(abs(z)), float((np.angle(z) / 2) % math.pi)


def _start(filt: np.ndarray) -> list[np.ndarray]:
  """Starting points: carrier from the spectrum's peak, centre from the energy centroid."""
  h, w = filt.shape
  power, fx, fy = spectrum(filt)
  i = np.unravel_index(np.argmax(power), power.shape)
  f0 = float(math.hypot(fx[i], fy[i]))
  th0 = float(math.atan2(fy[i], fx[i]))
  e = (filt - filt.mean()) ** 2
  y, x = np.mgrid[0:h, 0:w]
  tot = e.sum() or 1.0
  x0, y0 = float((e * x).sum() / tot), float((e * y).sum() / tot)
  a0 = float(np.abs(filt - filt.mean()).max()) or 1.0
  s0 = max(h, w) / 6.0
  return [np.array([a0, x0, y0, s0, s0, th0, f0, phi, float(filt.mean())])
          for phi in (0.0, math.pi / 2)]


def fit(filt: np.ndarray) -> tuple[np.ndarray, float]:
  """(Gabor parameters ``PARAM_NAMES``, r2) of the best least-squares fit to ``filt`` [h, w]."""
  filt = np.asarray(filt, np.float64)
  h, w = filt.shape
  ss_tot = float(((filt - filt.mean()) ** 2).sum())
  if ss_tot <= 0:
    return np.array(_start(filt)[0]), 0.0
  side = max(h, w)
  lo = [-np.inf, -0.5 * w, -0.5 * h, 0.3, 0.3, -np.inf, 0.0, -np.inf, -np.inf]
  hi = [np.inf, 1.5 * w, 1.5 * h, 2.0 * side, 2.0 * side, np.inf, 0.5, np.inf, np.inf]
  best, best_cost = None, np.inf
  for p0 in _start(filt):
    p0 = np.clip(p0, np.array(lo) + 1e-9, np.array(hi) - 1e-9)
    try:
      r = scipy.optimize.least_squares(lambda p: (gabor(p, (h, w)) - filt).ravel(), p0,
                                       jac=lambda p: jacobian(p, (h, w)), bounds=(lo, hi),
                                       max_nfev=200)
    except (ValueError, np.linalg.LinAlgError):
      continue
    if r.cost < best_cost:
      best, best_cost = r.x, r.cost
  if best is None:
    return np.array(_start(filt)[0]), 0.0
  return best, float(1.0 - 2.0 * best_cost / ss_tot)


def classify(filt: np.ndarray) -> dict:
  """One filter's measures: ``r2``, ``concentration``, ``angle_deg`` (the spectrum's), the
  envelope's ``fwhm_px`` (longer axis) and ``area_fraction`` (its half-maximum ellipse over the
  patch area), ``freq`` (cycles/pixel) and the three booleans."""
  filt = np.asarray(filt, np.float64)
  h, w = filt.shape
  p, r2 = fit(filt)
  conc, angle = orientation(filt)
  fwhm = FWHM_PER_SIGMA * max(p[3], p[4])
  area = math.pi / 4 * FWHM_PER_SIGMA ** 2 * p[3] * p[4] / (h * w)
  inside = -0.5 <= p[1] <= w - 0.5 and -0.5 <= p[2] <= h - 0.5
  return {"r2": r2, "concentration": conc, "angle_deg": math.degrees(angle),
          "fwhm_px": float(fwhm), "area_fraction": float(area), "freq": float(p[6]),
          "gabor_like": bool(r2 >= R2_MIN), "oriented": bool(conc >= ORIENTED_MIN),
          "local": bool(inside and area <= LOCAL_AREA_OF_PATCH)}


def summarize(filters: np.ndarray) -> dict:
  """Per-condition measures of ``filters`` [n, h, w]: fractions ``gabor_like``, ``oriented``,
  ``local`` and ``gabor`` (all three), ``orientations_covered`` (of ``N_ORIENTATION_BINS``, by
  the oriented filters), the bin counts, and medians of r2, concentration and fwhm."""
  rows = [classify(f) for f in np.asarray(filters)]
  n = len(rows)
  frac = lambda key: float(np.mean([r[key] for r in rows])) if n else 0.0
  gabor_all = [r["gabor_like"] and r["oriented"] and r["local"] for r in rows]
  width = 180.0 / N_ORIENTATION_BINS
  counts = [0] * N_ORIENTATION_BINS
  for r in rows:
    if r["oriented"]:
      # Bins centred on 0, 22.5, ... degrees.
      counts[int(((r["angle_deg"] + width / 2) % 180.0) // width)] += 1
  need = max(1, math.ceil(BIN_MIN_FRACTION * n))
  return {
      "n_filters": n,
      "gabor_like": frac("gabor_like"), "oriented": frac("oriented"), "local": frac("local"),
      "gabor": float(np.mean(gabor_all)) if n else 0.0,
      "orientations_covered": int(sum(c >= need for c in counts)),
      "orientation_bins": N_ORIENTATION_BINS, "orientation_counts": counts,
      "median_r2": float(np.median([r["r2"] for r in rows])),
      "median_concentration": float(np.median([r["concentration"] for r in rows])),
      "median_fwhm_px": float(np.median([r["fwhm_px"] for r in rows])),
      "median_area_fraction": float(np.median([r["area_fraction"] for r in rows])),
  }
