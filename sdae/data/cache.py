"""The cache of prepared arrays: one ``.npz`` per (dataset, source, seed), written atomically.

The default folder is ``$SDAE_CACHE_DIR`` or ``~/.cache/sdae``. Images whose pixels are
exactly ``k/255`` are stored as uint8 (4x smaller) and decoded on load; everything else
is stored as float32. A cache file is written to a temporary name in the same folder and
renamed into place, so an interrupted or failed build leaves no entry behind.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Optional

import numpy as np

from sdae.io import files as fileio

SPLITS = ("train", "valid", "test")
_SCALE = np.float32(255)


def cache_dir(cache_dir: Optional[str] = None) -> str:
  if cache_dir:
    return os.path.abspath(os.path.expanduser(str(cache_dir)))
  env = os.environ.get("SDAE_CACHE_DIR")
  if env:
    return os.path.abspath(os.path.expanduser(env))
  return os.path.join(os.path.expanduser("~"), ".cache", "sdae")


def entry_path(key: str, cache_dir_: Optional[str] = None) -> str:
  return os.path.join(cache_dir(cache_dir_), key + ".npz")


def _encode(x: np.ndarray) -> tuple[np.ndarray, bool]:
  """uint8 if every value is exactly k/255 (lossless), else float32."""
  q = np.rint(x * _SCALE)
  if np.all((q >= 0) & (q <= 255)):
    u = q.astype(np.uint8)
    if np.array_equal(u.astype(np.float32) / _SCALE, x):
      return u, True
  return x.astype(np.float32, copy=False), False


def decode(x: np.ndarray) -> np.ndarray:
  if x.dtype == np.uint8:
    return x.astype(np.float32) / _SCALE
  return x.astype(np.float32, copy=False)


def atomic_write(path: str, write_fn, suffix: str = ".tmp") -> None:
  """Calls ``write_fn(file_object)`` on a temporary file, then renames it to ``path``."""
  fileio.atomic_write(path, write_fn, suffix)


def save(key: str, splits: dict, meta: dict, cache_dir_: Optional[str] = None) -> str:
  """Stores ``{"train": (x, y), ...}`` plus a JSON-able ``meta`` dict under ``key``."""
  arrays = {}
  for s in SPLITS:
    x, y = splits[s]
    arrays[f"x_{s}"], _ = _encode(np.asarray(x))
    arrays[f"y_{s}"] = np.asarray(y, dtype=np.int32)
  arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
  path = entry_path(key, cache_dir_)
  atomic_write(path, lambda f: np.savez(f, **arrays))
  return path


def exists(key: str, cache_dir_: Optional[str] = None) -> bool:
  return os.path.isfile(entry_path(key, cache_dir_))


def load(key: str, cache_dir_: Optional[str] = None):
  """``(splits, meta)`` for a cache entry, or ``None`` if absent or unreadable."""
  path = entry_path(key, cache_dir_)
  if not os.path.isfile(path):
    return None
  try:
    with np.load(path) as z:
      meta = json.loads(z["meta"].tobytes().decode())
      splits = {s: (decode(z[f"x_{s}"]), z[f"y_{s}"].astype(np.int32, copy=False))
                for s in SPLITS}
  except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
    return None  # a damaged entry is rebuilt, never trusted
  return splits, meta


def read_meta(key: str, cache_dir_: Optional[str] = None) -> Optional[dict]:
  path = entry_path(key, cache_dir_)
  if not os.path.isfile(path):
    return None
  try:
    with np.load(path) as z:
      return json.loads(z["meta"].tobytes().decode())
  except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
    return None
