"""The ``regenerated`` source: every Larochelle et al. (2007) set built on this machine.

``regenerate(name, seed, version=None)`` is deterministic: the same seed and version give
identical arrays (numpy's PCG64 seeded with ``[seed, crc32(name)]``). ``sizes=(n_train, n_valid, n_test)`` overrides
the paper's split sizes (small sets for tests; the examples then differ from the full set's).
Sets derived from MNIST read its IDX files from ``data_dir`` (or use the digits that
``mnist_raw`` is given), never the network unless no data_dir is given.
"""

from __future__ import annotations

import zlib
from typing import Callable, Optional

import numpy as np

from sdae.data import registry

from sdae.data.errors import DataError

MNIST_DERIVED = ("mnist_basic", "mnist_rot", "mnist_bg_rand", "mnist_bg_img",
                 "mnist_bg_img_rot")
GENERATED = MNIST_DERIVED + ("rectangles", "rectangles_images", "convex", "natural_patches")

#: Every data version each regenerated set can still produce, oldest first; the last is the
#: newest (the default). A generator whose output changes gets a new version here and keeps
#: the code of every version it lists, so a table measured on an older one can be rerun
#: (``--data_version``). Versions 1 and 2 (convex's first two generators, when one number
#: covered every set) are not listed: their code is gone (git history: ca1ca80, 81676f1).
#: Every set but natural_patches started at 3, the one number all sets carried until each had
#: its own; natural_patches' is its own generator's (``natural.VERSION``; recorded as "3.1"
#: before).
VERSIONS: dict[str, tuple[int, ...]] = {
    **{name: (3,) for name in MNIST_DERIVED},
    "mnist_bg_img": (3, 4), "mnist_bg_img_rot": (3, 4),  # v4: calibrated background threshold
    "rectangles": (3,), "rectangles_images": (3, 4), "convex": (3, 4, 6),
    "natural_patches": (1,),
}
#: The version that workdirs and cache entries written before versions were recorded used.
LEGACY_VERSION = 3


def newest(name: str) -> int:
  """The newest data version of a regenerated set (what ``version=None`` means)."""
  return VERSIONS[registry.resolve_name(name)][-1]


def accepted(name: str) -> tuple[int, ...]:
  """The data versions a regenerated set accepts (empty for a set with no generator)."""
  return VERSIONS.get(registry.resolve_name(name), ())


def resolve_version(name: str, data_version=None) -> int:
  """``data_version`` checked against the set's versions (None: the newest); a version the
  set does not have is a one-line ``DataError`` naming it and the accepted ones."""
  name = registry.resolve_name(name)
  if name not in VERSIONS:
    raise DataError(f"{name} has no regenerated source, so no data version "
                    f"(data_version={data_version!r}); accepted: no data_version")
  if data_version is None:
    return newest(name)
  ok = VERSIONS[name]
  try:
    v = int(data_version)
    if v != data_version and str(v) != str(data_version).strip():
      raise ValueError
  except (TypeError, ValueError):
    v = None
  if v not in ok:
    raise DataError(f"data_version={data_version!r} is not a version of the regenerated "
                    f"{name}; accepted: {', '.join(map(str, ok))} (default: the newest, "
                    f"{ok[-1]})")
  return v


def check_flag(name: str, data_version, source: Optional[str] = None) -> None:
  """``--data_version`` checked for set ``name`` read from ``source`` (None: picked), before
  anything is loaded: a ``DataError`` (one line) when the source is the original files, the
  set has no generator, or the version is not one of the set's."""
  if data_version is None:
    return
  name = registry.resolve_name(name)
  if source == "original":
    raise DataError(f"--data_version={data_version} selects a regenerated set's generator, and "
                    "--data_source=original reads the published files, which have no "
                    "versions; accepted: no --data_version, or --data_source=regenerated")
  ok = accepted(name)
  if not ok:
    raise DataError(f"--data_version={data_version}: {name} has no regenerated source, so no "
                    "data versions; accepted: no --data_version")
  if not isinstance(data_version, int) or isinstance(data_version, bool) or \
      data_version not in ok:
    raise DataError(f"--data_version={data_version} is not a version of the regenerated "
                    f"{name}; accepted: {', '.join(map(str, ok))} (default: the newest, "
                    f"{ok[-1]})")


def version(name: str, data_version=None) -> int:
  """The data version a regenerated set is built at (``data_version`` checked; None: the
  newest); cache entries and results carry it."""
  return resolve_version(name, data_version)


def rng_for(name: str, seed: int) -> np.random.Generator:
  return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def _split(x, y, sizes):
  a, b = sizes[0], sizes[0] + sizes[1]
  return {"train": (x[:a], y[:a]), "valid": (x[a:b], y[a:b]), "test": (x[b:], y[b:])}


def regenerate(name: str, seed: int = 0, *, data_dir: Optional[str] = None,
               cache_dir: Optional[str] = None, sizes=None,
               mnist: Optional[Callable[[], tuple]] = None, version=None):
  """``{"train": (x, y), "valid": ..., "test": ...}`` for a regenerated set, built by the
  generator of data version ``version`` (None: the newest; see ``VERSIONS``)."""
  name = registry.resolve_name(name)
  if name not in GENERATED:
    raise ValueError(f"{name} has no regenerated source")
  v = resolve_version(name, version)
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
    x = mnist_variants.variant(name, rng, digits, v).reshape(n, 784)
    return _split(x, pool_y[pick].astype(np.int32), sizes)
  if name == "natural_patches":
    from sdae.data.regenerate import natural  # pylint: disable=g-import-not-at-top
    return natural.splits(rng, natural.photographs(), sizes)
  if name == "rectangles":
    from sdae.data.regenerate import rectangles  # pylint: disable=g-import-not-at-top
    return _split(*rectangles.generate(rng, n), sizes)
  if name == "rectangles_images":
    from sdae.data.regenerate import rectangles  # pylint: disable=g-import-not-at-top
    return _split(*rectangles.generate_images(rng, n, version=v), sizes)
  # convex: exactly balanced in every split (odd sizes: one more convex).
  from sdae.data.regenerate import convex  # pylint: disable=g-import-not-at-top
  n1 = [s - s // 2 for s in sizes]
  n0 = [s // 2 for s in sizes]
  x1, x0 = convex.generate(rng, sum(n1), sum(n0), version=v)
  out, i1, i0 = {}, 0, 0
  for split, a, b in zip(("train", "valid", "test"), n1, n0):
    x = np.concatenate([x1[i1:i1 + a], x0[i0:i0 + b]])
    y = np.concatenate([np.ones(a, np.int32), np.zeros(b, np.int32)])
    p = rng.permutation(a + b)
    out[split] = (x[p], y[p])
    i1, i0 = i1 + a, i0 + b
  return out
