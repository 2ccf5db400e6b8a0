"""Probe, not library code: the convex class drawn by the lead of dataset-facts.md, measured.

Each half-plane's line passes through a random white pixel of the current shape, the larger side
is kept, and a cut that would leave fewer than 20 pixels is redrawn (K ~ Geometric(0.195) cuts,
as the published description). The non-convex class is version 3's, area-matched to these
convex shapes. Prints the fidelity report (sdae.data.fidelity) against the published facts, then
an SVM_rbf (C {1, 10, 100} x gamma {1, 2} x scale, retrained on train + valid) on 6000 / 2000 /
10000 examples. Run from the repository root: python notes/probes/convex_lead_rule.py
"""

import time

import numpy as np

from sdae.data import fidelity
from sdae.data.regenerate import convex as cv
from sdae.reproduce import svm


def lead_convex(rng: np.random.Generator, n: int, p: float = cv.P_CONVEX,
                min_pixels: int = 20) -> np.ndarray:
  """``n`` convex sets (packed words), each cut K ~ Geometric(p) times through its own pixels."""
  bank, u, offsets = cv._bank()  # pylint: disable=protected-access
  n_angles = cv.N_ANGLES
  sets = np.broadcast_to(cv._full(), (n, cv.WORDS)).copy()  # pylint: disable=protected-access
  left = rng.geometric(p, n)
  active = np.arange(n)
  for _ in range(200):  # rounds; a redrawn cut tries again in the next one
    if not active.size:
      break
    px = cv.unpack(sets[active])
    cum = px.cumsum(1)
    pick = (cum > (rng.random(len(active)) * cum[:, -1]).astype(np.int64)[:, None]).argmax(1)
    point = np.stack([pick % 28 + 0.5, pick // 28 + 0.5], 1)
    a = rng.integers(0, n_angles, len(active))
    j = np.clip(np.rint((np.einsum("ij,ij->i", u[a], point) + cv.OFFSET_MAX) / cv.OFFSET_STEP)
                .astype(np.int64), 0, len(offsets) - 1)
    one = sets[active] & bank[a, j]
    other = sets[active] & bank[(a + n_angles // 2) % n_angles, len(offsets) - 1 - j]
    area_one, area_other = cv.area(one), cv.area(other)
    kept = np.where((area_one >= area_other)[:, None], one, other)
    ok = np.maximum(area_one, area_other) >= min_pixels
    sets[active[ok]] = kept[ok]
    left[active[ok]] -= 1
    active = active[left[active] > 0]
  return sets


def make(rng: np.random.Generator, n: int):
  x1 = cv.unpack(lead_convex(rng, n - n // 2)).astype(np.float32)
  x0 = cv.unpack(cv.sample_nonconvex_matching(rng, cv.area(cv.pack(x1 > 0.5))))[: n // 2]
  x = np.concatenate([x1, x0.astype(np.float32)])
  y = np.concatenate([np.ones(len(x1), np.int32), np.zeros(n // 2, np.int32)])
  p = rng.permutation(len(y))
  return x[p], y[p]


def main():
  rng = np.random.default_rng(0)
  x, y = make(rng, 6000)
  print(fidelity.report("convex", fidelity.shape_measures(x, y), label="lead rule")[0])
  t = time.time()
  splits = {"train": make(rng, 6000), "valid": make(rng, 2000), "test": make(rng, 10000)}
  out = svm.select_and_test(splits, svm.SVMGrid((1.0, 10.0, 100.0), (1.0, 2.0)))
  print(f"SVM_rbf: chose {out['chosen']}, valid {out['valid_error_pct']}%, test "
        f"{out['test_error_pct']}% +- {out['test_ci95_pct']} ({time.time() - t:.0f} s)")


if __name__ == "__main__":
  main()
