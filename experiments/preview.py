r"""Previews a dataset as a PNG grid of examples with their labels.

    python -m experiments.preview --dataset=rect [--split=train] [--n=100] \
        [--data_source=original|regenerated] [--data_dir=DIR] [--cache_dir=DIR] \
        [--seed=0] [--out=preview_rect.png]
"""

from __future__ import annotations

import math
import os
import sys

from absl import app, flags
import numpy as np

_DATASET = flags.DEFINE_string("dataset", None, "Dataset name or paper alias.")
_SPLIT = flags.DEFINE_enum("split", "train", ["train", "valid", "test"], "Split to show.")
_N = flags.DEFINE_integer("n", 100, "Number of examples (the first n of the split).")
_SOURCE = flags.DEFINE_enum("data_source", None, ["original", "regenerated"],
                            "Data source; default: original where the files are at hand.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder holding the published files.")
_CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Cache folder for prepared arrays.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the regenerated set.")
_OUT = flags.DEFINE_string("out", None, "Output PNG (default preview_<dataset>.png).")
_SCALE = flags.DEFINE_integer("scale", 2, "Pixels per image pixel.")


def render_grid(x: np.ndarray, y: np.ndarray, scale: int = 2, side: int = 28):
  """A Pillow image: examples as tiles, each label printed under its tile."""
  from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top
  n = len(x)
  cols = max(1, math.ceil(math.sqrt(n)))
  rows = max(1, math.ceil(n / cols))
  tile, strip, pad = side * scale, 12, 2
  w, h = tile + 2 * pad, tile + strip + 2 * pad
  canvas = Image.new("L", (cols * w, rows * h), 64)
  draw = ImageDraw.Draw(canvas)
  for i in range(n):
    r, c = divmod(i, cols)
    img = np.clip(np.asarray(x[i], np.float32).reshape(side, side), 0, 1)
    im = Image.fromarray((img * 255).round().astype(np.uint8)).resize((tile, tile),
                                                                       Image.NEAREST)
    canvas.paste(im, (c * w + pad, r * h + pad))
    draw.text((c * w + pad + 2, r * h + pad + tile), str(int(y[i])), fill=255)
  return canvas


def preview(dataset: str, out: str | None = None, split: str = "train", n: int = 100,
            source: str | None = None, data_dir: str | None = None,
            cache_dir: str | None = None, seed: int = 0, scale: int = 2) -> str:
  """Loads ``dataset`` and writes the grid PNG; returns its path."""
  from sdae import data  # pylint: disable=g-import-not-at-top
  from sdae.data import cache  # pylint: disable=g-import-not-at-top
  name = data.resolve_name(dataset)
  if n < 1:
    raise data.DataError(f"--n={n}: need at least one example")
  src = data.pick_source(name, source, data_dir, cache_dir)
  x, y = data.load(name, source=src, data_dir=data_dir, seed=seed, cache_dir=cache_dir)[split]
  side = int(round(math.sqrt(x.shape[1])))
  if side * side != x.shape[1]:
    raise data.DataError(f"{name} has {x.shape[1]} features per example, not a square "
                         f"image; nothing to preview")
  out = out or f"preview_{name}.png"
  img = render_grid(x[:n], y[:n], scale, side)
  cache.atomic_write(os.path.abspath(out), lambda f: img.save(f, format="PNG"))
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from sdae.data import DataError  # pylint: disable=g-import-not-at-top
  if not _DATASET.value:
    print("--dataset is required (a name such as rect, convex, mnist)", file=sys.stderr)
    return 2
  try:
    path = preview(_DATASET.value, _OUT.value, _SPLIT.value, _N.value, _SOURCE.value,
                   _DATA_DIR.value, _CACHE_DIR.value, _SEED.value, _SCALE.value)
  except DataError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(path)
  return 0


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)))
