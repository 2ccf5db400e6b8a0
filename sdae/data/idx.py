"""MNIST's IDX files: parsing, and verification by the MD5 of the decompressed content."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from typing import Optional

import numpy as np

from sdae.data import fetch
from sdae.data.errors import DataError

# Official MD5 of the *decompressed* files (recompressed copies circulate, so the .gz
# bytes are not checked).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
# The mirror TFDS itself uses first: it serves the files without a login.
MNIST_URLS = ("https://storage.googleapis.com/cvdf-datasets/mnist/",
              "http://yann.lecun.com/exdb/mnist/")

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
           0x0E: ">f8"}


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
  """Parses the bytes of an (uncompressed) IDX file."""
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
    raise DataError(f"{name} is not an IDX file (bad magic number); download it again")
  ndim = raw[3]
  head = 4 + 4 * ndim
  if len(raw) < head:
    raise DataError(f"{name} is truncated (IDX header); download it again")
  shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
  dtype = np.dtype(_DTYPES[raw[2]])
  expected = head + int(np.prod(shape)) * dtype.itemsize
  if len(raw) != expected:
    raise DataError(f"{name} holds {len(raw)} bytes, its IDX header promises {expected}; "
                    f"download it again")
  return np.frombuffer(raw, dtype, offset=head).reshape(shape).astype(dtype.newbyteorder("="))


def read_gz(path: str) -> bytes:
  try:
    with gzip.open(path, "rb") as f:
      return f.read()
  except (OSError, EOFError, zlib.error) as e:
    raise DataError(f"{path} is not a readable gzip file ({e}); download it again") from None


def read_mnist_file(filename: str, data_dir: Optional[str], cache_dir: Optional[str] = None,
                    verify: bool = True) -> np.ndarray:
  """One of the four MNIST files, MD5-verified, as a numpy array."""
  path = fetch.locate(filename, [u + filename for u in MNIST_URLS], data_dir, cache_dir)
  return read_verified(path, filename, verify)


def read_verified(path: str, filename: str, verify: bool = True) -> np.ndarray:
  """Parses the gzipped IDX file at ``path``, checking the MD5 of ``filename``'s content."""
  raw = read_gz(path)
  if verify:
    md5 = hashlib.md5(raw).hexdigest()
    if md5 != MNIST_FILES[filename]:
      raise DataError(f"{path}: MD5 of the decompressed content is {md5}, expected "
                      f"{MNIST_FILES[filename]}; replace it with the original from "
                      f"{MNIST_URLS[0]}{filename}")
  return parse_idx(raw, path)


def read_mnist(data_dir: Optional[str], cache_dir: Optional[str] = None, verify: bool = True):
  """``(x_train[60000,28,28] uint8, y_train, x_test[10000,28,28], y_test)``."""
  files = list(MNIST_FILES)
  # All four located first: a missing folder or no network is one error naming every file.
  paths = fetch.locate_all(files, {f: [u + f for u in MNIST_URLS] for f in files}, data_dir,
                           cache_dir)
  xtr, ytr, xte, yte = [read_verified(p, f, verify) for p, f in zip(paths, files)]
  for x, y, f in ((xtr, ytr, "train"), (xte, yte, "t10k")):
    if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
      raise DataError(f"MNIST {f} files have shapes {x.shape} and {y.shape}, expected "
                      f"[n, 28, 28] and [n]; replace them with the originals")
    if y.size and (y.min() < 0 or y.max() > 9):
      raise DataError(f"MNIST {f} labels outside 0..9; replace the file with the original")
  return xtr, ytr.astype(np.int32), xte, yte.astype(np.int32)


def mnist_fingerprint(data_dir: Optional[str]):
  """Identity of the local MNIST files (for cache invalidation), or None."""
  if not data_dir:
    return None
  paths = [fetch.local_path(f, data_dir) for f in MNIST_FILES]
  if any(p is None for p in paths):
    return None
  return [fetch.fingerprint(p) for p in paths]
