"""``load``, ``pick_source``, ``from_arrays``: the public entry points of :mod:`sdae.data`."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from sdae.data import cache, original, registry, tzanetakis
from sdae.data.errors import DataError

SOURCES = ("original", "regenerated")


def _original_key(name: str, seed: int = 0) -> str:
  if name == "natural_patches":  # patches are sampled (by its generator's code): the seed picks them
    from sdae.data.regenerate import natural  # pylint: disable=g-import-not-at-top
    return f"{name}-original-v{natural.VERSION}-seed{int(seed)}"
  return f"{name}-original"


def _regenerated_key(name: str, seed: int, data_version: int) -> str:
  return f"{name}-regenerated-v{int(data_version)}-seed{int(seed)}"


class Splits(dict):
  """What :func:`load` returns: ``{"train": (x, y), "valid": (x, y), "test": (x, y)}``, a dict,
  plus ``source``, the source the arrays were actually read from: ``"original"``,
  ``"regenerated"``, or ``"arrays"`` (a user's own, through :func:`from_arrays`).

  ``sdae.experiment.train_and_evaluate`` records ``source`` in results.json. A dict built by
  hand (or a copy, ``dict(splits)``) carries no source and is recorded as ``"arrays"``.
  """

  def __init__(self, splits: dict, source: str, data_version: Optional[int] = None):
    super().__init__(splits)
    self.source = source
    self.data_version = data_version if source == "regenerated" else None


def check_data_dir(data_dir: Optional[str]) -> None:
  """Refuses a ``data_dir`` that is given but is not a folder (a typo must not go unnoticed
  while the data are silently regenerated instead)."""
  if data_dir and not os.path.isdir(os.path.expanduser(str(data_dir))):
    what = "is not a folder" if os.path.exists(os.path.expanduser(str(data_dir))) else \
        "does not exist"
    raise DataError(f"--data_dir={data_dir} {what}; accepted: a folder holding the original "
                    "files (train-images-idx3-ubyte.gz, ..., rectangles.zip, ...), or no "
                    "--data_dir")


def pick_source(name: str, source: Optional[str] = None, data_dir: Optional[str] = None,
                cache_dir: Optional[str] = None) -> str:
  """The source :func:`load` would use: ``"original"`` or ``"regenerated"``.

  ``None`` picks ``original`` when ``data_dir`` holds the set's original files, else
  ``regenerated`` where the set has one, else ``original`` (mnist: downloaded into the cache
  when not in ``data_dir``; tzanetakis: the user's features in ``data_dir``). The choice
  depends on the arguments only, never on what the cache holds, so the same call picks the
  same source on every machine and in every run. ``cache_dir`` is accepted for symmetry with
  :func:`load` and not consulted.
  """
  del cache_dir  # the cache never decides the source (see above)
  spec = registry.spec(name)
  check_data_dir(data_dir)
  if source is not None:
    src = str(source).strip().lower()
    if src not in SOURCES:
      raise DataError(f"unknown data source {source!r}; accepted: original, regenerated "
                      f"(or None to pick)")
    if src not in spec.sources:
      raise DataError(f"dataset {spec.name} has no {src} source; accepted: "
                      f"{', '.join(spec.sources)}")
    return src
  if "regenerated" not in spec.sources:
    return "original"
  if original.local_fingerprint(spec.name, data_dir) is not None:
    return "original"
  return "regenerated"


def _mnist_pool(data_dir, cache_dir):
  """The 70000 MNIST digits as uint8, from data_dir, else the prepared cache, else TFDS."""
  if data_dir is None:
    hit = cache.load(_original_key("mnist"), cache_dir)
    if hit is not None:
      splits = hit[0]
      x = np.concatenate([splits[s][0] for s in cache.SPLITS])
      y = np.concatenate([splits[s][1] for s in cache.SPLITS])
      return np.rint(x * 255).astype(np.uint8).reshape(-1, 28, 28), y
  return original.mnist_raw(data_dir, cache_dir)


def load(name: str, *, source: Optional[str] = None, data_dir: Optional[str] = None,
         seed: int = 0, cache_dir: Optional[str] = None,
         data_version: Optional[int] = None) -> Splits:
  """Loads a dataset by name or paper alias.

  Returns ``{"train": (x, y), "valid": (x, y), "test": (x, y)}`` of numpy arrays: ``x``
  float32 [n, 784] in [0, 1] (tzanetakis: [n, d] as supplied; natural_patches: [n, 144]
  whitened, zero-mean, variance 0.1, ``y`` the source image), ``y`` int32 [n]; a
  :class:`Splits` dict whose ``source`` says which source was read (``source=None`` picks
  as :func:`pick_source`). Prepared arrays are cached in ``cache_dir`` (default
  ``$SDAE_CACHE_DIR`` or ``~/.cache/sdae``), never in ``data_dir``. ``seed`` selects the
  regenerated set (and the tzanetakis split).

  ``data_version`` picks the generator of a regenerated set (None: the newest;
  ``sdae.data.regenerate.VERSIONS`` lists each set's); the result's ``data_version`` says which
  was built. A version the set does not have is a ``DataError``. The published files have no
  versions: a ``data_version`` with data read from them is a ``DataError`` too (never ignored
  in silence), so pass it only with regenerated data.
  """
  spec = registry.spec(name)
  src = pick_source(spec.name, source, data_dir, cache_dir)
  if data_version is not None and src != "regenerated":
    if "regenerated" not in spec.sources:
      raise DataError(f"data_version={data_version!r}: {spec.name} has no regenerated source, "
                      "so no data versions; accepted: no data_version")
    how = ("source='original'" if source is not None else
           "the original files, picked because data_dir holds them")
    raise DataError(f"data_version={data_version!r} selects a regenerated set's generator, and "
                    f"{spec.name} would be read from {how}, which have no versions; accepted: "
                    "no data_version, or source='regenerated'")
  version = None
  if src == "regenerated":
    from sdae.data import regenerate as regen  # pylint: disable=g-import-not-at-top
    version = regen.resolve_version(spec.name, data_version)
  if spec.name == "tzanetakis":
    splits, _ = tzanetakis.load(data_dir, seed)
    return Splits(_validate(splits, spec, "tzanetakis"), "original")
  if src == "original":
    key = _original_key(spec.name, seed)
    fp = original.local_fingerprint(spec.name, data_dir)
    hit = cache.load(key, cache_dir)
    if hit is not None and (data_dir is None or hit[1].get("fingerprint") == fp):
      return Splits(hit[0], src)
    splits, info = original.load(spec.name, data_dir, cache_dir, seed)
    meta = {"source": "original", "fingerprint": fp, **info}
  else:
    key = _regenerated_key(spec.name, seed, version)
    hit = cache.load(key, cache_dir)
    if hit is not None:
      return Splits(hit[0], src, version)
    splits = regen.regenerate(spec.name, seed, mnist=lambda: _mnist_pool(data_dir, cache_dir),
                              version=version)
    meta = {"source": "regenerated", "seed": int(seed), "version": version}
  splits = _validate(splits, spec, src)
  cache.save(key, splits, meta, cache_dir)
  return Splits(splits, src, version)


def _validate(splits: dict, spec, where: str) -> dict:
  out = {}
  sizes = {"train": spec.n_train, "valid": spec.n_valid, "test": spec.n_test}
  for s in cache.SPLITS:
    x, y = splits[s]
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int32)
    if spec.dim is not None:
      if x.shape != (sizes[s], spec.dim) or y.shape != (sizes[s],):
        raise DataError(f"{spec.name} ({where}) {s} split has shapes {x.shape}, {y.shape}; "
                        f"expected ({sizes[s]}, {spec.dim}), ({sizes[s]},); delete the "
                        f"cache entry or the file and retry")
    out[s] = (x, y)
  return out


def from_arrays(x_train, y_train, x_valid, y_valid, x_test, y_test) -> Splits:
  """Validates a user's own arrays into the dict that :func:`load` returns (``source``
  ``"arrays"``).

  ``x_*``: [n, d] (or [n, h, w], flattened) with the same d in every split; pixels
  need not be in [0, 1] (real-valued features are allowed) but must be finite.
  ``y_*``: integer labels >= 0, [n].
  """
  out = {}
  d = None
  for s, x, y in (("train", x_train, y_train), ("valid", x_valid, y_valid),
                  ("test", x_test, y_test)):
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
      raise DataError(f"x_{s} has shape {x.shape} and y_{s} {y.shape}; expected [n, d] "
                      f"(or [n, h, w]) and [n] with the same n")
    if len(x) == 0 and s == "train":
      raise DataError("x_train is empty; supply at least one training example")
    x = x.reshape(len(x), -1)
    if d is None:
      d = x.shape[1]
    elif x.shape[1] != d:
      raise DataError(f"x_{s} has {x.shape[1]} features, x_train has {d}; all splits need "
                      f"the same width")
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
      raise DataError(f"x_{s} must be finite numbers (dtype {x.dtype})")
    if y.size and (not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y))
                   or y.min() < 0):
      raise DataError(f"y_{s} must be integer class labels >= 0")
    out[s] = (np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.int32))
  return Splits(out, "arrays")
