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

Data version 4 (version 3 is the above, kept byte for byte): the convex class by
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

Data version 6 (the default; versions 3 and 4 kept byte for byte; 5 was a draft, probed and
not released: notes/data.md): version 4's generators, their output selected so that both
classes also follow the published shape figures version 4 missed (dataset-facts.md, 3000
test images; version 4 in brackets, notes/data.md):

  * the convex class's solidity (white pixels / convex hull image pixels), quantiles 0.89 /
    0.93 / 0.96 / 0.98 / 0.99 at 10 / 25 / 50 / 75 / 90 % (0.875 / 0.917 / ...: 82 % above
    0.9 against 88.1; a few too many slivers), its areas kept (``sample_solid_cut_sets``:
    a set is kept by its area octile and solidity bin; without the octiles, the more solid
    sets are the larger, and the area median moves from 262 to 292, published 249);
  * the non-convex class's piece counts, 1 / 2 / 3 / 4+: 41.4 / 42.4 / 13.8 / 2.4 % (47.7 /
    42.7 / 8.5 / 1.2), and solidity, quantiles 0.32 / 0.48 / 0.72 / 0.90 / 0.96, 23.7 %
    above 0.9 (19.2 %). No setting of the union generator probed reaches the piece counts
    and the nearly convex unions together (each that splits more unions into pieces also
    lowers their solidity), so the class is matched as its areas are, by selection: a
    candidate union an open area bin could take is kept with probability
    ``min(1, ACCEPT_SCALE_V6 * w_pieces * w_solidity)`` (``shape_filter``);
  * a union's components have at least 11 pixels (``MIN_COMPONENT_V6``; the facts: a
    separate piece is never exactly 10 pixels, exactly 11 in a quarter of the images with two
    or more; version 4: 10, and 20 % of those images have a piece of exactly 10).

The weights are solved by iterative proportional fitting on pools of version 4's candidates
(notes/probes/convex_shape_weights.py), on shape figures alone, never on an error rate. Free
choices: the product form of the weights (the published figures are marginals; their joint
is unknown), the scale (4: the products it clips belong to cells the candidates almost never
reach, 0.03 % of the mass), and the budgets (``BUDGET_V6``, ``SMALL_BUDGET_V6``: version 4's
over the acceptance rate, ~0.25, so as few examples are topped up from neighbouring area bins
as in version 4). Regeneration: ~30 s for the full set (version 4: ~5 s), most of it
drawing ~1.5 M candidate unions and their convex hulls (``hull_pixels``, vectorised).

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
# Version 6 (module docstring). The convex class's solidity, cut at the published quantiles
# 10/25/50/75/90 % (the published share above 0.9, 88.1 %, falls in the second bin): version
# 4's cut sets kept with probability a[area octile] * b[solidity bin], so that version 4's
# area octiles stay eighths and the solidity bins take the published shares.
CONVEX_SOLIDITY_EDGES = (0.89, 0.93, 0.96, 0.98, 0.99)
CONVEX_SOLIDITY_PUBLISHED = (0.10, 0.15, 0.25, 0.25, 0.15, 0.10)
CONVEX_AREA_EDGES_V6 = (36, 94, 168, 255, 357, 458, 588)
CONVEX_AREA_WEIGHTS_V6 = (1.0, 0.9981, 0.8341, 0.6988, 0.6005, 0.5329, 0.4443, 0.3029)
CONVEX_SOLIDITY_WEIGHTS_V6 = (0.1895, 0.2457, 0.4106, 0.4623, 0.8372, 1.0)
# The non-convex class's piece counts (1, 2, 3, 4+; 8-connected) and solidity bins, cut at
# the published 10/25/50/75/90 % quantiles, the 75-90 % one split at 0.9 by the published
# share above 0.9 (23.7 %).
PIECES_PUBLISHED = (0.414, 0.424, 0.138, 0.024)
SOLIDITY_EDGES = (0.32, 0.48, 0.72, 0.90, 0.96)
SOLIDITY_PUBLISHED = (0.10, 0.15, 0.25, 0.263, 0.137, 0.10)
# A candidate union is kept with probability min(1, ACCEPT_SCALE_V6 * PIECE_WEIGHTS_V6[k] *
# SOLIDITY_WEIGHTS_V6[bin]) so that, area matching included, the class has the shares above.
# All weights solved by notes/probes/convex_shape_weights.py.
BUDGET_V6, SMALL_BUDGET_V6 = 12.0, 40.0  # version 4's 1.9 and 8 over the acceptance (~0.25)
ACCEPT_SCALE_V6 = 4.0  # products above 1/4 kept surely: cells candidates almost never reach
PIECE_WEIGHTS_V6 = (0.1442, 0.3803, 0.6959, 1.0)
SOLIDITY_WEIGHTS_V6 = (0.0879, 0.0849, 0.0974, 0.192, 0.4226, 1.0)
MIN_COMPONENT_V6 = 11  # the facts: a separate piece is never exactly 10 pixels
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


def sample_solid_cut_sets(rng: np.random.Generator, n: int) -> np.ndarray:
  """``n`` convex sets (packed) of version 4's ``sample_cut_sets``, each kept with
  probability ``a[area bin] * b[solidity bin]`` (``CONVEX_AREA_*_V6``,
  ``CONVEX_SOLIDITY_*_V6``), drawn in rounds until ``n`` are kept, in drawing order."""
  wa, ws = np.asarray(CONVEX_AREA_WEIGHTS_V6), np.asarray(CONVEX_SOLIDITY_WEIGHTS_V6)
  kept, have = [], 0
  while have < n:
    m = int((n - have) * 2.5) + 64  # kept: ~0.26 of them, a round ~2/3 of what is missing
    cand = sample_cut_sets(rng, m, P_CONVEX, MIN_CONVEX_V4, MAX_REDRAWS, JITTER)
    a = np.searchsorted(CONVEX_AREA_EDGES_V6, area(cand), side="right")
    s = np.searchsorted(CONVEX_SOLIDITY_EDGES, solidity(cand), side="right")
    cand = cand[rng.random(m) < wa[a] * ws[s]]
    kept.append(cand[: n - have])
    have += len(kept[-1])
  return np.concatenate(kept) if kept else np.zeros((0, WORDS), np.uint64)


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
                anchor: tuple[float, float] = (ANCHOR_LO, ANCHOR_HI),
                min_component: int = MIN_COMPONENT) -> np.ndarray:
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
    parts[slot, grow] = sample_components(rng, len(grow), min_pixels=min_component,
                                          anchor=anchor)
    union[grow] |= parts[slot, grow]
    alive = alive[area(union[alive]) <= max_area]
  # A union equal to one of its components is convex: skip the test.
  contained = (parts[:, alive] == union[alive]).all(-1).any(0)
  test = alive[~contained]
  return union[test[has_midpoint_witness(unpack(union[test]).reshape(-1, 28, 28))]]


def pieces(packed: np.ndarray) -> np.ndarray:
  """8-connected pieces of white pixels per image of ``packed`` [n, WORDS] ([n] int64), as
  ``fidelity.shape_measures`` counts them; one labelling of the whole stack (a structure that
  never links two images), ~5 us an image."""
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  imgs = unpack(packed).reshape(-1, 28, 28)
  if not len(imgs):
    return np.zeros(0, np.int64)
  structure = np.zeros((3, 3, 3), bool)
  structure[1] = True
  labels = ndimage.label(imgs, structure)[0].reshape(len(imgs), -1)
  last = labels.max(1).astype(np.int64)  # labels run in scan order, image after image
  before = np.maximum.accumulate(np.concatenate([[0], last[:-1]]))
  return np.where(last > 0, last - before, 0)


def _convex_minorant(f: np.ndarray) -> np.ndarray:
  """The greatest convex function below the points (level, ``f[:, level]``) of each row of
  ``f`` [n, L] (inf: no point at that level), evaluated at the odd levels 1, 3, ..., L - 2
  ([n, L // 2]; inf outside the first and last point). A monotone chain run for every row at
  once: a level's pops are one vectorised step per pop."""
  n, n_levels = f.shape
  vh, vx = np.zeros((n, n_levels)), np.zeros((n, n_levels))  # the chain's vertices
  top = np.zeros(n, np.int64)
  rows = np.arange(n)
  for h in range(n_levels):
    x = f[:, h]
    ok = np.isfinite(x)
    while True:  # pop the last vertex while it is not below the line to the new point
      i = rows[ok & (top >= 2)]
      t = top[i]
      h0, x0, h1, x1 = vh[i, t - 2], vx[i, t - 2], vh[i, t - 1], vx[i, t - 1]
      pop = (x1 - x0) * (h - h1) >= (x[i] - x1) * (h1 - h0)
      if not pop.any():
        break
      top[i[pop]] -= 1
    i = rows[ok]
    vh[i, top[i]], vx[i, top[i]] = h, x[i]
    top[i] += 1
  at = np.arange(1, n_levels - 1, 2, dtype=np.float64)
  vh_valid = np.where(np.arange(n_levels) < top[:, None], vh, np.inf)
  right = np.minimum((vh_valid[:, :, None] <= at).sum(1), np.maximum(top - 1, 0)[:, None])
  left = np.maximum(right - 1, 0)
  ha, xa = np.take_along_axis(vh, left, 1), np.take_along_axis(vx, left, 1)
  hb, xb = np.take_along_axis(vh, right, 1), np.take_along_axis(vx, right, 1)
  span = hb - ha
  val = xa + np.where(span > 0, (at - ha) / np.where(span > 0, span, 1), 0) * (xb - xa)
  last = vh[rows, np.maximum(top - 1, 0)]
  inside = (top[:, None] > 0) & (at >= vh[:, :1]) & (at <= last[:, None])
  return np.where(inside, val, np.inf)


def hull_pixels(imgs: np.ndarray, chunk: int = 4096) -> np.ndarray:
  """Pixels of each image's convex hull image ([n, 28, 28] bool -> [n] int64), equal to
  scikit-image's ``convex_hull_image(img).sum()`` (tested): the hull of every white pixel's
  four edge midpoints, a pixel counted when its centre lies in it. Row by row, the hull spans
  from the convex minorant of the leftmost points to the concave majorant of the rightmost,
  on levels of half a pixel; ~30 us an image against ~200 for scikit-image."""
  imgs = np.asarray(imgs, bool)
  if len(imgs) > chunk:
    return np.concatenate([hull_pixels(imgs[i:i + chunk], chunk)
                           for i in range(0, len(imgs), chunk)])
  n = len(imgs)
  cols = np.arange(28, dtype=np.float64)
  inf = np.full((n, 1), np.inf)
  first = np.where(imgs, cols, np.inf).min(2)  # [n, 28], inf for an empty row
  last = -np.where(imgs, cols, -np.inf).max(2)  # negated: the right side is a minorant too
  # Level 2y + 1 for y = -0.5, 0, 0.5, ..., 27.5 (57 levels): row r's leftmost pixel gives
  # its left edge midpoint (x = c - 0.5) at level 2r + 1, and its top and bottom midpoints
  # (x = c) at levels 2r and 2r + 2, shared with the rows above and below.
  fl, fr = np.full((n, 57), np.inf), np.full((n, 57), np.inf)
  fl[:, 1::2], fr[:, 1::2] = first - 0.5, last - 0.5
  fl[:, 0::2] = np.minimum(np.concatenate([inf, first], 1), np.concatenate([first, inf], 1))
  fr[:, 0::2] = np.minimum(np.concatenate([inf, last], 1), np.concatenate([last, inf], 1))
  lo = _convex_minorant(fl)  # [n, 28]: the hull's extent along each row of pixel centres
  hi = -_convex_minorant(fr)
  tol = 1e-9  # a centre on the hull's edge is inside, as scikit-image's tolerance has it
  a = np.maximum(np.ceil(np.clip(lo - tol, -1, 28)), 0)
  b = np.minimum(np.floor(np.clip(hi + tol, -1, 28)), 27)
  count = np.where(np.isfinite(lo) & np.isfinite(hi), np.maximum(b - a + 1, 0), 0)
  return count.sum(1).astype(np.int64)


def solidity(packed: np.ndarray) -> np.ndarray:
  """White pixels / pixels of their convex hull image per image ([n] float64; 0 for an empty
  image), as ``fidelity.shape_measures`` measures it."""
  imgs = unpack(packed).reshape(-1, 28, 28).astype(bool)
  hull = hull_pixels(imgs)
  return np.where(hull > 0, imgs.sum((1, 2)) / np.maximum(hull, 1), 0.0)


def shape_filter(piece_weights=None, solidity_weights=None, scale=None):
  """``accept(rng, packed) -> [n] bool`` for ``sample_nonconvex_matching``: a candidate union
  is kept with probability ``min(1, scale * piece_weights[min(pieces, 4) - 1] *
  solidity_weights[bin])`` (None: version 6's). Two draws, so that only the unions kept for
  their piece count pay for a convex hull: ``min(1, scale * w_piece * max(w_solidity))``, then
  the rest."""
  wp = np.asarray(PIECE_WEIGHTS_V6 if piece_weights is None else piece_weights)
  ws = np.asarray(SOLIDITY_WEIGHTS_V6 if solidity_weights is None else solidity_weights)
  c = ACCEPT_SCALE_V6 if scale is None else scale

  def accept(rng: np.random.Generator, cand: np.ndarray) -> np.ndarray:
    k = np.clip(pieces(cand), 1, 4) - 1
    first = np.minimum(1.0, c * wp[k] * ws.max())
    keep = rng.random(len(cand)) < first
    look = np.nonzero(keep)[0]
    s = np.searchsorted(SOLIDITY_EDGES, solidity(cand[look]), side="right")
    both = np.minimum(1.0, c * wp[k[look]] * ws[s])
    keep[look] = rng.random(len(look)) * first[look] < both
    return keep
  return accept


def area_bins(target_areas: np.ndarray) -> np.ndarray:
  """Quantile bin edges of the target areas, from their minimum; 784 joins the top bin (no
  union is the full image)."""
  t = np.minimum(target_areas, 783)
  edges = np.unique(np.quantile(t, np.linspace(0, 1, N_AREA_BINS + 1)).astype(np.int64))
  edges[-1] = 785
  return edges


def sample_nonconvex_matching(rng: np.random.Generator, target_areas: np.ndarray,
                              budget: float = 1.9, small_budget: float = 2.0,
                              anchor: tuple[float, float] = (ANCHOR_LO, ANCHOR_HI),
                              accept=None, min_component: int = MIN_COMPONENT) -> np.ndarray:
  """Non-convex sets whose area histogram follows ``target_areas``' in quantile bins.

  Rounds of candidates fill each bin with exactly the target's count, drawing at most
  ``budget`` x the need in candidate unions while any bin is open, then at most
  ``small_budget`` x the need more for the bins under the target's median only (cheap: a
  candidate is dropped as soon as it outgrows the largest open bin). The bins still short
  (the very largest areas, 780-783, where unions are rarer than convex sets, and some of the
  very smallest) are then filled from the nearest bins' leftovers. ``accept(rng, packed) ->
  [m] bool`` (version 6: ``shape_filter``), when given, is asked about every candidate an open
  bin could take; a refused one counts as never drawn.
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
    cand = draw_unions(rng, m, min(783, int(edges[top + 1]) - 1), anchor, min_component)
    if left > 0:
      left -= m
    else:
      left_small -= m
    b = np.searchsorted(edges, area(cand), side="right") - 1  # -1: under the target's minimum
    if accept is not None:  # only the candidates an open bin could take are looked at
      look = np.nonzero((b >= 0) & open_bins[np.maximum(b, 0)])[0]
      b[look[~accept(rng, cand[look])]] = -1
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


def generate(rng: np.random.Generator, n_convex: int, n_nonconvex: int, version: int = 6):
  """``(x_convex [n1, 784] float32, x_nonconvex [n0, 784] float32)`` of 0/1 pixels, by the
  generator of data ``version``: 3, the convex sets of ``sample_halfplane_sets``; 4, those of
  ``sample_cut_sets``; 6, those selected from them by ``sample_solid_cut_sets`` (module
  docstring); the non-convex class as version 3's, matched to the convex areas, and in
  version 6 to the published piece counts and solidity (``shape_filter``)."""
  if version == 3:
    convex = sample_halfplane_sets(rng, n_convex, P_CONVEX, MIN_CONVEX)
    anchor = (ANCHOR_LO, ANCHOR_HI)
  elif version == 4:
    convex = sample_cut_sets(rng, n_convex, P_CONVEX, MIN_CONVEX_V4, MAX_REDRAWS, JITTER)
    anchor = (ANCHOR_LO + ANCHOR_MARGIN_V4, ANCHOR_HI - ANCHOR_MARGIN_V4)
  elif version == 6:
    convex = sample_solid_cut_sets(rng, n_convex)
    anchor = (ANCHOR_LO + ANCHOR_MARGIN_V4, ANCHOR_HI - ANCHOR_MARGIN_V4)
  else:
    raise ValueError(f"convex has no generator for data version {version}; accepted: 3, 4, 6")
  target = area(convex) if n_convex else np.array([300])
  budgets = {3: dict(small_budget=2.0), 4: dict(small_budget=SMALL_BUDGET_V4),
             6: dict(budget=BUDGET_V6, small_budget=SMALL_BUDGET_V6, accept=shape_filter(),
                     min_component=MIN_COMPONENT_V6)}
  nonconvex = sample_nonconvex_matching(rng, target if n_nonconvex <= n_convex else
                                        rng.choice(target, n_nonconvex), anchor=anchor,
                                        **budgets[version])
  nonconvex = nonconvex[:n_nonconvex]
  return unpack(convex).astype(np.float32), unpack(nonconvex).astype(np.float32)
