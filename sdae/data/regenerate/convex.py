"""Convex versus non-convex white regions (Larochelle et al. 2007, twiki ConvexNonConvex).

- Convex (label 1): the intersection of K half-planes, K ~ Geometric(p=0.195) (support
  1, 2, ...), each with a uniformly random orientation and a boundary line through a point
  uniform in [-4, 32]^2 (the 28x28 image is [0, 28]^2, pixel centres at k + 0.5); a pixel is
  white when its centre lies in the region. Candidates under 19 white pixels are redrawn.
- Non-convex (label 0): the union of 2-4 (uniform) convex components, each the intersection
  of K ~ Geometric(p=0.07) half-planes with at least 10 pixels, kept only if it fails a
  pairwise-pixel convexity test: two white pixels whose midpoint is a lattice point that is
  black. (A half-plane intersection sampled at pixel centres never has such a pair, so the
  test cannot reject a digitally convex set as non-convex.)
- Area balance ("the parameters were balanced so that both classes have the same mean"), by
  two choices the published description leaves open, plus an exact histogram step:
  * the ">= 10 pixels" rule is applied half-plane by half-plane: a half-plane that would leave
    a component with fewer than 10 pixels is redrawn, so a component keeps its K half-planes
    (redrawing the whole component instead favours small K so strongly that p = 0.07 hardly
    matters: unions then average ~490 pixels against ~306 for convex sets);
  * a component's boundary lines pass through a point uniform in the square of side 5 x 28
    centred on the image, ``COMPONENT_LINE_LO..HI`` (most lines miss the image: a no-op or a
    redraw), calibrated so that the raw unions' areas (mean ~299, median ~239) are close to the
    convex sets' (mean ~309, median ~247);
  * the non-convex examples are then taken bin by bin to follow the convex examples' area
    histogram (32 quantile bins of the convex areas, from their minimum, so no union is under
    19 pixels; 784 joins the top bin, a union is never the full image), from at most 1.6x the
    need in candidates. The smallest (< ~30) and largest (> ~750) bins, where unions are 3-5x
    rarer than convex sets, are left short by that budget and topped up from the nearest
    bins (~4 % of the examples on the full set); every other bin's count is exact.

Vectorised: every half-plane is a packed 784-bit mask taken from a precomputed bank
(256 orientations x offsets in steps of 1/4 pixel), so a set is an AND of 13 uint64 words
per half-plane, a union an OR, an area a popcount.
"""

from __future__ import annotations

import functools

import numpy as np

P_CONVEX = 0.195
P_COMPONENT = 0.07
MIN_CONVEX = 19
MIN_COMPONENT = 10
LINE_LO, LINE_HI = -4.0, 32.0  # convex sets: line through a point uniform in [lo, hi]^2
COMPONENT_LINE_LO, COMPONENT_LINE_HI = -56.0, 84.0  # union components (calibrated)
N_ANGLES = 256
OFFSET_STEP = 0.25
OFFSET_MAX = 46.0
WORDS = 13  # ceil(784 / 64)
N_AREA_BINS = 32


@functools.lru_cache(maxsize=1)
def _bank():
  ys, xs = np.mgrid[0:28, 0:28]
  q = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1)              # [784, 2]
  th = 2 * np.pi * np.arange(N_ANGLES) / N_ANGLES
  u = np.stack([np.cos(th), np.sin(th)], 1)                            # [A, 2]
  offsets = np.arange(-OFFSET_MAX, OFFSET_MAX + OFFSET_STEP / 2, OFFSET_STEP)
  proj = u @ q.T                                                       # [A, 784]
  inside = proj[:, None, :] >= offsets[None, :, None]                  # [A, C, 784]
  return pack(inside), u, offsets


@functools.lru_cache(maxsize=1)
def _bank_area():
  return area(_bank()[0])


def pack(masks: np.ndarray) -> np.ndarray:
  """[..., 784] bool -> [..., 13] uint64."""
  b = np.packbits(masks, axis=-1)                                      # [..., 98]
  pad = np.zeros(b.shape[:-1] + (WORDS * 8 - b.shape[-1],), np.uint8)
  return np.ascontiguousarray(np.concatenate([b, pad], -1)).view(np.uint64)


def unpack(words: np.ndarray) -> np.ndarray:
  """[..., 13] uint64 -> [..., 784] bool."""
  return np.unpackbits(np.ascontiguousarray(words).view(np.uint8), axis=-1)[..., :784] \
      .astype(bool)


def area(words: np.ndarray) -> np.ndarray:
  return np.bitwise_count(words).sum(-1).astype(np.int64)


_FULL = None


def _full():
  global _FULL
  if _FULL is None:
    _FULL = pack(np.ones(784, bool))
  return _FULL


def _halfplane_index(rng: np.random.Generator, m: int, lo: float, hi: float):
  """Bank indices (angle, offset) of ``m`` half-planes: uniform orientation, boundary line
  through a point uniform in [lo, hi]^2."""
  _, u, offsets = _bank()
  a = rng.integers(0, N_ANGLES, m)
  pt = rng.uniform(lo, hi, (m, 2))
  c = np.einsum("ij,ij->i", u[a], pt)
  # Offsets beyond the bank's range are all-or-nothing half-planes, as the clipped ones are.
  j = np.clip(np.rint((c + OFFSET_MAX) / OFFSET_STEP).astype(np.int64), 0, len(offsets) - 1)
  return a, j


def sample_halfplane_sets(rng: np.random.Generator, n: int, p: float,
                          min_pixels: int) -> np.ndarray:
  """``n`` intersections of Geometric(p) random half-planes with >= min_pixels pixels.

  A candidate under ``min_pixels`` is rejected and redrawn whole (its K included).
  """
  out = []
  have = 0
  while have < n:
    m = max(64, int((n - have) * 3))
    k = rng.geometric(p, m)
    sets = np.broadcast_to(_full(), (m, WORDS)).copy()
    alive = np.arange(m)
    for r in range(int(k.max())):
      alive = alive[k[alive] > r]
      if alive.size == 0:
        break
      sets[alive] &= _bank()[0][_halfplane_index(rng, alive.size, LINE_LO, LINE_HI)]
      # Intersections only shrink: drop the ones already too small.
      small = area(sets[alive]) < min_pixels
      sets[alive[small]] = 0
      alive = alive[~small]
    keep = sets[area(sets) >= min_pixels]
    out.append(keep[: n - have])
    have += len(out[-1])
  return np.concatenate(out)


def sample_components(rng: np.random.Generator, n: int, p: float = P_COMPONENT,
                      min_pixels: int = MIN_COMPONENT, lo: float = COMPONENT_LINE_LO,
                      hi: float = COMPONENT_LINE_HI) -> np.ndarray:
  """``n`` intersections of K ~ Geometric(p) half-planes, never under ``min_pixels``.

  Half-planes are added one at a time; one that would leave fewer than ``min_pixels`` pixels
  is redrawn, so every component keeps exactly its K half-planes.
  """
  bank = _bank()[0]
  bank_area = _bank_area()
  left = rng.geometric(p, n)
  sets = np.broadcast_to(_full(), (n, WORDS)).copy()
  active = np.arange(n)
  while active.size:
    a, j = _halfplane_index(rng, active.size, lo, hi)
    ba = bank_area[a, j]
    # A line that misses the image leaves the set as it is (accepted) or empties it
    # (redrawn); only the lines that cut the image need the AND and the popcount.
    full = ba == 784
    cut = np.nonzero((ba >= min_pixels) & ~full)[0]
    new = sets[active[cut]] & bank[a[cut], j[cut]]
    ok = area(new) >= min_pixels
    sets[active[cut[ok]]] = new[ok]
    accepted = full
    accepted[cut[ok]] = True
    left[active[accepted]] -= 1
    active = active[left[active] > 0]
  return sets


def _row_words(images: np.ndarray) -> np.ndarray:
  return (images.astype(np.uint32) << np.arange(28, dtype=np.uint32)).sum(-1, dtype=np.uint32)


# Midpoint offsets (ey, ex), one per +-pair, nearest first: most non-convex sets show a
# witness at a small offset, so the undecided images shrink quickly.
_MID_OFFSETS = sorted(((ey, ex) for ey in range(14) for ex in range(-13, 14)
                       if not (ey == 0 and ex <= 0)),
                      key=lambda e: (e[0] ** 2 + e[1] ** 2, e))


def has_midpoint_witness(images: np.ndarray) -> np.ndarray:
  """[n, 28, 28] bool -> [n] bool: two white pixels with a black lattice midpoint."""
  w_all = _row_words(images)
  full = np.uint32((1 << 28) - 1)
  found = np.zeros(len(images), bool)
  idx = np.arange(len(images))
  w = w_all

  def shift(v, s):  # bit x of result = bit x + s of v
    return (v >> np.uint32(s)) if s >= 0 else ((v << np.uint32(-s)) & full)

  for i, (ey, ex) in enumerate(_MID_OFFSETS):
    h = 28 - 2 * ey
    a = w[:, :h]
    b = shift(w[:, 2 * ey:2 * ey + h], 2 * ex)
    mid = shift(w[:, ey:ey + h], ex)
    hit = (a & b & ~mid).any(-1)
    found[idx[hit]] = True
    if i % 8 == 7:  # drop the decided ones
      keep = ~found[idx]
      idx = idx[keep]
      w = w_all[idx]
      if idx.size == 0:
        break
  return found


def sample_nonconvex(rng: np.random.Generator, n: int) -> np.ndarray:
  """Unions of 2-4 components that fail the convexity test (packed): about ``n``, at least n.

  Returns all the non-convex unions of the candidates drawn (>= n), in drawing order.
  """
  out, have = [], 0
  while have < n:
    m = max(64, int((n - have) * 1.6))
    n_comp = rng.integers(2, 5, m)
    comps = sample_components(rng, int(n_comp.sum()))
    starts = np.concatenate([[0], np.cumsum(n_comp)[:-1]])
    union = np.bitwise_or.reduceat(comps, starts, axis=0)
    # A union equal to one of its components (or the full image) is convex: skip the test.
    owner = np.repeat(np.arange(m), n_comp)
    contained = np.zeros(m, bool)
    np.logical_or.at(contained, owner, (comps == union[owner]).all(-1))
    test = np.nonzero(~contained & (area(union) < 784))[0]
    nonconvex = test[has_midpoint_witness(unpack(union[test]).reshape(-1, 28, 28))]
    out.append(union[nonconvex])
    have += len(nonconvex)
  return np.concatenate(out)


def area_bins(target_areas: np.ndarray) -> np.ndarray:
  """Quantile bin edges of the target areas, from their minimum; 784 joins the top bin (no
  union is the full image)."""
  t = np.minimum(target_areas, 783)
  edges = np.unique(np.quantile(t, np.linspace(0, 1, N_AREA_BINS + 1)).astype(np.int64))
  edges[-1] = 785
  return edges


def sample_nonconvex_matching(rng: np.random.Generator, target_areas: np.ndarray,
                              budget: float = 1.6) -> np.ndarray:
  """Non-convex sets whose area histogram follows ``target_areas``' in quantile bins.

  Rounds of candidates, at most ``budget`` x the need in all, fill each bin with exactly the
  target's count; the bins the budget leaves short (the very smallest and the very largest
  areas, where unions of 2-4 components are rarer than convex sets) are then filled from the
  nearest bins' leftovers.
  """
  n = len(target_areas)
  edges = area_bins(target_areas)
  want = np.histogram(np.minimum(target_areas, 783), edges)[0]
  got = [[] for _ in want]
  spare = [[] for _ in want]
  need = want.copy()
  left = int(budget * n) + 256
  rate = None
  while need.sum() and left > 0:
    # First round: the need (+10 %); later ones: enough for the slowest open bin (+20 %).
    m = need.sum() * 1.1 if rate is None else (need / rate).max() * 1.2
    m = int(min(max(256, m), left))
    cand = sample_nonconvex(rng, m)
    left -= len(cand)
    b = np.searchsorted(edges, area(cand), side="right") - 1  # -1: under the target's minimum
    rate = np.maximum(np.bincount(b[b >= 0], minlength=len(want)) / len(cand), 1e-3)
    for i in np.nonzero(need)[0]:
      mine = cand[b == i]
      take = mine[: need[i]]
      got[i].append(take)
      need[i] -= len(take)
      spare[i].append(mine[len(take):])
  if need.sum():  # fill from the nearest bins' leftovers
    pool = [np.concatenate(s) if s else np.zeros((0, WORDS), np.uint64) for s in spare]
    for i in np.nonzero(need)[0]:
      for j in sorted(range(len(want)), key=lambda j: abs(j - i)):
        take = pool[j][: need[i]]
        pool[j] = pool[j][len(take):]
        got[i].append(take)
        need[i] -= len(take)
        if need[i] == 0:
          break
  res = np.concatenate([g for gs in got for g in gs])
  return res[rng.permutation(len(res))][:n]


def generate(rng: np.random.Generator, n_convex: int, n_nonconvex: int):
  """``(x_convex [n1, 784] float32, x_nonconvex [n0, 784] float32)`` of 0/1 pixels."""
  convex = sample_halfplane_sets(rng, n_convex, P_CONVEX, MIN_CONVEX)
  target = area(convex) if n_convex else np.array([300])
  nonconvex = sample_nonconvex_matching(rng, target if n_nonconvex <= n_convex else
                                        rng.choice(target, n_nonconvex))
  nonconvex = nonconvex[:n_nonconvex]
  return unpack(convex).astype(np.float32), unpack(nonconvex).astype(np.float32)
