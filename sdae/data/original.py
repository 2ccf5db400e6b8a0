"""The ``original`` source: MNIST's IDX files and the Larochelle et al. (2007) zips."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from sdae.data import amat, fetch, idx, registry
from sdae.data.errors import DataError


def source_files(name: str) -> list[str]:
  """The published file names a dataset's original source reads."""
  s = registry.spec(name)
  if s.name == "mnist":
    return list(idx.MNIST_FILES)
  if s.zip is not None:
    return [s.zip.name]
  if s.name == "natural_patches":
    from sdae.data.regenerate import natural  # pylint: disable=g-import-not-at-top
    return [natural.MAT_FILE]
  return []


def local_fingerprint(name: str, data_dir: Optional[str]):
  """Identity of the files at hand in ``data_dir`` (None when not all are there)."""
  files = source_files(name)
  if not files or not data_dir:
    return None
  paths = [fetch.local_path(f, data_dir) for f in files]
  if any(p is None for p in paths):
    return None
  return [fetch.fingerprint(p) for p in paths]


def verify_zip(path: str, z: registry.ZipFile) -> str:
  """Checks size and sha256 where known; returns what was verified, for the record."""
  if z.size is not None:
    size = os.path.getsize(path)
    if size != z.size:
      raise DataError(f"{path} is {size} bytes, the published {z.name} is {z.size}; delete it "
                      f"and download it again from {z.url}")
  if z.sha256 is not None:
    digest = fetch.sha256(path)
    if digest != z.sha256:
      raise DataError(f"{path} has sha256 {digest}, expected {z.sha256}; delete it and "
                      f"download it again from {z.url}")
    return "sha256"
  return "unknown checksum (parse checks only)"


def read_zip(path: str, spec: registry.DatasetSpec):
  """Parses a Larochelle zip into ``(x_trainvalid, y_trainvalid, x_test, y_test)``."""
  z = spec.zip
  (train_name, train_text), (test_name, test_text) = amat.read_zip_members(path)
  xtv, ytv = amat.parse_amat(train_text, f"{path}:{train_name}", spec.n_classes,
                             spec.n_train + spec.n_valid)
  del train_text
  xte, yte = amat.parse_amat(test_text, f"{path}:{test_name}", spec.n_classes, spec.n_test)
  if z.transposed:
    xtv, xte = amat.transpose_images(xtv), amat.transpose_images(xte)
  return xtv, ytv, xte, yte


def load_zip_dataset(name: str, data_dir: Optional[str], cache_dir: Optional[str] = None):
  """``(splits, info)`` for a Larochelle set from its zip (local or downloaded)."""
  spec = registry.spec(name)
  z = spec.zip
  path = fetch.locate(z.name, [z.url], data_dir, cache_dir)
  checked = verify_zip(path, z)
  xtv, ytv, xte, yte = read_zip(path, spec)
  n = spec.n_train
  splits = {"train": (xtv[:n], ytv[:n]), "valid": (xtv[n:], ytv[n:]), "test": (xte, yte)}
  return splits, {"files": [z.name], "checksum": checked}


def mnist_raw(data_dir: Optional[str], cache_dir: Optional[str] = None):
  """All 70000 MNIST digits: ``(x uint8 [70000, 28, 28], y int32)``, train file first."""
  xtr, ytr, xte, yte = idx.read_mnist(data_dir, cache_dir)
  return np.concatenate([xtr, xte]), np.concatenate([ytr, yte])


def load_mnist(data_dir: Optional[str], cache_dir: Optional[str] = None):
  spec = registry.DATASETS["mnist"]
  xtr, ytr, xte, yte = idx.read_mnist(data_dir, cache_dir)
  if len(xtr) != spec.n_train + spec.n_valid or len(xte) != spec.n_test:
    raise DataError(f"MNIST files hold {len(xtr)} + {len(xte)} images, expected "
                    f"{spec.n_train + spec.n_valid} + {spec.n_test}; replace them with the "
                    f"originals")
  x = lambda a: a.reshape(len(a), 784).astype(np.float32) / np.float32(255)
  n = spec.n_train
  splits = {"train": (x(xtr[:n]), ytr[:n]), "valid": (x(xtr[n:]), ytr[n:]),
            "test": (x(xte), yte)}
  return splits, {"files": list(idx.MNIST_FILES), "checksum": "md5 (decompressed)"}


def load_natural(data_dir: Optional[str], seed: int = 0):
  """Patches of Olshausen's ``IMAGES.mat`` in ``data_dir`` (``regenerate.natural``)."""
  from sdae.data.regenerate import natural, rng_for  # pylint: disable=g-import-not-at-top
  spec = registry.DATASETS["natural_patches"]
  path = fetch.local_path(natural.MAT_FILE, data_dir)
  if path is None:
    raise DataError(f"natural_patches' original source is {natural.MAT_FILE} (Olshausen's ten "
                    f"whitened images) in --data_dir, not found in {data_dir}; pass no "
                    f"--data_dir to cut patches from scikit-image's photographs instead")
  splits = natural.splits(rng_for("natural_patches", seed), natural.read_mat(path),
                          (spec.n_train, spec.n_valid, spec.n_test))
  return splits, {"files": [natural.MAT_FILE], "checksum": "none published (parse checks only)",
                  "natural_version": natural.VERSION, "seed": int(seed)}


def load(name: str, data_dir: Optional[str], cache_dir: Optional[str] = None, seed: int = 0):
  name = registry.resolve_name(name)
  if name == "mnist":
    return load_mnist(data_dir, cache_dir)
  if name == "natural_patches":
    return load_natural(data_dir, seed)
  return load_zip_dataset(name, data_dir, cache_dir)
