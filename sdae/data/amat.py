"""Larochelle et al. (2007) ``.amat`` text inside their zips: finding and bulk parsing.

One example per line: 784 pixel values in [0, 1] then the label, space separated.
Parsing is done on the whole member at once by numpy's C text reader (``np.loadtxt``, C
since numpy 1.23: about 1.6 s per 120 MB, ~8 s for a 600 MB test file; measured faster than
``np.fromstring`` here); only when that fast path finds something wrong is the text scanned
line by line in Python to name the first bad line. ``#`` header lines are skipped.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import Optional

import numpy as np

from sdae.data.errors import DataError

N_COLS = 785


def find_members(names: list[str], zip_path: str) -> tuple[str, str]:
  """(train member, test member) by suffix, in any subfolder, ignoring macOS junk."""
  amats = [n for n in names if n.lower().endswith(".amat")
           and "__macosx" not in n.lower() and not n.rsplit("/", 1)[-1].startswith("._")]
  train = [n for n in amats if n.lower().endswith(("train.amat", "train_valid.amat"))]
  test = [n for n in amats if n.lower().endswith("test.amat")]
  if len(train) != 1 or len(test) != 1:
    raise DataError(f"{zip_path} should hold one *train.amat (or *train_valid.amat) and one "
                    f"*test.amat, found {amats or 'no .amat files'}; download the zip again")
  return train[0], test[0]


def read_zip_members(zip_path: str) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
  """``((train_name, bytes), (test_name, bytes))`` with CRC checked; DataError if damaged."""
  try:
    with zipfile.ZipFile(zip_path) as zf:
      train, test = find_members(zf.namelist(), zip_path)
      return (train, zf.read(train)), (test, zf.read(test))
  except DataError:
    raise
  except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as e:
    raise DataError(f"{zip_path} is truncated or corrupt ({type(e).__name__}: "
                    f"{str(e).splitlines()[0] if str(e) else 'unreadable'}); delete it and "
                    f"download it again") from None


def _diagnose(text: bytes, where: str, n_classes: int) -> DataError:
  """Finds the first malformed line (slow path, only after the fast path failed)."""
  lineno = 0
  for lineno, line in enumerate(text.split(b"\n"), 1):
    s = line.strip()
    if not s or s.startswith(b"#"):
      continue
    toks = s.split()
    if len(toks) != N_COLS:
      return DataError(f"{where} line {lineno}: {len(toks)} values, expected {N_COLS} "
                       f"(784 pixels and a label); the file is damaged, download it again")
    try:
      v = np.array([float(t) for t in toks])
    except ValueError:
      bad = next(t for t in toks if not _is_float(t))
      return DataError(f"{where} line {lineno}: non-numeric value {bad.decode(errors='replace')!r}"
                       f"; the file is damaged, download it again")
    if not np.all(np.isfinite(v[:-1])) or v[:-1].min() < 0 or v[:-1].max() > 1:
      return DataError(f"{where} line {lineno}: pixel value outside [0, 1]; the file is "
                       f"damaged, download it again")
    if v[-1] != np.round(v[-1]) or not 0 <= v[-1] < n_classes:
      return DataError(f"{where} line {lineno}: label {v[-1]:g} outside 0..{n_classes - 1}; "
                       f"the file is damaged, download it again")
  return DataError(f"{where}: could not parse the file ({lineno} lines); download it again")


def _is_float(t: bytes) -> bool:
  try:
    float(t)
    return True
  except ValueError:
    return False


def parse_amat(text: bytes, where: str, n_classes: int,
               n_rows: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
  """Parses ``.amat`` text into ``(x float32 [n, 784], y int32 [n])`` with full checks."""
  try:
    v = np.loadtxt(io.BytesIO(text), dtype=np.float32, comments="#", ndmin=2)
  except ValueError:
    raise _diagnose(text, where, n_classes) from None
  if v.shape[1] != N_COLS:
    raise _diagnose(text, where, n_classes)
  x, label = v[:, :784], v[:, 784]
  if (not np.all(np.isfinite(x)) or x.min(initial=0) < 0 or x.max(initial=0) > 1
      or np.any(label != np.round(label)) or np.any((label < 0) | (label >= n_classes))):
    raise _diagnose(text, where, n_classes)
  if n_rows is not None and len(v) != n_rows:
    raise DataError(f"{where} holds {len(v)} examples, expected {n_rows}; the file is "
                    f"truncated or not the published one, download it again")
  return np.ascontiguousarray(x), label.astype(np.int32)


def transpose_images(x: np.ndarray) -> np.ndarray:
  """Column-major 28x28 storage to row-major."""
  return np.ascontiguousarray(x.reshape(-1, 28, 28).transpose(0, 2, 1)).reshape(-1, 784)
