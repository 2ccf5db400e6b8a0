"""Natural-image patches for the background variants, cut from photographs that ship with
scikit-image (``skimage/data``; read with Pillow, so skimage itself is not imported).

Grayscale by Pillow's ``convert("L")`` (ITU-R 601-2 luma), scaled to [0, 1]. A patch is a
28x28 window at a uniform position in a uniformly chosen photograph; patches whose pixel
standard deviation is below a threshold (``min_std``; ``MIN_STD`` by default) are discarded and
redrawn. The published description says only that "patches which had low pixel variance were
ignored": the threshold is a free parameter, set per data version by the sets that use it.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

from sdae.data.errors import DataError

PHOTOS = (
    "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png",
    "clock_motion.png", "coffee.png", "coins.png", "grass.png", "gravel.png",
    "hubble_deep_field.jpg", "ihc.png", "microaneurysms.png", "moon.png",
    "motorcycle_left.png", "motorcycle_right.png", "page.png", "retina.jpg", "rocket.jpg",
    "text.png",
)
#: The discard threshold of data version 3 (every set) and of rect-img's version 4.
MIN_STD = 0.05


def _skimage_data_dir() -> str:
  spec = importlib.util.find_spec("skimage")
  if spec is None or not spec.submodule_search_locations:
    raise DataError("scikit-image is not installed; `pip install scikit-image` (its bundled "
                    "photographs are the backgrounds of the regenerated image variants)")
  return os.path.join(list(spec.submodule_search_locations)[0], "data")


@functools.lru_cache(maxsize=1)
def photos() -> tuple[np.ndarray, ...]:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  folder = _skimage_data_dir()
  out = []
  for name in PHOTOS:
    path = os.path.join(folder, name)
    try:
      with Image.open(path) as im:
        out.append(np.asarray(im.convert("L"), dtype=np.float32) / np.float32(255))
    except OSError as e:
      raise DataError(f"cannot read background photograph {path} ({e}); reinstall "
                      f"scikit-image") from None
  return tuple(out)


def sample_patches(rng: np.random.Generator, n: int, exclude=None, min_std: float = MIN_STD):
  """``(patches [n, 28, 28] float32, source photo index [n])``, each patch's pixel standard
  deviation at least ``min_std`` (on the [0, 1] scale); with ``exclude``, patch i never comes
  from photograph ``exclude[i]``."""
  ims = photos()
  k = len(ims)
  out = np.empty((n, 28, 28), np.float32)
  src = np.empty(n, np.int64)
  todo = np.arange(n)
  ar = np.arange(28)
  while todo.size:
    if exclude is None:
      pick = rng.integers(0, k, todo.size)
    else:  # uniform over the other k - 1 photographs
      pick = rng.integers(0, k - 1, todo.size)
      pick = pick + (pick >= exclude[todo])
    for j in range(k):
      sel = todo[pick == j]
      if sel.size == 0:
        continue
      im = ims[j]
      r = rng.integers(0, im.shape[0] - 27, sel.size)
      c = rng.integers(0, im.shape[1] - 27, sel.size)
      out[sel] = im[r[:, None, None] + ar[None, :, None], c[:, None, None] + ar[None, None, :]]
      src[sel] = j
    ok = out[todo].reshape(todo.size, -1).std(-1) >= min_std
    todo = todo[~ok]
  return out, src
