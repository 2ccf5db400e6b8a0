"""Probe, not library code: solves convex version 6's acceptance weights.

Version 6 keeps a candidate non-convex union with probability ``u[pieces] * v[solidity bin]``
so that the class's piece counts and solidity histogram follow the published ones
(``convex.PIECES_PUBLISHED``, ``SOLIDITY_PUBLISHED``), while the area matching still follows
the convex class. The weights are solved in two steps, both on figures of the generated
shapes, never on an error rate:

1. iterative proportional fitting on a pool of version 4's candidate unions: the result of
   area matching is, per area bin, the pool's shapes reweighted by ``u * v``;
2. a few fixed-point rounds on the generator itself (``generate(..., version=6)`` with the
   current weights, its non-convex marginals measured, each weight scaled by published /
   measured), which absorbs what the pool model leaves out (the bins topped up from their
   neighbours, the small-area budget).

Run from the repository root (prints the weights to paste into convex.py; ~N_ROUNDS x 40 s):

    python notes/probes/convex_shape_weights.py [N_ROUNDS]
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


def pool_fit(rng, n_target=30000, n_pool=120000, iters=300):
  target = cv.area(cv.sample_cut_sets(rng, n_target, cv.P_CONVEX, cv.MIN_CONVEX_V4,
                                      cv.MAX_REDRAWS, cv.JITTER))
  edges = cv.area_bins(target)
  want = np.histogram(np.minimum(target, 783), edges)[0] / len(target)
  pool = cv.draw_unions(rng, n_pool, 783, ANCHOR)
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
  rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
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
