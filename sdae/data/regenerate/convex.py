"""Convex versus non-convex white regions (Larochelle et al. 2007, twiki ConvexNonConvex).

Data version 3 (below; version 4 further down):

- Convex (label 1): the intersection of K half-planes, K ~ Geometric(p=0.195) (support
  1, 2, ...), each with a uniformly random orientation and a boundary line through a point
  uniform in [-4, 32]^2 (the 28x28 image is [0, 28]^2, pixel centres at k + 0.5); a pixel is
  white when its centre lies in the region. Candidates under 19 white pixels are redrawn.
- Non-convex (label 0): the union of 2-4 (uniform) convex components, each the intersection
  of K ~ Geometric(p=0.07) half-planes with at least 10 pixels, kept only if it fails a
  pairwise-pixel convexity test: two white pixels whose midpoint is a lattice point that is
  black. (A half-plane intersection sampled at pixel centres never has such a pair, so the
  test cannot reject a digitally convex set as non-convex.)
- Two choices the published description leaves open, set so that the non-convex class has
  the original's shape statistics (dataset-facts.md: components, solidity) and, with no
  calibrated constant, its area (mean ~334, median ~299 before the histogram step, against
  ~307 / ~247 for the convex sets):
  * a component is the cell of an anchor point, uniform in the image (``ANCHOR_LO..HI``):
    its lines are drawn as the convex sets' (same orientation and ``LINE_LO..HI``), and of
    each line's two sides the one holding the anchor is kept. (With a random side, and the
    lines spread wide enough to balance the areas, the components are scattered over the
    image independently of each other: their unions are further from convex than the
    original's, solidity median ~0.58 against 0.72.)
  * the ">= 10 pixels" rule is applied half-plane by half-plane: a half-plane that would leave
    a component with fewer than 10 pixels is redrawn, so a component keeps its K half-planes.
- Area balance ("the parameters were balanced so that both classes have the same mean"): the
  non-convex examples are taken bin by bin to follow the convex examples' area histogram
  (32 quantile bins of the convex areas, from their minimum, so no union is under 19 pixels;
  784 joins the top bin, a union is never the full image), see
  ``sample_nonconvex_matching``. The top bin (>= ~780 pixels: unions are several times rarer
  there than convex sets, 2.5 % of which are the full image) and part of the bottom one
  (19-24) stay short and are topped up from their neighbours (~3 % of the examples on the
  full set); every other bin's count is exact.

Data version 4 (the default; version 3 is the above, kept byte for byte): the convex class by
the lead of dataset-facts.md, ``sample_cut_sets``, and the non-convex class as version 3's
with two parameters moved. Each cut is a line of uniform orientation through a point of the
current shape, of whose two sides the larger is kept; K ~ Geometric(0.195) cuts (published).
Its free parameters, each chosen to match the facts measured on the published files
(notes/data.md: figures and commands):

  * ``MIN_CONVEX_V4 = 20``: a cut leaving fewer pixels fails (the published minimum is 20,
    with a pile-up there: 1.7 % of the test images, against the description's "< 19
    rejected").
  * ``MAX_REDRAWS = 0``: a failing cut ends the cutting (the set keeps the cuts it has).
    Redrawing it until one succeeds piles 7.6 % of the sets up at exactly 20 pixels; ending
    gives ~1.4 %, the 10 % area quantile 29-31 (published 29).
  * ``JITTER = 3``: the cut's point is a white pixel's centre (uniform over the white pixels)
    moved by up to +-1.5 pixel on each axis, so a cut may miss the shape: full-white images
    0.1-0.2 % (published 0.22 %; 0.07 % with no jitter).
  * the larger side is always kept (keeping the smaller one at times de-centres the shapes but
    makes triangles and small areas far too common: 14 % triangles at 10 % of the cuts).
  * ``ANCHOR_MARGIN_V4 = 2``: union components' anchors uniform in [2, 26]^2 instead of the
    image: non-convex images touching no border 12.5 % (published 11.7 %, version 3 4.5 %).
  * ``SMALL_BUDGET_V4 = 8``: more candidate unions for the small-area bins, since version 4
    has more small convex sets (10 % quantile 30 against 42): the classes' areas then agree
    at every decile (without it the non-convex 10 % quantile is 48 against 30).

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
MIN_CONVEX_V4 = 20  # version 4: the published files' smallest convex set (facts: 20, not 19)
MAX_REDRAWS = 0  # version 4: a cut leaving < MIN_CONVEX_V4 pixels ends the cutting
JITTER = 3.0  # version 4: the cut's point, +-JITTER/2 pixel around a white pixel's centre
ANCHOR_MARGIN_V4 = 2.0  # version 4: union components' anchors this far inside the image
SMALL_BUDGET_V4 = 8.0  # version 4: candidates (x the need) for the small-area bins
MIN_COMPONENT = 10
LINE_LO, LINE_HI = -4.0, 32.0  # convex sets: line through a point uniform in [lo, hi]^2
ANCHOR_LO, ANCHOR_HI = 0.0, 28.0  # union components: anchor point uniform in the image
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


def _anchored_halfplane_index(rng: np.random.Generator, anchors: np.ndarray, lo: float,
                              hi: float):
  """Bank indices of one half-plane per anchor ([m, 2] points): a random line as in
  ``_halfplane_index``, and of its two sides the one holding the anchor."""
  a, j = _halfplane_index(rng, len(anchors), lo, hi)
  _, u, offsets = _bank()
  # The bank's angles are symmetric (u[a + A/2] = -u[a]) and so are its offsets
  # (offsets[C-1-j] = -offsets[j]): the other side of line (a, j) is (a + A/2, C-1-j).
  # Test the quantised line, so that the anchor is inside the half-plane actually used.
  flip = np.einsum("ij,ij->i", u[a], anchors) < offsets[j]
  a = np.where(flip, (a + N_ANGLES // 2) % N_ANGLES, a)
  j = np.where(flip, len(offsets) - 1 - j, j)
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


def sample_cut_sets(rng: np.random.Generator, n: int, p: float = P_CONVEX,
                    min_pixels: int = 20, max_redraws: int | None = None,
                    jitter: float = 0.0, smaller: float = 0.0) -> np.ndarray:
  """``n`` convex sets (packed), each the full image cut K ~ Geometric(p) times (version 4).

  Each cut is a line of uniform orientation through a point of the current shape (the centre
  of one of its white pixels, uniform, moved by up to ``jitter`` / 2 pixel along each axis), of
  whose two sides the larger is kept. A cut that would leave fewer than ``min_pixels`` is
  redrawn, at most ``max_redraws`` times in a row (None: until one succeeds); after that the
  set keeps the cuts it has.
  """
  bank, u, offsets = _bank()
  sets = np.broadcast_to(_full(), (n, WORDS)).copy()
  left = rng.geometric(p, n)
  fails = np.zeros(n, np.int64)
  active = np.arange(n)
  while active.size:
    px = unpack(sets[active])
    cum = px.cumsum(1)
    pick = (cum > (rng.random(len(active)) * cum[:, -1]).astype(np.int64)[:, None]).argmax(1)
    point = np.stack([pick % 28 + 0.5, pick // 28 + 0.5], 1)
    if jitter:
      point = point + rng.uniform(-jitter / 2, jitter / 2, point.shape)
    a = rng.integers(0, N_ANGLES, len(active))
    j = np.clip(np.rint((np.einsum("ij,ij->i", u[a], point) + OFFSET_MAX) / OFFSET_STEP)
                .astype(np.int64), 0, len(offsets) - 1)
    one = sets[active] & bank[a, j]
    # The other side of line (a, j) is (a + A/2, C-1-j) (the bank is symmetric).
    other = sets[active] & bank[(a + N_ANGLES // 2) % N_ANGLES, len(offsets) - 1 - j]
    area_one, area_other = area(one), area(other)
    first = area_one >= area_other
    if smaller:
      first ^= (rng.random(len(active)) < smaller) & (np.minimum(area_one, area_other)
                                                       >= min_pixels)
    kept = np.where(first[:, None], one, other)
    ok = np.maximum(area_one, area_other) >= min_pixels
    sets[active[ok]] = kept[ok]
    left[active[ok]] -= 1
    fails[active[ok]] = 0
    fails[active[~ok]] += 1
    if max_redraws is not None:
      left[active[fails[active] > max_redraws]] = 0
    active = active[left[active] > 0]
  return sets


def sample_components(rng: np.random.Generator, n: int, p: float = P_COMPONENT,
                      min_pixels: int = MIN_COMPONENT,
                      anchor: tuple[float, float] = (ANCHOR_LO, ANCHOR_HI)) -> np.ndarray:
  """``n`` components (packed): each the cell of an anchor point uniform in the image,
  ANCHOR_LO..HI, cut by K ~ Geometric(p) random lines (as the convex sets': through a point
  uniform in LINE_LO..HI, uniform orientation), keeping each time the anchor's side.

  Half-planes are added one at a time; one that would leave fewer than ``min_pixels`` pixels
  is redrawn, so every component keeps exactly its K half-planes.
  """
  bank = _bank()[0]
  bank_area = _bank_area()
  anchors = rng.uniform(anchor[0], anchor[1], (n, 2))
  left = rng.geometric(p, n)
  sets = np.broadcast_to(_full(), (n, WORDS)).copy()
  active = np.arange(n)
  while active.size:
    a, j = _anchored_halfplane_index(rng, anchors[active], LINE_LO, LINE_HI)
    ba = bank_area[a, j]
    # A line that misses the image leaves the set as it is (the anchor's side holds the whole
    # image); only the lines that cut the image need the AND and the popcount.
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


def draw_unions(rng: np.random.Generator, m: int, max_area: int = 783,
                anchor: tuple[float, float] = (ANCHOR_LO, ANCHOR_HI)) -> np.ndarray:
  """Draw ``m`` candidate unions of 2-4 components; return (packed, in drawing order) those
  that fail the convexity test and have at most ``max_area`` pixels.

  Components are drawn slot by slot (every candidate's first, then the second of those with
  two or more, ...). A union only grows, so a candidate over ``max_area`` is dropped before
  its remaining components are drawn: when only small unions are wanted, most candidates
  cost one component. ``max_area`` <= 783 also drops the full image (convex).
  """
  n_comp = rng.integers(2, 5, m)
  parts = np.zeros((4, m, WORDS), np.uint64)
  union = np.zeros((m, WORDS), np.uint64)
  alive = np.arange(m)
  for slot in range(4):
    grow = alive[n_comp[alive] > slot]
    parts[slot, grow] = sample_components(rng, len(grow), anchor=anchor)
    union[grow] |= parts[slot, grow]
    alive = alive[area(union[alive]) <= max_area]
  # A union equal to one of its components is convex: skip the test.
  contained = (parts[:, alive] == union[alive]).all(-1).any(0)
  test = alive[~contained]
  return union[test[has_midpoint_witness(unpack(union[test]).reshape(-1, 28, 28))]]


def area_bins(target_areas: np.ndarray) -> np.ndarray:
  """Quantile bin edges of the target areas, from their minimum; 784 joins the top bin (no
  union is the full image)."""
  t = np.minimum(target_areas, 783)
  edges = np.unique(np.quantile(t, np.linspace(0, 1, N_AREA_BINS + 1)).astype(np.int64))
  edges[-1] = 785
  return edges


def sample_nonconvex_matching(rng: np.random.Generator, target_areas: np.ndarray,
                              budget: float = 1.9, small_budget: float = 2.0,
                              anchor: tuple[float, float] = (ANCHOR_LO, ANCHOR_HI)
                              ) -> np.ndarray:
  """Non-convex sets whose area histogram follows ``target_areas``' in quantile bins.

  Rounds of candidates fill each bin with exactly the target's count, drawing at most
  ``budget`` x the need in candidate unions while any bin is open, then at most
  ``small_budget`` x the need more for the bins under the target's median only (cheap: a
  candidate is dropped as soon as it outgrows the largest open bin). The bins still short
  (the very largest areas, 780-783, where unions are rarer than convex sets, and some of the
  very smallest) are then filled from the nearest bins' leftovers.
  """
  n = len(target_areas)
  edges = area_bins(target_areas)
  want = np.histogram(np.minimum(target_areas, 783), edges)[0]
  small = edges[1:] <= np.median(target_areas)
  got = [[] for _ in want]
  spare = [[] for _ in want]
  need = want.copy()
  left, left_small = int(budget * n) + 256, int(small_budget * n)
  rate = None  # per bin, per candidate drawn
  while need.sum():
    open_bins = need > 0
    if left <= 0:
      open_bins &= small
      if left_small <= 0 or not open_bins.any():
        break
    # First round: the need (+30 %, the convex unions); later ones: enough for the slowest
    # open bin (+20 %).
    m = need.sum() * 1.3 if rate is None else (need[open_bins] / rate[open_bins]).max() * 1.2
    m = int(min(max(1024, m), left if left > 0 else left_small))
    top = np.nonzero(open_bins)[0].max()
    cand = draw_unions(rng, m, min(783, int(edges[top + 1]) - 1), anchor)
    if left > 0:
      left -= m
    else:
      left_small -= m
    b = np.searchsorted(edges, area(cand), side="right") - 1  # -1: under the target's minimum
    rate = np.maximum(np.bincount(b[b >= 0], minlength=len(want)) / m, 1e-4)
    for i in np.nonzero(open_bins)[0]:
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


def generate(rng: np.random.Generator, n_convex: int, n_nonconvex: int, version: int = 4):
  """``(x_convex [n1, 784] float32, x_nonconvex [n0, 784] float32)`` of 0/1 pixels, by the
  generator of data ``version``: 3, the convex sets of ``sample_halfplane_sets``; 4, those of
  ``sample_cut_sets`` (module docstring); the non-convex class as version 3's, matched to
  the convex areas."""
  if version == 3:
    convex = sample_halfplane_sets(rng, n_convex, P_CONVEX, MIN_CONVEX)
    anchor = (ANCHOR_LO, ANCHOR_HI)
  elif version == 4:
    convex = sample_cut_sets(rng, n_convex, P_CONVEX, MIN_CONVEX_V4, MAX_REDRAWS, JITTER)
    anchor = (ANCHOR_LO + ANCHOR_MARGIN_V4, ANCHOR_HI - ANCHOR_MARGIN_V4)
  else:
    raise ValueError(f"convex has no generator for data version {version}; accepted: 3, 4")
  target = area(convex) if n_convex else np.array([300])
  nonconvex = sample_nonconvex_matching(rng, target if n_nonconvex <= n_convex else
                                        rng.choice(target, n_nonconvex), anchor=anchor,
                                        small_budget=2.0 if version == 3 else SMALL_BUDGET_V4)
  nonconvex = nonconvex[:n_nonconvex]
  return unpack(convex).astype(np.float32), unpack(nonconvex).astype(np.float32)
