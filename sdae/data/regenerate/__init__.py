"""The ``regenerated`` source: every Larochelle et al. (2007) set built on this machine.

``regenerate(name, seed)`` is deterministic: the same seed gives identical arrays (numpy's
PCG64 seeded with ``[seed, crc32(name)]``). ``sizes=(n_train, n_valid, n_test)`` overrides
the paper's split sizes (small sets for tests; the examples then differ from the full set's).
Sets derived from MNIST read its IDX files from ``data_dir`` (or use the digits that
``mnist_raw`` is given), never the network unless no data_dir is given.
"""

from __future__ import annotations

import zlib
from typing import Callable, Optional

import numpy as np

from sdae.data import registry

VERSION = 3  # bump when a generator changes: cached entries carry it in their key
MNIST_DERIVED = ("mnist_basic", "mnist_rot", "mnist_bg_rand", "mnist_bg_img",
                 "mnist_bg_img_rot")
GENERATED = MNIST_DERIVED + ("rectangles", "rectangles_images", "convex", "natural_patches")


def version(name: str) -> str:
  """The version a regenerated set's cache key carries: ``VERSION``, and for sets with a
  generator of their own, its version too (so changing it leaves the others' caches valid)."""
  if registry.resolve_name(name) == "natural_patches":
    from sdae.data.regenerate import natural  # pylint: disable=g-import-not-at-top
    return f"{VERSION}.{natural.VERSION}"
  return str(VERSION)


def rng_for(name: str, seed: int) -> np.random.Generator:
  return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def _split(x, y, sizes):
  a, b = sizes[0], sizes[0] + sizes[1]
  return {"train": (x[:a], y[:a]), "valid": (x[a:b], y[a:b]), "test": (x[b:], y[b:])}


def regenerate(name: str, seed: int = 0, *, data_dir: Optional[str] = None,
               cache_dir: Optional[str] = None, sizes=None,
               mnist: Optional[Callable[[], tuple]] = None):
  """``{"train": (x, y), "valid": ..., "test": ...}`` for a regenerated set."""
  name = registry.resolve_name(name)
  if name not in GENERATED:
    raise ValueError(f"{name} has no regenerated source")
  spec = registry.DATASETS[name]
  sizes = tuple(int(s) for s in (sizes or (spec.n_train, spec.n_valid, spec.n_test)))
  n = sum(sizes)
  rng = rng_for(name, seed)
  if name in MNIST_DERIVED:
    from sdae.data.regenerate import mnist_variants  # pylint: disable=g-import-not-at-top
    if mnist is None:
      from sdae.data import original  # pylint: disable=g-import-not-at-top
      pool_x, pool_y = original.mnist_raw(data_dir, cache_dir)
    else:
      pool_x, pool_y = mnist()
    pick = rng.permutation(len(pool_x))[:n]
    digits = pool_x[pick].astype(np.float32) / np.float32(255)
    x = mnist_variants.variant(name, rng, digits).reshape(n, 784)
    return _split(x, pool_y[pick].astype(np.int32), sizes)
  if name == "natural_patches":
    from sdae.data.regenerate import natural  # pylint: disable=g-import-not-at-top
    return natural.splits(rng, natural.photographs(), sizes)
  if name == "rectangles":
    from sdae.data.regenerate import rectangles  # pylint: disable=g-import-not-at-top
    return _split(*rectangles.generate(rng, n), sizes)
  if name == "rectangles_images":
    from sdae.data.regenerate import rectangles  # pylint: disable=g-import-not-at-top
    return _split(*rectangles.generate_images(rng, n), sizes)
  # convex: exactly balanced in every split (odd sizes: one more convex).
  from sdae.data.regenerate import convex  # pylint: disable=g-import-not-at-top
  n1 = [s - s // 2 for s in sizes]
  n0 = [s // 2 for s in sizes]
  x1, x0 = convex.generate(rng, sum(n1), sum(n0))
  out, i1, i0 = {}, 0, 0
  for split, a, b in zip(("train", "valid", "test"), n1, n0):
    x = np.concatenate([x1[i1:i1 + a], x0[i0:i0 + b]])
    y = np.concatenate([np.ones(a, np.int32), np.zeros(b, np.int32)])
    p = rng.permutation(a + b)
    out[split] = (x[p], y[p])
    i1, i0 = i1 + a, i0 + b
  return out
