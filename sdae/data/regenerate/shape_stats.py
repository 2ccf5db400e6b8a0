"""Shape statistics of binary images, per class, as dataset-facts.md measures the convex set.

- components: 8-connected components of the white pixels (``skimage.measure.label``,
  connectivity 2), as the fraction of images with 1, 2, 3, 4 and 5 or more components;
- solidity: white pixels / pixels of their convex hull image
  (``skimage.morphology.convex_hull_image``, its defaults), as quantiles and as the fraction
  above 0.9;
- area: white pixels per image (mean, median, min, max).

Usage: ``python -m sdae.data.regenerate.shape_stats [--n=N] [--seed=S] [--full]`` prints them
for a regenerated convex set of N images (``--full``: the first N test images of the full
set, as dataset-facts.md measured the original's test file).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

QUANTILES = (10, 25, 50, 75, 90)


def image_shapes(images: np.ndarray):
  """[n, 784] or [n, 28, 28] 0/1 -> (components [n] int, solidity [n] float, area [n] int).

  An all-black image has 0 components and solidity 0.
  """
  from skimage.measure import label  # pylint: disable=g-import-not-at-top
  from skimage.morphology import convex_hull_image  # pylint: disable=g-import-not-at-top
  imgs = np.asarray(images).reshape(len(images), 28, 28) > 0.5
  comps = np.zeros(len(imgs), np.int64)
  solid = np.zeros(len(imgs))
  areas = imgs.sum((1, 2)).astype(np.int64)
  for i, img in enumerate(imgs):
    if not areas[i]:
      continue
    comps[i] = label(img, connectivity=2).max()
    solid[i] = areas[i] / convex_hull_image(img).sum()
  return comps, solid, areas


def shape_statistics(images: np.ndarray, labels: np.ndarray) -> dict:
  """Per class ``{label: {...}}`` of [n, 784] 0/1 images with [n] int labels.

  Each class: ``n``; ``components`` {1, 2, 3, 4, "5+"} -> fraction of the class;
  ``solidity_q`` {10, 25, 50, 75, 90} -> quantile; ``solidity_above_0.9`` fraction;
  ``area_mean``, ``area_median``, ``area_min``, ``area_max`` (white pixels).
  """
  labels = np.asarray(labels)
  comps, solid, areas = image_shapes(images)
  out = {}
  for c in np.unique(labels):
    m = labels == c
    k, s, a = comps[m], solid[m], areas[m]
    out[int(c)] = {
        "n": int(m.sum()),
        "components": {**{j: float((k == j).mean()) for j in (1, 2, 3, 4)},
                       "5+": float((k >= 5).mean())},
        "solidity_q": dict(zip(QUANTILES, np.percentile(s, QUANTILES).tolist())),
        "solidity_above_0.9": float((s > 0.9).mean()),
        "area_mean": float(a.mean()), "area_median": float(np.median(a)),
        "area_min": int(a.min()), "area_max": int(a.max()),
    }
  return out


def format_statistics(stats: dict) -> str:
  """One line per class, in dataset-facts.md's order."""
  lines = []
  for c, s in sorted(stats.items()):
    comp = " ".join(f"{k}:{100 * v:.1f}%" for k, v in s["components"].items())
    q = "/".join(f"{v:.2f}" for v in s["solidity_q"].values())
    lines.append(f"label {c} (n={s['n']}): components {comp}; solidity {q}, "
                 f">0.9 {100 * s['solidity_above_0.9']:.1f}%; area mean {s['area_mean']:.0f} "
                 f"median {s['area_median']:.0f} min {s['area_min']} max {s['area_max']}")
  return "\n".join(lines)


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--n", type=int, default=6000, help="images (about half per class)")
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--full", action="store_true",
                  help="measure the first N test images of the full regenerated set")
  args = ap.parse_args(argv)
  if not 2 <= args.n <= (50000 if args.full else 10 ** 6):
    print(f"error: --n must be in 2..{50000 if args.full else 10 ** 6}", file=sys.stderr)
    return 2
  from sdae.data.regenerate import regenerate  # pylint: disable=g-import-not-at-top
  if args.full:
    x, y = regenerate("convex", args.seed)["test"]
    x, y = x[:args.n], y[:args.n]
  else:
    x, y = regenerate("convex", args.seed, sizes=(args.n, 0, 0))["train"]
  print(format_statistics(shape_statistics(x, y)))
  return 0


if __name__ == "__main__":
  sys.exit(main())
