"""Probe, not library code: solves convex version 6's acceptance weights.

Version 6 keeps a convex set with probability ``a[area octile] b[solidity bin]`` so that the
class's solidity follows the published quantiles while its areas stay version 4's, and a
candidate non-convex union with probability ``min(1, 4 u[pieces] v[solidity bin])`` so that
the class's piece counts and solidity follow the published ones (``convex.*_PUBLISHED``),
while the area matching still follows the convex class. The weights are solved on figures of
the generated shapes, never on an error rate:

1. the convex class: iterative proportional fitting on a pool of version 4's cut sets, over
   (area octile, solidity bin);
2. the non-convex class: iterative proportional fitting on a pool of candidate unions (11-pixel
   components): the result of area matching is, per area bin, the pool's shapes reweighted
   by ``u * v``. These are the weights in convex.py (round 0 below), within ~2.5 points of
   every published share on 10000 sets (the full set: notes/data.md).
3. optional fixed-point rounds on the generator itself (``generate(..., version=6)`` with the
   current weights, its non-convex marginals measured on 10000 sets, each weight scaled by
   published / measured). On a first draft (10-pixel components, version 4's convex class)
   four rounds only moved the figures within the sample's noise (+-0.5 points), so the pool
   fit is kept.

Run from the repository root (prints round 0's figures and weights, then each round's;
~10 s a round plus ~15 s for the pool):

    python notes/probes/convex_shape_weights.py [N_ROUNDS]   (default 0)
"""

import sys
import time

import numpy as np

from sdae.data.regenerate import convex as cv

PIECES = np.asarray(cv.PIECES_PUBLISHED)
SOL = np.asarray(cv.SOLIDITY_PUBLISHED)
ANCHOR = (cv.ANCHOR_LO + cv.ANCHOR_MARGIN_V4, cv.ANCHOR_HI - cv.ANCHOR_MARGIN_V4)


def cells(packed):
  k = np.clip(cv.pieces(packed), 1, 4) - 1
  return k, np.searchsorted(cv.SOLIDITY_EDGES, cv.solidity(packed), side="right")


def marginals(k, s):
  return np.bincount(k, minlength=4) / len(k), np.bincount(s, minlength=6) / len(s)


def normalised(u, v):
  return u / u.max(), v / v.max()


def convex_fit(rng, n_pool=60000, iters=300):
  """The convex class's weights ``a[area bin] * b[solidity bin]``: version 4's areas (its
  octiles, ``CONVEX_AREA_EDGES_V6``, each bin an eighth) kept, the solidity bins made the
  published shares, by iterative proportional fitting on a pool of version 4's sets."""
  pool = cv.sample_cut_sets(rng, n_pool, cv.P_CONVEX, cv.MIN_CONVEX_V4, cv.MAX_REDRAWS,
                            cv.JITTER)
  areas = cv.area(pool)
  edges = np.quantile(areas, np.linspace(0, 1, 9)[1:-1]).round().astype(int)
  ab = np.searchsorted(edges, areas, side="right")
  sb = np.searchsorted(cv.CONVEX_SOLIDITY_EDGES, cv.solidity(pool), side="right")
  joint = np.zeros((8, 6))
  np.add.at(joint, (ab, sb), 1)
  joint /= joint.sum()
  a, b = np.ones(8), np.ones(6)
  want_a, want_s = joint.sum(1), np.asarray(cv.CONVEX_SOLIDITY_PUBLISHED)
  for _ in range(iters):
    w = joint * np.outer(a, b)
    w /= w.sum()
    a *= (want_a / w.sum(1)) ** 0.5
    b *= (want_s / w.sum(0)) ** 0.5
  top = np.outer(a, b).max()
  print(f"convex class: version 4's solidity bins {joint.sum(0).round(4)}, fitted "
        f"{w.sum(0).round(3)}, acceptance {(joint * np.outer(a, b) / top).sum():.2f}")
  print(f"  CONVEX_AREA_EDGES_V6 = {tuple(int(e) for e in edges)}")
  print(f"  CONVEX_AREA_WEIGHTS_V6 = {tuple(round(float(x / a.max()), 4) for x in a)}")
  print(f"  CONVEX_SOLIDITY_WEIGHTS_V6 = {tuple(round(float(x / b.max()), 4) for x in b)}")
  return tuple(edges), tuple(a / a.max()), tuple(b / b.max())


def pool_fit(rng, n_target=30000, n_pool=120000, iters=300):
  target = cv.area(cv.sample_solid_cut_sets(rng, n_target))
  edges = cv.area_bins(target)
  want = np.histogram(np.minimum(target, 783), edges)[0] / len(target)
  pool = cv.draw_unions(rng, n_pool, 783, ANCHOR, cv.MIN_COMPONENT_V6)
  b = np.searchsorted(edges, cv.area(pool), side="right") - 1
  pool, b = pool[b >= 0], b[b >= 0]
  k, s = cells(pool)
  joint = np.zeros((len(want), 4, 6))
  np.add.at(joint, (b, k, s), 1)
  u, v = np.ones(4), np.ones(6)
  for _ in range(iters):
    w = joint * u[None, :, None] * v[None, None, :]
    res = (w / np.maximum(w.sum((1, 2), keepdims=True), 1e-12) * want[:, None, None]).sum(0)
    u *= (PIECES / res.sum(1)) ** 0.5
    v *= (SOL / res.sum(0)) ** 0.5
  print("pool fit: pieces", res.sum(1).round(3), "solidity bins", res.sum(0).round(3))
  return normalised(u, v)


def main():
  rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 0
  (cv.CONVEX_AREA_EDGES_V6, cv.CONVEX_AREA_WEIGHTS_V6,
   cv.CONVEX_SOLIDITY_WEIGHTS_V6) = convex_fit(np.random.default_rng(1))
  u, v = pool_fit(np.random.default_rng(0))
  for r in range(rounds + 1):
    cv.PIECE_WEIGHTS_V6, cv.SOLIDITY_WEIGHTS_V6 = tuple(u), tuple(v)
    t = time.time()
    _, x0 = cv.generate(np.random.default_rng(100 + r), 10000, 10000, version=6)
    took = time.time() - t
    mp, ms = marginals(*cells(cv.pack(x0 > 0.5)))
    print(f"round {r} ({took:.0f} s for 10000 + 10000): pieces {mp.round(3)} (published "
          f"{PIECES}), solidity bins {ms.round(3)} (published {SOL})")
    print(f"  PIECE_WEIGHTS_V6 = {tuple(round(float(a), 4) for a in u)}")
    print(f"  SOLIDITY_WEIGHTS_V6 = {tuple(round(float(a), 4) for a in v)}")
    u, v = normalised(u * PIECES / mp, v * SOL / ms)


if __name__ == "__main__":
  main()
