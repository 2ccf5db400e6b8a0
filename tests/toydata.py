"""A tiny separable problem shared by the training, sweep and table tests."""

import numpy as np


def toy_splits(n_train=300, n_valid=100, n_test=200, d=36, seed=0):
  """Two classes of [0, 1] patterns: class k lights half k of the d features (plus noise)."""
  rng = np.random.default_rng(seed)

  def make(n):
    y = rng.integers(0, 2, n).astype(np.int32)
    x = rng.random((n, d)).astype(np.float32) * 0.4
    x[y == 1, : d // 2] += 0.5
    x[y == 0, d // 2:] += 0.5
    return np.clip(x, 0, 1), y

  return {"train": make(n_train), "valid": make(n_valid), "test": make(n_test)}
