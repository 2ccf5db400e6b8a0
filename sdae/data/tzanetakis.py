"""tzanetakis: user-supplied music-genre features (the JMLR paper's features are not public).

Supply, in ``data_dir``, either
- ``tzanetakis.npz`` with ``x`` (float [n, d]) and ``y`` (int [n], 10 genres 0..9), and
  optionally ``split`` (int [n]: 0 train, 1 valid, 2 test) to fix the split; or
- ``tzanetakis.amat``: one example per line, d feature values then the label.
Without a given split: a seeded stratified split, 60/20/20 per genre (``seed`` of load()).
Features are used as given (no scaling: the paper's models used Gaussian noise and a
squared-error decoder on real-valued inputs).
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import Optional

import numpy as np

from sdae.data.errors import DataError

FILES = ("tzanetakis.npz", "tzanetakis.amat")
N_CLASSES = 10
FRACTIONS = (0.6, 0.2, 0.2)


def _missing(data_dir) -> DataError:
  return DataError(
      f"tzanetakis features not found in --data_dir={data_dir}; supply tzanetakis.npz (arrays "
      f"x float [n, d], y int [n] in 0..9, optional split int [n] with 0/1/2 for "
      f"train/valid/test) or tzanetakis.amat (d values then the label per line) there")


def read(data_dir: Optional[str]):
  """``(x float32 [n, d], y int32 [n], split int [n] or None, path)``."""
  if not data_dir:
    raise _missing("(none given)")
  for f in FILES:
    path = os.path.join(os.path.expanduser(str(data_dir)), f)
    if os.path.isfile(path):
      break
  else:
    raise _missing(data_dir)
  split = None
  try:
    if path.endswith(".npz"):
      with np.load(path) as z:
        if "x" not in z or "y" not in z:
          raise DataError(f"{path} lacks array 'x' or 'y' (has {sorted(z.files)}); save it "
                          f"with np.savez(path, x=features, y=labels)")
        x, y = np.asarray(z["x"]), np.asarray(z["y"])
        split = np.asarray(z["split"]) if "split" in z else None
    else:
      with open(path, "rb") as fh:
        v = np.loadtxt(io.BytesIO(fh.read()), dtype=np.float64, comments="#", ndmin=2)
      x, y = v[:, :-1], v[:, -1]
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
    if isinstance(e, DataError):
      raise
    raise DataError(f"{path} could not be read ({type(e).__name__}: "
                    f"{str(e).splitlines()[0] if str(e) else ''}); rewrite it in the "
                    f"documented format") from None
  if x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
    raise DataError(f"{path}: x has shape {x.shape}, y {y.shape}; expected [n, d] and [n]")
  if not np.all(np.isfinite(x)):
    raise DataError(f"{path}: x holds NaN or infinite values; remove or impute them")
  if np.any(y != np.round(y)) or y.min() < 0 or y.max() >= N_CLASSES:
    raise DataError(f"{path}: labels must be integers 0..{N_CLASSES - 1}")
  if split is not None and (split.shape != y.shape or not np.isin(split, (0, 1, 2)).all()):
    raise DataError(f"{path}: 'split' must be an int array [n] of 0 (train), 1 (valid), "
                    f"2 (test)")
  return x.astype(np.float32), y.astype(np.int32), split, path


def stratified_split(y: np.ndarray, seed: int) -> np.ndarray:
  """0/1/2 per example: within each class a seeded shuffle cut 60/20/20."""
  rng = np.random.default_rng([seed, 0x7A])
  split = np.zeros(len(y), np.int64)
  for c in np.unique(y):
    i = rng.permutation(np.nonzero(y == c)[0])
    a = int(round(FRACTIONS[0] * len(i)))
    b = a + int(round(FRACTIONS[1] * len(i)))
    split[i[a:b]] = 1
    split[i[b:]] = 2
  return split


def load(data_dir: Optional[str], seed: int = 0):
  x, y, split, path = read(data_dir)
  how = "given in file"
  if split is None:
    split = stratified_split(y, seed)
    how = f"stratified 60/20/20, seed {seed}"
  splits = {s: (x[split == k], y[split == k]) for k, s in enumerate(("train", "valid", "test"))}
  return splits, {"files": [os.path.basename(path)], "split": how}
