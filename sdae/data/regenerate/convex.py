"""Convex versus non-convex white regions (Larochelle et al. 2007, twiki ConvexNonConvex).

- Convex (label 1): the intersection of K half-planes, K ~ Geometric(p=0.195) (support
  1, 2, ...), each with a uniformly random orientation and a boundary line through a point
  uniform in [-4, 32]^2 (the 28x28 image is [0, 28]^2, pixel centres at k + 0.5); a pixel is
  white when its centre lies in the region. Candidates under 19 white pixels are redrawn.
- Non-convex (label 0): the union of 2-4 (uniform) convex sets drawn the same way with
  p = 0.07 and at least 10 pixels each, kept only if it fails a pairwise-pixel convexity test:
  two white pixels whose midpoint is a lattice point that is black. (A half-plane
  intersection sampled at pixel centres never has such a pair, so the test cannot reject a
  digitally convex set as non-convex.)
- Area balance: the non-convex examples are resampled so that their white-pixel counts
  follow the convex examples' distribution, bin by bin (16 quantile bins of the convex
  areas), from a pool of about 4x the needed unions; bins the pool cannot fill (small areas:
  unions of 2-4 components are rarely that small) are filled from the nearest bins. So the
  classes' area distributions are close but not equal: the non-convex mean stays higher
  (see notes/data.md for the measured figures).

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
LINE_LO, LINE_HI = -4.0, 32.0
N_ANGLES = 256
OFFSET_STEP = 0.25
OFFSET_MAX = 46.0
WORDS = 13  # ceil(784 / 64)
N_AREA_BINS = 16


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


def sample_halfplane_sets(rng: np.random.Generator, n: int, p: float,
                          min_pixels: int) -> np.ndarray:
  """``n`` intersections of Geometric(p) random half-planes with >= min_pixels pixels."""
  bank, u, offsets = _bank()
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
      a = rng.integers(0, N_ANGLES, alive.size)
      pt = rng.uniform(LINE_LO, LINE_HI, (alive.size, 2))
      c = np.einsum("ij,ij->i", u[a], pt)
      j = np.clip(np.rint((c + OFFSET_MAX) / OFFSET_STEP).astype(np.int64), 0,
                  len(offsets) - 1)
      sets[alive] &= bank[a, j]
      # Intersections only shrink: drop the ones already too small.
      small = area(sets[alive]) < min_pixels
      sets[alive[small]] = 0
      alive = alive[~small]
    keep = sets[area(sets) >= min_pixels]
    out.append(keep[: n - have])
    have += len(out[-1])
  return np.concatenate(out)


def has_midpoint_witness(images: np.ndarray) -> np.ndarray:
  """[n, 28, 28] bool -> [n] bool: two white pixels with a black lattice midpoint."""
  w = (images.astype(np.uint32) << np.arange(28, dtype=np.uint32)).sum(-1, dtype=np.uint32)
  full = np.uint32((1 << 28) - 1)
  found = np.zeros(len(images), bool)

  def shift(v, s):  # bit x of result = bit x + s of v
    return (v >> np.uint32(s)) if s >= 0 else ((v << np.uint32(-s)) & full)

  for ey in range(0, 14):
    for ex in range(-13, 14):
      if (ey == 0 and ex <= 0):
        continue
      h = 28 - 2 * ey
      if h <= 0 or abs(2 * ex) >= 28:
        continue
      a = w[:, :h]
      b = shift(w[:, 2 * ey:2 * ey + h], 2 * ex)
      mid = shift(w[:, ey:ey + h], ex)
      hit = a & b & ~mid
      found |= hit.any(-1)
  return found


def sample_nonconvex(rng: np.random.Generator, n: int) -> np.ndarray:
  """``n`` unions of 2-4 convex components that fail the convexity test (packed)."""
  out, have = [], 0
  while have < n:
    m = max(64, int((n - have) * 1.5))
    n_comp = rng.integers(2, 5, m)
    comps = sample_halfplane_sets(rng, int(n_comp.sum()), P_COMPONENT, MIN_COMPONENT)
    owner = np.repeat(np.arange(m), n_comp)
    union = np.zeros((m, WORDS), np.uint64)
    np.bitwise_or.at(union, owner, comps)
    nonconvex = has_midpoint_witness(unpack(union).reshape(m, 28, 28))
    keep = union[nonconvex]
    out.append(keep[: n - have])
    have += len(out[-1])
  return np.concatenate(out)


def sample_nonconvex_matching(rng: np.random.Generator, target_areas: np.ndarray,
                              max_rounds: int = 3) -> np.ndarray:
  """Non-convex sets whose areas follow ``target_areas`` bin by bin (quantile bins)."""
  n = len(target_areas)
  edges = np.unique(np.quantile(target_areas, np.linspace(0, 1, N_AREA_BINS + 1)))
  edges[0], edges[-1] = 0, 785
  want = np.histogram(target_areas, edges)[0]
  got = [[] for _ in want]
  spare = [[] for _ in want]
  need = want.copy()
  for _ in range(max_rounds):
    if need.sum() == 0:
      break
    cand = sample_nonconvex(rng, max(256, int(need.sum() * 1.3)))
    b = np.clip(np.searchsorted(edges, area(cand), side="right") - 1, 0, len(want) - 1)
    for i in range(len(want)):
      mine = cand[b == i]
      take = mine[: need[i]]
      got[i].append(take)
      need[i] -= len(take)
      if len(spare[i]) < 4:
        spare[i].append(mine[len(take):])
  if need.sum():  # rare bins: fill from the nearest bins' leftovers
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
