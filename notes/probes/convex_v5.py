"""Probe, not library code: candidate free parameters for convex data version 5, measured.

Draws 3000 convex and 3000 area-matched non-convex sets (seed 0) per variant, measures them
with ``sdae.data.fidelity.shape_measures`` and prints the figures that version 4 still misses
(notes/data.md, "Convex version 4") beside the published ones, plus the non-convex pieces'
sizes (dataset-facts.md: a separate piece is never exactly 10 pixels, exactly 11 in a quarter
of the images with two or more pieces). Run from the repository root:

    python notes/probes/convex_v5.py [VARIANT[+VARIANT] ...]   (no argument: every variant)

(PROBE_N=6000 PROBE_SEED=1: another sample size and seed.) ~5-13 s a variant. The figures
and the choice are in notes/data.md, "Convex version 5 (issue 27)".
"""

import os
import sys
import time

import numpy as np

from sdae.data import fidelity
from sdae.data.regenerate import convex as cv

N = int(os.environ.get("PROBE_N", 3000))
SEED = int(os.environ.get("PROBE_SEED", 0))
PUBLISHED = {"1/no_border": 0.159, "1/no_white_corner": 0.44, "1/hull_sides_mean": 4.9,
             "1/triangles": 0.05, "1/centroid_offset_median": 6.4, "1/mean_image_centre": 0.51,
             "1/mean_image_edges": 0.29, "1/mean_image_corners": 0.24, "1/area_mean": 299,
             "1/area_median": 249, "1/area_q10": 29, "1/exactly_20": 0.017,
             "1/full_white": 0.0022, "1/solidity_q10": 0.89, "1/solidity_above_0.9": 0.881,
             "0/area_mean": 304, "0/area_median": 251, "0/area_q10": None, "0/area_min": 21,
             "0/components_1": 0.414, "0/components_2": 0.424, "0/components_3": 0.138,
             "0/components_4+": 0.024, "0/solidity_q10": 0.32, "0/solidity_q50": 0.72,
             "0/solidity_q90": 0.96, "0/solidity_above_0.9": 0.237, "0/no_border": 0.117,
             "0/hull_minus_area_median": 79, "0/piece_10": 0.0, "0/piece_11": 0.25}


def cut_sets(rng, n, p=cv.P_CONVEX, min_pixels=20, jitter=3.0, depth=1.0, line="pixel",
             power=np.inf):
  """``sample_cut_sets`` (version 4: max_redraws 0, the larger side kept) with free choices:
  the cut's point moved towards the shape's centroid: centroid + depth * (point - centroid)
  (depth 1 is version 4); ``line="width"``: the line's offset uniform over the shape's extent
  along its normal (+- jitter / 2), instead of through a white pixel; ``power``: a side kept
  with probability proportional to its area ** power (inf: the larger, version 4)."""
  bank, u, offsets = cv._bank()  # pylint: disable=protected-access
  ys, xs = np.divmod(np.arange(784), 28)
  sets = np.broadcast_to(cv._full(), (n, cv.WORDS)).copy()  # pylint: disable=protected-access
  left = rng.geometric(p, n)
  active = np.arange(n)
  while active.size:
    px = cv.unpack(sets[active])
    cum = px.cumsum(1)
    pick = (cum > (rng.random(len(active)) * cum[:, -1]).astype(np.int64)[:, None]).argmax(1)
    point = np.stack([pick % 28 + 0.5, pick // 28 + 0.5], 1)
    if jitter:
      point = point + rng.uniform(-jitter / 2, jitter / 2, point.shape)
    if depth != 1.0 and line == "pixel":
      cnt = px.sum(1)[:, None]
      centroid = np.stack([(px * (xs + 0.5)).sum(1), (px * (ys + 0.5)).sum(1)], 1) / cnt
      point = centroid + depth * (point - centroid)
    a = rng.integers(0, cv.N_ANGLES, len(active))
    c = np.einsum("ij,ij->i", u[a], point)
    if line == "bbox":  # a point uniform in the shape's bounding box (pixel edges)
      rows, cols = px.reshape(-1, 28, 28).any(2), px.reshape(-1, 28, 28).any(1)
      y0, y1 = rows.argmax(1), 28 - rows[:, ::-1].argmax(1)
      x0, x1 = cols.argmax(1), 28 - cols[:, ::-1].argmax(1)
      mx, my, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * depth, (y1 - y0) / 2 * depth
      pt = np.stack([rng.uniform(mx - hx, mx + hx), rng.uniform(my - hy, my + hy)], 1)
      if jitter:
        pt = pt + rng.uniform(-jitter / 2, jitter / 2, pt.shape)
      c = np.einsum("ij,ij->i", u[a], pt)
    if line == "image":  # a point uniform in the image
      c = np.einsum("ij,ij->i", u[a], rng.uniform(0, 28, (len(active), 2)))
    if line == "width":
      proj = np.where(px, u[a] @ np.stack([xs + 0.5, ys + 0.5]), np.nan)
      lo, hi = np.nanmin(proj, 1) - jitter / 2, np.nanmax(proj, 1) + jitter / 2
      mid, half = (lo + hi) / 2, (hi - lo) / 2 * depth
      c = rng.uniform(mid - half, mid + half)
    j = np.clip(np.rint((c + cv.OFFSET_MAX) / cv.OFFSET_STEP)
                .astype(np.int64), 0, len(offsets) - 1)
    one = sets[active] & bank[a, j]
    other = sets[active] & bank[(a + cv.N_ANGLES // 2) % cv.N_ANGLES, len(offsets) - 1 - j]
    area_one, area_other = cv.area(one), cv.area(other)
    if np.isinf(power):
      first = area_one >= area_other
    else:
      w1, w2 = area_one.astype(float) ** power, area_other.astype(float) ** power
      first = rng.random(len(active)) * (w1 + w2) < w1
      first &= area_one >= min_pixels
      first |= area_other < min_pixels
    kept = np.where(first[:, None], one, other)
    ok = np.maximum(area_one, area_other) >= min_pixels
    sets[active[ok]] = kept[ok]
    left[active[ok]] -= 1
    left[active[~ok]] = 0
    active = active[left[active] > 0]
  return sets


def hull_witness(images):
  """[n, 28, 28] bool -> [n] bool: a black pixel centre inside the convex hull of the white
  pixel centres (the exact test; the midpoint test first, the hull only where it finds none)."""
  from skimage.morphology import convex_hull_image  # pylint: disable=g-import-not-at-top
  found = cv.has_midpoint_witness(images)
  for i in np.nonzero(~found)[0]:
    hull = convex_hull_image(images[i], offset_coordinates=False)
    found[i] = (hull & ~images[i]).any()
  return found


def union_drawer(components, n_lo=2, n_hi=4, weights=None, test="midpoint"):
  """A ``draw_unions`` whose components come from ``components(rng, m)``; the number of
  components n_lo..n_hi (uniform, or ``weights``)."""
  def draw(rng, m, max_area=783, *unused):
    del unused  # the library's anchor, line and min_component: ``components`` has its own
    ks = np.arange(n_lo, n_hi + 1)
    n_comp = rng.choice(ks, m, p=weights) if weights is not None else rng.integers(n_lo, n_hi + 1, m)
    parts = np.zeros((n_hi, m, cv.WORDS), np.uint64)
    union = np.zeros((m, cv.WORDS), np.uint64)
    alive = np.arange(m)
    for slot in range(n_hi):
      grow = alive[n_comp[alive] > slot]
      parts[slot, grow] = components(rng, len(grow))
      union[grow] |= parts[slot, grow]
      alive = alive[cv.area(union[alive]) <= max_area]
    contained = (parts[:, alive] == union[alive]).all(-1).any(0)
    witness = cv.has_midpoint_witness if test == "midpoint" else hull_witness
    keep = alive[~contained]
    return union[keep[witness(cv.unpack(union[keep]).reshape(-1, 28, 28))]]
  return draw


def anchored_components(rng, n, p=cv.P_COMPONENT, min_pixels=cv.MIN_COMPONENT,
                        anchor=(2.0, 26.0), line=(cv.LINE_LO, cv.LINE_HI)):
  """``sample_components`` with the lines' range ``line`` free (version 4: LINE_LO..HI)."""
  bank = cv._bank()[0]  # pylint: disable=protected-access
  bank_area = cv._bank_area()  # pylint: disable=protected-access
  anchors = rng.uniform(anchor[0], anchor[1], (n, 2))
  left = rng.geometric(p, n)
  sets = np.broadcast_to(cv._full(), (n, cv.WORDS)).copy()  # pylint: disable=protected-access
  active = np.arange(n)
  while active.size:
    a, j = cv._anchored_halfplane_index(rng, anchors[active], *line)  # pylint: disable=protected-access
    ba = bank_area[a, j]
    full = ba == 784
    cut = np.nonzero((ba >= min_pixels) & ~full)[0]
    new = sets[active[cut]] & bank[a[cut], j[cut]]
    ok = cv.area(new) >= min_pixels
    sets[active[cut[ok]]] = new[ok]
    accepted = full
    accepted[cut[ok]] = True
    left[active[accepted]] -= 1
    active = active[left[active] > 0]
  return sets


def anchor_cut_components(rng, n, p=cv.P_COMPONENT, min_pixels=11, anchor=(2.0, 26.0),
                          jitter=3.0, end=False, larger=0.0):
  """Components cut K ~ Geometric(p) times, each cut a line through a white pixel of the current
  component (+- jitter / 2) keeping the anchor's side; a cut leaving < min_pixels is redrawn
  (``end``: ends the cutting); with probability ``larger`` a cut keeps the larger side
  instead."""
  bank, u, offsets = cv._bank()  # pylint: disable=protected-access
  anchors = rng.uniform(anchor[0], anchor[1], (n, 2))
  sets = np.broadcast_to(cv._full(), (n, cv.WORDS)).copy()  # pylint: disable=protected-access
  left = rng.geometric(p, n)
  fails = np.zeros(n, np.int64)
  active = np.arange(n)
  while active.size:
    px = cv.unpack(sets[active])
    cum = px.cumsum(1)
    pick = (cum > (rng.random(len(active)) * cum[:, -1]).astype(np.int64)[:, None]).argmax(1)
    point = np.stack([pick % 28 + 0.5, pick // 28 + 0.5], 1)
    if jitter:
      point = point + rng.uniform(-jitter / 2, jitter / 2, point.shape)
    a = rng.integers(0, cv.N_ANGLES, len(active))
    j = np.clip(np.rint((np.einsum("ij,ij->i", u[a], point) + cv.OFFSET_MAX) / cv.OFFSET_STEP)
                .astype(np.int64), 0, len(offsets) - 1)
    flip = np.einsum("ij,ij->i", u[a], anchors[active]) < offsets[j]
    if larger:
      big = rng.random(len(active)) < larger
      mine = cv.area(sets[active] & bank[a, j])
      rest = cv.area(sets[active]) - mine  # the other side (the bank's lines are exact)
      flip = np.where(big, mine < rest, flip)
    a = np.where(flip, (a + cv.N_ANGLES // 2) % cv.N_ANGLES, a)
    j = np.where(flip, len(offsets) - 1 - j, j)
    new = sets[active] & bank[a, j]
    ok = cv.area(new) >= min_pixels
    sets[active[ok]] = new[ok]
    left[active[ok]] -= 1
    fails[active[~ok]] += 1
    if end:
      left[active[~ok]] = 0
    else:  # a component whose anchor lies where no cut can leave enough pixels: give up
      left[active[fails[active] > 50]] = 0
    active = active[left[active] > 0]
  return sets


def anchored(margin=2.0, p=cv.P_COMPONENT, min_pixels=cv.MIN_COMPONENT,
             line=(cv.LINE_LO, cv.LINE_HI)):
  return lambda rng, m: anchored_components(rng, m, p, min_pixels, (margin, 28 - margin), line)


def cut_components(p=cv.P_COMPONENT, min_pixels=11, jitter=3.0, depth=1.0):
  return lambda rng, m: cut_sets(rng, m, p, min_pixels, jitter, depth)


def make(rng, convex_kw=None, components=None, small_budget=cv.SMALL_BUDGET_V4, **union_kw):
  """(convex packed, non-convex packed) for one variant; defaults: version 4."""
  if convex_kw is None:
    x1 = cv.sample_cut_sets(rng, N, cv.P_CONVEX, cv.MIN_CONVEX_V4, cv.MAX_REDRAWS, cv.JITTER)
  else:
    x1 = cut_sets(rng, N, **convex_kw)
  saved = cv.draw_unions
  if components is not None or union_kw:
    cv.draw_unions = union_drawer(components or anchored(), **union_kw)
  try:
    x0 = cv.sample_nonconvex_matching(rng, cv.area(x1), small_budget=small_budget,
                                      anchor=(2.0, 26.0))[:N]
  finally:
    cv.draw_unions = saved
  return x1, x0


VARIANTS = {
    "v4": {},
    # The non-convex components built as the convex sets are (the description: "each built
    # the same way"): cut K ~ Geometric(0.07) times, a cut leaving < 11 pixels ending it.
    "comp_cut": dict(components=cut_components()),
    "comp_cut_j0": dict(components=cut_components(jitter=0.0)),
    "comp_cut_min10": dict(components=cut_components(min_pixels=10)),
    # Anchored components (v4) with anchors spread further / nearer the image's edges.
    "anchor_m1": dict(components=anchored(1.0)),
    "anchor_m0": dict(components=anchored(0.0)),
    "anchor_min11": dict(components=anchored(min_pixels=11)),
    "anchor_m0_l4": dict(components=anchored(0.0, line=(4.0, 24.0))),
    "anchor_m0_l2": dict(components=anchored(0.0, line=(2.0, 26.0))),
    "anchor_m1_l2": dict(components=anchored(1.0, line=(2.0, 26.0))),
    "anchor_m2_l0": dict(components=anchored(2.0, line=(0.0, 28.0))),
    "anchor_m2_l-8": dict(components=anchored(2.0, line=(-8.0, 36.0))),
    # The convex cut's point pulled towards the shape's centroid (deeper cuts).
    "depth_0.8": dict(convex_kw=dict(depth=0.8)),
    "depth_0.6": dict(convex_kw=dict(depth=0.6)),
    "depth_0.4": dict(convex_kw=dict(depth=0.4)),
}
for _w in (1.0, 2.0, 4.0, 8.0):
  VARIANTS[f"pow{_w:g}"] = dict(convex_kw=dict(power=_w))
  VARIANTS[f"width_pow{_w:g}"] = dict(convex_kw=dict(line="width", power=_w))
VARIANTS["width"] = dict(convex_kw=dict(line="width"))
VARIANTS["bbox"] = dict(convex_kw=dict(line="bbox"))
for _d in (0.9, 0.85, 0.8, 0.7):
  VARIANTS[f"bbox_d{_d:g}"] = dict(convex_kw=dict(line="bbox", depth=_d, jitter=0.0))
for _d in (0.85, 0.9, 0.95, 1.0):
  for _w in (np.inf, 8.0, 4.0):
    VARIANTS[f"bboxj_d{_d:g}_pow{_w:g}"] = dict(convex_kw=dict(line="bbox", depth=_d, power=_w))
VARIANTS["image"] = dict(convex_kw=dict(line="image"))
for _d in (0.9, 0.8, 0.7, 0.6):
  VARIANTS[f"width_d{_d:g}"] = dict(convex_kw=dict(line="width", depth=_d))
for _m in (0.0, 1.0, 2.0, 3.0, 4.0):
  VARIANTS[f"acut_m{_m:g}"] = dict(components=lambda rng, m, _m=_m: anchor_cut_components(
      rng, m, anchor=(_m, 28 - _m)))
  VARIANTS[f"acut_m{_m:g}_end"] = dict(components=lambda rng, m, _m=_m: anchor_cut_components(
      rng, m, anchor=(_m, 28 - _m), end=True))
for _q in (0.2, 0.4, 0.6, 0.8):
  VARIANTS[f"acut_end_big{_q:g}"] = dict(components=lambda rng, m, _q=_q: anchor_cut_components(
      rng, m, end=True, larger=_q))
# Unions tested by the exact hull test (a black pixel centre in the white centres' hull)
# rather than the midpoint one: the same figures (the midpoint test misses almost none).
VARIANTS["hull"] = dict(components=anchored(), test="hull")
VARIANTS["hull_a2_l0_11"] = dict(components=anchored(min_pixels=11, line=(0.0, 28.0)),
                                 test="hull")
# Anchors margin m, component lines through [lo, 28 - lo]^2, components >= 11 pixels.
for _m in (1.0, 2.0, 3.0, 4.0):
  for _lo in (0.0, 2.0, 4.0, 6.0):
    VARIANTS[f"a{_m:g}_l{_lo:g}_11"] = dict(components=anchored(_m, min_pixels=11,
                                                                 line=(_lo, 28 - _lo)))

# Version 5 as adopted: "bboxj_d1_pow4+a2_l0_11" (sdae/data/regenerate/convex.py draws its
# box point in one call, so its sets differ from these draw for draw, not in distribution).
VARIANTS["v5"] = dict(**VARIANTS["bboxj_d1_pow4"], **VARIANTS["a2_l0_11"])


def measure(name, kw):
  t = time.time()
  x1, x0 = make(np.random.default_rng(SEED), **kw)
  x = cv.unpack(np.concatenate([x1, x0])).astype(np.float32)
  y = np.r_[np.ones(len(x1), int), np.zeros(len(x0), int)]
  m = fidelity.shape_measures(x, y)  # piece_10 / piece_11: of the images with 2+ pieces
  print(f"== {name} ({time.time() - t:.0f} s)")
  for k, pub in PUBLISHED.items():
    print(f"  {k:28s} {str(pub):>7s}  {m[k]:.4g}")
  sys.stdout.flush()
  return m


def main():
  names = sys.argv[1:] or list(VARIANTS)
  for name in names:  # "A+B": variant A's convex class with variant B's non-convex one
    kw = {}
    for part in name.split("+"):
      kw.update(VARIANTS[part])
    measure(name, kw)


if __name__ == "__main__":
  main()
